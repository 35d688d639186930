//! Fuzzing, with proptest, of what callers send: keys.toml; the JSON body of every endpoint that
//! takes one (any JSON, any bytes, valid bodies with a member changed, removed or added); any
//! conversation id and query of the GET endpoints. keys.toml loads or fails naming the file, line
//! and column, and a keys file written from keys reads back to the same keys. A request never
//! makes the server fail (no 5xx), and every refusal is the one JSON error shape. The inputs come
//! from a fixed seed (see [`config`]), so every run tries the same cases; a failure's minimal input
//! is to be kept as a plain test at the end (none so far).

use crate::server::{client, post, TestServer};
use baton_server::keys::{sha256_hex, Key, Keys, KeysError, Role};
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

/// Short text of any characters, sometimes words the API knows.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..10).prop_map(String::from_iter),
        1 => prop::sample::select(vec![
            "", " ", "support", "human", "triage", "billing", "spanish", "anna", "user", "assistant", "system",
            "tool", "text", "image_url", "I want to talk to a person", "my internet is down", ".", "..",
        ])
        .prop_map(str::to_string),
    ]
}

// ---------------------------------------------------------------------------------------------
// keys.toml

/// A valid `[[key]]`: name, role, and the secret whose digest it holds.
fn valid_key() -> impl Strategy<Value = (String, Role, String)> {
    let name_char = prop::sample::select(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-".chars().collect::<Vec<char>>(),
    );
    let role = prop::sample::select(vec![Role::Client, Role::Operator, Role::Admin]);
    (prop::collection::vec(name_char, 1..65).prop_map(String::from_iter), role, text())
        .prop_map(|(name, role, secret)| (name, role, format!("secret-{secret}")))
}

