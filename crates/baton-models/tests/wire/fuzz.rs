//! Fuzzing, with proptest, of what model servers send back: Chat Completions and Messages answers,
//! whole or streamed as server-sent events. Arbitrary and mutated bodies, streams of arbitrary or
//! mutated events, valid streams split at any bytes, truncated or cut off: a call ends in a reply
//! or an error naming the address, never a panic; the same bytes give the same result however they
//! are split; a valid answer gives the reply it describes, streamed or not. The inputs come from a
//! fixed seed (see [`config`]), so every run tries the same cases; the minimal inputs of failures
//! found are kept as plain tests at the end.

use crate::Heard;
use baton_core::{ChatMessage, ModelReply, ModelRequest, StopReason, ToolCall, Usage};
use baton_models::{AnthropicModel, Endpoint, Model, ModelError, OpenAiModel};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

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

// ---------------------------------------------------------------------------------------------
// A server that answers each request with the bytes the current case chose.

/// One answer: its status, content type, and body as the chunks it is sent in (each one chunk
/// of the chunked encoding, so the client reads exactly these pieces); `cut` closes the
/// connection after the last piece, before the body's end.
#[derive(Clone, Debug)]
struct Canned {
    status: u16,
    content_type: &'static str,
    pieces: Vec<Vec<u8>>,
    cut: bool,
}

/// A loopback server answering every request with the answer last set.
struct Fuzzed {
    base: String,
    next: Arc<Mutex<Option<Canned>>>,
}

impl Fuzzed {
    /// Starts on `runtime`; it serves while the runtime runs (inside `block_on`).
    fn start(runtime: &Runtime) -> Fuzzed {
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let next: Arc<Mutex<Option<Canned>>> = Arc::default();
        let answers = Arc::clone(&next);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = answers.lock().unwrap().clone();
                tokio::spawn(serve(stream, answer));
            }
        });
        Fuzzed { base, next }
    }

    /// Sends `canned` to `model`'s next request; the call's result.
    fn call(
        &self,
        runtime: &Runtime,
        model: &dyn Model,
        canned: Canned,
        heard: &Heard,
    ) -> Result<ModelReply, ModelError> {
        *self.next.lock().unwrap() = Some(canned);
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), model.complete(&request(), heard))
                .await
                .expect("the call did not end within 20 s")
        })
    }
}

/// Reads the request, then writes `answer` and closes.
async fn serve(mut stream: TcpStream, answer: Option<Canned>) {
    let (Some(answer), true) = (answer, read_request(&mut stream).await) else { return };
    let mut bytes = format!(
        "HTTP/1.1 {} Fuzzed\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        answer.status, answer.content_type
    )
    .into_bytes();
    for piece in answer.pieces.iter().filter(|piece| !piece.is_empty()) {
        bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        bytes.extend_from_slice(piece);
        bytes.extend_from_slice(b"\r\n");
    }
    if !answer.cut {
        bytes.extend_from_slice(b"0\r\n\r\n");
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// Reads a request's head and its `Content-Length` bytes of body; false if the client left.
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse().unwrap());
            if buffer.len() >= end + 4 + length {
                return true;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What every fuzzed call asks: a user message and one tool.
fn request() -> ModelRequest {
    crate::request(
        "You triage.",
        vec![ChatMessage::User("hello".into())],
        vec![crate::tool("check_line", json!({"type": "object", "properties": {"id": {"type": "string"}}}))],
    )
}

/// A provider at `server`, streaming or not, that never retries (a retry would only wait).
fn endpoint(model: &str, base: String, stream: bool) -> Endpoint {
    let mut endpoint = Endpoint::new(model, base, None);
    endpoint.retries = 0;
    endpoint.timeout = Duration::from_secs(10);
    endpoint.stream = stream;
    endpoint
}

fn openai(server: &Fuzzed, stream: bool) -> OpenAiModel {
    OpenAiModel::new(endpoint("gpt-4o-mini", format!("{}/v1", server.base), stream)).unwrap()
}

fn anthropic(server: &Fuzzed, stream: bool) -> AnthropicModel {
    AnthropicModel::new(endpoint("claude-sonnet-4-5", server.base.clone(), stream)).unwrap()
}

/// A runtime and a fuzz server on it.
fn setup() -> (Runtime, Fuzzed) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = Fuzzed::start(&runtime);
    (runtime, server)
}

/// A call either gives a reply or an error that names the address it called and a failure a
/// server can cause.
fn named(result: &Result<ModelReply, ModelError>, url: &str) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(error.message.contains(url), "the error does not name {url}: {}", error.message);
        prop_assert!(!matches!(error.kind(), "config" | "other"), "a server caused a {} error: {error}", error.kind());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bytes, splits and JSON.

/// `bytes` cut at the positions `cuts` pick (any byte, also inside a UTF-8 character).
fn split(bytes: &[u8], cuts: &[Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|pair| bytes[pair[0]..pair[1]].to_vec()).collect()
}

/// `text` cut at the character boundaries `cuts` pick; the pieces may be empty.
fn split_text(text: &str, cuts: &[Index]) -> Vec<String> {
    let boundaries: Vec<usize> = text.char_indices().map(|(at, _)| at).chain([text.len()]).collect();
    let mut at: Vec<usize> = cuts.iter().map(|cut| boundaries[cut.index(boundaries.len())]).collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for to in at.into_iter().chain([text.len()]) {
        pieces.push(text[from..to].to_string());
        from = to;
    }
    pieces
}

/// Where to cut: up to `max` positions.
fn cuts(max: usize) -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..=max)
}

