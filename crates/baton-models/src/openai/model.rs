//! [`OpenAiModel`]: a request in the Chat Completions wire format, and its answer read back.
//!
//! Transient failures are retried in [`crate::http`]; whatever error [`OpenAiModel::complete`]
//! returns is final. A streamed answer is reassembled into the reply the same answer gives
//! unstreamed: text deltas in order, tool calls from their fragments by `index`, usage from the
//! final chunk.

use crate::http::{broken, error_text, excerpt, Failure, Http, KeyHeader};
use crate::sse::EventStream;
use crate::{Endpoint, Listener, Model, ModelError, ModelFailure};
use async_trait::async_trait;
use baton_core::{ChatMessage, ModelReply, ModelRequest, StopReason, ToolCall, ToolDef, Usage};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A model reached over the Chat Completions API; one HTTP client, reused for every call.
#[derive(Clone, Debug)]
pub struct OpenAiModel {
    http: Http,
}

impl OpenAiModel {
    /// Checks `endpoint` and builds the HTTP client; nothing is sent yet.
    pub fn new(endpoint: Endpoint) -> Result<Self, ModelError> {
        Self::build(endpoint, true)
    }

    /// Like [`OpenAiModel::new`]; with `use_proxies` false, proxy environment variables are ignored.
    fn build(mut endpoint: Endpoint, use_proxies: bool) -> Result<Self, ModelError> {
        endpoint.expand_base_url()?;
        let url = format!("{}/chat/completions", endpoint.base_url.trim().trim_end_matches('/'));
        let hint = format!(
            "check the base_url (it usually ends in /v1) and that the server knows the model '{}'",
            endpoint.model
        );
        let http = Http::new(endpoint, url, KeyHeader::Bearer, Vec::new(), hint, use_proxies)?;
        Ok(OpenAiModel { http })
    }

    /// The settings this model was built from.
    pub fn endpoint(&self) -> &Endpoint {
        &self.http.endpoint
    }

    /// The full address requests are sent to (`<base_url>/chat/completions`).
    pub fn url(&self) -> &str {
        &self.http.url
    }
}

#[async_trait]
impl Model for OpenAiModel {
    async fn complete(&self, request: &ModelRequest, listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        let body = request_body(&self.http.endpoint, request);
        self.http.answer(&body, parse_reply, |response| read_stream(&self.http, response, listener)).await
    }

    fn provider_name(&self) -> &str {
        "openai"
    }

    fn model_id(&self) -> Option<&str> {
        Some(&self.http.endpoint.model)
    }
}

/// The JSON body of a Chat Completions request.
fn request_body(endpoint: &Endpoint, request: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    messages.extend(request.messages.iter().map(wire_message));
    let mut body = Map::new();
    body.insert("model".into(), Value::String(endpoint.model.clone()));
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        body.insert("tools".into(), Value::Array(request.tools.iter().map(wire_tool).collect()));
        if let Some(parallel) = endpoint.sampling.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    let sampling = &endpoint.sampling;
    if let Some(temperature) = sampling.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = sampling.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if let Some(seed) = sampling.seed {
        body.insert("seed".into(), json!(seed));
    }
    if let Some(max_tokens) = sampling.max_tokens {
        // OpenAI's newer models take only max_completion_tokens; other servers know max_tokens.
        let key = if is_openai(&endpoint.base_url) { "max_completion_tokens" } else { "max_tokens" };
        body.insert(key.into(), json!(max_tokens));
    }
    if endpoint.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    endpoint.apply_extra_body(&mut body);
    Value::Object(body)
}

/// Whether `base_url` is OpenAI's own API.
fn is_openai(base_url: &str) -> bool {
    reqwest::Url::parse(base_url).is_ok_and(|url| url.host_str() == Some("api.openai.com"))
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
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Value,
    #[serde(default)]
    refusal: Option<String>,
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

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage { input_tokens: self.prompt_tokens.unwrap_or(0), output_tokens: self.completion_tokens.unwrap_or(0) }
    }
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
    let calls = message.tool_calls.unwrap_or_default().into_iter().map(|call| Fragments {
        id: call.id.unwrap_or_default(),
        name: call.function.name,
        arguments: arguments_text(call.function.arguments),
    });
    Ok(reply(
        text.unwrap_or_default(),
        message.refusal.unwrap_or_default(),
        calls.collect(),
        response.usage.map(|usage| usage.usage()),
        choice.finish_reason.as_deref(),
    ))
}

