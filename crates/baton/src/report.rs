//! The result of one user turn, and its JSON form: what `baton run --json` prints and what the
//! server answers a message with.

use crate::usage::TurnUsage;
use crate::wire;
use baton_core::TurnOutcome;
use serde_json::Value;

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
    /// The turn as one JSON object: the `--json` contract of `baton run`, [`wire::TurnReport`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(wire::TurnReport::from(self)).unwrap_or_default()
    }
}