/// Short text of any characters (controls, quotes, astral planes), sometimes only blanks.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..10).prop_map(String::from_iter),
        1 => prop::sample::select(vec![" ", "\n", "", "é✓", "\"}", "data: x\n\n"]).prop_map(str::to_string),
    ]
}

/// Member names: the ones the two formats use, and any.
fn key() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &[
        "type",
        "text",
        "content",
        "choices",
        "message",
        "delta",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "index",
        "id",
        "usage",
        "error",
        "finish_reason",
        "refusal",
        "input",
        "stop_reason",
        "content_block",
        "partial_json",
        "input_tokens",
        "output_tokens",
        "prompt_tokens",
        "completion_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "tool_use",
        "text_delta",
        "input_json_delta",
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
    ];
    prop_oneof![3 => prop::sample::select(NAMES).prop_map(str::to_string), 1 => text()]
}

/// Numbers at the edges: negative, past `u32` and `u64`, fractions, huge floats.
fn edge_number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(u64::MAX - 1),
        json!(1_u64 << 63),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::from(u32::MAX) + 1),
        json!(9_007_199_254_740_993_u64),
        json!(0.5),
        json!(1e308),
        json!(-1e308),
    ])
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        edge_number(),
        text().prop_map(Value::String),
        key().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Any JSON object.
fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json_value()), 0..4).prop_map(|members| members.into_iter().collect())
}

/// A change to one value somewhere in a JSON document.
#[derive(Clone, Debug)]
enum Mutation {
    /// The value replaced by another.
    Replace(Index, Value),
    /// The value removed from the object or array holding it.
    Remove(Index),
    /// A string made longer (anything else replaced by a long string).
    Lengthen(Index, usize),
    /// A number (or, in a document without one, any value) replaced by a number at the edges.
    Number(Index, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), 1..70_000usize).prop_map(|(at, by)| Mutation::Lengthen(at, by)),
        (any::<Index>(), edge_number()).prop_map(|(at, number)| Mutation::Number(at, number)),
    ]
}

/// One step of a path into a JSON document.
#[derive(Clone)]
enum Step {
    Member(String),
    Item(usize),
}

/// The paths to every value of `value`, itself first.
fn paths(value: &Value, here: &mut Vec<Step>, all: &mut Vec<Vec<Step>>) {
    all.push(here.clone());
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                here.push(Step::Member(name.clone()));
                paths(member, here, all);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                here.push(Step::Item(index));
                paths(item, here, all);
                here.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(value: &'a Value, path: &[Step]) -> &'a Value {
    path.iter().fold(value, |value, step| match step {
        Step::Member(name) => &value[name.as_str()],
        Step::Item(index) => &value[*index],
    })
}

fn at_path<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |value, step| match step {
        Step::Member(name) => &mut value[name.as_str()],
        Step::Item(index) => &mut value[*index],
    })
}

