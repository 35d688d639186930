//! A [`Model`] for the OpenAI Chat Completions wire format (non-streaming).
//!
//! Works with any server that speaks it: OpenAI itself, Ollama, vLLM, llama.cpp's server and
//! others. Transient failures (HTTP 429, 5xx, refused connections) are retried here, at most
//! [`MAX_ATTEMPTS`] attempts per call in total; whatever error [`OpenAiModel::complete`] returns
//! is final.

use crate::{Model, ModelError};
use async_trait::async_trait;
use baton_core::{ChatMessage, ModelReply, ModelRequest, ToolCall, ToolDef, Usage};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The endpoint used when no `base_url` is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The environment variable read for the API key when no other is configured.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";

/// How long one HTTP request may take when no other timeout is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts per [`Model::complete`] call, the first one included.
pub const MAX_ATTEMPTS: u32 = 4;

/// The waits before the 2nd, 3rd and 4th attempt, unless the server sends `Retry-After`.
const BACKOFF: [Duration; 3] = [Duration::from_millis(250), Duration::from_millis(500), Duration::from_secs(1)];

/// The longest wait a `Retry-After` header can impose between two attempts.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The most characters of a response body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// Where and how to reach an OpenAI-compatible server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// The model name sent to the server, such as `gpt-4o-mini` or `llama3.1:8b`.
    pub model: String,
    /// The API root, without `/chat/completions`; default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// The environment variable holding the API key, read at each call; `None` sends no key.
    /// Default [`DEFAULT_API_KEY_ENV`]. An unset or empty variable sends no key either.
    pub api_key_env: Option<String>,
    /// How long one HTTP request (connecting, sending, waiting, reading) may take; default 60 s.
    pub timeout: Duration,
}

