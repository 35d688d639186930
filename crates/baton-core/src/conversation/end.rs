//! Ending a turn: the streak of turns the agent in control has held (which triggers read) moves
//! on, and the turn's outcome is recorded.

use super::{Conversation, Turn};
use crate::event::{Effect, LimitKind, Record, TurnOutcome, TurnStatus};
use crate::trigger::Streak;

impl Conversation {
    pub(super) fn end_turn(
        &mut self,
        status: TurnStatus,
        reply: Option<String>,
        limit: Option<LimitKind>,
        error: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let turn = self.turn.take().expect("a turn is in progress");
        if self.streak.agent == self.active {
            self.streak.turns += 1;
        } else {
            self.streak = Streak { agent: self.active.clone(), turns: 1 };
        }
        let outcome = self.outcome(&turn, status, reply, limit, error);
        out.push(Effect::Record(Record::TurnEnded(outcome)));
    }

    /// The summary of `turn` so far.
    pub(super) fn outcome(
        &self,
        turn: &Turn,
        status: TurnStatus,
        reply: Option<String>,
        limit: Option<LimitKind>,
        error: Option<String>,
    ) -> TurnOutcome {
        TurnOutcome {
            turn: turn.number,
            status,
            agent: self.active.clone(),
            reply,
            handoffs: turn.handoffs.clone(),
            limit,
            model_calls: turn.model_calls,
            tool_calls: turn.tool_calls,
            error,
            routed: turn.routed.clone(),
            malformed_calls: Some(turn.malformed_calls),
            usage: Some(turn.usage.clone()),
            pending: None,
        }
    }
}
