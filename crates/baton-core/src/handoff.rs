//! Handoffs as tool calls: the `transfer_to_<agent>` schema, payload parsing, the handoff note
//! a receiving agent reads, and the refusals a model is told about.

use crate::event::LimitKind;
use crate::names::list;
use crate::team::{Agent, ContextPolicy, HandoffEdge, Team, ToolDef};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The reason recorded for a handoff whose edge does not require one and whose call gave none.
pub const NO_REASON: &str = "(no reason given)";

/// What a handing-off model says: `reason` (required unless the edge says otherwise), `summary`
/// and `facts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Why control should pass.
    pub reason: String,
    /// What happened so far, for the receiver.
    pub summary: Option<String>,
    /// Key facts gathered, such as a customer id.
    pub facts: BTreeMap<String, String>,
}

/// The context package a receiving agent gets with control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffNote {
    /// Who had control.
    pub from: String,
    /// Who has it now.
    pub to: String,
    /// Why.
    pub reason: String,
    /// The handing-off model's summary, if it gave one.
    pub summary: Option<String>,
    /// The facts the team has gathered so far.
    pub facts: BTreeMap<String, String>,
    /// The user's message of the turn in which control passed.
    pub request: String,
    /// The user's first message in the conversation, when it is not `request`.
    pub first_request: Option<String>,
    /// How much of the transcript the receiver sees.
    pub context: ContextPolicy,
    /// Set when a limit tripped and the runtime escalated, rather than a model handing off.
    pub escalation: Option<LimitKind>,
}

/// The tool a model calls to take the edge `edge` to `target`.
pub fn handoff_tool(edge: &HandoffEdge, target: &Agent) -> ToolDef {
    let when = edge.description.as_deref().unwrap_or(&target.description);
    let description = if when.is_empty() {
        format!("Hand the conversation to {}.", target.name)
    } else {
        format!("Hand the conversation to {}: {when}", target.name)
    };
    ToolDef {
        name: target.handoff_tool_name(),
        description,
        parameters: json!({
            "type": "object",
            "properties": {
                "reason": {"type": "string", "description": format!("Why {} should take over.", target.name)},
                "summary": {"type": "string", "description": "What has happened so far and what the user needs, so the next agent can continue without asking again."},
                "facts": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Key facts gathered so far, such as ids the user gave."}
            },
            "required": if edge.require_reason { json!(["reason"]) } else { json!([]) }
        }),
        examples: target.examples.clone(),
        idempotent: true,
        approval: Default::default(),
    }
}

/// Parses a handoff call's arguments; the error says what is wrong, for the model to fix. A
/// missing (or blank) reason is an error when `require_reason`, and [`NO_REASON`] otherwise.
pub fn parse_payload(arguments: &str, require_reason: bool) -> Result<Payload, String> {
    let value: Value = serde_json::from_str(arguments)
        .map_err(|e| format!("the arguments are not valid JSON ({e}); send an object with a \"reason\" string"))?;
    let Value::Object(object) = value else {
        return Err("the arguments must be a JSON object with a \"reason\" string".into());
    };
    let reason = match object.get("reason") {
        Some(Value::String(reason)) if !reason.trim().is_empty() => reason.trim().to_string(),
        None | Some(Value::Null) | Some(Value::String(_)) if !require_reason => NO_REASON.to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err("\"reason\" is required: say why the other agent should take over".into())
        }
        Some(_) => return Err("\"reason\" must be a string: say why the other agent should take over".into()),
    };
    let summary = match object.get("summary") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err("\"summary\" must be a string".into()),
    };
    let facts = match object.get("facts") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(facts)) => facts_from(facts)?,
        Some(_) => return Err("\"facts\" must be an object of strings".into()),
    };
    Ok(Payload { reason, summary, facts })
}

fn facts_from(object: &Map<String, Value>) -> Result<BTreeMap<String, String>, String> {
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            Value::Number(n) => Ok((key.clone(), n.to_string())),
            Value::Bool(b) => Ok((key.clone(), b.to_string())),
            _ => Err(format!("fact \"{key}\" must be a string, number or boolean")),
        })
        .collect()
}

/// Why a handoff call did not move control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The target is not a declared edge of the calling agent.
    UnknownTarget,
    /// The arguments were malformed.
    InvalidArguments {
        /// What was wrong.
        detail: String,
    },
    /// A handoff was already taken from this response.
    Ignored,
    /// The target already held control in this turn.
    PingPong,
    /// The edge's `max_uses` budget is spent.
    MaxUses,
    /// The turn's `max_handoffs` is reached.
    MaxHandoffs,
}