/// `value` with `mutation` applied.
fn mutate(mut value: Value, mutation: &Mutation) -> Value {
    let mut all = Vec::new();
    paths(&value, &mut Vec::new(), &mut all);
    let pick = |at: &Index| all[at.index(all.len())].clone();
    match mutation {
        Mutation::Replace(at, new) => *at_path(&mut value, &pick(at)) = new.clone(),
        Mutation::Number(at, number) => {
            // A number, if there is one.
            let numbers: Vec<&Vec<Step>> = all.iter().filter(|path| node(&value, path).is_number()).collect();
            let path = if numbers.is_empty() { pick(at) } else { numbers[at.index(numbers.len())].clone() };
            *at_path(&mut value, &path) = number.clone();
        }
        Mutation::Lengthen(at, by) => {
            let target = at_path(&mut value, &pick(at));
            let mut longer = target.as_str().unwrap_or_default().to_string();
            longer.push_str(&"é".repeat(*by / 2));
            *target = Value::String(longer);
        }
        Mutation::Remove(at) => {
            let path = pick(at);
            if let Some((last, parent)) = path.split_last() {
                match (at_path(&mut value, parent), last) {
                    (Value::Object(members), Step::Member(name)) => {
                        members.shift_remove(name);
                    }
                    (Value::Array(items), Step::Item(index)) => {
                        items.remove(*index);
                    }
                    _ => {}
                }
            }
        }
    }
    value
}

/// A few mutations, applied to one value each.
fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// A change to a valid stream: an event's data mutated, an event left out or sent twice.
#[derive(Clone, Debug)]
enum EventChange {
    Mutate(Index, Mutation),
    Drop(Index),
    Repeat(Index),
}

fn event_changes() -> impl Strategy<Value = Vec<EventChange>> {
    let change = prop_oneof![
        3 => (any::<Index>(), mutation()).prop_map(|(at, mutation)| EventChange::Mutate(at, mutation)),
        1 => any::<Index>().prop_map(EventChange::Drop),
        1 => any::<Index>().prop_map(EventChange::Repeat),
    ];
    prop::collection::vec(change, 1..4)
}

/// `events` with `changes` made, `mutate` changing one event's data.
fn changed<E: Clone>(mut events: Vec<E>, changes: &[EventChange], mutate: impl Fn(E, &Mutation) -> E) -> Vec<E> {
    for change in changes {
        if events.is_empty() {
            break;
        }
        match change {
            EventChange::Mutate(at, mutation) => {
                let at = at.index(events.len());
                events[at] = mutate(events[at].clone(), mutation);
            }
            EventChange::Drop(at) => {
                events.remove(at.index(events.len()));
            }
            EventChange::Repeat(at) => {
                let at = at.index(events.len());
                events.insert(at, events[at].clone());
            }
        }
    }
    events
}

/// Events as a stream's bytes: `data` lines with an optional `event` line, and the line ending.
fn sse(frames: &[(Option<String>, String)], crlf: bool) -> Vec<u8> {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut bytes = String::new();
    for (name, data) in frames {
        if let Some(name) = name {
            bytes.push_str(&format!("event: {name}{end}"));
        }
        bytes.push_str(&format!("data: {data}{end}{end}"));
    }
    bytes.into_bytes()
}

/// A body or stream, shown as text when a failing case is printed.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

/// Lines of the SSE protocol, valid or not, joined by any line ending.
fn sse_lines() -> impl Strategy<Value = Bytes> {
    let line = prop_oneof![
        json_value().prop_map(|value| format!("data: {value}")),
        key().prop_map(|name| format!("event: {name}")),
        text().prop_map(|text| format!("data:{text}")),
        Just("data: [DONE]".to_string()),
        Just(String::new()),
        text().prop_map(|text| format!(": {text}")),
        text(),
        Just("id: 7".to_string()),
        Just("retry: 10".to_string()),
    ];
    let ending = prop::sample::select(vec!["\n", "\r\n", "\r", ""]);
    prop::collection::vec((line, ending), 0..24).prop_map(|lines| {
        Bytes(lines.into_iter().flat_map(|(line, end)| format!("{line}{end}").into_bytes()).collect())
    })
}

