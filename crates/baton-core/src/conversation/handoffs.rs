//! Handoffs: a model's handoff call is checked against the declared edges and its payload (one
//! per reply is taken; the others are refused with a message the model reads), and control moves
//! to another agent with a handoff note, for a model's handoff, an escalation, a trigger or an
//! operator's handback.

use super::reply::cut_off_hint;
use super::{Cause, Conversation, PendingReply};
use crate::event::{Effect, HandoffStep, Record, TurnStatus};
use crate::handoff::{parse_payload, HandoffNote, Payload, Refusal};
use crate::team::ContextPolicy;
use crate::transcript::{Entry, ToolCall, ToolOutput};

impl Conversation {
    pub(super) fn plan_handoff(
        &mut self,
        call: &ToolCall,
        target: &str,
        cut_off: bool,
        pending: &mut PendingReply,
        out: &mut Vec<Effect>,
    ) {
        let refusal = match self.team.edge(&self.active, target) {
            None => Some(Refusal::UnknownTarget),
            Some(edge) => match parse_payload(&call.arguments, edge.require_reason) {
                Err(bad) => Some(Refusal::InvalidArguments { detail: cut_off_hint(bad.to_string(), cut_off) }),
                Ok(_) if pending.handoff.is_some() => Some(Refusal::Ignored),
                Ok(payload) => {
                    pending.handoff = Some((call.id.clone(), target.to_string(), payload));
                    None
                }
            },
        };
        if let Some(refusal) = refusal {
            self.refuse(call, target, refusal, pending, out);
        }
    }

    pub(super) fn refuse(
        &mut self,
        call: &ToolCall,
        target: &str,
        refusal: Refusal,
        pending: &mut PendingReply,
        out: &mut Vec<Effect>,
    ) {
        let message = refusal.message(&self.team, &self.active, target);
        let turn = self.turn_mut().number;
        out.push(Effect::Record(Record::HandoffRefused {
            turn,
            call_id: call.id.clone(),
            from: self.active.clone(),
            to: target.to_string(),
            refusal,
        }));
        pending.answers.insert(call.id.clone(), ToolOutput::error(message));
    }

    /// Moves control to `to`, then continues the turn with it (or suspends for a human). Outside
    /// a turn (an operator's handback), control moves and the next user turn goes to `to`.
    pub(super) fn hand_over(&mut self, to: String, payload: Payload, cause: Cause, out: &mut Vec<Effect>) {
        let from = self.active.clone();
        let (call_id, escalation, trigger, operator) = match &cause {
            Cause::Model(call_id) => (Some(call_id.clone()), None, None, None),
            Cause::Escalation(limit) => (None, Some(*limit), None, None),
            Cause::Trigger(kind) => (None, None, Some(*kind), None),
            Cause::Operator(operator) => (None, None, None, Some(operator.clone())),
        };
        let context = match escalation {
            Some(_) => ContextPolicy::Full,
            None => self.team.edge(&from, &to).map(|edge| edge.context).unwrap_or_default(),
        };
        self.facts.extend(payload.facts.clone());
        let first_request = self.first_request().map(str::to_string);
        if call_id.is_some() {
            *self.edge_uses.entry((from.clone(), to.clone())).or_insert(0) += 1;
        }
        let (number, request) = match self.turn.as_mut() {
            Some(turn) => {
                if call_id.is_some() {
                    turn.handoffs_taken += 1;
                }
                turn.held_control.push(to.clone());
                turn.handoffs.push(HandoffStep { from: from.clone(), to: to.clone(), reason: payload.reason.clone() });
                (turn.number, turn.request.clone())
            }
            None => (self.turns, self.last_request().unwrap_or_default().to_string()),
        };
        let note = HandoffNote {
            from: from.clone(),
            to: to.clone(),
            reason: payload.reason.clone(),
            summary: payload.summary.clone(),
            facts: self.facts.clone(),
            first_request: first_request.filter(|first| *first != request),
            request,
            context,
            escalation,
        };
        let reason = payload.reason.clone();
        out.push(Effect::Record(Record::HandoffTaken {
            turn: number,
            from,
            to: to.clone(),
            payload,
            context,
            call_id,
            escalation,
            trigger,
            operator,
        }));
        self.transcript.push(Entry::Handoff(note));
        self.active = to;
        let human = self.team.is_human(&self.active);
        if human {
            self.open_ticket(reason, out);
        }
        if self.turn.is_none() {
            self.handed_back = true;
            return;
        }
        if escalation.is_some() {
            self.end_turn(TurnStatus::Escalated, None, escalation, None, out);
        } else if human {
            self.end_turn(TurnStatus::Escalated, None, None, None, out);
        } else {
            self.call_model(out);
        }
    }
}
