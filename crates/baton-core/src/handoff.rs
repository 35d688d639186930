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

/// The longest handoff reason kept, in characters. A reason is a sentence or two; it is
/// journaled with the handoff and again in the turn's end, opens a human agent's ticket, and is
/// read by the receiver in every later request, so a model that quotes a whole message in it
/// costs that message many times over. 1,000 characters hold any real reason.
pub const MAX_REASON_CHARS: usize = 1_000;

/// The longest handoff summary kept, in characters: about 1,000 tokens, several paragraphs,
/// enough for the receiver to go on without asking again. It is journaled with the handoff and
/// sent in every later request of the receiver.
pub const MAX_SUMMARY_CHARS: usize = 4_000;

/// What marks a cut reason or summary.
pub const CUT_MARK: char = '…';

/// `text` if it has at most `max_chars` characters, else its first `max_chars - 1` characters and
/// [`CUT_MARK`], cut between characters (`max_chars` is at least 1).
pub fn cap(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some(_) => {
            let keep = text.char_indices().nth(max_chars.saturating_sub(1)).map_or(text.len(), |(at, _)| at);
            let mut cut = text[..keep].to_string();
            cut.push(CUT_MARK);
            cut
        }
    }
}

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

/// What is wrong with a handoff call's arguments, said for the model to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadPayload {
    /// They are not JSON (the parser's complaint).
    #[error("the arguments are not valid JSON ({0}); send an object with a \"reason\" string")]
    NotJson(String),
    /// They are JSON, but not an object.
    #[error("the arguments must be a JSON object with a \"reason\" string")]
    NotObject,
    /// The edge requires a reason, and there is none (or it is blank).
    #[error("\"reason\" is required: say why the other agent should take over")]
    NoReason,
    /// The reason is not a string.
    #[error("\"reason\" must be a string: say why the other agent should take over")]
    ReasonNotString,
    /// The summary is not a string.
    #[error("\"summary\" must be a string")]
    SummaryNotString,
    /// The facts are not an object.
    #[error("\"facts\" must be an object of strings")]
    FactsNotObject,
    /// A fact is neither a string, a number nor a boolean.
    #[error("fact \"{0}\" must be a string, number or boolean")]
    FactNotScalar(String),
}

impl BadPayload {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            BadPayload::NotJson(_) => "not_json",
            BadPayload::NotObject => "not_object",
            BadPayload::NoReason => "no_reason",
            BadPayload::ReasonNotString => "reason_not_string",
            BadPayload::SummaryNotString => "summary_not_string",
            BadPayload::FactsNotObject => "facts_not_object",
            BadPayload::FactNotScalar(_) => "fact_not_scalar",
        }
    }
}

/// Parses a handoff call's arguments; the error says what is wrong, for the model to fix. A
/// missing (or blank) reason is an error when `require_reason`, and [`NO_REASON`] otherwise. A
/// reason over [`MAX_REASON_CHARS`] or a summary over [`MAX_SUMMARY_CHARS`] is cut to it.
pub fn parse_payload(arguments: &str, require_reason: bool) -> Result<Payload, BadPayload> {
    let value: Value = serde_json::from_str(arguments).map_err(|e| BadPayload::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(BadPayload::NotObject);
    };
    let reason = match object.get("reason") {
        Some(Value::String(reason)) if !reason.trim().is_empty() => cap(reason.trim(), MAX_REASON_CHARS),
        None | Some(Value::Null) | Some(Value::String(_)) if !require_reason => NO_REASON.to_string(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err(BadPayload::NoReason),
        Some(_) => return Err(BadPayload::ReasonNotString),
    };
    let summary = match object.get("summary") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(cap(s.trim(), MAX_SUMMARY_CHARS)),
        Some(_) => return Err(BadPayload::SummaryNotString),
    };
    let facts = match object.get("facts") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(facts)) => facts_from(facts)?,
        Some(_) => return Err(BadPayload::FactsNotObject),
    };
    Ok(Payload { reason, summary, facts })
}

fn facts_from(object: &Map<String, Value>) -> Result<BTreeMap<String, String>, BadPayload> {
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            Value::Number(n) => Ok((key.clone(), n.to_string())),
            Value::Bool(b) => Ok((key.clone(), b.to_string())),
            _ => Err(BadPayload::FactNotScalar(key.clone())),
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
        assert!(parse_payload("{}", true).unwrap_err().to_string().contains("reason"));
        assert!(parse_payload(r#"{"reason":"  "}"#, true).unwrap_err().to_string().contains("reason"));
        assert!(parse_payload("not json", true).unwrap_err().to_string().contains("not valid JSON"));
        assert!(parse_payload("[1]", true).unwrap_err().to_string().contains("object"));
        let payload = parse_payload(r#"{"reason":" network ","facts":{"customer_id":42,"vip":true}}"#, true).unwrap();
        assert_eq!(payload.reason, "network");
        assert_eq!(payload.facts["customer_id"], "42");
        assert_eq!(payload.facts["vip"], "true");
    }

    #[test]
    fn a_long_reason_or_summary_is_cut_on_a_character_boundary() {
        let reason = "é".repeat(5_000);
        let summary = "s".repeat(MAX_SUMMARY_CHARS + 1);
        let arguments = json!({"reason": reason, "summary": summary}).to_string();
        let payload = parse_payload(&arguments, true).unwrap();
        assert_eq!(payload.reason.chars().count(), MAX_REASON_CHARS);
        assert_eq!(payload.reason, format!("{}…", "é".repeat(MAX_REASON_CHARS - 1)));
        let kept = payload.summary.unwrap();
        assert_eq!(kept.chars().count(), MAX_SUMMARY_CHARS);
        assert!(kept.ends_with("s…"), "{}", &kept[kept.len() - 10..]);
        let exact = "r".repeat(MAX_REASON_CHARS);
        assert_eq!(parse_payload(&json!({"reason": exact}).to_string(), true).unwrap().reason, exact);
        assert_eq!(cap("abcd", 3), "ab…");
    }

    #[test]
    fn an_edge_that_does_not_require_a_reason_takes_a_call_without_one() {
        for arguments in ["{}", r#"{"reason":""}"#, r#"{"reason":null,"summary":"line down"}"#] {
            let payload = parse_payload(arguments, false).unwrap();
            assert_eq!(payload.reason, NO_REASON, "{arguments}");
        }
        assert_eq!(parse_payload(r#"{"reason":"outage"}"#, false).unwrap().reason, "outage");
        assert!(parse_payload(r#"{"reason":7}"#, false)
            .unwrap_err()
            .to_string()
            .contains("\"reason\" must be a string"));
        assert!(parse_payload(r#"{"reason":7}"#, true)
            .unwrap_err()
            .to_string()
            .contains("\"reason\" must be a string"));
        assert!(parse_payload("not json", false).is_err());
        let mut target = Agent::llm("technical", "m");
        target.description = "Fixes connections.".into();
        let required = |edge: &HandoffEdge| handoff_tool(edge, &target).parameters["required"].clone();
        assert_eq!(required(&HandoffEdge::to("technical")), json!(["reason"]));
        assert_eq!(required(&HandoffEdge { require_reason: false, ..HandoffEdge::to("technical") }), json!([]));
    }
}
