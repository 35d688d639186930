//! A model server for tests speaking both wire formats: Chat Completions (`/v1/chat/completions`)
//! and Anthropic Messages (`/v1/messages`), each streamed (server-sent events, in fragments) when
//! the request asks for it. Answers are scripted as Chat Completions messages (in order, or chosen
//! by what a request asks) and rendered in the format of the path. Like the real APIs, it rejects
//! a Chat Completions history with a tool call lacking its result, and a Messages request that
//! breaks that API's rules (roles that do not alternate, a tool_use not answered right after, a
//! conversation that does not end with the user, an empty text block).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Clone)]
pub enum Answer {
    /// HTTP 200 with a chat completion carrying this assistant message.
    Message(Value),
    /// Any status and raw body.
    Raw(u16, String),
    /// Wait this long, then answer with the inner answer.
    Slow(Duration, Box<Answer>),
    /// Like [`Answer::Message`], ending with this Chat Completions `finish_reason` (`length` is
    /// `max_tokens` for Messages).
    Finished(Value, &'static str),
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request path, such as `/v1/messages`.
    pub path: String,
    /// The Authorization header, if any.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// Why the server rejected the request as the real API would, if it did.
    pub rejected: Option<String>,
}

/// The running server.
pub struct MockServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl MockServer {
    /// Starts a server answering the i-th request with `answers[i]` (the last one repeats).
    pub fn start(answers: Vec<Answer>) -> MockServer {
        Self::start_with(move |index, _| answers[index.min(answers.len() - 1)].clone())
    }

    /// Starts a server answering each request with `answer(index, body)`.
    pub fn start_with(answer: impl Fn(usize, &Value) -> Answer + Send + Sync + 'static) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("local address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let answer: Arc<Responder> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, answer) = (log.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &*answer, &log));
            }
        });
        MockServer { base_url, received }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Chooses the answer to a request from its index and body.
type Responder = dyn Fn(usize, &Value) -> Answer + Send + Sync;

fn serve(stream: TcpStream, answer: &Responder, log: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut content_length = 0;
    let mut authorization = None;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let format = if path.ends_with("/messages") { Format::Messages } else { Format::ChatCompletions };
    let rejected = match format {
        Format::ChatCompletions => history_error(&body),
        Format::Messages => messages_error(&body),
    };
    let answer = {
        let mut log = log.lock().unwrap();
        log.push(Received { path, authorization, body: body.clone(), rejected: rejected.clone() });
        answer(log.len() - 1, &body)
    };
    let streamed = body.get("stream") == Some(&Value::Bool(true));
    let mut stream = stream;
    let (status, message, finish) = match (rejected, resolve(answer)) {
        (Some(error), _) => {
            let body = json!({"type": "error", "error": {"message": error, "type": "invalid_request_error"}});
            return write_json(&mut stream, 400, &body.to_string());
        }
        (None, Resolved::Raw(status, body)) => return write_json(&mut stream, status, &body),
        (None, Resolved::Message(message, finish)) => (200, message, finish),
    };
    match (format, streamed) {
        (Format::ChatCompletions, false) => {
            let body = json!({
                "id": "chatcmpl-test", "object": "chat.completion", "model": "mock",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
            });
            write_json(&mut stream, status, &body.to_string());
        }
        (Format::Messages, false) => {
            let body = json!({
                "id": "msg_test", "type": "message", "role": "assistant", "model": "mock",
                "content": messages_content(&message),
                "stop_reason": messages_stop(&message, finish), "stop_sequence": null,
                "usage": {"input_tokens": 11, "output_tokens": 7}
            });
            write_json(&mut stream, status, &body.to_string());
        }
        (Format::ChatCompletions, true) => write_events(&mut stream, &chat_completion_chunks(&message, finish)),
        (Format::Messages, true) => write_events(&mut stream, &messages_events(&message, finish)),
    }
}

/// The wire format a request asked for, by its path.
#[derive(Clone, Copy)]
enum Format {
    ChatCompletions,
    Messages,
}

/// An answer after its delay.
enum Resolved {
    Message(Value, &'static str),
    Raw(u16, String),
}

fn resolve(answer: Answer) -> Resolved {
    match answer {
        Answer::Message(message) => Resolved::Message(message, "stop"),
        Answer::Finished(message, finish) => Resolved::Message(message, finish),
        Answer::Raw(status, body) => Resolved::Raw(status, body),
        Answer::Slow(delay, inner) => {
            std::thread::sleep(delay);
            resolve(*inner)
        }
    }
}

fn write_json(stream: &mut TcpStream, status: u16, text: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// A 200 event stream, each event written and flushed apart so the client reads fragments.
fn write_events(stream: &mut TcpStream, events: &[String]) {
    let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
    for event in events {
        let _ = stream.write_all(event.as_bytes());
        let _ = stream.flush();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `text` in three pieces (fewer when it is short), split on character boundaries.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|chunk| chunk.iter().collect()).collect()
}

/// The Chat Completions chunks of `message`: text in pieces, each tool call's arguments in
/// pieces after a first fragment with its id and name, the finish reason, usage, `[DONE]`.
fn chat_completion_chunks(message: &Value, finish: &str) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let value = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "mock",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {value}\n\n")
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    if let Some(text) = message["content"].as_str() {
        events.extend(pieces(text).into_iter().map(|piece| chunk(json!({"content": piece}), Value::Null)));
    }
    for (index, call) in message["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let first = json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}}]});
        events.push(chunk(first, Value::Null));
        for piece in pieces(call["function"]["arguments"].as_str().unwrap_or_default()) {
            let delta = json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
            events.push(chunk(delta, Value::Null));
        }
    }
    events.push(chunk(json!({}), json!(finish)));
    let usage = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}});
    events.push(format!("data: {usage}\n\n"));
    events.push("data: [DONE]\n\n".to_string());
    events
}

