//! The runtime's log: the journal entries an operator wants to hear of (a turn's end, a change of
//! control, a refusal, a limit, a failed model call or tool) as `tracing` events carrying the
//! conversation, team and turn as fields, at information level or below: the runtime's caller
//! gets every failure too, and a command prints it. What the user, the model or a tool said
//! (messages, reasons, arguments, results) is never logged: only names, numbers and outcomes,
//! and the error of a turn that failed.

use crate::entry_names::{handoff_kind, refusal_kind};
use crate::Observer;
use baton_core::{Input, JournalEntry, Record, TurnStatus};
use baton_store::StoredEntry;
use std::sync::Arc;
use std::time::Duration;

/// Logs a conversation's entries as they are journaled, then passes everything on to `inner`.
pub(crate) struct Logged {
    conversation: String,
    team: String,
    inner: Arc<dyn Observer>,
}

impl Logged {
    /// Wraps `inner` for the turns of `conversation` in `team`.
    pub(crate) fn around(conversation: &str, team: &str, inner: Arc<dyn Observer>) -> Arc<dyn Observer> {
        Arc::new(Logged { conversation: conversation.to_string(), team: team.to_string(), inner })
    }

    fn log(&self, entry: &JournalEntry) {
        let (conversation, team) = (self.conversation.as_str(), self.team.as_str());
        match entry {
            JournalEntry::Record(Record::TurnEnded(outcome)) => {
                let (turn, status, agent) = (outcome.turn, outcome.status.as_str(), outcome.agent.as_str());
                let (model_calls, tool_calls, handoffs) =
                    (outcome.model_calls, outcome.tool_calls, outcome.handoffs.len());
                match (outcome.status, &outcome.error) {
                    (TurnStatus::Failed, error) => tracing::info!(
                        conversation,
                        team,
                        turn,
                        status,
                        agent,
                        model_calls,
                        tool_calls,
                        handoffs,
                        error = error.as_deref().unwrap_or(""),
                        "turn ended"
                    ),
                    _ => tracing::info!(
                        conversation,
                        team,
                        turn,
                        status,
                        agent,
                        model_calls,
                        tool_calls,
                        handoffs,
                        "turn ended"
                    ),
                }
            }
            JournalEntry::Record(Record::HandoffTaken {
                turn,
                from,
                to,
                context,
                escalation,
                trigger,
                operator,
                ..
            }) => {
                let kind = handoff_kind(escalation.as_ref(), trigger.as_ref(), operator.as_ref());
                tracing::info!(conversation, team, turn, from, to, kind, context = context.as_str(), "handoff");
            }
            JournalEntry::Record(Record::Routed { turn, to, .. }) => {
                tracing::debug!(conversation, team, turn, to, "routed")
            }
            JournalEntry::Record(Record::HandoffRefused { turn, from, to, refusal, .. }) => {
                let refusal = refusal_kind(refusal);
                tracing::info!(conversation, team, turn, from, to, refusal, "handoff refused")
            }
            JournalEntry::Record(Record::LimitTripped { turn, limit, agent, .. }) => {
                tracing::info!(conversation, team, turn, limit = limit.as_str(), agent, "limit tripped")
            }
            JournalEntry::Record(Record::TicketOpened { turn, agent, .. }) => {
                tracing::info!(conversation, team, turn, agent, "escalated to a person")
            }
            JournalEntry::Record(Record::ApprovalRequested { turn, agent, tool, .. }) => {
                tracing::info!(conversation, team, turn, agent, tool, "tool call waits for approval")
            }
            JournalEntry::Record(Record::ToolCallRejected { turn, agent, tool, .. }) => {
                tracing::debug!(conversation, team, turn, agent, tool, "tool call rejected")
            }
            JournalEntry::Record(Record::ToolCallStarted { turn, agent, tool, call_id, .. }) => {
                tracing::debug!(conversation, team, turn, agent, tool, call_id, "tool call started")
            }
            JournalEntry::Input(Input::ToolReturned { call_id, output }) if output.is_error => {
                tracing::debug!(conversation, team, call_id, "tool call failed")
            }
            JournalEntry::Input(Input::ModelFailed { error }) => {
                tracing::info!(conversation, team, error = error.as_str(), "model call failed")
            }
            _ => {}
        }
    }
}

impl Observer for Logged {
    fn text(&self, agent: &str, delta: &str) {
        self.inner.text(agent, delta);
    }

    fn journaled(&self, stored: &StoredEntry) {
        self.log(&stored.entry);
        self.inner.journaled(stored);
    }

    fn model_called(&self, agent: &str, model: &str, elapsed: Duration, ok: bool) {
        let (conversation, team) = (self.conversation.as_str(), self.team.as_str());
        let elapsed_ms = elapsed.as_micros() as f64 / 1000.0;
        tracing::debug!(conversation, team, agent, model, elapsed_ms, ok, "model call ended");
        self.inner.model_called(agent, model, elapsed, ok);
    }

    fn appended(&self, elapsed: Duration) {
        self.inner.appended(elapsed);
    }

    fn resumed(&self, turn: u32) {
        self.inner.resumed(turn);
    }
}
