//! A [`Model`] that plays scripted replies from a TOML file, for tests and reproducible offline demos.
//!
//! The file is a list of `[[reply]]` tables. Each agent consumes its own replies in order and
//! repeats its last one:
//!
//! ```toml
//! [[reply]]
//! agent = "triage"
//! handoff = "technical"
//! reason = "network problem"
//! summary = "optional"                 # optional, like facts = { customer_id = "42" }
//!
//! [[reply]]
//! agent = "technical"
//! calls = [{ tool = "check_line_status", args = { customer_id = "42" } }]   # several calls = parallel calls
//!
//! [[reply]]
//! agent = "technical"
//! text = "Your line is up. Please restart the router."
//! ```
//!
//! A reply has `text`, `calls`, a `handoff` or several of them; `reason` is required with `handoff`,
//! `summary` and `facts` are optional. Which reply answers a request depends only on the request's
//! agent and [`ModelRequest::agent_call_index`], so a conversation plays out the same in every
//! process, including after a resume.

use crate::{Listener, Model, ModelError, ModelFailure};
use async_trait::async_trait;
use baton_core::{ModelReply, ModelRequest, ToolCall, HANDOFF_PREFIX};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A script that cannot be used; the message names the file, the place and what to change.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read the script {}: {source}; check that the file exists and is readable", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has keys outside `[[reply]]` tables.
    #[error(
        "the script {origin} is not valid at line {line}, column {column}: {message}; fix it there \
         (a script is a list of [[reply]] tables)"
    )]
    Toml {
        /// The file (or other origin) of the text.
        origin: String,
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, in characters from 1.
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// One `[[reply]]` is wrong.
    #[error("the script {origin}, reply {reply} (line {line}, column {column}): {message}")]
    Reply {
        /// The file (or other origin) of the text.
        origin: String,
        /// Which reply, from 1, in file order.
        reply: usize,
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, in characters from 1.
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },
}

/// A model answering from a script; see the [module documentation](self) for the file format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptModel {
    origin: String,
    replies: BTreeMap<String, Vec<Reply>>,
}

/// One scripted reply, ready to be turned into a [`ModelReply`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    text: Option<String>,
    /// `(tool name, arguments JSON)`, the handoff call last.
    calls: Vec<(String, String)>,
}

/// The top level of a script, only to find where each reply starts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outline {
    #[serde(default)]
    reply: Vec<Spanned<IgnoredAny>>,
}

/// The top level of a script.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default)]
    reply: Vec<Spanned<RawReply>>,
}

/// One `[[reply]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    agent: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    calls: Option<Vec<RawCall>>,
    #[serde(default)]
    handoff: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    facts: Option<Map<String, Value>>,
}

/// One entry of `calls`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    tool: String,
    #[serde(default)]
    args: Option<Map<String, Value>>,
}

impl ScriptModel {
    /// Reads and checks the script at `path`.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScriptError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Checks a script's text; `origin` (usually the file's path) names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScriptError> {
        let outline: Outline = toml::from_str(text).map_err(|error| {
            let (line, column) = position(text, error.span().map_or(0, |span| span.start));
            ScriptError::Toml { origin: origin.to_string(), line, column, message: error.message().to_string() }
        })?;
        let starts: Vec<usize> = outline.reply.iter().map(|reply| reply.span().start).collect();
        let raw: RawScript = toml::from_str(text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            let (line, column) = position(text, offset);
            let message = format!(
                "{}; a reply has the keys agent, text, calls (each with tool and args), handoff, reason, summary \
                 and facts",
                error.message()
            );
            match starts.iter().filter(|start| **start <= offset).count() {
                0 => ScriptError::Toml { origin: origin.to_string(), line, column, message },
                reply => ScriptError::Reply { origin: origin.to_string(), reply, line, column, message },
            }
        })?;
        let mut replies: BTreeMap<String, Vec<Reply>> = BTreeMap::new();
        for (index, raw_reply) in raw.reply.into_iter().enumerate() {
            let (line, column) = position(text, raw_reply.span().start);
            let (agent, reply) = check(raw_reply.into_inner()).map_err(|message| ScriptError::Reply {
                origin: origin.to_string(),
                reply: index + 1,
                line,
                column,
                message,
            })?;
            replies.entry(agent).or_default().push(reply);
        }
        Ok(ScriptModel { origin: origin.to_string(), replies })
    }

    /// The agents that have replies, in name order.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.replies.keys().map(String::as_str)
    }

    /// Where the script came from (the `origin` given to [`ScriptModel::parse`], or the path).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Checks one reply; the error says what is wrong and what to do.