impl OpenAiConfig {
    /// A configuration for `model` at OpenAI, with the key in `OPENAI_API_KEY` and a 60 s timeout.
    pub fn new(model: impl Into<String>) -> Self {
        OpenAiConfig {
            model: model.into(),
            base_url: DEFAULT_BASE_URL.to_string(),
            api_key_env: Some(DEFAULT_API_KEY_ENV.to_string()),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A model reached over the OpenAI Chat Completions API; one HTTP client, reused for every call.
#[derive(Clone, Debug)]
pub struct OpenAiModel {
    config: OpenAiConfig,
    url: String,
    client: reqwest::Client,
    /// The waits between attempts; [`BACKOFF`] except in tests.
    backoff: [Duration; 3],
}

impl OpenAiModel {
    /// Checks `config` and builds the HTTP client; nothing is sent yet.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        Self::build(config, true)
    }

    /// Like [`OpenAiModel::new`]; with `use_proxies` false, proxy environment variables are ignored.
    fn build(config: OpenAiConfig, use_proxies: bool) -> Result<Self, ModelError> {
        if config.model.trim().is_empty() {
            return Err(ModelError::new(
                "the OpenAI-compatible model has an empty model name; set it to the name the server knows, \
                 such as \"gpt-4o-mini\"",
            ));
        }
        let base_url = config.base_url.trim().trim_end_matches('/');
        match reqwest::Url::parse(base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => {
                return Err(ModelError::new(format!(
                "the base_url '{}' uses the scheme '{}'; use an http:// or https:// address such as {DEFAULT_BASE_URL}",
                config.base_url,
                url.scheme()
            )))
            }
            Err(error) => {
                return Err(ModelError::new(format!(
                    "the base_url '{}' is not a valid URL ({error}); use an address such as {DEFAULT_BASE_URL} \
                     or http://localhost:11434/v1",
                    config.base_url
                )))
            }
        }
        if config.timeout.is_zero() {
            return Err(ModelError::new(format!(
                "the timeout for model '{}' is zero; give it a positive duration such as 60 s",
                config.model
            )));
        }
        let url = format!("{base_url}/chat/completions");
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("baton-models/", env!("CARGO_PKG_VERSION")));
        if !use_proxies {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|error| ModelError::new(format!("cannot set up the HTTP client for {url}: {}", reason(&error))))?;
        Ok(OpenAiModel { config, url, client, backoff: BACKOFF })
    }

    /// The configuration this model was built from.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The full address requests are sent to (`<base_url>/chat/completions`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `Authorization` header value, read from the environment now.
    fn authorization(&self) -> Result<Option<HeaderValue>, ModelError> {
        let Some(var) = &self.config.api_key_env else { return Ok(None) };
        let key = match std::env::var(var) {
            Ok(key) => key,
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(ModelError::new(format!(
                    "the environment variable {var} (the API key for {}) is not valid Unicode; set it to the key text",
                    self.url
                )))
            }
        };
        let key = key.trim();
        if key.is_empty() {
            return Ok(None);
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            ModelError::new(format!(
                "the API key in the environment variable {var} contains characters that cannot be sent in an HTTP \
                 header; check that it holds only the key"
            ))
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// One HTTP exchange.
    async fn attempt(&self, body: &Value, authorization: Option<&HeaderValue>) -> Attempt {
        let mut request = self.client.post(&self.url).json(body);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return self.transport_failure(&error),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = match response.text().await {
            Ok(text) => text,
            Err(error) => return self.transport_failure(&error),
        };
        if status.is_success() {
            return match parse_reply(&text) {
                Ok(reply) => Attempt::Done(reply),
                Err(detail) => Attempt::Fatal(ModelError::new(format!(
                    "invalid response from {}: {detail}; the body was: {}",
                    self.url,
                    excerpt(&text)
                ))),
            };
        }
        let message = self.status_message(status, &text);
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Retry { message, retry_after }
        } else {
            Attempt::Fatal(ModelError::new(message))
        }
    }

    /// Classifies a failure to send the request or read the answer.
    fn transport_failure(&self, error: &reqwest::Error) -> Attempt {
        if error.is_timeout() {
            Attempt::Fatal(ModelError::new(format!(
                "no answer from {} within {}; the server may be overloaded or still loading the model, \
                 or raise the model's timeout",
                self.url,
                seconds(self.config.timeout)
            )))
        } else if error.is_connect() {
            Attempt::Retry {
                message: format!("cannot reach {}: {} (is the server running?)", self.url, reason(error)),
                retry_after: None,
            }
        } else {
            Attempt::Fatal(ModelError::new(format!("the request to {} failed: {}", self.url, reason(error))))
        }
    }

    /// The message for a non-2xx answer, with a hint for the statuses that have an obvious cause.
    fn status_message(&self, status: StatusCode, body: &str) -> String {
        let detail = error_detail(body).unwrap_or_else(|| excerpt(body));
        let mut message = format!("HTTP {} from {}: {detail}", status.as_u16(), self.url);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => match &self.config.api_key_env {
                Some(var) if std::env::var(var).is_ok_and(|key| !key.trim().is_empty()) => message.push_str(&format!(
                    "; the server refused the API key in {var}: set {var} to a valid key for this server"
                )),
                Some(var) => message.push_str(&format!("; no API key was sent because {var} is not set: set {var}")),
                None => message.push_str(
                    "; no API key was sent because none is configured: name the environment variable that holds \
                     it (api_key_env)",
                ),
            },
            StatusCode::NOT_FOUND => message.push_str(&format!(
                "; check the base_url (it usually ends in /v1) and that the server knows the model '{}'",
                self.config.model
            )),
            _ => {}
        }
        message
    }
}

/// The outcome of one HTTP exchange.
enum Attempt {
    /// A reply.
    Done(ModelReply),
    /// A transient failure worth another attempt.
    Retry {
        /// What went wrong.
        message: String,
        /// The server's `Retry-After`, capped.
        retry_after: Option<Duration>,
    },
    /// A failure another attempt will not fix.
    Fatal(ModelError),
}