/// Any bytes, or bytes that nearly make sense (UTF-8 text, JSON).
fn any_body() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Bytes),
        json_value().prop_map(|value| Bytes(value.to_string().into_bytes())),
        text().prop_map(|text| Bytes(text.into_bytes())),
    ]
}

/// Statuses a server may answer with.
fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(200),
        1 => prop::sample::select(vec![201, 400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529]),
    ]
}

// ---------------------------------------------------------------------------------------------
// Chat Completions.

/// A valid Chat Completions answer: what the model said, as its stream would send it.
#[derive(Clone, Debug)]
struct Completion {
    /// The content, piece by piece.
    content: Vec<String>,
    /// A refusal, piece by piece.
    refusal: Vec<String>,
    /// The tool calls: id, name, arguments text piece by piece.
    calls: Vec<(String, String, Vec<String>)>,
    finish_reason: Option<&'static str>,
    usage: Option<(u32, u32)>,
}

fn completion() -> impl Strategy<Value = Completion> {
    let call = (text(), json_object(), cuts(4)).prop_map(|(name, arguments, cuts)| {
        (format!("fn_{name}"), split_text(&Value::Object(arguments).to_string(), &cuts))
    });
    (
        prop::collection::vec(text(), 0..5),
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec(text(), 1..3)],
        prop::collection::vec(call, 0..3),
        prop::option::of(prop::sample::select(vec!["stop", "length", "tool_calls", "content_filter"])),
        prop::option::weighted(0.8, (any::<u32>(), any::<u32>())),
    )
        .prop_map(|(content, refusal, calls, finish_reason, usage)| Completion {
            content,
            refusal,
            calls: calls
                .into_iter()
                .enumerate()
                .map(|(index, (name, arguments))| (format!("call_{index}"), name, arguments))
                .collect(),
            finish_reason,
            usage,
        })
}

impl Completion {
    /// The reply it describes.
    fn reply(&self) -> ModelReply {
        let refusal = self.refusal.concat();
        let refused = !refusal.trim().is_empty();
        let text = if refused { refusal } else { self.content.concat() };
        ModelReply {
            text: Some(text).filter(|text| !text.trim().is_empty()),
            tool_calls: self
                .calls
                .iter()
                .map(|(id, name, arguments)| ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: arguments.concat(),
                })
                .collect(),
            usage: self.usage.map(|(input, output)| Usage { input_tokens: input.into(), output_tokens: output.into() }),
            stop: match self.finish_reason {
                _ if refused => Some(StopReason::Refusal),
                Some("length") => Some(StopReason::Length),
                Some("content_filter") => Some(StopReason::ContentFilter),
                _ => None,
            },
        }
    }

    /// The text a listener hears while it streams.
    fn heard(&self) -> String {
        self.content.concat() + &self.refusal.concat()
    }

    fn usage(&self) -> Value {
        self.usage.map_or(Value::Null, |(prompt, completion)| {
            json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": u64::from(prompt) + u64::from(completion)})
        })
    }

    /// The answer unstreamed.
    fn whole(&self) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if self.content.is_empty() { Value::Null } else { json!(self.content.concat()) },
            "refusal": if self.refusal.is_empty() { Value::Null } else { json!(self.refusal.concat()) },
        });
        if !self.calls.is_empty() {
            message["tool_calls"] = self
                .calls
                .iter()
                .map(|(id, name, arguments)| {
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.concat()}})
                })
                .collect();
        }
        let mut whole = json!({
            "id": "chatcmpl-9xK2",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        });
        if self.usage.is_some() {
            whole["usage"] = self.usage();
        }
        whole
    }

    /// The answer's stream, chunk by chunk (the data of each event, `[DONE]` last).
    fn chunks(&self) -> Vec<String> {
        let chunk = |delta: Value, finish_reason: Option<&str>| {
            json!({
                "id": "chatcmpl-9xK2",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                "usage": null,
            })
            .to_string()
        };
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": "", "refusal": null}), None)];
        chunks.extend(self.content.iter().map(|piece| chunk(json!({"content": piece}), None)));
        chunks.extend(self.refusal.iter().map(|piece| chunk(json!({"refusal": piece}), None)));
        for (index, (id, name, arguments)) in self.calls.iter().enumerate() {
            let call =
                json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
            chunks.push(chunk(json!({"tool_calls": [call]}), None));
            for piece in arguments {
                let call = json!({"index": index, "function": {"arguments": piece}});
                chunks.push(chunk(json!({"tool_calls": [call]}), None));
            }
        }
        if let Some(reason) = self.finish_reason {
            chunks.push(chunk(json!({}), Some(reason)));
        }
        if self.usage.is_some() {
            chunks.push(json!({"id": "chatcmpl-9xK2", "choices": [], "usage": self.usage()}).to_string());
        }
        chunks.push("[DONE]".to_string());
        chunks
    }

    /// The stream's bytes.
    fn stream(&self, crlf: bool) -> Vec<u8> {
        sse(&self.chunks().into_iter().map(|data| (None, data)).collect::<Vec<_>>(), crlf)
    }
}

