//! The escalation queue, as one conversation sees it: a ticket while a human agent has control.
//!
//! A ticket opens when a human agent takes control (by a handoff, an escalation or a trigger),
//! and again when the user writes after it was closed. An operator claims it (claims are
//! exclusive: only the claimer acts on it afterwards), writes to the user as the human agent,
//! hands control back to an AI agent along a declared edge with a note, or closes it.

use super::{Cause, Conversation, Unfit};
use crate::event::{Effect, Input, Record};
use crate::handoff::Payload;
use crate::transcript::Entry;
use crate::Rejected;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A conversation's place in the escalation queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The human agent in control (the queue it waits in).
    pub agent: String,
    /// The turn in which it opened.
    pub opened_turn: u32,
    /// Why it opened.
    pub reason: String,
    /// The operator who claimed it, if one did.
    pub operator: Option<String>,
    /// Whether an operator closed it.
    pub closed: bool,
}

/// A ticket an operator handed back: who did, and to which agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct HandBack {
    operator: String,
    to: String,
}

impl Conversation {
    /// The conversation's ticket: open while a human agent has control, kept once closed.
    pub fn ticket(&self) -> Option<&Ticket> {
        self.ticket.as_ref()
    }

    /// Opens a ticket for the human agent now in control.
    pub(super) fn open_ticket(&mut self, reason: String, out: &mut Vec<Effect>) {
        let turn = self.turns;
        let agent = self.active.clone();
        out.push(Effect::Record(Record::TicketOpened { turn, agent: agent.clone(), reason: reason.clone() }));
        self.last_hand_back = None;
        self.ticket = Some(Ticket { agent, opened_turn: turn, reason, operator: None, closed: false });
    }

    /// Whether an operator's action fits the ticket now.
    pub(super) fn check_operator(&self, input: &Input) -> Result<(), Unfit> {
        let conversation = || self.id.clone();
        let ticket = match &self.ticket {
            Some(ticket) if !ticket.closed && self.turn.is_none() => ticket,
            _ => return Err(self.no_open_ticket()),
        };
        let (operator, claiming) = match input {
            Input::TicketClaimed { operator } => (operator, true),
            Input::OperatorReplied { operator, .. }
            | Input::TicketHandedBack { operator, .. }
            | Input::TicketClosed { operator } => (operator, false),
            _ => return Err(Unfit::NotAnOperatorAction),
        };
        if operator.trim().is_empty() {
            return Err(Unfit::NoOperator);
        }
        match &ticket.operator {
            Some(holder) if holder != operator => {
                return Err(Unfit::ClaimedByAnother {
                    conversation: conversation(),
                    holder: holder.clone(),
                    operator: operator.clone(),
                })
            }
            None if !claiming => return Err(Unfit::NotClaimed { conversation: conversation() }),
            _ => {}
        }
        match input {
            Input::OperatorReplied { text, .. } if text.trim().is_empty() => Err(Unfit::EmptyReply),
            Input::TicketHandedBack { to, .. } if self.team.edge(&ticket.agent, to).is_none() => {
                let human = self.team.agent(&ticket.agent).expect("the ticket's agent is a team member");
                let targets = human.handoffs.iter().map(|edge| edge.to.clone()).collect();
                Err(Unfit::NoEdgeBack { human: ticket.agent.clone(), to: to.clone(), targets })
            }
            _ => Ok(()),
        }
    }

    /// Why no operator can act on the conversation now: the ticket was handed back (to whom, by
    /// whom), is closed, waits for a turn to end, or there never was one.
    pub fn no_open_ticket(&self) -> Unfit {
        let (conversation, active) = (self.id.clone(), self.active.clone());
        match (&self.ticket, &self.last_hand_back) {
            (Some(ticket), _) if ticket.closed => Unfit::TicketClosed { conversation },
            (Some(_), _) => Unfit::TicketMidTurn { conversation },
            (None, Some(HandBack { operator, to })) => {
                Unfit::TicketHandedBack { conversation, to: to.clone(), by: operator.clone(), active }
            }
            (None, None) => Unfit::NoTicket { conversation, active },
        }
    }

    /// Carries out an operator's action.
    pub(super) fn operate(&mut self, input: Input, out: &mut Vec<Effect>) -> Result<(), Rejected> {
        self.check_operator(&input).map_err(|unfit| Rejected(unfit.to_string()))?;
        let ticket = self.ticket.as_mut().expect("checked above");
        match input {
            Input::TicketClaimed { operator } => ticket.operator = Some(operator),
            Input::OperatorReplied { text, .. } => {
                let agent = ticket.agent.clone();
                self.transcript.push(Entry::Assistant { agent, text: Some(text), tool_calls: Vec::new() });
            }
            Input::TicketHandedBack { operator, to, note } => {
                self.ticket = None;
                self.last_hand_back = Some(HandBack { operator: operator.clone(), to: to.clone() });
                let reason = format!("handed back by operator {operator}");
                let payload = Payload { reason, summary: note, facts: BTreeMap::new() };
                self.hand_over(to, payload, Cause::Operator(operator), out);
            }
            Input::TicketClosed { .. } => ticket.closed = true,
            _ => unreachable!("checked above"),
        }
        Ok(())
    }
}