#[async_trait]
impl Model for OpenAiModel {
    async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError> {
        let body = request_body(&self.config.model, request);
        let authorization = self.authorization()?;
        let mut attempt = 1;
        loop {
            match self.attempt(&body, authorization.as_ref()).await {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry { message, retry_after } => {
                    if attempt >= MAX_ATTEMPTS {
                        return Err(ModelError::new(format!("{message}; gave up after {MAX_ATTEMPTS} attempts")));
                    }
                    let backoff = self.backoff[(attempt as usize - 1).min(self.backoff.len() - 1)];
                    tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// The JSON body of a Chat Completions request.
fn request_body(model: &str, request: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    messages.extend(request.messages.iter().map(wire_message));
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        body.insert("tools".into(), Value::Array(request.tools.iter().map(wire_tool).collect()));
    }
    Value::Object(body)
}

/// One message in the wire format.
fn wire_message(message: &ChatMessage) -> Value {
    match message {
        ChatMessage::User(text) => json!({"role": "user", "content": text}),
        ChatMessage::Assistant { text, tool_calls } => {
            let mut object = Map::new();
            object.insert("role".into(), json!("assistant"));
            object.insert("content".into(), text.as_ref().map_or(Value::Null, |text| json!(text)));
            if !tool_calls.is_empty() {
                let calls = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        })
                    })
                    .collect();
                object.insert("tool_calls".into(), Value::Array(calls));
            }
            Value::Object(object)
        }
        ChatMessage::Tool { call_id, output } => {
            json!({"role": "tool", "tool_call_id": call_id, "content": output.content})
        }
    }
}

/// One offered tool in the wire format.
fn wire_tool(tool: &ToolDef) -> Value {
    json!({
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    })
}

/// The part of a Chat Completions response baton reads.
#[derive(Deserialize)]
struct WireResponse {
    choices: Option<Vec<WireChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: Option<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Value,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// Reads a 2xx body; the error says what is wrong with it.
fn parse_reply(body: &str) -> Result<ModelReply, String> {
    let response: WireResponse =
        serde_json::from_str(body).map_err(|error| format!("the body is not a Chat Completions answer ({error})"))?;
    let Some(choices) = response.choices else {
        return Err(match response.error.as_ref().and_then(error_text) {
            Some(message) => format!("the server reported an error: {message}"),
            None => "the answer has no \"choices\"".to_string(),
        });
    };
    let Some(choice) = choices.into_iter().next() else {
        return Err("the answer's \"choices\" is empty".to_string());
    };
    let Some(message) = choice.message else {
        return Err("the first choice has no \"message\"".to_string());
    };
    let text = match message.content {
        Value::Null => None,
        Value::String(text) => Some(text),
        // Some servers send content parts: [{"type": "text", "text": "..."}].
        Value::Array(parts) => Some(parts.iter().filter_map(|part| part.get("text")?.as_str()).collect::<String>()),
        other => return Err(format!("the message content is neither text nor null but {}", kind(&other))),
    };
    // Servers often send "" (or a bare newline) next to tool calls; that is no text for the user.
    let text = text.filter(|text| !text.trim().is_empty());
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, call)| ToolCall {
            id: call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{index}")),
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::String(arguments) => arguments,
                Value::Null => "{}".to_string(),
                other => other.to_string(),
            },
        })
        .collect();
    let usage = response.usage.map(|usage| Usage {
        input_tokens: usage.prompt_tokens.unwrap_or(0),
        output_tokens: usage.completion_tokens.unwrap_or(0),
    });
    Ok(ModelReply { text, tool_calls, usage })
}

/// The message of an error body: `{"error": {"message": ...}}` (OpenAI) or `{"error": "..."}` (Ollama).
fn error_detail(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    error_text(value.get("error")?).map(|message| excerpt(&message))
}