/// An event stream answer of these pieces.
fn events(pieces: Vec<Vec<u8>>, cut: bool) -> Canned {
    Canned { status: 200, content_type: "text/event-stream", pieces, cut }
}

/// A JSON answer.
fn whole(status: u16, body: Vec<u8>) -> Canned {
    Canned { status, content_type: "application/json", pieces: vec![body], cut: false }
}

#[test]
fn chat_completions_streams_split_anywhere_give_the_reply_they_describe_streamed_or_not() {
    let (runtime, server) = setup();
    let (streamed, plain) = (openai(&server, true), openai(&server, false));
    check(96, (completion(), any::<bool>(), cuts(16), cuts(16)), |(answer, crlf, first, second)| {
        let bytes = answer.stream(crlf);
        let expected = answer.reply();
        for cuts in [&first, &second] {
            let heard = Heard::default();
            let reply = server.call(&runtime, &streamed, events(split(&bytes, cuts), false), &heard);
            prop_assert_eq!(reply.as_ref(), Ok(&expected));
            prop_assert_eq!(heard.pieces().concat(), answer.heard());
        }
        let unstreamed =
            server.call(&runtime, &plain, whole(200, answer.whole().to_string().into_bytes()), &Heard::default());
        prop_assert_eq!(unstreamed, Ok(expected));
        Ok(())
    });
}

#[test]
fn chat_completions_streams_cut_short_are_an_error_or_the_whole_reply() {
    let (runtime, server) = setup();
    let model = openai(&server, true);
    check(
        96,
        (completion(), any::<bool>(), any::<Index>(), cuts(4), any::<bool>()),
        |(answer, crlf, end, cuts, cut)| {
            let mut bytes = answer.stream(crlf);
            bytes.truncate(end.index(bytes.len()));
            let result = server.call(&runtime, &model, events(split(&bytes, &cuts), cut), &Heard::default());
            named(&result, model.url())?;
            if let Ok(reply) = result {
                // Only the final chunks may be missing (a server may end after finish_reason, with no
                // [DONE]), or the blank line after [DONE]; never on a connection cut off.
                let expected = answer.reply();
                prop_assert!(!cut, "a stream cut off gave {reply:?}");
                prop_assert_eq!(
                    (&reply.text, &reply.tool_calls, reply.stop),
                    (&expected.text, &expected.tool_calls, expected.stop)
                );
                let usage_lost = reply.usage.is_none() && answer.finish_reason.is_some();
                prop_assert!(usage_lost || reply.usage == expected.usage, "{:?}", reply.usage);
            }
            Ok(())
        },
    );
}

