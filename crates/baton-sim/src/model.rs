//! The scripted model: a reply drawn from the seed, the agent and the agent's call index (and
//! the attempt, unless the world is repeatable), like `provider = "script"` but random: text,
//! tool calls, handoffs, and every kind of malformed reply, error and timeout.
//!
//! Before it answers, it checks the request as a provider would (every tool call in the
//! messages answered exactly once, right after it; only declared edges offered) and that the
//! call is write-ahead: replaying the journal as the store holds it now must give exactly this
//! request as the call still to make.

use crate::check::invariant;
use crate::world::{GateOn, Process, World};
use async_trait::async_trait;
use baton::core::{
    replay, ChatMessage, Effect, ModelReply, ModelRequest, Purpose, StopReason, ToolCall, Usage, HANDOFF_PREFIX,
};
use baton::models::{Listener, Model, ModelError, ModelFailure};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The model every agent of a simulated team calls, as one process reaches it.
pub struct SimModel {
    world: Arc<World>,
    process: Arc<Process>,
}

impl SimModel {
    /// The model as `process` calls it.
    pub fn new(world: Arc<World>, process: Arc<Process>) -> SimModel {
        SimModel { world, process }
    }

    /// Checks the request: provider rules, declared edges, and that replay gives it.
    fn check(&self, request: &ModelRequest) {
        let world = &self.world;
        if let Err(why) = answered_once(&request.messages) {
            world.violation(
                invariant::ONE_RESULT,
                format!("model request of '{}' (turn {}): {why}", request.agent, request.turn),
            );
        }
        let offered: Vec<&str> =
            request.tools.iter().filter_map(|tool| tool.name.strip_prefix(HANDOFF_PREFIX)).collect();
        for target in &offered {
            let declared = match request.purpose {
                Purpose::Act => world.team.edge(&request.agent, target).is_some(),
                Purpose::Route => world.team.agent(target).is_some_and(|a| a.kind == baton::core::AgentKind::Llm),
            };
            if !declared {
                let what = format!("'{}' was offered a handoff to '{target}', which is not declared", request.agent);
                world.violation(invariant::EDGES, what);
            }
        }
        let journal = world.mirror();
        match replay(world.team.clone(), &world.id, &journal) {
            Ok(replayed) => {
                let pending = replayed.unfinished.iter().find_map(|effect| match effect {
                    Effect::CallModel(pending) => Some(pending),
                    _ => None,
                });
                if pending != Some(request) {
                    world.violation(
                        invariant::REPLAY,
                        format!(
                            "the model was called (agent '{}', call {}) with a request the journal does not give: \
                         replay has {}",
                            request.agent,
                            request.agent_call_index,
                            match pending {
                                Some(p) => format!("a call of '{}' number {}", p.agent, p.agent_call_index),
                                None => "no model call to make".into(),
                            }
                        ),
                    );
                }
            }
            Err(e) => {
                world.violation(invariant::REPLAY, format!("the journal does not replay during a model call: {e}"))
            }
        }
    }
}

/// Whether every tool call in `messages` is answered exactly once, by the messages right after it.
fn answered_once(messages: &[ChatMessage]) -> Result<(), String> {
    let mut open: BTreeSet<&str> = BTreeSet::new();
    for message in messages {
        match message {
            ChatMessage::Tool { call_id, .. } => {
                if !open.remove(call_id.as_str()) {
                    return Err(format!("a result for call '{call_id}', which awaits none"));
                }
            }
            ChatMessage::User(_) | ChatMessage::Assistant { .. } if !open.is_empty() => {
                return Err(format!("call(s) {open:?} without a result before the next message"));
            }
            ChatMessage::User(_) => {}
            ChatMessage::Assistant { tool_calls, .. } => {
                for call in tool_calls {
                    if !open.insert(call.id.as_str()) {
                        return Err(format!("call id '{}' twice in one message", call.id));
                    }
                }
            }
        }
    }
    match open.is_empty() {
        true => Ok(()),
        false => Err(format!("call(s) {open:?} without a result at the end of the request")),
    }
}

