//! The front-door router: the request that asks a model which agent should start a conversation,
//! and how its answer is read. Routing happens once, on the first message, before any agent works;
//! it is not a handoff and leaves nothing in the transcript.

use crate::event::{ChatMessage, ModelRequest, Purpose};
use crate::team::{AgentKind, Team, ToolDef, HANDOFF_PREFIX};
use crate::transcript::ModelReply;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The `agent` of a routing request.
pub const ROUTER: &str = "router";

/// The request that asks `model` to pick the agent for the first message `text`: one
/// `transfer_to_<agent>` tool per model-driven agent, the entry agent first.
pub fn route_request(team: &Team, model: &str, turn: u32, text: &str) -> ModelRequest {
    let candidates = std::iter::once(team.entry.as_str())
        .chain(team.agents.keys().map(String::as_str).filter(|name| *name != team.entry))
        .filter_map(|name| team.agent(name))
        .filter(|agent| agent.kind == AgentKind::Llm);
    let tools = candidates
        .map(|agent| ToolDef {
            name: agent.handoff_tool_name(),
            description: if agent.description.is_empty() {
                format!("Start the conversation with {}.", agent.name)
            } else {
                format!("Start the conversation with {}: {}", agent.name, agent.description)
            },
            parameters: json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "What in the message points to this agent."}},
                "required": ["reason"]
            }),
            examples: agent.examples.clone(), idempotent: true, approval: Default::default() })
        .collect();
    let system = format!(
        "You are the front door of the team '{}'. Read the user's first message and pick the agent best \
         suited to handle it by calling exactly one of your tools. When no agent clearly fits, pick {}.",
        team.name, team.entry
    );
    ModelRequest {
        turn,
        agent: ROUTER.to_string(),
        model: model.to_string(),
        agent_call_index: 0,
        purpose: Purpose::Route,
        system,
        messages: vec![ChatMessage::User(text.to_string())],
        tools,
        facts: BTreeMap::new(),
    }
}

/// Why a router's reply picks no agent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoRoute {
    /// The reply called no `transfer_to_<agent>` tool.
    #[error("the router called no transfer_to_<agent> tool")]
    NoTransfer,
    /// The agent picked is not a model-driven agent of the team.
    #[error("the router picked '{0}', which is not a model-driven agent of the team")]
    NotAModelAgent(String),
}

impl NoRoute {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            NoRoute::NoTransfer => "no_transfer",
            NoRoute::NotAModelAgent(_) => "not_a_model_agent",
        }
    }
}

/// The agent the router's reply picks and why, or why the reply picks none.
pub fn read_route(team: &Team, reply: &ModelReply) -> Result<(String, String), NoRoute> {
    let Some(call) = reply.tool_calls.iter().find(|call| call.name.starts_with(HANDOFF_PREFIX)) else {
        return Err(NoRoute::NoTransfer);
    };
    let target = &call.name[HANDOFF_PREFIX.len()..];
    if !team.agent(target).is_some_and(|agent| agent.kind == AgentKind::Llm) {
        return Err(NoRoute::NotAModelAgent(target.to_string()));
    }
    let reason = serde_json::from_str::<Value>(&call.arguments)
        .ok()
        .and_then(|args| args.get("reason").and_then(Value::as_str).map(str::trim).map(str::to_string))
        .filter(|reason| !reason.is_empty())
        .unwrap_or_else(|| "picked by the router".to_string());
    Ok((target.to_string(), reason))
}
