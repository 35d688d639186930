//! Limits that stop a turn: the turn's deadline (the calls in flight are cut off and answered)
//! and every limit that trips, which escalates to the fallback human agent or fails the turn, as
//! the team says.

use super::{Cause, Conversation, PendingReply, Waiting};
use crate::event::{Effect, LimitKind, Record, TurnStatus};
use crate::handoff::Payload;
use crate::team::OnLimit;
use crate::transcript::ToolOutput;
use crate::Rejected;
use std::collections::BTreeMap;

impl Conversation {
    /// The turn ran past its deadline of `seconds`: the shell cut off the calls in flight. A tool
    /// call that was running is answered with an error saying its outcome is unknown (it may
    /// have taken effect, and it is not run again), a call waiting for approval is not run, a
    /// handoff of the same reply is not taken; then `turn_seconds` trips. A turn that waits for
    /// approval is not running, so no deadline passes for it.
    pub(super) fn on_deadline(&mut self, seconds: u32, out: &mut Vec<Effect>) -> Result<(), Rejected> {
        let Some(turn) = &mut self.turn else {
            return Err(Rejected("the turn's deadline passed, but no turn is in progress".into()));
        };
        if let Waiting::Tools(pending) = &turn.waiting {
            if pending.outstanding.len() == pending.awaiting.len() {
                return Err(Rejected(
                    "the turn's deadline passed, but the turn waits for approval, not running".into(),
                ));
            }
        }
        let cut_off = match std::mem::replace(&mut turn.waiting, Waiting::Model) {
            Waiting::Router => "while the front-door router was choosing the first agent".to_string(),
            Waiting::Model => format!("while the model of agent '{}' was answering", self.active),
            Waiting::Tools(pending) => self.cut_off(*pending, seconds),
        };
        let detail = format!("the turn ran past its deadline of {seconds} s {cut_off}");
        self.trip(LimitKind::TurnSeconds, detail, out);
        Ok(())
    }

    /// Answers every call of `pending` still open when the deadline passed, and says which
    /// were cut off while they ran.
    fn cut_off(&mut self, mut pending: PendingReply, seconds: u32) -> String {
        let mut running = Vec::new();
        for call in &pending.calls {
            if !pending.outstanding.contains(&call.id) {
                continue;
            }
            let output = if pending.awaiting.iter().any(|waiting| waiting.call_id == call.id) {
                ToolOutput::error("error: not run: the turn's deadline passed before it was approved")
            } else {
                running.push(format!("'{}' (call {})", call.name, call.id));
                ToolOutput::error(format!(
                    "error: cut off: the turn's deadline of {seconds} s passed while '{}' ran; it may or may not \
                     have taken effect: check before trying it again",
                    call.name
                ))
            };
            pending.answers.insert(call.id.clone(), output);
        }
        if let Some((call_id, target, _)) = pending.handoff.take() {
            let note = format!("error: not transferred to {target}: the turn's deadline passed");
            pending.answers.insert(call_id, ToolOutput::error(note));
        }
        let unknown: Vec<String> =
            pending.unknown.iter().map(|(call_id, tool)| format!("'{tool}' (call {call_id})")).collect();
        self.append_results(&mut pending);
        let mut said = format!(
            "while {} ran, cut off with {} outcome unknown: check whether {} took effect",
            running.join(", "),
            if running.len() == 1 { "its" } else { "their" },
            if running.len() == 1 { "it" } else { "they" }
        );
        if !unknown.is_empty() {
            said.push_str(&format!(
                "; the outcome of {} is unknown too (the process stopped while it ran)",
                unknown.join(", ")
            ));
        }
        said
    }

    /// A limit tripped: escalate to the fallback or fail, as the team says.
    pub(super) fn trip(&mut self, limit: LimitKind, detail: String, out: &mut Vec<Effect>) {
        let number = self.turn_mut().number;
        out.push(Effect::Record(Record::LimitTripped {
            turn: number,
            limit,
            agent: self.active.clone(),
            detail: detail.clone(),
        }));
        match (self.team.limits.on_limit, self.team.limits.fallback.clone()) {
            (OnLimit::Escalate, Some(fallback)) if fallback != self.active && self.team.is_human(&fallback) => {
                let payload = Payload { reason: why(limit, &detail), summary: None, facts: BTreeMap::new() };
                self.hand_over(fallback, payload, Cause::Escalation(limit), out);
            }
            _ => self.end_turn(TurnStatus::Failed, None, Some(limit), Some(why(limit, &detail)), out),
        }
    }
}

/// Why a limit (or a safety stop) ended the turn, for the handoff note and the error.
fn why(limit: LimitKind, detail: &str) -> String {
    match limit {
        LimitKind::ToolOutcomeUnknown => detail.to_string(),
        _ => format!("limit {} reached: {detail}", limit.as_str()),
    }
}
