//! Acting on a model reply: its calls get ids unique in the conversation, the reply joins the
//! transcript, each call is planned (a handoff or a tool call), and once every call is answered
//! (or only calls waiting for approval are left) the turn takes the handoff, answers the user,
//! calls the model again or escalates.

use super::{Cause, Conversation, PendingReply, Waiting};
use crate::event::{Effect, LimitKind, TurnStatus};
use crate::handoff::Refusal;
use crate::team::HANDOFF_PREFIX;
use crate::transcript::{Entry, ModelReply, StopReason, ToolCall, ToolOutput};
use std::collections::{BTreeMap, BTreeSet};

impl Conversation {
    pub(super) fn on_reply(&mut self, reply: ModelReply, out: &mut Vec<Effect>) {
        let agent = self.team.agent(&self.active).expect("the active agent is a team member");
        let model = agent.model.clone().unwrap_or_default();
        let active = self.active.clone();
        self.count_usage(&active, &model, reply.usage);
        let text = reply.text.filter(|text| !text.trim().is_empty());
        let calls = self.unique_ids(reply.tool_calls);
        if text.is_none() && calls.is_empty() {
            let error = match reply.stop {
                Some(StopReason::Refusal) => format!("the model of agent '{active}' refused to answer"),
                Some(StopReason::Length) => format!(
                    "the model of agent '{active}' reached its output token limit before it wrote anything; \
                     raise the model's max_tokens"
                ),
                Some(StopReason::ContentFilter) => {
                    format!("the provider's content filter withheld the reply of agent '{active}'")
                }
                None => format!("the model of agent '{active}' returned an empty reply (no text, no tool calls)"),
            };
            self.end_turn(TurnStatus::Failed, None, None, Some(error), out);
            return;
        }
        let malformed = calls.iter().filter(|call| !is_object_or_empty(&call.arguments)).count();
        self.turn_mut().malformed_calls += u32::try_from(malformed).unwrap_or(u32::MAX);
        let cut_off = reply.stop == Some(StopReason::Length);
        self.call_ids.extend(calls.iter().map(|call| call.id.clone()));
        self.transcript.push(Entry::Assistant {
            agent: self.active.clone(),
            text: text.clone(),
            tool_calls: calls.clone(),
        });
        let mut pending = PendingReply {
            text,
            calls: calls.clone(),
            answers: BTreeMap::new(),
            outstanding: BTreeSet::new(),
            handoff: None,
            unknown: Vec::new(),
            awaiting: Vec::new(),
        };
        let mut planned = Vec::new();
        for call in &calls {
            let cut_off = cut_off && !is_object_or_empty(&call.arguments);
            if let Some(target) = call.name.strip_prefix(HANDOFF_PREFIX) {
                self.plan_handoff(call, target, cut_off, &mut pending, &mut planned);
            } else {
                self.plan_tool_call(call, cut_off, &mut pending, &mut planned);
            }
        }
        // Every record before the first call: the shell journals the records, then runs the
        // calls, so a record after a call would land after that call's result.
        let (records, calls): (Vec<Effect>, Vec<Effect>) =
            planned.into_iter().partition(|effect| matches!(effect, Effect::Record(_)));
        out.extend(records);
        out.extend(calls);
        self.settle(pending, out);
    }

    /// Carries a reply on after one of its calls was answered or decided: finish it once every
    /// call is answered, or suspend the turn when only calls waiting for approval are left.
    pub(super) fn settle(&mut self, pending: PendingReply, out: &mut Vec<Effect>) {
        if pending.outstanding.is_empty() {
            self.turn_mut().waiting = Waiting::Model;
            self.finish_reply(pending, out);
            return;
        }
        let running = pending.outstanding.len() > pending.awaiting.len();
        if !running && !pending.unknown.is_empty() {
            // The turn is escalated: a person checks the call whose outcome is unknown before
            // anything else runs.
            let mut pending = pending;
            for call in std::mem::take(&mut pending.awaiting) {
                pending.outstanding.remove(&call.call_id);
                let note = "error: not run: the turn was escalated (a tool outcome is unknown) before it was approved";
                pending.answers.insert(call.call_id, ToolOutput::error(note));
            }
            self.turn_mut().waiting = Waiting::Model;
            self.finish_reply(pending, out);
            return;
        }
        let first = pending.awaiting.first().cloned();
        self.turn_mut().waiting = Waiting::Tools(Box::new(pending));
        if let Some(call) = first.filter(|_| !running) {
            self.suspend(call, out);
        }
    }