/// Answers `model` (of `server`, whose address is `url`) with bodies of any shape, and with valid
/// answers (their JSON from `answers`) mutated, under any status: each gives a reply or an error
/// naming `url`, and only a 2xx gives a reply.
fn any_body_gives_a_reply_or_an_error(
    (runtime, server): (Runtime, Fuzzed),
    model: &dyn Model,
    url: &str,
    answers: impl Strategy<Value = Value> + 'static,
) {
    let body = prop_oneof![
        any_body(),
        (answers, mutations())
            .prop_map(|(answer, changes)| Bytes(changes.iter().fold(answer, mutate).to_string().into_bytes())),
    ];
    check(192, (status(), body), |(status, body)| {
        let result = server.call(&runtime, model, whole(status, body.0), &Heard::default());
        named(&result, url)?;
        prop_assert!(status < 300 || result.is_err(), "HTTP {status} gave {result:?}");
        Ok(())
    });
}

#[test]
fn chat_completions_bodies_of_any_shape_give_a_reply_or_an_error_naming_the_address() {
    let fuzzed = setup();
    let model = openai(&fuzzed.1, false);
    any_body_gives_a_reply_or_an_error(fuzzed, &model, model.url(), completion().prop_map(|answer| answer.whole()));
}

#[test]
fn chat_completions_streams_of_any_events_give_the_same_result_however_split() {
    let (runtime, server) = setup();
    let model = openai(&server, true);
    let stream = prop_oneof![
        any_body(),
        sse_lines(),
        (completion(), event_changes(), any::<bool>()).prop_map(|(answer, changes, crlf)| {
            let chunks = changed(answer.chunks(), &changes, |data, mutation| {
                mutate(serde_json::from_str(&data).unwrap_or(Value::Null), mutation).to_string()
            });
            Bytes(sse(&chunks.into_iter().map(|data| (None, data)).collect::<Vec<_>>(), crlf))
        }),
    ];
    check(192, (stream, cuts(12), cuts(12)), |(bytes, first, second)| {
        let one = server.call(&runtime, &model, events(split(&bytes.0, &first), false), &Heard::default());
        named(&one, model.url())?;
        let other = server.call(&runtime, &model, events(split(&bytes.0, &second), false), &Heard::default());
        prop_assert_eq!(one, other);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages.

/// One content block of a valid Messages answer.
#[derive(Clone, Debug)]
enum Block {
    /// Text, piece by piece.
    Text(Vec<String>),
    /// A tool call: id, name, input, and the input's JSON text cut where the pieces end.
    Tool(String, String, Map<String, Value>, Vec<Index>),
    /// Thinking, which carries nothing for the reply.
    Thinking(Vec<String>),
}

/// A valid Messages answer.
#[derive(Clone, Debug)]
struct Message {
    blocks: Vec<Block>,
    stop_reason: Option<&'static str>,
    /// input, cache creation, cache read and output tokens.
    usage: Option<(u32, u32, u32, u32)>,
}

fn message() -> impl Strategy<Value = Message> {
    let block = prop_oneof![
        3 => prop::collection::vec(text(), 0..4).prop_map(Block::Text),
        2 => (text(), json_object(), cuts(4)).prop_map(|(name, input, cuts)| Block::Tool(String::new(), format!("fn_{name}"), input, cuts)),
        1 => prop::collection::vec(text(), 0..3).prop_map(Block::Thinking),
    ];
    let stop = prop::sample::select(vec![
        "end_turn",
        "tool_use",
        "max_tokens",
        "stop_sequence",
        "refusal",
        "pause_turn",
        "model_context_window_exceeded",
    ]);
    (
        prop::collection::vec(block, 0..5),
        prop::option::of(stop),
        prop::option::weighted(0.8, any::<(u32, u32, u32, u32)>()),
    )
        .prop_map(|(blocks, stop_reason, usage)| {
            let blocks = blocks
                .into_iter()
                .enumerate()
                .map(|(index, block)| match block {
                    Block::Tool(_, name, input, cuts) => Block::Tool(format!("toolu_{index}"), name, input, cuts),
                    other => other,
                })
                .collect();
            Message { blocks, stop_reason, usage }
        })
}

impl Message {
    fn text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|block| if let Block::Text(pieces) = block { Some(pieces.concat()) } else { None })
            .collect()
    }

    /// The reply it describes.
    fn reply(&self) -> ModelReply {
        let text = self.text();
        ModelReply {
            text: Some(text).filter(|text| !text.trim().is_empty()),
            tool_calls: self
                .blocks
                .iter()
                .filter_map(|block| match block {
                    Block::Tool(id, name, input, _) => Some(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: Value::Object(input.clone()).to_string(),
                    }),
                    _ => None,
                })
                .collect(),
            usage: self.usage.map(|(input, created, read, output)| Usage {
                input_tokens: u64::from(input) + u64::from(created) + u64::from(read),
                output_tokens: output.into(),
            }),
            stop: match self.stop_reason {
                Some("max_tokens" | "model_context_window_exceeded") => Some(StopReason::Length),
                Some("refusal") => Some(StopReason::Refusal),
                _ => None,
            },
        }
    }

    /// The answer unstreamed.
    fn whole(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Text(pieces) => json!({"type": "text", "text": pieces.concat()}),
                Block::Tool(id, name, input, _) => json!({"type": "tool_use", "id": id, "name": name, "input": input}),
                Block::Thinking(pieces) => {
                    json!({"type": "thinking", "thinking": pieces.concat(), "signature": "EqQB"})
                }
            })
            .collect();
        let mut whole = json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
        });
        if let Some((input, created, read, output)) = self.usage {
            whole["usage"] = json!({"input_tokens": input, "cache_creation_input_tokens": created,
                                    "cache_read_input_tokens": read, "output_tokens": output});
        }
        whole
    }

    /// The answer's stream: each event's name and data.
    fn events(&self) -> Vec<(String, Value)> {
        let mut start = json!({"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
                               "content": [], "stop_reason": null, "stop_sequence": null});
        let mut end =
            json!({"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": null}});
        if let Some((input, created, read, output)) = self.usage {
            start["usage"] = json!({"input_tokens": input, "cache_creation_input_tokens": created,
                                    "cache_read_input_tokens": read, "output_tokens": 1});
            end["usage"] = json!({"output_tokens": output});
        }
        let mut events = vec![("message_start".to_string(), json!({"type": "message_start", "message": start}))];
        events.push(("ping".to_string(), json!({"type": "ping"})));
        for (index, block) in self.blocks.iter().enumerate() {
            let (first, deltas): (Value, Vec<Value>) = match block {
                Block::Text(pieces) => (
                    json!({"type": "text", "text": ""}),
                    pieces.iter().map(|piece| json!({"type": "text_delta", "text": piece})).collect(),
                ),
                Block::Tool(id, name, input, cuts) => (
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    [String::new()]
                        .into_iter()
                        .chain(split_text(&Value::Object(input.clone()).to_string(), cuts))
                        .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                        .collect(),
                ),
                Block::Thinking(pieces) => (
                    json!({"type": "thinking", "thinking": ""}),
                    pieces
                        .iter()
                        .map(|piece| json!({"type": "thinking_delta", "thinking": piece}))
                        .chain([json!({"type": "signature_delta", "signature": "EqQB"})])
                        .collect(),
                ),
            };
            let start = json!({"type": "content_block_start", "index": index, "content_block": first});
            events.push(("content_block_start".to_string(), start));
            for delta in deltas {
                let delta = json!({"type": "content_block_delta", "index": index, "delta": delta});
                events.push(("content_block_delta".to_string(), delta));
            }
            events.push(("content_block_stop".to_string(), json!({"type": "content_block_stop", "index": index})));
        }
        events.push(("message_delta".to_string(), end));
        events.push(("message_stop".to_string(), json!({"type": "message_stop"})));
        events
    }

    /// The stream's bytes.
    fn stream(&self, crlf: bool) -> Vec<u8> {
        messages_stream(self.events(), crlf)
    }
}

