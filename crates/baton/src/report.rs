//! The result of one user turn, and its JSON form: what `baton run --json` prints and what the
//! server answers a message with.

use crate::usage::TurnUsage;
use baton_core::{LimitKind, TurnOutcome};
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