    /// Gives every call an id unique in the conversation, keeping the model's id where it is.
    fn unique_ids(&self, calls: Vec<ToolCall>) -> Vec<ToolCall> {
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let prefix = self.turn.as_ref().map(|t| format!("call_{}_{}", t.number, t.model_calls)).unwrap_or_default();
        calls
            .into_iter()
            .enumerate()
            .map(|(position, mut call)| {
                let mut attempt = 0;
                while call.id.is_empty() || self.call_ids.contains(&call.id) || taken.contains(&call.id) {
                    call.id = match attempt {
                        0 => format!("{prefix}_{position}"),
                        n => format!("{prefix}_{position}_{n}"),
                    };
                    attempt += 1;
                }
                taken.insert(call.id.clone());
                call
            })
            .collect()
    }

    /// Every call of the reply is answered: take the handoff, answer the user, or call again;
    /// escalate if a call's outcome is unknown.
    fn finish_reply(&mut self, mut pending: PendingReply, out: &mut Vec<Effect>) {
        if !pending.unknown.is_empty() {
            if let Some((call_id, target, _)) = pending.handoff.take() {
                let note =
                    format!("error: not transferred to {target}: the turn was escalated (a tool outcome is unknown)");
                pending.answers.insert(call_id, ToolOutput::error(note));
            }
            self.append_results(&mut pending);
            let calls: Vec<String> =
                pending.unknown.iter().map(|(call_id, tool)| format!("'{tool}' (call {call_id})")).collect();
            let detail = format!(
                "tool outcome unknown: {} was running when the process stopped and is not idempotent, so it was \
                 not run again; check whether it took effect",
                calls.join(", ")
            );
            self.trip(LimitKind::ToolOutcomeUnknown, detail, out);
            return;
        }
        let Some((call_id, target, payload)) = pending.handoff.take() else {
            self.append_results(&mut pending);
            if pending.calls.is_empty() {
                self.end_turn(TurnStatus::Answered, pending.text, None, None, out);
            } else {
                self.call_model(out);
            }
            return;
        };
        let call = pending.calls.iter().find(|c| c.id == call_id).cloned().expect("the handoff call is in the reply");
        let turn = self.turn.as_ref().expect("a turn is in progress");
        let uses = self.edge_uses.get(&(self.active.clone(), target.clone())).copied().unwrap_or(0);
        let edge = self.team.edge(&self.active, &target).expect("checked when planned");
        let refusal = if turn.handoffs_taken >= self.team.limits.max_handoffs {
            Some(Refusal::MaxHandoffs)
        } else if turn.held_control.contains(&target) {
            Some(Refusal::PingPong)
        } else if edge.max_uses.is_some_and(|max| uses >= max) {
            Some(Refusal::MaxUses)
        } else {
            None
        };
        let Some(refusal) = refusal else {
            pending.answers.insert(
                call_id.clone(),
                ToolOutput::ok(format!("Transferred to {target}; {target} now has control of the conversation.")),
            );
            self.append_results(&mut pending);
            self.hand_over(target, payload, Cause::Model(call_id), out);
            return;
        };
        let limit = refusal.limit();
        self.refuse(&call, &target, refusal, &mut pending, out);
        self.append_results(&mut pending);
        let turn = self.turn_mut();
        turn.refusals += 1;
        let refusals = turn.refusals;
        match limit {
            Some(LimitKind::MaxHandoffs) => {
                let detail = format!("the turn reached its limit of {} handoffs", self.team.limits.max_handoffs);
                self.trip(LimitKind::MaxHandoffs, detail, out);
            }
            Some(limit) if refusals >= 2 => {
                let detail =
                    format!("agent '{}' kept trying to hand off after being refused ({})", self.active, limit.as_str());
                self.trip(limit, detail, out);
            }
            _ => self.call_model(out),
        }
    }

    /// Appends the answers to the transcript, in the order the calls were made.
    pub(super) fn append_results(&mut self, pending: &mut PendingReply) {
        for call in &pending.calls {
            let output = pending.answers.remove(&call.id).expect("every call is answered before the reply finishes");
            self.transcript.push(Entry::ToolResult {
                agent: self.active.clone(),
                call_id: call.id.clone(),
                name: call.name.clone(),
                output,
            });
        }
    }
}

/// Whether tool arguments are a JSON object (or empty, which counts as `{}`).
fn is_object_or_empty(arguments: &str) -> bool {
    arguments.trim().is_empty() || matches!(serde_json::from_str(arguments), Ok(serde_json::Value::Object(_)))
}

/// An argument error, with its likely cause when the model's reply was cut off mid-arguments.
pub(super) fn cut_off_hint(error: String, cut_off: bool) -> String {
    if cut_off {
        format!("{error}; your reply reached the output token limit and the arguments were cut off: send shorter ones")
    } else {
        error
    }
}
