//! The escalation queue, as one conversation sees it: a ticket while a human agent has control.
//!
//! A ticket opens when a human agent takes control (by a handoff, an escalation or a trigger),
//! and again when the user writes after it was closed. An operator claims it (claims are
//! exclusive: only the claimer acts on it afterwards), writes to the user as the human agent,
//! hands control back to an AI agent along a declared edge with a note, or closes it.

use super::{Cause, Conversation};
use crate::event::{Effect, Input, Record};
use crate::handoff::Payload;
use crate::names::list;
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
    pub(super) fn check_operator(&self, input: &Input) -> Result<(), String> {
        let id = &self.id;
        let ticket = match &self.ticket {
            Some(ticket) if !ticket.closed && self.turn.is_none() => ticket,
            _ => return Err(self.no_open_ticket()),
        };
        let (operator, claiming) = match input {
            Input::TicketClaimed { operator } => (operator, true),
            Input::OperatorReplied { operator, .. }
            | Input::TicketHandedBack { operator, .. }
            | Input::TicketClosed { operator } => (operator, false),
            _ => return Err("not an operator's action".into()),
        };
        if operator.trim().is_empty() {
            return Err("the operator's name is empty: name who acts, e.g. --operator anna".into());
        }
        match &ticket.operator {
            Some(holder) if holder != operator => {
                return Err(format!("the ticket of conversation '{id}' is claimed by {holder}, not {operator}"))
            }
            None if !claiming => {
                return Err(format!("the ticket of conversation '{id}' is not claimed: claim it first"));
            }
            _ => {}
        }
        match input {
            Input::OperatorReplied { text, .. } if text.trim().is_empty() => {
                Err("the reply is empty: pass what to tell the user".into())
            }
            Input::TicketHandedBack { to, .. } if self.team.edge(&ticket.agent, to).is_none() => {
                let human = self.team.agent(&ticket.agent).expect("the ticket's agent is a team member");
                let targets: Vec<String> = human.handoffs.iter().map(|edge| edge.to.clone()).collect();
                Err(match targets.is_empty() {
                    true => format!(
                        "'{}' declares no handoffs, so control cannot go back to '{to}': add handoffs = [\"{to}\"] \
                         to [agents.{}]",
                        ticket.agent, ticket.agent
                    ),
                    false => format!(
                        "'{}' has no handoff edge to '{to}'; it can hand back to {}",
                        ticket.agent,
                        list(&targets)
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Why no operator can act on the conversation now, in words: the ticket was handed back
    /// (to whom, by whom), is closed, waits for a turn to end, or there never was one.
    pub fn no_open_ticket(&self) -> String {
        let (id, active) = (&self.id, &self.active);
        match (&self.ticket, &self.last_hand_back) {
            (Some(ticket), _) if ticket.closed => format!(
                "the ticket of conversation '{id}' is closed: nothing to do; it opens again when the user writes"
            ),
            (Some(_), _) => {
                format!("conversation '{id}' is in the middle of a turn: act on its ticket once the turn ends")
            }
            (None, Some(HandBack { operator, to })) => format!(
                "the ticket of conversation '{id}' was already handed back to '{to}' by {operator}: nothing to do \
                 ('{active}' has the conversation)"
            ),
            (None, None) => {
                format!(
                    "conversation '{id}' has no ticket: no human agent has had it ('{active}' has the conversation)"
                )
            }
        }
    }

    /// Carries out an operator's action.
    pub(super) fn operate(&mut self, input: Input, out: &mut Vec<Effect>) -> Result<(), Rejected> {
        self.check_operator(&input).map_err(Rejected)?;
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
