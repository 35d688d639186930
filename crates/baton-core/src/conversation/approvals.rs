//! Approvals: a tool call that needs a person's decision suspends the turn until it is made.
//! Only a call whose arguments fit its tool's schema gets here (`arguments`): a person is never
//! asked about a malformed call.
//!
//! The reply's other calls run first; once only calls waiting for approval are left, the turn
//! ends for now with status `awaiting_approval`, naming the first of them. An approval runs the
//! call; a denial answers it with an error the model must respect, and the same call (same tool,
//! same arguments) is refused from then on without asking again.

use super::{Conversation, Turn, Unfit, Waiting};
use crate::event::{Effect, PendingApproval, Record, ToolInvocation, TurnStatus};
use crate::transcript::ToolOutput;
use crate::Rejected;

/// A call a person denied: it is not run again in this conversation.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Denial {
    tool: String,
    arguments: serde_json::Value,
    reason: String,
}

impl Conversation {
    /// The call the suspended turn waits on, if the turn is suspended for approval.
    pub fn pending_approval(&self) -> Option<PendingApproval> {
        let Some(Turn { waiting: Waiting::Tools(pending), .. }) = &self.turn else { return None };
        let running = pending.outstanding.len() > pending.awaiting.len();
        let first = pending.awaiting.first().filter(|_| !running)?;
        Some(PendingApproval {
            call_id: first.call_id.clone(),
            tool: first.tool.clone(),
            args: first.arguments.clone(),
        })
    }

    /// Whether a decision on `call_id` fits now.
    pub(super) fn check_decision(&self, call_id: &str) -> Result<(), Unfit> {
        let waiting = match &self.turn {
            Some(Turn { waiting: Waiting::Tools(pending), .. })
                if pending.outstanding.len() == pending.awaiting.len() =>
            {
                pending.awaiting.iter().map(|call| call.call_id.as_str()).collect::<Vec<_>>()
            }
            _ => Vec::new(),
        };
        if waiting.contains(&call_id) {
            return Ok(());
        }
        let conversation = self.id.clone();
        Err(match waiting.as_slice() {
            [] => Unfit::NothingAwaitsApproval { conversation },
            calls => Unfit::NotAwaitingApproval {
                conversation,
                call_id: call_id.to_string(),
                waiting: calls.iter().map(|call| call.to_string()).collect(),
            },
        })
    }

    /// Ends the turn for now: `call` waits for a decision.
    pub(super) fn suspend(&mut self, call: ToolInvocation, out: &mut Vec<Effect>) {
        let turn = self.turn.as_ref().expect("a turn is in progress");
        let mut outcome = self.outcome(turn, TurnStatus::AwaitingApproval, None, None, None);
        outcome.pending =
            Some(Box::new(PendingApproval { call_id: call.call_id, tool: call.tool, args: call.arguments }));
        out.push(Effect::Record(Record::TurnEnded(outcome)));
    }

    /// A person decided on a waiting call: run it, or answer it with the denial.
    pub(super) fn decide(
        &mut self,
        call_id: String,
        approved: bool,
        reason: Option<String>,
        by: Option<String>,
        out: &mut Vec<Effect>,
    ) -> Result<(), Rejected> {
        self.check_decision(&call_id).map_err(|unfit| Rejected(unfit.to_string()))?;
        let Some(Turn { waiting: Waiting::Tools(pending), .. }) = &mut self.turn else { unreachable!("checked above") };
        let position = pending.awaiting.iter().position(|call| call.call_id == call_id).expect("checked above");
        let call = pending.awaiting.remove(position);
        let raw = pending.calls.iter().find(|c| c.id == call_id).map(|c| c.arguments.clone()).unwrap_or_default();
        let Waiting::Tools(mut pending) = std::mem::replace(&mut self.turn_mut().waiting, Waiting::Model) else {
            unreachable!("matched above")
        };
        if approved {
            self.turn_mut().waiting = Waiting::Tools(pending);
            self.start_tool_call(call, &raw, out);
            return Ok(());
        }
        let who = by.map(|by| format!(" ({by})")).unwrap_or_default();
        let reason = reason.filter(|reason| !reason.trim().is_empty()).unwrap_or_else(|| "no reason given".into());
        let error = format!(
            "error: denied: a person{who} did not approve this call, so it was not made. Their reason: {reason}. \
             Do not try it again; tell the user it was not done."
        );
        pending.outstanding.remove(&call_id);
        pending.answers.insert(call_id, ToolOutput::error(error));
        self.denied.push(Denial { tool: call.tool, arguments: call.arguments, reason });
        self.settle(*pending, out);
        Ok(())
    }

    /// The error for a call a person already denied in this conversation, if this is one.
    pub(super) fn denied_before(&self, call: &ToolInvocation) -> Option<String> {
        let denial = self.denied.iter().find(|d| d.tool == call.tool && d.arguments == call.arguments)?;
        Some(format!(
            "error: denied earlier: a person did not approve this exact call (reason: {}), so it is not made \
             again. Tell the user it was not done.",
            denial.reason
        ))
    }
}
