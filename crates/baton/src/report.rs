//! The result of one user turn, and its JSON form: what `baton run --json` prints and what the
//! server answers a message with.

use crate::usage::TurnUsage;
use baton_core::{Input, JournalEntry, LimitKind, Record, TurnOutcome};
use baton_store::StoredEntry;
use serde::Serialize;
use serde_json::{json, Value};

/// The result of one user turn.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnReport {
    /// The conversation the turn belongs to.
    pub conversation: String,
    /// How the turn ended.
    pub outcome: TurnOutcome,
    /// The tokens its model calls used, and their cost where the models have prices.
    pub usage: TurnUsage,
    /// What operators wrote to the user since the user's previous message (`baton queue
    /// reply`), oldest first: the user has not seen it yet, and it comes before this turn's
    /// reply. Empty for a turn the user did not start (a decision on an approval, a resumed
    /// turn).
    pub operator_replies: Vec<OperatorReply>,
}

/// An operator's message to the user, written as the human agent that has the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OperatorReply {
    /// The operator who wrote it.
    pub operator: String,
    /// The human agent it was written as.
    pub agent: String,
    /// The message.
    pub text: String,
}

/// The operators' replies journaled after the user's latest message in `journal`, each with
/// the human agent in control when it was written.
pub(crate) fn operator_replies_since_last_user_message(journal: &[StoredEntry]) -> Vec<OperatorReply> {
    let last_user_message = journal
        .iter()
        .rposition(|stored| matches!(stored.entry, JournalEntry::Input(Input::UserMessage { .. })))
        .map_or(0, |index| index + 1);
    let mut agent = String::new();
    let mut replies = Vec::new();
    for stored in &journal[last_user_message..] {
        match &stored.entry {
            JournalEntry::Record(Record::TurnEnded(outcome)) => agent.clone_from(&outcome.agent),
            JournalEntry::Record(Record::HandoffTaken { to, .. }) => agent.clone_from(to),
            JournalEntry::Input(Input::OperatorReplied { operator, text }) => {
                replies.push(OperatorReply { operator: operator.clone(), agent: agent.clone(), text: text.clone() });
            }
            _ => {}
        }
    }
    replies
}

impl TurnReport {
    /// The turn as one JSON object: the `--json` contract of `baton run`.
    pub fn to_json(&self) -> Value {
        let outcome = &self.outcome;
        json!({
            "conversation": self.conversation,
            "turn": outcome.turn,
            "status": outcome.status,
            "agent": outcome.agent,
            "reply": outcome.reply,
            "handoffs": outcome.handoffs,
            "limit": outcome.limit.map(LimitKind::as_str),
            "model_calls": outcome.model_calls,
            "tool_calls": outcome.tool_calls,
            "error": outcome.error,
            "routed": outcome.routed,
            "malformed_calls": outcome.malformed_calls.unwrap_or(0),
            "usage": self.usage,
            "pending": outcome.pending,
        })
    }
}
