//! The escalation queue: conversations a human agent holds, and what operators do with them.
//!
//! A ticket is named by its conversation's id. Operators claim a ticket (claims are exclusive),
//! write to the user as the human agent, hand control back to an AI agent along a declared edge
//! with a note, or close it. Each action is an input journaled under the conversation's lease,
//! so two operators racing for one ticket are served one after the other, and the second is
//! told who has it.

use crate::observer::Unobserved;
use crate::runtime::{Runtime, RuntimeError};
use baton_core::event::{TICKET_CLOSED, TICKET_HANDED_BACK, TICKET_OPENED};
use baton_core::{Conversation, Entry, HandoffNote, Input, Ticket, Unfit};
use baton_store::{ConversationInfo, Store, StoreError, StoredEntry};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Waiting for an operator.
    Open,
    /// An operator has it.
    Claimed,
    /// An operator closed it; it opens again if the user writes.
    Closed,
    /// No human agent has control (the ticket was handed back, or there never was one).
    None,
}

impl TicketStatus {
    /// The status's name, as in the `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Claimed => "claimed",
            TicketStatus::Closed => "closed",
            TicketStatus::None => "none",
        }
    }
}

/// A ticket with its context package: what an operator needs to take the conversation over
/// without asking the user to repeat anything. Its JSON is [`crate::wire::Ticket`], and without
/// the context package [`crate::wire::TicketSummary`].
#[derive(Clone, Debug, PartialEq)]
pub struct TicketView {
    /// The conversation (and the ticket's name).
    pub conversation: String,
    /// Its team.
    pub team: String,
    /// Where the ticket stands.
    pub status: TicketStatus,
    /// The human agent (the queue), when there is a ticket.
    pub queue: Option<String>,
    /// The operator who claimed it.
    pub operator: Option<String>,
    /// Why it opened.
    pub reason: Option<String>,
    /// The turn in which it opened.
    pub opened_turn: Option<u32>,
    /// When it opened, in milliseconds since the Unix epoch.
    pub opened_ms: Option<u64>,
    /// The agent in control.
    pub agent: String,
    /// The handoff note the human agent received: who handed over, why, the summary, the
    /// facts and the user's request.
    pub note: Option<HandoffNote>,
    /// The user's latest message.
    pub last_user_message: Option<String>,
    /// The facts the team has gathered.
    pub facts: BTreeMap<String, String>,
    /// The whole transcript.
    pub transcript: Vec<Entry>,
}

impl TicketView {
    /// The view of `conversation`'s ticket, with its `journal`.
    pub fn of(info: &ConversationInfo, journal: &[StoredEntry], conversation: &Conversation) -> TicketView {
        let ticket: Option<&Ticket> = conversation.ticket();
        let status = match ticket {
            None => TicketStatus::None,
            Some(ticket) if ticket.closed => TicketStatus::Closed,
            Some(Ticket { operator: Some(_), .. }) => TicketStatus::Claimed,
            Some(_) => TicketStatus::Open,
        };
        let note = ticket.and_then(|ticket| {
            conversation.transcript().iter().rev().find_map(|entry| match entry {
                Entry::Handoff(note) if note.to == ticket.agent => Some(note.clone()),
                _ => None,
            })
        });
        TicketView {
            conversation: info.id.clone(),
            team: info.team.clone(),
            status,
            queue: ticket.map(|ticket| ticket.agent.clone()),
            operator: ticket.and_then(|ticket| ticket.operator.clone()),
            reason: ticket.map(|ticket| ticket.reason.clone()),
            opened_turn: ticket.map(|ticket| ticket.opened_turn),
            opened_ms: ticket.and_then(|_| {
                journal.iter().rev().find(|stored| stored.entry.kind() == TICKET_OPENED).map(|stored| stored.at_ms)
            }),
            agent: conversation.active_agent().to_string(),
            note,
            last_user_message: conversation.last_request().map(str::to_string),
            facts: conversation.facts().clone(),
            transcript: conversation.transcript().to_vec(),
        }
    }
}

/// The conversations whose ticket is open or claimed, oldest first, across every team in the
/// store.
pub async fn waiting(store: &dyn Store) -> Result<Vec<ConversationInfo>, StoreError> {
    let latest = store.latest_of_kinds(&[TICKET_OPENED, TICKET_HANDED_BACK, TICKET_CLOSED]).await?;
    Ok(latest.into_iter().filter(|(_, kind)| kind == TICKET_OPENED).map(|(info, _)| info).collect())
}

impl Runtime {
    /// The ticket of `conversation`, read without taking the conversation.
    pub async fn ticket(&self, conversation: &str) -> Result<TicketView, RuntimeError> {
        let (info, journal, state) = self.conversation(conversation).await?;
        Ok(TicketView::of(&info, &journal, &state))
    }

    /// `operator` claims the ticket; fails if another operator has it.
    pub async fn claim(&self, conversation: &str, operator: &str) -> Result<TicketView, RuntimeError> {
        let operator = operator.to_string();
        self.operate(conversation, move |_| Ok(Input::TicketClaimed { operator })).await
    }

    /// The operator holding the ticket (`operator`, or whoever claimed it) writes to the user.
    pub async fn reply(
        &self,
        conversation: &str,
        operator: Option<&str>,
        text: &str,
    ) -> Result<TicketView, RuntimeError> {
        let text = text.to_string();
        self.operate(conversation, |state| Ok(Input::OperatorReplied { operator: holder(state, operator)?, text }))
            .await
    }

    /// The operator holding the ticket gives control back to `to` (along a declared edge), with
    /// `note` in that agent's handoff note. The next user turn goes to `to`.
    pub async fn hand_back(
        &self,
        conversation: &str,
        operator: Option<&str>,
        to: &str,
        note: Option<&str>,
    ) -> Result<TicketView, RuntimeError> {
        let (to, note) = (to.to_string(), note.map(str::to_string));
        self.operate(conversation, |state| Ok(Input::TicketHandedBack { operator: holder(state, operator)?, to, note }))
            .await
    }

    /// The operator holding the ticket closes it; control stays with the human agent.
    pub async fn close(&self, conversation: &str, operator: Option<&str>) -> Result<TicketView, RuntimeError> {
        self.operate(conversation, |state| Ok(Input::TicketClosed { operator: holder(state, operator)? })).await
    }

    async fn operate(
        &self,
        conversation: &str,
        make: impl FnOnce(&Conversation) -> Result<Input, Unfit>,
    ) -> Result<TicketView, RuntimeError> {
        self.act(conversation, make, Arc::new(Unobserved)).await?;
        self.ticket(conversation).await
    }
}

/// The operator acting: the one named, or else the one who claimed the open ticket. Without
/// an open ticket, the error says why there is none (handed back, closed, never opened).
fn holder(state: &Conversation, named: Option<&str>) -> Result<String, Unfit> {
    if let Some(named) = named {
        return Ok(named.to_string());
    }
    match state.ticket() {
        Some(Ticket { closed: false, operator: Some(claimer), .. }) => Ok(claimer.clone()),
        Some(Ticket { closed: false, operator: None, .. }) => {
            Err(Unfit::NotClaimed { conversation: state.id().to_string() })
        }
        _ => Err(state.no_open_ticket()),
    }
}
