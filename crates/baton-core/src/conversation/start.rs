//! Starting a turn: the user's message opens it (with the entry agent again when turns return
//! there, or a new ticket when the user writes to a human agent whose ticket was closed), the
//! front-door router picks the first agent on the first turn, and a trigger may hand the turn over
//! before any model call.

use super::{Cause, Conversation, Turn, Waiting};
use crate::event::{Effect, HandoffStep, Record, Signals, TurnStatus};
use crate::handoff::Payload;
use crate::router::route_request;
use crate::team::ReturnTo;
use crate::transcript::Entry;
use crate::trigger::evaluate;
use crate::Rejected;
use std::collections::BTreeMap;

impl Conversation {
    pub(super) fn start_turn(&mut self, text: String, signals: Signals, out: &mut Vec<Effect>) -> Result<(), Rejected> {
        if self.turn.is_some() {
            return Err(Rejected("a user message arrived while a turn is still in progress".into()));
        }
        let reopen = self.team.is_human(&self.active) && self.ticket.as_ref().is_none_or(|ticket| ticket.closed);
        self.turns += 1;
        let handed_back = std::mem::take(&mut self.handed_back);
        if self.team.limits.return_to == ReturnTo::Entry && !self.team.is_human(&self.active) && !handed_back {
            self.active = self.team.entry.clone();
        }
        self.transcript.push(Entry::User { turn: self.turns, text: text.clone() });
        self.turn = Some(Turn {
            number: self.turns,
            request: text.clone(),
            signals,
            routed: None,
            model_calls: 0,
            tool_calls: 0,
            handoffs: Vec::new(),
            handoffs_taken: 0,
            held_control: vec![self.active.clone()],
            refusals: 0,
            malformed_calls: 0,
            usage: Vec::new(),
            waiting: Waiting::Model,
        });
        out.push(Effect::Record(Record::TurnStarted { turn: self.turns, agent: self.active.clone() }));
        if self.team.is_human(&self.active) {
            if reopen {
                self.open_ticket("the user wrote again after the ticket was closed".into(), out);
            }
            self.end_turn(TurnStatus::Escalated, None, None, None, out);
        } else if let Some(router) = self.team.router.clone().filter(|_| self.turns == 1 && !self.trigger_fires()) {
            let turn = self.turn_mut();
            turn.model_calls += 1;
            turn.waiting = Waiting::Router;
            let number = turn.number;
            out.push(Effect::Record(Record::RouterCallStarted { turn: number, model: router.model.clone() }));
            out.push(Effect::CallModel(route_request(&self.team, &router.model, number, &text)));
        } else {
            self.begin(out);
        }
        Ok(())
    }

    /// The router answered: start the conversation with the agent it picked.
    pub(super) fn on_route(&mut self, (to, reason): (String, String), out: &mut Vec<Effect>) {
        let from = self.active.clone();
        let turn = self.turn_mut();
        turn.waiting = Waiting::Model;
        turn.held_control = vec![to.clone()];
        turn.routed = Some(HandoffStep { from: from.clone(), to: to.clone(), reason: reason.clone() });
        let number = turn.number;
        out.push(Effect::Record(Record::Routed { turn: number, from, to: to.clone(), reason }));
        self.active = to;
        self.begin(out);
    }

    /// Whether a trigger fires for the agent in control: then the router is not asked.
    fn trigger_fires(&self) -> bool {
        let turn = self.turn.as_ref().expect("a turn is in progress");
        evaluate(&self.team, &self.active, &turn.signals, &self.streak).is_some()
    }

    /// The turn's agent is settled: fire a trigger, or call the agent's model.
    fn begin(&mut self, out: &mut Vec<Effect>) {
        let turn = self.turn.as_ref().expect("a turn is in progress");
        match evaluate(&self.team, &self.active, &turn.signals, &self.streak) {
            Some(firing) => {
                let payload = Payload { reason: firing.reason, summary: None, facts: BTreeMap::new() };
                self.hand_over(firing.to, payload, Cause::Trigger(firing.kind), out);
            }
            None => self.call_model(out),
        }
    }
}
