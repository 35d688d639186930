//! A Chat Completions server for tests: answers with scripted responses (in order, or chosen by
//! what a request asks), and rejects, as the real API does, any request whose history has a tool
//! call without its tool result.

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
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The Authorization header, if any.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
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
    let answer = {
        let mut log = log.lock().unwrap();
        log.push(Received { authorization, body: body.clone() });
        answer(log.len() - 1, &body)
    };
    let (status, text) = match history_error(&body) {
        Some(error) => (400, json!({"error": {"message": error, "type": "invalid_request_error"}}).to_string()),
        None => respond(answer),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn respond(answer: Answer) -> (u16, String) {
    match answer {
        Answer::Message(message) => (
            200,
            json!({
                "id": "chatcmpl-test", "object": "chat.completion", "model": "mock",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
            })
            .to_string(),
        ),
        Answer::Raw(status, body) => (status, body),
        Answer::Slow(delay, inner) => {
            std::thread::sleep(delay);
            respond(*inner)
        }
    }
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