fn check(raw: RawReply) -> Result<(String, Reply), String> {
    let agent = raw.agent.trim().to_string();
    if agent.is_empty() {
        return Err("agent is empty; set it to the name of the agent that gives this reply".into());
    }
    if raw.text.is_none() && raw.calls.is_none() && raw.handoff.is_none() {
        return Err("it has none of text, calls and handoff; give it at least one of them".into());
    }
    if raw.text.as_ref().is_some_and(|text| text.trim().is_empty()) {
        return Err("text is empty; write the reply or remove text".into());
    }
    let raw_calls = raw.calls.unwrap_or_default();
    let mut calls = Vec::with_capacity(raw_calls.len() + 1);
    for (number, call) in raw_calls.into_iter().enumerate() {
        let tool = call.tool.trim().to_string();
        if tool.is_empty() {
            return Err(format!("call {} has an empty tool; set tool to the name of the tool to call", number + 1));
        }
        calls.push((tool, Value::Object(call.args.unwrap_or_default()).to_string()));
    }
    match raw.handoff {
        Some(target) => {
            let target = target.trim();
            if target.is_empty() {
                return Err("handoff is empty; set it to the agent that takes over".into());
            }
            let Some(reason) = raw.reason.filter(|reason| !reason.trim().is_empty()) else {
                return Err(format!(
                    "the handoff to '{target}' has no reason; add reason = \"...\" saying why control moves"
                ));
            };
            let mut fields = vec![format!("\"reason\":{}", Value::String(reason))];
            if let Some(summary) = raw.summary {
                fields.push(format!("\"summary\":{}", Value::String(summary)));
            }
            if let Some(facts) = raw.facts {
                fields.push(format!("\"facts\":{}", Value::Object(facts)));
            }
            calls.push((format!("{HANDOFF_PREFIX}{target}"), format!("{{{}}}", fields.join(","))));
        }
        None => {
            if raw.reason.is_some() || raw.summary.is_some() || raw.facts.is_some() {
                return Err(
                    "reason, summary and facts belong to a handoff; add handoff = \"<agent>\" or remove them".into()
                );
            }
        }
    }
    Ok((agent, Reply { text: raw.text, calls }))
}

/// The 1-based line and character column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

#[async_trait]
impl Model for ScriptModel {
    async fn complete(&self, request: &ModelRequest, _listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        let agent = &request.agent;
        let Some(reply) = self.replies.get(agent).and_then(|replies| {
            let index = usize::try_from(request.agent_call_index).unwrap_or(usize::MAX);
            replies.get(index.min(replies.len().saturating_sub(1)))
        }) else {
            let message = format!(
                "the script {} has no reply for agent '{agent}'; add a [[reply]] with agent = \"{agent}\"",
                self.origin
            );
            return Err(ModelError::of(ModelFailure::NoScriptedReply, message));
        };
        let index = request.agent_call_index;
        let tool_calls = reply
            .calls
            .iter()
            .enumerate()
            .map(|(n, (name, arguments))| ToolCall {
                id: format!("call_{agent}_{index}_{n}"),
                name: name.clone(),
                arguments: arguments.clone(),
            })
            .collect();
        Ok(ModelReply { text: reply.text.clone(), tool_calls, ..ModelReply::default() })
    }

    fn provider_name(&self) -> &str {
        "baton.script"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[reply]]                         # each agent consumes its own replies in order and repeats its last
agent = "triage"
handoff = "technical"
reason = "network problem"
summary = "optional"              # optional
[[reply]]
agent = "technical"
calls = [{ tool = "check_line_status", args = { customer_id = "42" } }]   # several calls = parallel calls
[[reply]]
agent = "technical"
text = "Your line is up. Please restart the router."
"#;

    fn request(agent: &str, agent_call_index: u32) -> ModelRequest {
        ModelRequest {
            turn: 1,
            agent: agent.into(),
            model: "script".into(),
            agent_call_index,
            purpose: Default::default(),
            system: String::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            facts: Default::default(),
        }
    }

    fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
        ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
    }

    #[tokio::test]
    async fn the_example_plays_per_agent_in_order_and_repeats_the_last() {
        let model = ScriptModel::parse(EXAMPLE, "example.toml").unwrap();
        assert_eq!(model.agents().collect::<Vec<_>>(), vec!["technical", "triage"]);
        assert_eq!(model.origin(), "example.toml");

        let first = model.complete(&request("technical", 0), &crate::Silent).await.unwrap();
        assert_eq!(first.text, None);
        assert_eq!(first.tool_calls, vec![call("call_technical_0_0", "check_line_status", r#"{"customer_id":"42"}"#)]);
        let second = model.complete(&request("technical", 1), &crate::Silent).await.unwrap();
        assert_eq!(second.text.as_deref(), Some("Your line is up. Please restart the router."));
        assert!(second.tool_calls.is_empty());
        // Past the end, the last reply repeats; the same index gives the same reply again.
        assert_eq!(model.complete(&request("technical", 7), &crate::Silent).await.unwrap().text, second.text);
        assert_eq!(model.complete(&request("technical", 0), &crate::Silent).await.unwrap(), first);
    }

    #[tokio::test]
    async fn a_handoff_becomes_the_last_call() {
        let model = ScriptModel::parse(EXAMPLE, "example.toml").unwrap();
        let reply = model.complete(&request("triage", 0), &crate::Silent).await.unwrap();
        assert_eq!(
            reply.tool_calls,
            vec![call(
                "call_triage_0_0",
                "transfer_to_technical",
                r#"{"reason":"network problem","summary":"optional"}"#
            )]
        );

        let script = r#"
[[reply]]
agent = "billing"
text = "Let me pass you on."
calls = [{ tool = "lookup", args = { id = 7 } }, { tool = "ping" }]
handoff = "technical"
reason = "line fault"
facts = { customer_id = "42" }
"#;
        let model = ScriptModel::parse(script, "inline").unwrap();
        let reply = model.complete(&request("billing", 2), &crate::Silent).await.unwrap();
        assert_eq!(reply.text.as_deref(), Some("Let me pass you on."));
        assert_eq!(
            reply.tool_calls,
            vec![
                call("call_billing_2_0", "lookup", r#"{"id":7}"#),
                call("call_billing_2_1", "ping", "{}"),
                call(
                    "call_billing_2_2",
                    "transfer_to_technical",
                    r#"{"reason":"line fault","facts":{"customer_id":"42"}}"#
                ),
            ]
        );
        let payload = baton_core::handoff::parse_payload(&reply.tool_calls[2].arguments, true).unwrap();
        assert_eq!(payload.reason, "line fault");
        assert_eq!(payload.facts["customer_id"], "42");
    }

    #[tokio::test]
    async fn an_agent_without_replies_is_an_error() {
        let model = ScriptModel::parse(EXAMPLE, "demo/script.toml").unwrap();
        let error = model.complete(&request("billing", 0), &crate::Silent).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the script demo/script.toml has no reply for agent 'billing'; add a [[reply]] with agent = \"billing\""
        );
        assert_eq!(error.kind(), "no_scripted_reply");
    }

    #[test]
    fn a_toml_syntax_error_reports_its_line() {
        let error =
            ScriptModel::parse("[[reply]]\nagent = \"triage\"\ntext = \"unterminated\n", "bad.toml").unwrap_err();
        let ScriptError::Toml { origin, line, .. } = &error else { panic!("{error:?}") };
        assert_eq!((origin.as_str(), *line), ("bad.toml", 3));
        assert!(error.to_string().starts_with("the script bad.toml is not valid at line 3, column "), "{error}");
    }

    #[test]
    fn an_unknown_key_is_rejected_with_its_reply() {
        let script = "[[reply]]\nagent = \"a\"\ntext = \"hi\"\n\n[[reply]]\nagent = \"b\"\ntxet = \"typo\"\n";
        let error = ScriptModel::parse(script, "typo.toml").unwrap_err();
        let ScriptError::Reply { reply, line, column, message, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*reply, *line, *column), (2, 7, 1));
        assert!(message.contains("unknown field `txet`"), "{message}");

        let error = ScriptModel::parse("replies = []\n", "top.toml").unwrap_err();
        assert!(matches!(&error, ScriptError::Toml { line: 1, column: 1, .. }), "{error:?}");

        let script = "[[reply]]\nagent = \"a\"\ncalls = [{ tool = \"x\", arg = {} }]\n";
        let error = ScriptModel::parse(script, "call.toml").unwrap_err();
        assert!(matches!(&error, ScriptError::Reply { reply: 1, line: 3, .. }), "{error:?}");
    }

    #[test]
    fn incomplete_replies_are_rejected_with_their_number() {
        let cases = [
            ("[[reply]]\nagent = \"a\"\n", 1, "none of text, calls and handoff"),
            ("[[reply]]\nagent = \"a\"\ntext = \"x\"\n[[reply]]\nagent = \"a\"\nhandoff = \"b\"\n", 2, "has no reason"),
            ("[[reply]]\nagent = \"a\"\ntext = \"x\"\nreason = \"why\"\n", 1, "belong to a handoff"),
            ("[[reply]]\nagent = \" \"\ntext = \"x\"\n", 1, "agent is empty"),
            ("[[reply]]\ntext = \"x\"\n", 1, "missing field `agent`"),
        ];
        for (script, number, expected) in cases {
            let error = ScriptModel::parse(script, "s.toml").unwrap_err();
            let ScriptError::Reply { reply, message, .. } = &error else { panic!("{error:?}") };
            assert_eq!(*reply, number, "{error}");
            assert!(message.contains(expected), "{error}");
        }
    }

    #[test]
    fn load_names_a_missing_file() {
        let error = ScriptModel::load(Path::new("/nonexistent/baton/script.toml")).unwrap_err();
        assert!(matches!(error, ScriptError::Read { .. }));
        assert!(error.to_string().starts_with("cannot read the script /nonexistent/baton/script.toml: "));
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(position("ab\ncdé f", 8), (2, 5));
        assert_eq!(position("", 5), (1, 1));
    }
}