#[async_trait]
impl Model for SimModel {
    async fn complete(&self, request: &ModelRequest, _listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        if self.process.is_dead() {
            return Err(ModelError::new("simulated crash: the process is dead"));
        }
        self.check(request);
        let Some(attempt) = self.world.model_attempt(&request.agent, request.agent_call_index) else {
            return Err(ModelError::new("simulated: the conversation has called its models too often"));
        };
        self.process.pass_gate(GateOn::Model).await;
        let mut draw = Draw {
            world: &self.world,
            rng: self.world.rng(&format!("model/{}/{}", request.agent, request.agent_call_index), attempt),
            request,
        };
        match request.purpose {
            Purpose::Route => draw.route(),
            Purpose::Act => draw.act(),
        }
    }
}

/// The draws for one reply.
struct Draw<'a> {
    world: &'a World,
    rng: crate::rng::Rng,
    request: &'a ModelRequest,
}

impl Draw<'_> {
    fn fault(&mut self, kind: &'static str) {
        let r = self.request;
        self.world.fault(kind, format!("the model of '{}' (call {})", r.agent, r.agent_call_index));
    }

    fn usage(&mut self) -> Option<Usage> {
        Some(Usage { input_tokens: self.rng.between(10, 900), output_tokens: self.rng.between(1, 200) })
    }

    /// The router's answer: a transfer to one of the offered agents, or something useless.
    fn route(&mut self) -> Result<ModelReply, ModelError> {
        if self.rng.chance(self.world.faults.model_error) {
            self.fault("model_error");
            return Err(ModelError::of(
                ModelFailure::Unavailable,
                "simulated: the provider answered 503 after 2 retries",
            ));
        }
        let offered: Vec<String> = self.request.tools.iter().map(|tool| tool.name.clone()).collect();
        let name = match self.rng.chance(self.world.faults.malformed) {
            true => {
                self.fault("router_garbage");
                format!("{HANDOFF_PREFIX}nobody")
            }
            false => self.rng.pick(&offered).cloned().unwrap_or_default(),
        };
        let call = ToolCall { id: "route".into(), name, arguments: json!({ "reason": "routing" }).to_string() };
        Ok(ModelReply { text: None, tool_calls: vec![call], usage: self.usage(), stop: None })
    }

    /// An agent's answer.
    fn act(&mut self) -> Result<ModelReply, ModelError> {
        let faults = self.world.faults.clone();
        if self.rng.chance(faults.model_error) {
            self.fault("model_error");
            return Err(ModelError::of(
                ModelFailure::Unavailable,
                "simulated: the provider answered 503 after 2 retries",
            ));
        }
        if self.rng.chance(faults.model_timeout) {
            self.fault("model_timeout");
            return Err(ModelError::of(ModelFailure::TimedOut, "simulated: the provider did not answer within 60 s"));
        }
        if self.rng.chance(faults.empty_reply) {
            self.fault("empty_reply");
            let stop = *self
                .rng
                .pick(&[None, Some(StopReason::Length), Some(StopReason::Refusal), Some(StopReason::ContentFilter)])
                .unwrap_or(&None);
            return Ok(ModelReply { text: None, tool_calls: Vec::new(), usage: self.usage(), stop });
        }
        let tools: Vec<String> = self
            .request
            .tools
            .iter()
            .filter(|tool| !tool.name.starts_with(HANDOFF_PREFIX))
            .map(|tool| tool.name.clone())
            .collect();
        let handoffs: Vec<String> = self
            .request
            .tools
            .iter()
            .filter_map(|tool| tool.name.strip_prefix(HANDOFF_PREFIX).map(str::to_string))
            .collect();
        let roll = self.rng.below(100);
        let mut calls = Vec::new();
        if (35..65).contains(&roll) || roll >= 90 {
            for _ in 0..self.rng.between(1, 3) {
                if let Some(tool) = self.rng.pick(&tools).cloned() {
                    let arguments = json!({ "id": format!("o-{}", self.rng.below(40)), "amount": self.rng.below(300) });
                    calls.push((tool, arguments.to_string()));
                }
            }
        }
        if roll >= 65 {
            if let Some(target) = self.rng.pick(&handoffs).cloned() {
                calls.push((format!("{HANDOFF_PREFIX}{target}"), self.payload(&target)));
            }
        }
        let mut stop = None;
        if !calls.is_empty() && self.rng.chance(faults.malformed) {
            stop = self.malform(&mut calls, &handoffs);
        }
        let prefix = format!("{}-{}", self.request.agent, self.request.agent_call_index);
        let mut tool_calls: Vec<ToolCall> = calls
            .into_iter()
            .enumerate()
            .map(|(k, (name, arguments))| ToolCall { id: format!("{prefix}-{k}"), name, arguments })
            .collect();
        if tool_calls.len() > 1 && self.rng.chance(faults.malformed) {
            self.fault("reply_bad_ids");
            let id = if self.rng.chance(0.5) { String::new() } else { "call_1".to_string() };
            tool_calls.iter_mut().for_each(|call| call.id = id.clone());
        }
        let text = match tool_calls.is_empty() || self.rng.chance(0.2) {
            true => Some(format!("{} answers (call {})", self.request.agent, self.request.agent_call_index)),
            false => None,
        };
        Ok(ModelReply { text, tool_calls, usage: self.usage(), stop })
    }

    /// A handoff's arguments.
    fn payload(&mut self, target: &str) -> String {
        let mut payload = json!({ "reason": format!("{target} handles this") });
        if self.rng.chance(0.5) {
            payload["summary"] = json!("the user needs help");
        }
        if self.rng.chance(0.3) {
            payload["facts"] = json!({ "order": format!("o-{}", self.rng.below(40)) });
        }
        payload.to_string()
    }

    /// Breaks one of `calls` in a way models do; returns the stop reason that goes with it.
    fn malform(&mut self, calls: &mut Vec<(String, String)>, handoffs: &[String]) -> Option<StopReason> {
        let at = self.rng.below(calls.len() as u64) as usize;
        let handoff = calls[at].0.starts_with(HANDOFF_PREFIX);
        match self.rng.below(8) {
            0 => {
                self.fault("reply_bad_json");
                calls[at].1 = "{\"id\": \"o-1\"".into();
            }
            1 => {
                self.fault("reply_cut_off");
                let cut = calls[at].1.len() / 2;
                calls[at].1.truncate(cut);
                return Some(StopReason::Length);
            }
            2 => {
                self.fault("reply_not_object");
                calls[at].1 = "[\"o-1\"]".into();
            }
            3 if !handoff => {
                self.fault("reply_schema");
                calls[at].1 = json!({ "amount": "lots" }).to_string();
            }
            3 | 4 => {
                self.fault("reply_unknown_name");
                calls[at].0 = if handoff { format!("{HANDOFF_PREFIX}nobody") } else { "teleport".into() };
            }
            5 => {
                let agent = &self.request.agent;
                let team = &self.world.team;
                let undeclared: Vec<String> =
                    team.agents.keys().filter(|name| *name != agent && !handoffs.contains(name)).cloned().collect();
                if let Some(target) = self.rng.pick(&undeclared).cloned() {
                    self.fault("reply_undeclared_edge");
                    let payload = self.payload(&target);
                    calls.push((format!("{HANDOFF_PREFIX}{target}"), payload));
                }
            }
            6 if handoff => {
                self.fault("reply_no_reason");
                calls[at].1 = "{}".into();
            }
            _ => {
                if let Some(target) = self.rng.pick(handoffs).cloned() {
                    self.fault("reply_two_handoffs");
                    let payload = self.payload(&target);
                    calls.push((format!("{HANDOFF_PREFIX}{target}"), payload));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::answered_once;
    use baton::core::{ChatMessage, ToolCall, ToolOutput};

    fn call(id: &str) -> ToolCall {
        ToolCall { id: id.into(), name: "t".into(), arguments: "{}".into() }
    }

    #[test]
    fn a_call_must_be_answered_once_before_the_next_message() {
        let asked = ChatMessage::Assistant { text: None, tool_calls: vec![call("a")] };
        let answer = ChatMessage::Tool { call_id: "a".into(), output: ToolOutput::ok("x") };
        let user = ChatMessage::User("hi".into());
        assert!(answered_once(&[user.clone(), asked.clone(), answer.clone(), user.clone()]).is_ok());
        assert!(answered_once(&[asked.clone(), user.clone()]).is_err(), "unanswered");
        assert!(answered_once(&[asked.clone(), answer.clone(), answer.clone()]).is_err(), "answered twice");
        assert!(answered_once(&[answer]).is_err(), "an answer to nothing");
    }
}