/// Messages events as a stream's bytes.
fn messages_stream(events: Vec<(String, Value)>, crlf: bool) -> Vec<u8> {
    sse(&events.into_iter().map(|(name, data)| (Some(name), data.to_string())).collect::<Vec<_>>(), crlf)
}

#[test]
fn messages_streams_split_anywhere_give_the_reply_they_describe_streamed_or_not() {
    let (runtime, server) = setup();
    let (streamed, plain) = (anthropic(&server, true), anthropic(&server, false));
    check(96, (message(), any::<bool>(), cuts(16), cuts(16)), |(answer, crlf, first, second)| {
        let bytes = answer.stream(crlf);
        let expected = answer.reply();
        for cuts in [&first, &second] {
            let heard = Heard::default();
            let reply = server.call(&runtime, &streamed, events(split(&bytes, cuts), false), &heard);
            prop_assert_eq!(reply.as_ref(), Ok(&expected));
            prop_assert_eq!(heard.pieces().concat(), answer.text());
        }
        let unstreamed =
            server.call(&runtime, &plain, whole(200, answer.whole().to_string().into_bytes()), &Heard::default());
        prop_assert_eq!(unstreamed, Ok(expected));
        Ok(())
    });
}

#[test]
fn messages_streams_cut_short_are_an_error_or_the_whole_reply() {
    let (runtime, server) = setup();
    let model = anthropic(&server, true);
    check(96, (message(), any::<bool>(), any::<Index>(), cuts(4), any::<bool>()), |(answer, crlf, end, cuts, cut)| {
        let mut bytes = answer.stream(crlf);
        bytes.truncate(end.index(bytes.len()));
        let result = server.call(&runtime, &model, events(split(&bytes, &cuts), cut), &Heard::default());
        named(&result, model.url())?;
        if let Ok(reply) = result {
            // Only the blank line after message_stop may be missing.
            prop_assert!(!cut, "a stream cut off gave {reply:?}");
            prop_assert_eq!(reply, answer.reply());
        }
        Ok(())
    });
}