/// Keys as keys.toml holds them, with the digest in either case.
fn keys_file(keys: &[(String, Role, String)], upper: bool) -> String {
    keys.iter()
        .map(|(name, role, secret)| {
            let digest = if upper { sha256_hex(secret).to_uppercase() } else { sha256_hex(secret) };
            format!("[[key]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{digest}\"\n")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn keys_written_as_keys_toml_read_back_as_the_same_keys() {
    check(256, (prop::collection::vec(valid_key(), 1..5), any::<bool>()), |(keys, upper)| {
        let text = keys_file(&keys, upper);
        let names: std::collections::BTreeSet<&String> = keys.iter().map(|(name, ..)| name).collect();
        let secrets: std::collections::BTreeSet<&String> = keys.iter().map(|(_, _, secret)| secret).collect();
        match Keys::parse(&text, "keys.toml") {
            Ok(parsed) => {
                prop_assert_eq!(parsed.len(), keys.len());
                for (name, role, secret) in &keys {
                    prop_assert_eq!(parsed.find(secret), Some(&Key { name: name.clone(), role: *role }));
                }
            }
            // Only a name or a secret used twice is refused, at the second one.
            Err(error) => prop_assert!(names.len() < keys.len() || secrets.len() < keys.len(), "{error}\nin\n{text}"),
        }
        Ok(())
    });
}

/// Lines of a keys file, valid or not.
fn keys_lines() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        text().prop_map(|text| format!("{text:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("\"client\"".to_string()),
        Just("\"operator\"".to_string()),
        Just(format!("\"{}\"", sha256_hex("x"))),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("true".to_string()),
    ];
    let line = prop_oneof![
        Just("[[key]]".to_string()),
        Just("[key]".to_string()),
        (prop::sample::select(vec!["name", "role", "sha256", "key", "other"]), value)
            .prop_map(|(key, value)| format!("{key} = {value}")),
        text(),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

#[test]
fn any_keys_toml_loads_or_fails_naming_the_file_line_and_column() {
    let text = prop_oneof![
        keys_lines(),
        (prop::collection::vec(valid_key(), 1..3), any::<Index>(), keys_lines()).prop_map(|(keys, at, insert)| {
            // A valid file with lines put in somewhere.
            let text = keys_file(&keys, false);
            let lines: Vec<&str> = text.lines().collect();
            let at = at.index(lines.len() + 1);
            [&lines[..at], &[insert.as_str()], &lines[at..]].concat().join("\n")
        }),
        prop::collection::vec(any::<char>(), 0..200).prop_map(String::from_iter),
    ];
    check(512, text, |text| {
        let error = match Keys::parse(&text, "keys.toml") {
            Ok(_) | Err(KeysError::NoKey(_)) => return Ok(()),
            Err(error) => error.to_string(),
        };
        let place = error.split(": ").next().unwrap_or_default();
        let parts: Vec<&str> = place.split(':').collect();
        prop_assert!(parts.len() == 3 && parts[0] == "keys.toml", "not keys.toml:LINE:COLUMN: {error}");
        let (line, column): (usize, usize) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert!((1..=lines.len()).contains(&line), "line {line} of {}: {error}", lines.len());
        prop_assert!((1..=lines[line - 1].chars().count() + 1).contains(&column), "column {column}: {error}");
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((member(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Member names: the ones the bodies have, and any.
fn member() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &[
        "team",
        "id",
        "content",
        "stream",
        "approve",
        "reason",
        "operator",
        "text",
        "agent",
        "note",
        "model",
        "messages",
        "role",
        "type",
        "stream_options",
        "include_usage",
        "n",
        "tools",
    ];
    prop_oneof![3 => prop::sample::select(NAMES).prop_map(str::to_string), 1 => text()]
}

/// A valid body for one endpoint, to be changed.
fn valid_body(path: &str) -> Value {
    match path {
        "/v1/conversations" => json!({"team": "support", "id": "fuzz-new"}),
        "/v1/conversations/fuzz/messages" => json!({"content": "hello", "stream": false}),
        "/v1/conversations/fuzz/approvals/call_1" => json!({"approve": true, "reason": "fine"}),
        "/v1/queue/queued/reply" => json!({"text": "Hello, I am here.", "operator": "anna"}),
        "/v1/queue/queued/handback" => json!({"agent": "triage", "note": "done", "operator": "anna"}),
        "/v1/chat/completions" => json!({
            "model": "support",
            "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": [{"type": "text", "text": "hello"}]}],
            "stream": false,
            "stream_options": {"include_usage": true},
            "n": 1,
        }),
        _ => json!({"operator": "anna"}),
    }
}

/// The endpoints that take a body.
const PATHS: &[&str] = &[
    "/v1/conversations",
    "/v1/conversations/fuzz/messages",
    "/v1/conversations/fuzz/approvals/call_1",
    "/v1/queue/queued/claim",
    "/v1/queue/queued/reply",
    "/v1/queue/queued/handback",
    "/v1/queue/queued/close",
    "/v1/chat/completions",
];

/// A change to a valid body: a member's value replaced (by any value, or a string by another),
/// a member removed or added, a value inside replaced.
#[derive(Clone, Debug)]
enum Change {
    Replace(Index, Value),
    Retext(Index, String),
    Remove(Index),
    Add(String, Value),
    Deep(Index, Value),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(at, value)| Change::Replace(at, value)),
        (any::<Index>(), text()).prop_map(|(at, text)| Change::Retext(at, text)),
        any::<Index>().prop_map(Change::Remove),
        (member(), json_value()).prop_map(|(name, value)| Change::Add(name, value)),
        (any::<Index>(), json_value()).prop_map(|(at, value)| Change::Deep(at, value)),
    ]
}

/// Every JSON pointer into `value` below its top.
fn pointers(value: &Value, here: String, all: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(members) => {
            members.iter().map(|(name, member)| (name.replace('~', "~0").replace('/', "~1"), member)).collect()
        }
        Value::Array(items) => items.iter().enumerate().map(|(index, item)| (index.to_string(), item)).collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        let pointer = format!("{here}/{step}");
        all.push(pointer.clone());
        pointers(child, pointer, all);
    }
}

/// `body` with `changes` made.
fn changed(mut body: Map<String, Value>, changes: &[Change]) -> Value {
    for change in changes {
        let names: Vec<String> = body.keys().cloned().collect();
        let pick = |at: &Index| (!names.is_empty()).then(|| names[at.index(names.len())].clone());
        match change {
            Change::Replace(at, value) => {
                if let Some(name) = pick(at) {
                    body.insert(name, value.clone());
                }
            }
            Change::Retext(at, text) => {
                if let Some(name) = pick(at).filter(|name| body[name].is_string()) {
                    body.insert(name, Value::String(text.clone()));
                }
            }
            Change::Remove(at) => {
                if let Some(name) = pick(at) {
                    body.shift_remove(&name);
                }
            }
            Change::Add(name, value) => {
                body.insert(name.clone(), value.clone());
            }
            Change::Deep(at, value) => {
                let mut whole = Value::Object(body);
                let mut all = Vec::new();
                pointers(&whole, String::new(), &mut all);
                if !all.is_empty() {
                    if let Some(target) = whole.pointer_mut(&all[at.index(all.len())]) {
                        *target = value.clone();
                    }
                }
                let Value::Object(members) = whole else { unreachable!("an object stays an object") };
                body = members;
            }
        }
    }
    Value::Object(body)
}

/// What a case sends: to which endpoint, with which content type, which bytes.
#[derive(Clone, Debug)]
struct Sent {
    path: &'static str,
    content_type: Option<&'static str>,
    body: String,
}

fn sent() -> impl Strategy<Value = Sent> {
    let path = prop::sample::select(PATHS);
    let content_type = prop_oneof![
        8 => Just(Some("application/json")),
        1 => Just(Some("application/json; charset=utf-8")),
        1 => Just(Some("text/plain")),
        1 => Just(None),
    ];
    let body = prop_oneof![
        3 => (path.clone(), prop::collection::vec(change(), 0..3)).prop_map(|(path, changes)| {
            let Value::Object(valid) = valid_body(path) else { unreachable!("the valid bodies are objects") };
            (path, changed(valid, &changes).to_string())
        }),
        1 => (path.clone(), json_value()).prop_map(|(path, value)| (path, value.to_string())),
        1 => (path, prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(path, bytes)| (path, String::from_utf8_lossy(&bytes).into_owned())),
    ];
    (body, content_type).prop_map(|((path, body), content_type)| Sent { path, content_type, body })
}

/// A runtime and the support team's server, with the conversation `fuzz` (idle) and `queued`
/// (escalated to the human queue).
fn serving() -> (tokio::runtime::Runtime, TestServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = runtime.block_on(async {
        let server = TestServer::start().await;
        let (status, _) = post(&server.url("/v1/conversations"), None, &json!({"team": "support", "id": "fuzz"})).await;
        assert_eq!(status, 201);
        post(&server.url("/v1/conversations"), None, &json!({"team": "support", "id": "queued"})).await;
        let url = server.url("/v1/conversations/queued/messages");
        let (status, escalated) = post(&url, None, &json!({"content": "I want to talk to a person"})).await;
        assert_eq!((status, &escalated["status"]), (200, &json!("escalated")), "{escalated}");
        server
    });
    (runtime, server)
}

/// Sends `request`; its status, content type and body.
fn send(runtime: &tokio::runtime::Runtime, request: reqwest::RequestBuilder) -> (u16, String, String) {
    runtime.block_on(async {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_string();
        (status, content_type, response.text().await.unwrap())
    })
}

/// No server error, and a refusal is the one error shape: `{"error": {"code", "message"}}`.
fn answered((status, content_type, answer): (u16, String, String)) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{status}: {answer}");
    if status >= 400 {
        prop_assert!(content_type.starts_with("application/json"), "{status}: {content_type}: {answer}");
        let error: Value = serde_json::from_str(&answer).map_err(|e| TestCaseError::fail(format!("{e}: {answer}")))?;
        let shape = error.as_object().map(|members| members.keys().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(shape, Some(vec!["error"]), "{}", answer);
        let (code, message) = (&error["error"]["code"], &error["error"]["message"]);
        prop_assert!(code.is_string() && message.as_str().is_some_and(|m| !m.is_empty()), "{answer}");
        prop_assert_eq!(error["error"].as_object().map(Map::len), Some(2), "{}", answer);
    }
    Ok(())
}

#[test]
fn any_body_is_answered_or_refused_with_the_error_shape_never_a_server_error() {
    let (runtime, server) = serving();
    let http = client();
    check(160, sent(), |sent| {
        let mut request = http.post(server.url(sent.path)).body(sent.body.clone());
        if let Some(content_type) = sent.content_type {
            request = request.header("content-type", content_type);
        }
        answered(send(&runtime, request))
    });
    drop(server);
}

/// `text` percent-encoded for a path segment or a query.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[test]
fn any_id_or_query_is_answered_or_refused_with_the_error_shape_never_a_server_error() {
    let (runtime, server) = serving();
    let http = client();
    let id = prop_oneof![
        Just("fuzz".to_string()),
        Just("queued".to_string()),
        text().prop_map(|text| encoded(&text)),
        prop::collection::vec(any::<char>(), 120..140).prop_map(|chars| encoded(&String::from_iter(chars))),
    ];
    let parameter = prop_oneof![
        (prop::sample::select(vec!["after", "limit", "follow", "x"]), text())
            .prop_map(|(name, value)| format!("{name}={}", encoded(&value))),
        (prop::sample::select(vec!["after", "limit"]), any::<i64>())
            .prop_map(|(name, value)| format!("{name}={value}")),
        text().prop_map(|text| text.replace(['#', ' '], "")),
    ];
    let path = prop::sample::select(vec!["/v1/conversations/{id}", "/v1/conversations/{id}/trace", "/v1/queue/{id}"]);
    check(160, (path, id, prop::collection::vec(parameter, 0..3)), |(path, id, parameters)| {
        let url = format!("{}?{}", server.url(&path.replace("{id}", &id)), parameters.join("&"));
        answered(send(&runtime, http.get(url)))
    });
    drop(server);
}
