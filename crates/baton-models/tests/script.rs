//! Fuzzing of model scripts with proptest: any text, scripts written from replies, and those
//! scripts with a line removed or a value replaced. A script parses or fails naming its origin,
//! a line and a column inside it (and the reply, past the first); a script written from replies
//! plays them back: per agent, in order, the last repeated, with the handoff last. The inputs
//! come from a fixed seed (see [`config`]), so every run tries the same cases; a failure's minimal
//! input is to be kept as a plain test at the end (none so far).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton_core::ModelRequest;
use baton_models::{Model, ScriptError, ScriptModel, Silent};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use std::fmt::Debug;

/// The seed every property starts from, unless `PROPTEST_RNG_SEED` gives another.
const SEED: u64 = 0xba70_0019;

/// `cases` cases from [`SEED`], without failure files: a failure's minimal input becomes a plain
/// test here. `PROPTEST_CASES` and `PROPTEST_RNG_SEED` explore more or other cases.
fn config(cases: u32) -> Config {
    let mut config = Config { cases, failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config.cases = Config::default().cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config
}

/// Runs `test` on `cases` inputs of `strategy`; a failure panics with its minimal input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: Debug,
{
    if let Err(failure) = TestRunner::new(config(cases)).run(&strategy, test) {
        panic!("{failure}");
    }
}

/// Short text of any characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..10).prop_map(String::from_iter),
        1 => prop::sample::select(vec!["", " ", "\n", "triage", "[[reply]]", "\"", "'''", "é✓"]).prop_map(str::to_string),
    ]
}

/// Text that is not blank, possibly with blanks around it.
fn words() -> impl Strategy<Value = String> {
    (prop::sample::select(vec!["", " ", "\t"]), text(), prop::sample::select(vec!["", " "]))
        .prop_map(|(before, text, after)| format!("{before}x{text}{after}"))
}

/// `text` as a TOML basic string.
fn basic(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A JSON value TOML can hold (no null; integers within `i64`), a few levels deep.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            object(inner).prop_map(Value::Object),
        ]
    })
}

fn object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((text(), values), 0..3).prop_map(|members| members.into_iter().collect())
}

/// `value` written as TOML.
fn toml(value: &Value) -> String {
    match value {
        Value::Null => unreachable!("TOML has no null"),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:?}"),
            (None, None) => unreachable!("a number is an integer or a float"),
        },
        Value::String(s) => basic(s),
        Value::Array(items) => format!("[{}]", items.iter().map(toml).collect::<Vec<_>>().join(", ")),
        Value::Object(members) => inline(members),
    }
}

/// `members` as a TOML inline table.
fn inline(members: &Map<String, Value>) -> String {
    let members: Vec<String> = members.iter().map(|(key, value)| format!("{} = {}", basic(key), toml(value))).collect();
    format!("{{ {} }}", members.join(", "))
}

/// A call in a script: the tool and its `args`, if given.
type Call = (String, Option<Map<String, Value>>);

/// A handoff in a script: target, reason, summary and facts.
type Handoff = (String, String, Option<String>, Option<Map<String, Value>>);

/// One reply as a script has it.
#[derive(Clone, Debug)]
struct Reply {
    agent: String,
    text: Option<String>,
    calls: Option<Vec<Call>>,
    handoff: Option<Handoff>,
}

fn reply() -> impl Strategy<Value = Reply> {
    let agent = prop::sample::select(vec!["triage", "billing", " technical "]).prop_map(str::to_string);
    let call = (words(), prop::option::of(object(value())));
    let handoff = (words(), words(), prop::option::of(text()), prop::option::of(object(value())));
    (agent, prop::option::of(words()), prop::option::of(prop::collection::vec(call, 0..3)), prop::option::of(handoff))
        .prop_filter("a reply says something", |(_, text, calls, handoff)| {
            text.is_some() || calls.is_some() || handoff.is_some()
        })
        .prop_map(|(agent, text, calls, handoff)| Reply { agent, text, calls, handoff })
}

impl Reply {
    fn toml(&self) -> String {
        let mut lines = vec!["[[reply]]".to_string(), format!("agent = {}", basic(&self.agent))];
        if let Some(text) = &self.text {
            lines.push(format!("text = {}", basic(text)));
        }
        if let Some(calls) = &self.calls {
            let calls: Vec<String> = calls
                .iter()
                .map(|(tool, args)| match args {
                    Some(args) => format!("{{ tool = {}, args = {} }}", basic(tool), inline(args)),
                    None => format!("{{ tool = {} }}", basic(tool)),
                })
                .collect();
            lines.push(format!("calls = [{}]", calls.join(", ")));
        }
        if let Some((to, reason, summary, facts)) = &self.handoff {
            lines.push(format!("handoff = {}", basic(to)));
            lines.push(format!("reason = {}", basic(reason)));
            if let Some(summary) = summary {
                lines.push(format!("summary = {}", basic(summary)));
            }
            if let Some(facts) = facts {
                lines.push(format!("facts = {}", inline(facts)));
            }
        }
        lines.join("\n")
    }