/// Tool-call arguments as JSON text: servers send a string, a few an object.
fn arguments_text(arguments: Value) -> String {
    match arguments {
        Value::String(arguments) => arguments,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A tool call as its pieces arrived.
#[derive(Default)]
struct Fragments {
    id: String,
    name: String,
    arguments: String,
}

/// The reply from an answer's parts, streamed or not.
fn reply(
    text: String,
    refusal: String,
    calls: Vec<Fragments>,
    usage: Option<Usage>,
    finish_reason: Option<&str>,
) -> ModelReply {
    let refused = !refusal.trim().is_empty();
    let text = if refused { refusal } else { text };
    let stop = match finish_reason {
        _ if refused => Some(StopReason::Refusal),
        Some("length") => Some(StopReason::Length),
        Some("content_filter") => Some(StopReason::ContentFilter),
        _ => None,
    };
    let tool_calls = calls
        .into_iter()
        .enumerate()
        .map(|(index, call)| ToolCall {
            id: if call.id.is_empty() { format!("call_{index}") } else { call.id },
            name: call.name,
            arguments: if call.arguments.trim().is_empty() { "{}".to_string() } else { call.arguments },
        })
        .collect();
    // Servers often send "" (or a bare newline) next to tool calls; that is no text for the user.
    let text = Some(text).filter(|text| !text.trim().is_empty());
    ModelReply { text, tool_calls, usage, stop }
}

/// One chunk of a streamed answer.
#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Value,
}

/// Reads a streamed 2xx answer, telling `listener` the text as it arrives.
async fn read_stream(http: &Http, response: reqwest::Response, listener: &dyn Listener) -> Result<ModelReply, Failure> {
    let mut events = EventStream::new(response);
    let (mut text, mut refusal) = (String::new(), String::new());
    let mut calls = Calls::default();
    let mut usage = None;
    let mut finish_reason = None;
    let mut heard = false;
    loop {
        let event = match events.next().await {
            Ok(Some(event)) => event,
            Ok(None) if finish_reason.is_some() => break, // a server that sends no [DONE]
            Ok(None) => return Err(broken(http, heard, "the stream ended before the answer was complete")),
            Err(error) if heard => return Err(broken(http, heard, &crate::http::reason(&error))),
            Err(error) => return Err(http.transport_failure(&error)),
        };
        let data = event.data.trim();
        if data == "[DONE]" {
            break;
        }
        let chunk: WireChunk = serde_json::from_str(data).map_err(|error| {
            let message = format!("invalid stream chunk from {} ({error}): {}", http.url, excerpt(data));
            Failure::Fatal(ModelError::of(ModelFailure::MalformedReply, message))
        })?;
        if let Some(error) = chunk.error.as_ref() {
            let message = error_text(error).unwrap_or_else(|| excerpt(&error.to_string()));
            let message = format!("the stream from {} reported an error: {message}", http.url);
            return Err(Failure::Fatal(ModelError::of(ModelFailure::Unavailable, message)));
        }
        if let Some(reported) = chunk.usage {
            usage = Some(reported.usage());
        }
        let Some(choice) = chunk.choices.into_iter().next() else { continue };
        if let Some(reason) = choice.finish_reason {
            finish_reason = Some(reason);
        }
        let Some(delta) = choice.delta else { continue };
        for (piece, into) in [(delta.content, &mut text), (delta.refusal, &mut refusal)] {
            if let Some(piece) = piece.filter(|piece| !piece.is_empty()) {
                listener.text(&piece);
                heard = true;
                into.push_str(&piece);
            }
        }
        for call in delta.tool_calls.unwrap_or_default() {
            calls.add(call);
        }
    }
    Ok(reply(text, refusal, calls.list, usage, finish_reason.as_deref()))
}

/// Tool calls reassembled from streamed fragments, in the order they began.
#[derive(Default)]
struct Calls {
    list: Vec<Fragments>,
    /// The call each wire `index` last pointed at.
    by_index: BTreeMap<usize, usize>,
    /// The call the last fragment went to.
    last: Option<usize>,
}

impl Calls {
    /// Adds one fragment. It continues the call its `index` names (or, without one, the last
    /// call), unless it starts another: it brings an id or a name that call already has a
    /// different one of. Some servers send every call with index 0 (Ollama), or several whole
    /// calls with neither index nor id (Gemini's endpoint).
    fn add(&mut self, call: WireToolCallDelta) {
        let id = call.id.filter(|id| !id.is_empty());
        let (name, arguments) = match call.function {
            Some(function) => (function.name.filter(|name| !name.is_empty()), arguments_text(function.arguments)),
            None => (None, String::new()),
        };
        let target = match call.index {
            Some(index) => self.by_index.get(&index).copied(),
            None => self.last,
        };
        let starts_another = target.is_some_and(|target| {
            let current = &self.list[target];
            id.as_ref().is_some_and(|id| !current.id.is_empty() && &current.id != id)
                || (name.is_some() && !current.name.is_empty())
        });
        let position = match target {
            Some(target) if !starts_another => target,
            _ => {
                self.list.push(Fragments::default());
                self.list.len() - 1
            }
        };
        if let Some(index) = call.index {
            self.by_index.insert(index, position);
        }
        self.last = Some(position);
        let entry = &mut self.list[position];
        if let Some(id) = id {
            entry.id = id;
        }
        if let Some(name) = name {
            entry.name.push_str(&name);
        }
        entry.arguments.push_str(&arguments);
    }
}

/// A JSON value's kind, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::openai::{DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL};
    use crate::Silent;
    use baton_core::ToolOutput;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
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
            self.model_with(api_key_env, |_| {})
        }

        fn model_with(&self, api_key_env: Option<&str>, change: impl FnOnce(&mut Endpoint)) -> OpenAiModel {
            let mut endpoint = Endpoint::new("test-model", format!("{}/", self.base_url), api_key_env);
            change(&mut endpoint);
            let mut model = OpenAiModel::build(endpoint, false).unwrap();
            model.http.first_backoff = Duration::from_millis(10); // the real waits are tested in http.rs
            model
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
        let reply = server.model(None).complete(&simple_request(), &Silent).await.unwrap();
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
            approval: Default::default(),
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
        let reply = model.complete(&request(messages, vec![tool]), &Silent).await.unwrap();
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
        model.complete(&bare, &Silent).await.unwrap();
        let body = server.requests()[1].json();
        assert_eq!(body, json!({"model": "test-model", "messages": [{"role": "user", "content": "hello"}]}));
    }

    #[tokio::test]
    async fn the_api_key_is_sent_only_when_its_variable_is_set() {
        let server = Server::start(vec![Some(canned(200, TEXT_REPLY))]).await;
        let var = "BATON_TEST_OPENAI_KEY_SET_7f3a";
        std::env::set_var(var, "sk-test-123");
        server.model(Some(var)).complete(&simple_request(), &Silent).await.unwrap();
        server.model(Some("BATON_TEST_OPENAI_KEY_NEVER_SET_7f3a")).complete(&simple_request(), &Silent).await.unwrap();
        server.model(None).complete(&simple_request(), &Silent).await.unwrap();
        let requests = server.requests();
        assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test-123"));
        assert_eq!(requests[1].header("authorization"), None);
        assert_eq!(requests[2].header("authorization"), None);
    }

    #[tokio::test]
    async fn a_refused_key_names_the_variable() {
        let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        let server = Server::start(vec![Some(canned(401, body))]).await;
        let error = server.model(Some("BATON_TEST_OPENAI_KEY_MISSING_41c2")).complete(&simple_request(), &Silent).await;
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
        let reply = server.model(None).complete(&simple_request(), &Silent).await.unwrap();
        assert_eq!(reply.text.as_deref(), Some("hi there"));
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let limited = Canned { status: 429, headers: vec!["Retry-After: 0".into()], body: "{}".into() };
        let server = Server::start(vec![Some(limited), Some(canned(200, TEXT_REPLY))]).await;
        let started = std::time::Instant::now();
        server.model(None).complete(&simple_request(), &Silent).await.unwrap();
        assert_eq!(server.requests().len(), 2);
        assert!(started.elapsed() < Duration::from_millis(200), "waited {:?}", started.elapsed());
    }

    #[cfg(feature = "otel")]
    #[tokio::test]
    async fn a_retry_is_an_event_of_the_span_the_call_runs_in() {
        use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider =
            opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let tracer = provider.tracer("test");
        let limited = Canned { status: 429, headers: vec!["Retry-After: 0".into()], body: "{}".into() };
        let server = Server::start(vec![Some(limited), Some(canned(200, TEXT_REPLY))]).await;
        let chat = opentelemetry::Context::new().with_span(tracer.start("chat gpt-test"));
        let request = simple_request();
        let model = server.model(None);
        model.complete(&request, &Silent).with_context(chat.clone()).await.unwrap();
        chat.span().end();
        let spans = exporter.get_finished_spans().unwrap();
        let events: Vec<_> = spans[0].events.iter().collect();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].name, "retry");
        let kind =
            events[0].attributes.iter().find(|kv| kv.key.as_str() == "error.type").map(|kv| kv.value.to_string());
        assert_eq!(kind.as_deref(), Some("rate_limited"));
    }

    #[tokio::test]
    async fn retries_stop_after_four_attempts() {
        let server = Server::start(vec![Some(canned(500, r#"{"error":{"message":"boom"}}"#))]).await;
        let message = server.model(None).complete(&simple_request(), &Silent).await.unwrap_err().message;
        assert_eq!(server.requests().len(), 4);
        assert!(message.contains("HTTP 500 from"), "{message}");
        assert!(message.contains("boom"), "{message}");
        assert!(message.contains("after 4 attempts"), "{message}");
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let body = r#"{"error":{"message":"Invalid value for 'tools'","type":"invalid_request_error"}}"#;
        let server = Server::start(vec![Some(canned(400, body))]).await;
        let message = server.model(None).complete(&simple_request(), &Silent).await.unwrap_err().message;
        assert_eq!(server.requests().len(), 1);
        assert!(message.starts_with("HTTP 400 from "), "{message}");
        assert!(message.ends_with(": Invalid value for 'tools'"), "{message}");
    }

    #[tokio::test]
    async fn an_invalid_body_is_a_clear_error() {
        let server = Server::start(vec![Some(canned(200, "<html>gateway says hi</html>"))]).await;
        let error = server.model(None).complete(&simple_request(), &Silent).await.unwrap_err();
        assert_eq!(error.kind(), "malformed_reply", "{error}");
        let message = error.to_string();
        assert!(message.starts_with(&format!("invalid response from {}/chat/completions: ", server.base_url)));
        assert!(message.contains("<html>gateway says hi</html>"), "{message}");
        assert_eq!(server.requests().len(), 1);

        let server = Server::start(vec![Some(canned(200, r#"{"object":"list"}"#))]).await;
        let message = server.model(None).complete(&simple_request(), &Silent).await.unwrap_err().message;
        assert!(message.contains("no \"choices\""), "{message}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let server = Server::start(vec![None]).await;
        let model = server.model_with(None, |endpoint| endpoint.timeout = Duration::from_millis(300));
        let message = model.complete(&simple_request(), &Silent).await.unwrap_err().message;
        assert!(message.contains("within 0.3 s"), "{message}");
        assert_eq!(server.requests().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_says_so() {
        // Bind and drop a listener to get a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint::new("test-model", format!("http://127.0.0.1:{port}/v1"), None);
        let mut model = OpenAiModel::build(endpoint, false).unwrap();
        model.http.first_backoff = Duration::from_millis(10);
        let message = model.complete(&simple_request(), &Silent).await.unwrap_err().message;
        assert!(message.starts_with(&format!("cannot reach http://127.0.0.1:{port}/v1/chat/completions: ")));
        assert!(message.contains("is the server running?"), "{message}");
        assert!(message.contains("after 4 attempts"), "{message}");
    }

    #[test]
    fn bad_configurations_are_rejected() {
        let endpoint = |model: &str, base_url: &str| Endpoint::new(model, base_url, Some(DEFAULT_API_KEY_ENV));
        let error = OpenAiModel::new(endpoint("gpt-4o-mini", "localhost:11434")).unwrap_err();
        assert!(error.message.contains("http://"), "{error}");
        let error = OpenAiModel::new(endpoint(" ", DEFAULT_BASE_URL)).unwrap_err();
        assert!(error.message.contains("model name is empty"), "{error}");
        let model = OpenAiModel::new(endpoint("gpt-4o-mini", DEFAULT_BASE_URL)).unwrap();
        assert_eq!(model.url(), "https://api.openai.com/v1/chat/completions");
    }
}