#[test]
fn messages_bodies_of_any_shape_give_a_reply_or_an_error_naming_the_address() {
    let fuzzed = setup();
    let model = anthropic(&fuzzed.1, false);
    any_body_gives_a_reply_or_an_error(fuzzed, &model, model.url(), message().prop_map(|answer| answer.whole()));
}

#[test]
fn messages_streams_of_any_events_give_the_same_result_however_split() {
    let (runtime, server) = setup();
    let model = anthropic(&server, true);
    let stream = prop_oneof![
        any_body(),
        sse_lines(),
        (message(), event_changes(), any::<bool>()).prop_map(|(answer, changes, crlf)| {
            let events = changed(answer.events(), &changes, |(name, data), mutation| (name, mutate(data, mutation)));
            Bytes(messages_stream(events, crlf))
        }),
    ];
    check(192, (stream, cuts(12), cuts(12)), |(bytes, first, second)| {
        let one = server.call(&runtime, &model, events(split(&bytes.0, &first), false), &Heard::default());
        named(&one, model.url())?;
        let other = server.call(&runtime, &model, events(split(&bytes.0, &second), false), &Heard::default());
        prop_assert_eq!(one, other);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Regressions: the minimal inputs of failures the properties found.

/// Found by `messages_bodies_of_any_shape_…`: input token counts whose sum passes `u64::MAX`
/// panicked with "attempt to add with overflow" (a debug build; a release build wrapped them to
/// a small count). The call must not panic; a count it reports may saturate, never wrap.
#[test]
fn token_counts_past_u64_are_no_panic_and_no_small_count() {
    let (runtime, server) = setup();
    let huge = r#"{"input_tokens": 18446744073709551615, "cache_read_input_tokens": 2, "output_tokens": 0}"#;
    let body = format!(r#"{{"type": "message", "content": [], "stop_reason": "end_turn", "usage": {huge}}}"#);
    let start = format!(r#"{{"type": "message_start", "message": {{"content": [], "usage": {huge}}}}}"#);
    let stream = messages_stream(
        vec![
            ("message_start".into(), serde_json::from_str(&start).unwrap()),
            ("message_stop".into(), json!({"type": "message_stop"})),
        ],
        false,
    );
    let answers = [(false, whole(200, body.into_bytes())), (true, events(vec![stream], false))];
    for (stream, canned) in answers {
        let model = anthropic(&server, stream);
        let result = server.call(&runtime, &model, canned, &Heard::default());
        if let Some(usage) = result.ok().and_then(|reply| reply.usage) {
            assert_eq!(usage.input_tokens, u64::MAX, "streamed: {stream}");
        }
    }
}
