//! Tool calls: a call is checked (a tool of the agent's, arguments that are a JSON object fitting
//! the tool's schema, not a call a person denied before) and then sent for approval or run; its
//! result, or the news that its outcome is unknown, carries the reply on.

use super::arguments::{self, Verdict};
use super::reply::cut_off_hint;
use super::{Conversation, Journaled, PendingReply, Turn, Waiting};
use crate::event::{Effect, Record, ToolInvocation};
use crate::names::list;
use crate::team::HANDOFF_PREFIX;
use crate::transcript::{ToolCall, ToolOutput};
use crate::Rejected;

impl Conversation {
    pub(super) fn plan_tool_call(
        &mut self,
        call: &ToolCall,
        cut_off: bool,
        pending: &mut PendingReply,
        out: &mut Vec<Effect>,
    ) {
        let arguments = match self.check_tool_call(call) {
            Ok(arguments) => arguments,
            Err(error) => {
                self.reject(call, cut_off_hint(error, cut_off), pending, out);
                return;
            }
        };
        let number = self.turn_mut().number;
        let invocation = ToolInvocation {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            idempotency_key: format!("{}:{}:{}", self.id, number, call.id),
            arguments,
        };
        if let Some(error) = self.denied_before(&invocation) {
            self.reject(call, error, pending, out);
            return;
        }
        match self.check_arguments(call, &invocation.arguments) {
            Verdict::Fits => {}
            Verdict::Violates(error) => {
                self.turn_mut().malformed_calls += 1;
                self.reject(call, error, pending, out);
                return;
            }
            Verdict::Uncheckable(error) => {
                self.reject(call, error, pending, out);
                return;
            }
        }
        pending.outstanding.insert(call.id.clone());
        let needs_approval =
            self.team.tools.get(&call.name).is_some_and(|tool| tool.approval.needed(&invocation.arguments));
        if needs_approval {
            out.push(Effect::Record(Record::ApprovalRequested {
                turn: number,
                call_id: call.id.clone(),
                agent: self.active.clone(),
                tool: call.name.clone(),
                arguments: invocation.arguments.clone(),
            }));
            pending.awaiting.push(invocation);
        } else {
            self.start_tool_call(invocation, &call.arguments, out);
        }
    }

    /// Answers a tool call with `error` without running it.
    fn reject(&mut self, call: &ToolCall, error: String, pending: &mut PendingReply, out: &mut Vec<Effect>) {
        out.push(Effect::Record(Record::ToolCallRejected {
            turn: self.turn_mut().number,
            call_id: call.id.clone(),
            agent: self.active.clone(),
            tool: call.name.clone(),
            error: error.clone(),
        }));
        pending.answers.insert(call.id.clone(), ToolOutput::error(error));
    }

    /// Whether a call's arguments fit its tool's schema; in replay, what the journal shows (see
    /// [`Conversation::follow_journal`]). A journaled rejection is a violation unless the tool's
    /// schema does not compile.
    fn check_arguments(&self, call: &ToolCall, arguments: &serde_json::Value) -> Verdict {
        match self.journaled.get(&call.id) {
            None => arguments::check(&self.team, &call.name, arguments),
            Some(Journaled::LetThrough) => Verdict::Fits,
            Some(Journaled::Rejected(error)) => match arguments::check(&self.team, &call.name, arguments) {
                Verdict::Uncheckable(_) => Verdict::Uncheckable(error.clone()),
                Verdict::Fits | Verdict::Violates(_) => Verdict::Violates(error.clone()),
            },
        }
    }

    /// Journals a tool call's intent and asks the shell to run it.
    pub(super) fn start_tool_call(&mut self, invocation: ToolInvocation, raw_arguments: &str, out: &mut Vec<Effect>) {
        let turn = self.turn_mut();
        turn.tool_calls += 1;
        let number = turn.number;
        out.push(Effect::Record(Record::ToolCallStarted {
            turn: number,
            call_id: invocation.call_id.clone(),
            agent: self.active.clone(),
            tool: invocation.tool.clone(),
            arguments: raw_arguments.to_string(),
            idempotency_key: invocation.idempotency_key.clone(),
        }));
        out.push(Effect::CallTool(invocation));
    }

    /// The call's arguments object, or the error the model is told.
    fn check_tool_call(&self, call: &ToolCall) -> Result<serde_json::Value, String> {
        let agent = self.team.agent(&self.active).expect("the active agent is a team member");
        if !agent.tools.contains(&call.name) {
            let hint = if self.team.edge(&self.active, &call.name).is_some() {
                format!("; to hand off, call {HANDOFF_PREFIX}{}", call.name)
            } else {
                String::new()
            };
            return Err(format!("error: unknown tool '{}'; your tools are {}{hint}", call.name, list(&agent.tools)));
        }
        if call.arguments.trim().is_empty() {
            return Ok(serde_json::Value::Object(serde_json::Map::new()));
        }
        match serde_json::from_str(&call.arguments) {
            Ok(serde_json::Value::Object(object)) => Ok(serde_json::Value::Object(object)),
            Ok(_) => Err(format!("error: the arguments of '{}' must be a JSON object", call.name)),
            Err(e) => Err(format!("error: the arguments of '{}' are not valid JSON ({e})", call.name)),
        }
    }

    /// A tool call's result arrived (`None`: its outcome is unknown).
    pub(super) fn on_tool_result(
        &mut self,
        call_id: String,
        output: Option<ToolOutput>,
        out: &mut Vec<Effect>,
    ) -> Result<(), Rejected> {
        let Some(Turn { waiting: Waiting::Tools(pending), .. }) = &mut self.turn else {
            return Err(Rejected(format!("a result for tool call '{call_id}' arrived, but no tool call is pending")));
        };
        if pending.awaiting.iter().any(|call| call.call_id == call_id) || !pending.outstanding.remove(&call_id) {
            return Err(Rejected(format!("a result for tool call '{call_id}' arrived, but that call is not pending")));
        }
        let output = output.unwrap_or_else(|| {
            let tool = pending.calls.iter().find(|call| call.id == call_id).map(|call| call.name.clone());
            let tool = tool.unwrap_or_default();
            pending.unknown.push((call_id.clone(), tool.clone()));
            ToolOutput::error(format!(
                "error: tool outcome unknown: the process stopped while '{tool}' ran, and it is not safe to run \
                 twice, so it was not run again"
            ))
        });
        pending.answers.insert(call_id, output);
        let Waiting::Tools(pending) = std::mem::replace(&mut self.turn_mut().waiting, Waiting::Model) else {
            unreachable!("matched above")
        };
        self.settle(*pending, out);
        Ok(())
    }
}