/// A Chat Completions message as Messages content blocks.
fn messages_content(message: &Value) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some(text) = message["content"].as_str().filter(|text| !text.is_empty()) {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let input: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("{}")).unwrap();
        blocks.push(json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}));
    }
    blocks
}

/// The Messages stop reason for a message that finished with `finish`.
fn messages_stop(message: &Value, finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        _ if message["tool_calls"].is_array() => "tool_use",
        _ => "end_turn",
    }
}

/// The Messages events of `message`, as the API streams them.
fn messages_events(message: &Value, finish: &str) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant",
            "model": "mock", "content": [], "stop_reason": null, "usage": {"input_tokens": 11, "output_tokens": 1}}}),
    )];
    for (index, block) in messages_content(message).into_iter().enumerate() {
        if block["type"] == "text" {
            events.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "text", "text": ""}}),
            ));
            events.push(event("ping", json!({"type": "ping"})));
            for piece in pieces(block["text"].as_str().unwrap_or_default()) {
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
        } else {
            events.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
            ));
            for piece in pieces(&block["input"].to_string()) {
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
        }
        events.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": messages_stop(message, finish), "stop_sequence": null},
        "usage": {"output_tokens": 7}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

/// What the Messages API says about a request that breaks its rules.
fn messages_error(body: &Value) -> Option<String> {
    if !body["max_tokens"].is_u64() {
        return Some("max_tokens: Field required".into());
    }
    let messages = body["messages"].as_array()?;
    if messages.is_empty() {
        return Some("messages: at least one message is required".into());
    }
    let mut expected_results: Vec<String> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        let wanted = if index % 2 == 0 { "user" } else { "assistant" };
        if role != wanted {
            return Some(format!("messages.{index}.role: roles must alternate between \"user\" and \"assistant\", starting with \"user\""));
        }
        let blocks: Vec<Value> = match &message["content"] {
            Value::String(text) => vec![json!({"type": "text", "text": text})],
            Value::Array(blocks) => blocks.clone(),
            _ => return Some(format!("messages.{index}.content: Input should be a valid list")),
        };
        if blocks.is_empty() {
            return Some(format!("messages.{index}: all messages must have non-empty content"));
        }
        let results: Vec<String> = blocks
            .iter()
            .filter(|block| block["type"] == "tool_result")
            .map(|block| block["tool_use_id"].as_str().unwrap_or_default().to_string())
            .collect();
        let leading = blocks.iter().take_while(|block| block["type"] == "tool_result").count();
        if !expected_results.is_empty() || !results.is_empty() {
            let mut expected = std::mem::take(&mut expected_results);
            let mut got = results.clone();
            expected.sort();
            got.sort();
            if expected != got || leading != results.len() {
                return Some(format!(
                    "messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: \
                     each tool_use block must have a corresponding tool_result block in the next message"
                ));
            }
        }
        for block in &blocks {
            match block["type"].as_str() {
                Some("text") if block["text"].as_str().unwrap_or_default().trim().is_empty() => {
                    return Some(format!("messages.{index}: text content blocks must be non-empty"));
                }
                Some("tool_use") if role == "assistant" => {
                    let id = block["id"].as_str().unwrap_or_default();
                    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        return Some(format!(
                            "messages.{index}: tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                        ));
                    }
                    if !block["input"].is_object() {
                        return Some(format!("messages.{index}: tool_use.input: Input should be a valid dictionary"));
                    }
                    expected_results.push(id.to_string());
                }
                Some("text" | "tool_use" | "tool_result") => {}
                other => return Some(format!("messages.{index}: unexpected block type {other:?}")),
            }
        }
    }
    if !expected_results.is_empty() {
        return Some("the last assistant message has tool_use blocks without tool_result blocks after it".into());
    }
    if messages.last().is_some_and(|message| message["role"] != "user") {
        return Some(
            "This model does not support assistant message prefill. The conversation must end with a user message."
                .into(),
        );
    }
    None
}

/// What the real API says about a history whose tool calls and results do not pair up.
fn history_error(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let mut index = 0;
    while index < messages.len() {
        let message = &messages[index];
        if message["role"] == "tool" {
            return Some(format!(
                "messages[{index}]: a 'tool' message must respond to a preceding 'tool_calls' message"
            ));
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            let mut expected: Vec<&str> = calls.iter().filter_map(|c| c["id"].as_str()).collect();
            let mut answered = Vec::new();
            while index + 1 < messages.len() && messages[index + 1]["role"] == "tool" {
                index += 1;
                answered.push(messages[index]["tool_call_id"].as_str().unwrap_or_default());
            }
            expected.sort();
            answered.sort();
            if expected != answered {
                return Some(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'."
                        .to_string(),
                );
            }
        }
        index += 1;
    }
    None
}

/// An assistant message with text.
pub fn text(text: &str) -> Answer {
    Answer::Message(json!({"role": "assistant", "content": text}))
}

/// An assistant message with tool calls: (id, name, arguments JSON text).
pub fn calls(calls: &[(&str, &str, Value)]) -> Answer {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect();
    Answer::Message(json!({"role": "assistant", "content": null, "tool_calls": calls}))
}