/// The text of an `error` member.
fn error_text(error: &Value) -> Option<String> {
    match error {
        Value::String(message) => Some(message.clone()),
        Value::Object(object) => object.get("message")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// A JSON value's kind, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `Retry-After` header in seconds, capped at [`MAX_RETRY_AFTER`]; HTTP dates are ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// At most [`EXCERPT_CHARS`] characters of `text`, on one line.
fn excerpt(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    short.push('…');
    short
}

/// The innermost cause of an error: reqwest's own message only repeats the URL.
fn reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// A duration as "60 s" or "0.3 s".
fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        let text = format!("{:.3}", duration.as_secs_f64());
        format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use baton_core::ToolOutput;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// One request as the test server saw it.
    #[derive(Clone, Debug)]
    struct Seen {
        request_line: String,
        /// Header lines, names lower-cased.
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
        }

        fn json(&self) -> Value {
            serde_json::from_str(&self.body).unwrap()
        }
    }

    /// A canned answer: status, extra header lines, body.
    #[derive(Clone)]
    struct Canned {
        status: u16,
        headers: Vec<String>,
        body: String,
    }

    fn canned(status: u16, body: &str) -> Canned {
        Canned { status, headers: Vec::new(), body: body.to_string() }
    }

    /// A one-request-per-connection HTTP/1.1 server answering with `answers` in order (the last one
    /// repeats); `None` never answers.
    struct Server {
        base_url: String,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Server {
        async fn start(answers: Vec<Option<Canned>>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    let log = Arc::clone(&log);
                    let answers = answers.clone();
                    tokio::spawn(async move { serve(stream, log, answers).await });
                }
            });
            Server { base_url, seen }
        }

        fn requests(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }

        fn model(&self, api_key_env: Option<&str>) -> OpenAiModel {
            let config = OpenAiConfig {
                base_url: format!("{}/", self.base_url),
                api_key_env: api_key_env.map(str::to_string),
                ..OpenAiConfig::new("test-model")
            };
            OpenAiModel::build(config, false).unwrap()
        }
    }

    async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Seen>>>, answers: Vec<Option<Canned>>) {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                break end;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        let length: usize =
            headers.iter().find(|(name, _)| name == "content-length").map_or(0, |(_, value)| value.parse().unwrap());
        let mut body = buffer[header_end + 4..].to_vec();
        while body.len() < length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        let index = {
            let mut log = log.lock().unwrap();
            log.push(Seen { request_line, headers, body: String::from_utf8(body).unwrap() });
            log.len() - 1
        };
        match answers[index.min(answers.len() - 1)].clone() {
            Some(answer) => {
                let mut response = format!(
                    "HTTP/1.1 {} Canned\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    answer.status,
                    answer.body.len()
                );
                for header in &answer.headers {
                    response.push_str(header);
                    response.push_str("\r\n");
                }
                response.push_str("\r\n");
                response.push_str(&answer.body);
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            None => {
                // Hold the connection open without answering.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    }

    fn request(messages: Vec<ChatMessage>, tools: Vec<ToolDef>) -> ModelRequest {
        ModelRequest {
            turn: 1,
            agent: "triage".into(),
            model: "fast".into(),
            agent_call_index: 0,
            purpose: Default::default(),
            system: "You triage.".into(),
            messages,
            tools,
            facts: Default::default(),
        }
    }

    fn simple_request() -> ModelRequest {
        request(vec![ChatMessage::User("hello".into())], Vec::new())
    }

    const TEXT_REPLY: &str = r#"{"choices":[{"message":{"role":"assistant","content":"hi there"}}]}"#;

    #[tokio::test]
    async fn a_tool_call_reply_parses() {
        let body = r#"{
            "id": "chatcmpl-1",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "check_line", "arguments": "{\"customer_id\":\"42\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "transfer_to_billing", "arguments": {"reason": "invoice"}}}
                ]}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
        }"#;
        let server = Server::start(vec![Some(canned(200, body))]).await;
        let reply = server.model(None).complete(&simple_request()).await.unwrap();
        assert_eq!(reply.text, None);
        assert_eq!(
            reply.tool_calls,
            vec![
                ToolCall {
                    id: "call_a".into(),
                    name: "check_line".into(),
                    arguments: r#"{"customer_id":"42"}"#.into()
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "transfer_to_billing".into(),
                    arguments: r#"{"reason":"invoice"}"#.into()
                },
            ]
        );
        assert_eq!(reply.usage, Some(Usage { input_tokens: 12, output_tokens: 7 }));
    }

    #[tokio::test]
    async fn the_request_body_has_the_chat_completions_shape() {
        let server = Server::start(vec![Some(canned(200, TEXT_REPLY))]).await;
        let model = server.model(None);
        let tool = ToolDef {
            name: "check_line".into(),
            description: "Checks a line.".into(),
            parameters: json!({"type": "object", "properties": {"customer_id": {"type": "string"}}}),
            examples: vec!["is my line down?".into()],
            idempotent: true,
        };
        let messages = vec![
            ChatMessage::User("my internet is down".into()),
            ChatMessage::Assistant {
                text: None,
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "check_line".into(),
                    arguments: r#"{"customer_id":"42"}"#.into(),
                }],
            },
            ChatMessage::Tool { call_id: "call_1".into(), output: ToolOutput::ok("line up") },
            ChatMessage::Assistant { text: Some("Restart the router.".into()), tool_calls: Vec::new() },
        ];
        let reply = model.complete(&request(messages, vec![tool])).await.unwrap();
        assert_eq!(reply.text.as_deref(), Some("hi there"));

        let seen = &server.requests()[0];
        assert_eq!(seen.request_line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(seen.header("content-type"), Some("application/json"));
        let body = seen.json();
        assert_eq!(
            body,
            json!({
                "model": "test-model",
                "messages": [
                    {"role": "system", "content": "You triage."},
                    {"role": "user", "content": "my internet is down"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "check_line", "arguments": "{\"customer_id\":\"42\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "line up"},
                    {"role": "assistant", "content": "Restart the router."},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "check_line",
                    "description": "Checks a line.",
                    "parameters": {"type": "object", "properties": {"customer_id": {"type": "string"}}},
                }}],
            })
        );

        // No tools and no system prompt: both left out.
        let mut bare = simple_request();
        bare.system.clear();
        model.complete(&bare).await.unwrap();
        let body = server.requests()[1].json();
        assert_eq!(body, json!({"model": "test-model", "messages": [{"role": "user", "content": "hello"}]}));
    }

    #[tokio::test]
    async fn the_api_key_is_sent_only_when_its_variable_is_set() {
        let server = Server::start(vec![Some(canned(200, TEXT_REPLY))]).await;
        let var = "BATON_TEST_OPENAI_KEY_SET_7f3a";
        std::env::set_var(var, "sk-test-123");
        server.model(Some(var)).complete(&simple_request()).await.unwrap();
        server.model(Some("BATON_TEST_OPENAI_KEY_NEVER_SET_7f3a")).complete(&simple_request()).await.unwrap();
        server.model(None).complete(&simple_request()).await.unwrap();
        let requests = server.requests();
        assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test-123"));
        assert_eq!(requests[1].header("authorization"), None);
        assert_eq!(requests[2].header("authorization"), None);
    }

    #[tokio::test]
    async fn a_refused_key_names_the_variable() {
        let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        let server = Server::start(vec![Some(canned(401, body))]).await;
        let error = server.model(Some("BATON_TEST_OPENAI_KEY_MISSING_41c2")).complete(&simple_request()).await;
        let message = error.unwrap_err().message;
        assert!(message.starts_with(&format!("HTTP 401 from {}/chat/completions: ", server.base_url)), "{message}");
        assert!(message.contains("Incorrect API key provided"), "{message}");
        assert!(message.contains("set BATON_TEST_OPENAI_KEY_MISSING_41c2"), "{message}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn transient_failures_are_retried() {
        let server = Server::start(vec![
            Some(canned(503, "overloaded")),
            Some(canned(503, "overloaded")),
            Some(canned(200, TEXT_REPLY)),
        ])
        .await;
        let reply = server.model(None).complete(&simple_request()).await.unwrap();
        assert_eq!(reply.text.as_deref(), Some("hi there"));
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let limited = Canned { status: 429, headers: vec!["Retry-After: 0".into()], body: "{}".into() };
        let server = Server::start(vec![Some(limited), Some(canned(200, TEXT_REPLY))]).await;
        let started = std::time::Instant::now();
        server.model(None).complete(&simple_request()).await.unwrap();
        assert_eq!(server.requests().len(), 2);
        assert!(started.elapsed() < Duration::from_millis(200), "waited {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn retries_stop_after_four_attempts() {
        let server = Server::start(vec![Some(canned(500, r#"{"error":{"message":"boom"}}"#))]).await;
        let message = server.model(None).complete(&simple_request()).await.unwrap_err().message;
        assert_eq!(server.requests().len(), 4);
        assert!(message.contains("HTTP 500 from"), "{message}");
        assert!(message.contains("boom"), "{message}");
        assert!(message.contains("after 4 attempts"), "{message}");
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let body = r#"{"error":{"message":"Invalid value for 'tools'","type":"invalid_request_error"}}"#;
        let server = Server::start(vec![Some(canned(400, body))]).await;
        let message = server.model(None).complete(&simple_request()).await.unwrap_err().message;
        assert_eq!(server.requests().len(), 1);
        assert!(message.starts_with("HTTP 400 from "), "{message}");
        assert!(message.ends_with(": Invalid value for 'tools'"), "{message}");
    }

    #[tokio::test]
    async fn an_invalid_body_is_a_clear_error() {
        let server = Server::start(vec![Some(canned(200, "<html>gateway says hi</html>"))]).await;
        let message = server.model(None).complete(&simple_request()).await.unwrap_err().message;
        assert!(message.starts_with(&format!("invalid response from {}/chat/completions: ", server.base_url)));
        assert!(message.contains("<html>gateway says hi</html>"), "{message}");
        assert_eq!(server.requests().len(), 1);

        let server = Server::start(vec![Some(canned(200, r#"{"object":"list"}"#))]).await;
        let message = server.model(None).complete(&simple_request()).await.unwrap_err().message;
        assert!(message.contains("no \"choices\""), "{message}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let server = Server::start(vec![None]).await;
        let config = OpenAiConfig {
            base_url: server.base_url.clone(),
            api_key_env: None,
            timeout: Duration::from_millis(300),
            ..OpenAiConfig::new("test-model")
        };
        let model = OpenAiModel::build(config, false).unwrap();
        let message = model.complete(&simple_request()).await.unwrap_err().message;
        assert!(message.contains("within 0.3 s"), "{message}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_says_so() {
        // Bind and drop a listener to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let config = OpenAiConfig {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            api_key_env: None,
            ..OpenAiConfig::new("test-model")
        };
        let mut model = OpenAiModel::build(config, false).unwrap();
        model.backoff = [Duration::from_millis(10); 3]; // the real waits are covered by the 5xx tests
        let message = model.complete(&simple_request()).await.unwrap_err().message;
        assert!(message.starts_with(&format!("cannot reach http://127.0.0.1:{port}/v1/chat/completions: ")));
        assert!(message.contains("is the server running?"), "{message}");
        assert!(message.contains("after 4 attempts"), "{message}");
    }

    #[test]
    fn bad_configurations_are_rejected() {
        let mut config = OpenAiConfig::new("gpt-4o-mini");
        config.base_url = "localhost:11434".into();
        assert!(OpenAiModel::new(config).unwrap_err().message.contains("http://"));
        let error = OpenAiModel::new(OpenAiConfig::new(" ")).unwrap_err();
        assert!(error.message.contains("empty model name"));
        let model = OpenAiModel::new(OpenAiConfig::new("gpt-4o-mini")).unwrap();
        assert_eq!(model.url(), "https://api.openai.com/v1/chat/completions");
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt("  a \n b "), "a b");
        assert_eq!(excerpt(""), "(empty body)");
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