    /// The calls it makes: each tool with its arguments, then the handoff.
    fn calls(&self) -> Vec<(String, Value)> {
        let mut calls: Vec<(String, Value)> = self
            .calls
            .iter()
            .flatten()
            .map(|(tool, args)| (tool.trim().to_string(), Value::Object(args.clone().unwrap_or_default())))
            .collect();
        if let Some((to, reason, summary, facts)) = &self.handoff {
            let mut payload = json!({"reason": reason});
            if let Some(summary) = summary {
                payload["summary"] = json!(summary);
            }
            if let Some(facts) = facts {
                payload["facts"] = Value::Object(facts.clone());
            }
            calls.push((format!("transfer_to_{}", to.trim()), payload));
        }
        calls
    }
}

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

#[test]
fn a_script_written_from_replies_plays_them_per_agent_in_order() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    check(256, (prop::collection::vec(reply(), 1..6), 0u32..8), |(replies, beyond)| {
        let script = replies.iter().map(Reply::toml).collect::<Vec<_>>().join("\n\n");
        let model =
            ScriptModel::parse(&script, "script.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{script}")))?;
        for agent in ["triage", "billing", "technical"] {
            let own: Vec<&Reply> = replies.iter().filter(|reply| reply.agent.trim() == agent).collect();
            for index in 0..own.len() as u32 + beyond {
                let played = runtime.block_on(model.complete(&request(agent, index), &Silent));
                let Some(expected) = own.get(index as usize).or(own.last()) else {
                    prop_assert!(played.is_err(), "{agent} has no reply: {played:?}");
                    continue;
                };
                let played = played.unwrap();
                prop_assert_eq!(&played.text, &expected.text);
                let calls: Vec<(String, Value)> = played
                    .tool_calls
                    .iter()
                    .map(|call| (call.name.clone(), serde_json::from_str(&call.arguments).unwrap()))
                    .collect();
                prop_assert_eq!(calls, expected.calls());
                let ids: std::collections::BTreeSet<&String> = played.tool_calls.iter().map(|call| &call.id).collect();
                prop_assert_eq!(ids.len(), played.tool_calls.len(), "call ids are unique");
            }
        }
        Ok(())
    });
}

/// A script error says where: its origin, and a line and column of `text`.
fn placed(error: &ScriptError, text: &str) -> Result<(), TestCaseError> {
    let (origin, line, column) = match error {
        ScriptError::Toml { origin, line, column, .. } => (origin, *line, *column),
        ScriptError::Reply { origin, reply, line, column, .. } => {
            prop_assert!(*reply >= 1, "{error}");
            (origin, *line, *column)
        }
        ScriptError::Read { .. } => return Err(TestCaseError::fail(format!("parsing read a file: {error}"))),
    };
    prop_assert_eq!(origin, "script.toml");
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!((1..=lines.len()).contains(&line), "line {line} of {}: {error}", lines.len());
    prop_assert!((1..=lines[line - 1].chars().count() + 1).contains(&column), "column {column}: {error}");
    let shown = error.to_string();
    prop_assert!(shown.contains("script.toml") && shown.contains(&format!("line {line}, column {column}")), "{shown}");
    Ok(())
}

/// A change to a script's lines: one removed, a value replaced, a line put in.
#[derive(Clone, Debug)]
enum Change {
    Remove(Index),
    Replace(Index, String),
    Insert(Index, String),
}

fn change() -> impl Strategy<Value = Change> {
    let value = prop_oneof![
        value().prop_map(|value| toml(&value)),
        text(),
        Just("\"\"".to_string()),
        Just("\"  \"".to_string()),
        Just("[]".to_string()),
    ];
    let line = prop_oneof![
        (
            prop::sample::select(vec!["agent", "text", "calls", "handoff", "reason", "summary", "facts", "tool", "x"]),
            value.clone()
        )
            .prop_map(|(key, value)| format!("{key} = {value}")),
        Just("[[reply]]".to_string()),
        Just("[reply]".to_string()),
        text(),
    ];
    prop_oneof![
        any::<Index>().prop_map(Change::Remove),
        (any::<Index>(), value).prop_map(|(at, value)| Change::Replace(at, value)),
        (any::<Index>(), line).prop_map(|(at, line)| Change::Insert(at, line)),
    ]
}

/// `script` with `change` made to its lines.
fn changed(script: &str, change: &Change) -> String {
    let mut lines: Vec<String> = script.split('\n').map(str::to_string).collect();
    match change {
        Change::Remove(at) => {
            lines.remove(at.index(lines.len()));
        }
        Change::Replace(at, value) => {
            let at = at.index(lines.len());
            let line = &mut lines[at];
            if let Some((key, _)) = line.split_once(" = ") {
                *line = format!("{key} = {value}");
            }
        }
        Change::Insert(at, line) => lines.insert(at.index(lines.len() + 1), line.clone()),
    }
    lines.join("\n")
}

#[test]
fn any_script_parses_or_fails_at_a_line_of_it() {
    let script = prop_oneof![
        (prop::collection::vec(reply(), 1..4), prop::collection::vec(change(), 1..4)).prop_map(|(replies, changes)| {
            let script = replies.iter().map(Reply::toml).collect::<Vec<_>>().join("\n\n");
            changes.iter().fold(script, |script, change| changed(&script, change))
        }),
        prop::collection::vec(any::<char>(), 0..200).prop_map(String::from_iter),
    ];
    check(512, script, |script| {
        if let Err(error) = ScriptModel::parse(&script, "script.toml") {
            placed(&error, &script)?;
        }
        Ok(())
    });
}