impl Refusal {
    /// The limit a refusal counts towards, if it is one.
    pub fn limit(&self) -> Option<LimitKind> {
        match self {
            Refusal::PingPong => Some(LimitKind::PingPong),
            Refusal::MaxUses => Some(LimitKind::MaxUses),
            Refusal::MaxHandoffs => Some(LimitKind::MaxHandoffs),
            _ => None,
        }
    }

    /// The tool result the calling model reads.
    pub fn message(&self, team: &Team, from: &str, target: &str) -> String {
        let declared = team.agent(from).map(|a| list(a.handoffs.iter().map(|e| e.to.as_str()))).unwrap_or_default();
        let escape = match &team.limits.fallback {
            Some(fallback) if team.edge(from, fallback).is_some() => {
                format!(", or hand off to '{fallback}' if you cannot")
            }
            _ => String::new(),
        };
        match self {
            Refusal::UnknownTarget => format!("error: '{target}' is not an agent you can hand off to; you can hand off to {declared}"),
            Refusal::InvalidArguments { detail } => format!("error: handoff to '{target}' not taken: {detail}"),
            Refusal::Ignored => "ignored: one handoff per response".into(),
            Refusal::PingPong => format!("refused: '{target}' already had control in this turn; handing back would bounce the user between agents. Resolve the request yourself{escape}."),
            Refusal::MaxUses => format!("refused: the handoff to '{target}' has used its budget (max_uses) in this conversation. Resolve the request yourself{escape}."),
            Refusal::MaxHandoffs => format!("refused: this turn has reached its handoff limit ({} handoffs)", team.limits.max_handoffs),
        }
    }
}

impl HandoffNote {
    /// The note as the receiving agent reads it, appended to its instructions.
    pub fn render(&self) -> String {
        let mut text = String::from("## Handoff\n");
        match self.escalation {
            Some(limit) => {
                let _ = writeln!(
                    text,
                    "The conversation was escalated to you from {} because a limit was reached ({}).",
                    self.from,
                    limit.as_str()
                );
            }
            None => {
                let _ = writeln!(text, "You now have control of this conversation: {} handed it to you.", self.from);
            }
        }
        let _ = writeln!(text, "Reason: {}", self.reason);
        if self.context != ContextPolicy::None {
            if let Some(summary) = &self.summary {
                let _ = writeln!(text, "Summary: {summary}");
            }
            if !self.facts.is_empty() {
                text.push_str("Facts gathered so far:\n");
                for (key, value) in &self.facts {
                    let _ = writeln!(text, "- {key}: {value}");
                }
            }
        }
        if let Some(first) = &self.first_request {
            let _ = writeln!(text, "The user's first request in this conversation: {first}");
        }
        let _ = writeln!(text, "The user's request: {}", self.request);
        text.push_str("Continue from here; do not ask the user to repeat what is already known.");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_required_and_facts_become_strings() {
        assert!(parse_payload("{}", true).unwrap_err().contains("reason"));
        assert!(parse_payload(r#"{"reason":"  "}"#, true).unwrap_err().contains("reason"));
        assert!(parse_payload("not json", true).unwrap_err().contains("not valid JSON"));
        assert!(parse_payload("[1]", true).unwrap_err().contains("object"));
        let payload = parse_payload(r#"{"reason":" network ","facts":{"customer_id":42,"vip":true}}"#, true).unwrap();
        assert_eq!(payload.reason, "network");
        assert_eq!(payload.facts["customer_id"], "42");
        assert_eq!(payload.facts["vip"], "true");
    }

    #[test]
    fn an_edge_that_does_not_require_a_reason_takes_a_call_without_one() {
        for arguments in ["{}", r#"{"reason":""}"#, r#"{"reason":null,"summary":"line down"}"#] {
            let payload = parse_payload(arguments, false).unwrap();
            assert_eq!(payload.reason, NO_REASON, "{arguments}");
        }
        assert_eq!(parse_payload(r#"{"reason":"outage"}"#, false).unwrap().reason, "outage");
        assert!(parse_payload(r#"{"reason":7}"#, false).unwrap_err().contains("\"reason\" must be a string"));
        assert!(parse_payload(r#"{"reason":7}"#, true).unwrap_err().contains("\"reason\" must be a string"));
        assert!(parse_payload("not json", false).is_err());
        let mut target = Agent::llm("technical", "m");
        target.description = "Fixes connections.".into();
        let required = |edge: &HandoffEdge| handoff_tool(edge, &target).parameters["required"].clone();
        assert_eq!(required(&HandoffEdge::to("technical")), json!(["reason"]));
        assert_eq!(required(&HandoffEdge { require_reason: false, ..HandoffEdge::to("technical") }), json!([]));
    }
}
