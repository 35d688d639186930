//! [`AnthropicModel`]: a request in the Messages API's shape, and its answer read back.
//!
//! Renders baton's provider-neutral request in the shape the API requires: the system prompt
//! apart, user and assistant turns alternating (consecutive messages of one role are merged),
//! tool calls as `tool_use` blocks answered by `tool_result` blocks in the next user turn, and a
//! user turn last (a conversation handed over mid-turn ends with other agents' words, and the
//! API takes a trailing assistant turn as a prefill). `max_tokens`, which the API requires,
//! defaults to [`DEFAULT_MAX_TOKENS`].

use super::{API_VERSION, DEFAULT_BASE_URL, DEFAULT_MAX_TOKENS};
use crate::http::{broken, error_text, excerpt, Failure, Http, KeyHeader};
use crate::sse::EventStream;
use crate::{Endpoint, Listener, Model, ModelError, ModelFailure};
use async_trait::async_trait;
use baton_core::{ChatMessage, ModelReply, ModelRequest, StopReason, ToolCall, Usage};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The user turn added when a request would end with an assistant turn.
const YOUR_TURN: &str = "[The conversation is now yours: continue it.]";

/// The user turn put first when a request would start with an assistant turn.
const EARLIER: &str = "[Earlier in this conversation:]";

/// A model reached over Anthropic's Messages API; one HTTP client, reused for every call.
#[derive(Clone, Debug)]
pub struct AnthropicModel {
    http: Http,
}

impl AnthropicModel {
    /// Checks `endpoint` and builds the HTTP client; nothing is sent yet.
    pub fn new(endpoint: Endpoint) -> Result<Self, ModelError> {
        Self::build(endpoint, true)
    }

    /// Like [`AnthropicModel::new`]; with `use_proxies` false, proxy environment variables are ignored.
    fn build(mut endpoint: Endpoint, use_proxies: bool) -> Result<Self, ModelError> {
        endpoint.expand_base_url()?;
        let base = endpoint.base_url.trim().trim_end_matches('/');
        // The documented base has no /v1; accept one anyway, as users often write it.
        let url = if base.ends_with("/v1") { format!("{base}/messages") } else { format!("{base}/v1/messages") };
        let hint = format!(
            "check the base_url (such as {DEFAULT_BASE_URL}, without /v1/messages) and that the model '{}' exists",
            endpoint.model
        );
        let fixed = vec![(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(API_VERSION))];
        let http = Http::new(endpoint, url, KeyHeader::XApiKey, fixed, hint, use_proxies)?;
        Ok(AnthropicModel { http })
    }

    /// The settings this model was built from.
    pub fn endpoint(&self) -> &Endpoint {
        &self.http.endpoint
    }

    /// The full address requests are sent to (`<base_url>/v1/messages`).
    pub fn url(&self) -> &str {
        &self.http.url
    }
}

#[async_trait]
impl Model for AnthropicModel {
    async fn complete(&self, request: &ModelRequest, listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        let body = request_body(&self.http.endpoint, request);
        self.http.answer(&body, parse_reply, |response| read_stream(&self.http, response, listener)).await
    }

    fn provider_name(&self) -> &str {
        "anthropic"
    }

    fn model_id(&self) -> Option<&str> {
        Some(&self.http.endpoint.model)
    }
}

/// The JSON body of a Messages request.
fn request_body(endpoint: &Endpoint, request: &ModelRequest) -> Value {
    let sampling = &endpoint.sampling;
    let mut body = Map::new();
    body.insert("model".into(), json!(endpoint.model));
    body.insert("max_tokens".into(), json!(sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)));
    if !request.system.trim().is_empty() {
        body.insert("system".into(), json!(request.system));
    }
    body.insert("messages".into(), Value::Array(wire_messages(&request.messages)));
    if !request.tools.is_empty() {
        let tools = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if sampling.parallel_tool_calls == Some(false) {
            body.insert("tool_choice".into(), json!({"type": "auto", "disable_parallel_tool_use": true}));
        }
    }
    if let Some(temperature) = sampling.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = sampling.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if endpoint.stream {
        body.insert("stream".into(), json!(true));
    }
    endpoint.apply_extra_body(&mut body);
    Value::Object(body)
}

/// The messages in the API's shape: alternating roles, tool results right after their calls,
/// starting and ending with a user turn.
fn wire_messages(messages: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message {
            ChatMessage::User(text) => ("user", text_block(text).into_iter().collect()),
            ChatMessage::Assistant { text, tool_calls } => {
                let mut blocks: Vec<Value> = text.as_deref().and_then(text_block).into_iter().collect();
                blocks.extend(tool_calls.iter().map(|call| {
                    json!({"type": "tool_use", "id": tool_id(&call.id), "name": call.name, "input": input(call)})
                }));
                ("assistant", blocks)
            }
            ChatMessage::Tool { call_id, output } => {
                let content = if output.content.trim().is_empty() { "(no output)" } else { &output.content };
                let mut block = json!({"type": "tool_result", "tool_use_id": tool_id(call_id), "content": content});
                if output.is_error {
                    block["is_error"] = json!(true);
                }
                ("user", vec![block])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.first().is_some_and(|(role, _)| *role == "assistant") {
        turns.insert(0, ("user", vec![json!({"type": "text", "text": EARLIER})]));
    }
    if turns.last().is_none_or(|(role, _)| *role == "assistant") {
        turns.push(("user", vec![json!({"type": "text", "text": YOUR_TURN})]));
    }
    turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect()
}

/// A text block, unless the text is blank (the API refuses empty text blocks).
fn text_block(text: &str) -> Option<Value> {
    let text = text.trim_end();
    (!text.trim().is_empty()).then(|| json!({"type": "text", "text": text}))
}

/// A tool call id in the characters the API accepts (letters, digits, `_` and `-`). An id that
/// needs rewriting gets a hash of the original, so two ids never become one.
fn tool_id(id: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(allowed) {
        return id.to_string();
    }
    let clean: String = id.chars().map(|c| if allowed(c) { c } else { '_' }).collect();
    // FNV-1a: stable across processes and versions, unlike the standard library's hasher.
    let hash =
        id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
    format!("{clean}_{hash:016x}")
}

/// A call's arguments as the object `input` must be; malformed ones (already answered with an
/// error) become `{}`.
fn input(call: &ToolCall) -> Value {
    match serde_json::from_str(&call.arguments) {
        Ok(Value::Object(object)) => Value::Object(object),
        _ => json!({}),
    }
}

/// Reads a 2xx body; the error says what is wrong with it.
fn parse_reply(body: &str) -> Result<ModelReply, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|error| format!("the body is not a Messages answer ({error})"))?;
    if let Some(message) = value.get("error").and_then(error_text) {
        return Err(format!("the server reported an error: {message}"));
    }
    let Some(content) = value.get("content").and_then(Value::as_array) else {
        return Err("the answer has no \"content\" list".to_string());
    };
    let mut parts = Parts::default();
    for block in content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.text.push_str(block.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("tool_use") => parts.calls.push(Call {
                id: string(block, "id"),
                name: string(block, "name"),
                arguments: block.get("input").map_or_else(String::new, Value::to_string),
            }),
            _ => {} // thinking and other blocks carry nothing for the user
        }
    }
    parts.usage = value.get("usage").map(read_usage);
    parts.stop_reason = value.get("stop_reason").and_then(Value::as_str).map(str::to_string);
    Ok(parts.reply())
}

/// A member of `object` as a string, or "".
fn string(object: &Value, key: &str) -> String {
    object.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Token counts; cached input counts as input.
fn read_usage(usage: &Value) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: count("input_tokens")
            .saturating_add(count("cache_creation_input_tokens"))
            .saturating_add(count("cache_read_input_tokens")),
        output_tokens: count("output_tokens"),
    }
}

/// A tool call as its pieces arrived.
#[derive(Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// An answer's parts, streamed or not.
#[derive(Default)]
struct Parts {
    text: String,
    calls: Vec<Call>,
    usage: Option<Usage>,
    stop_reason: Option<String>,
}

impl Parts {
    fn reply(self) -> ModelReply {
        let stop = match self.stop_reason.as_deref() {
            Some("max_tokens" | "model_context_window_exceeded") => Some(StopReason::Length),
            Some("refusal") => Some(StopReason::Refusal),
            _ => None,
        };
        let tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .map(|(index, call)| ToolCall {
                id: if call.id.is_empty() { format!("call_{index}") } else { call.id },
                name: call.name,
                // Streamed arguments arrive as text; re-encoding them gives the unstreamed form.
                arguments: match serde_json::from_str::<Value>(&call.arguments) {
                    Ok(value) => value.to_string(),
                    Err(_) if call.arguments.trim().is_empty() => "{}".to_string(),
                    Err(_) => call.arguments,
                },
            })
            .collect();
        let text = Some(self.text).filter(|text| !text.trim().is_empty());
        ModelReply { text, tool_calls, usage: self.usage, stop }
    }
}

/// Reads a streamed 2xx answer, telling `listener` the text as it arrives.
async fn read_stream(http: &Http, response: reqwest::Response, listener: &dyn Listener) -> Result<ModelReply, Failure> {
    let mut events = EventStream::new(response);
    let mut parts = Parts::default();
    // Content blocks by their index: text goes to the reply's text, tool_use to its calls.
    let mut blocks: BTreeMap<u64, Option<usize>> = BTreeMap::new();
    let mut heard = false;
    // The usage object as last reported: message_start's, with message_delta's members over it.
    let mut usage: Option<Map<String, Value>> = None;
    loop {
        let event = match events.next().await {
            Ok(Some(event)) => event,
            Ok(None) => return Err(broken(http, heard, "the stream ended before message_stop")),
            Err(error) if heard => return Err(broken(http, heard, &crate::http::reason(&error))),
            Err(error) => return Err(http.transport_failure(&error)),
        };
        let data: Value = match serde_json::from_str(&event.data) {
            Ok(data) => data,
            Err(error) => {
                let message = format!(
                    "invalid stream event '{}' from {} ({error}): {}",
                    event.event,
                    http.url,
                    excerpt(&event.data)
                );
                return Err(Failure::Fatal(ModelError::of(ModelFailure::MalformedReply, message)));
            }
        };
        let kind = data.get("type").and_then(Value::as_str).unwrap_or(&event.event).to_string();
        match kind.as_str() {
            "message_start" => {
                if let Some(Value::Object(reported)) = data.pointer("/message/usage") {
                    usage = Some(reported.clone());
                }
            }
            "content_block_start" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                let block = data.get("content_block").cloned().unwrap_or_default();
                let call = (block.get("type").and_then(Value::as_str) == Some("tool_use")).then(|| {
                    parts.calls.push(Call {
                        id: string(&block, "id"),
                        name: string(&block, "name"),
                        ..Call::default()
                    });
                    parts.calls.len() - 1
                });
                if let Some(text) = block.get("text").and_then(Value::as_str).filter(|text| !text.is_empty()) {
                    listener.text(text);
                    heard = true;
                    parts.text.push_str(text);
                }
                blocks.insert(index, call);
            }
            "content_block_delta" => {
                let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = data.get("delta").cloned().unwrap_or_default();
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or_default();
                        if !text.is_empty() {
                            listener.text(text);
                            heard = true;
                            parts.text.push_str(text);
                        }
                    }
                    Some("input_json_delta") => {
                        let piece = delta.get("partial_json").and_then(Value::as_str).unwrap_or_default();
                        if let Some(Some(call)) = blocks.get(&index) {
                            parts.calls[*call].arguments.push_str(piece);
                        }
                    }
                    _ => {} // thinking, signatures and citations carry nothing for the user
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    parts.stop_reason = Some(reason.to_string());
                }
                if let Some(Value::Object(reported)) = data.get("usage") {
                    // Counts here are cumulative and replace earlier ones; some are left out.
                    let merged = usage.get_or_insert_with(Map::new);
                    for (key, count) in reported.iter().filter(|(_, count)| !count.is_null()) {
                        merged.insert(key.clone(), count.clone());
                    }
                }
            }
            "message_stop" => break,
            "error" => {
                let message = data.get("error").and_then(error_text).unwrap_or_else(|| excerpt(&event.data));
                let message = format!("the stream from {} reported an error: {message}", http.url);
                let overloaded = data.pointer("/error/type").and_then(Value::as_str) == Some("overloaded_error");
                let error = ModelError::of(ModelFailure::Unavailable, message);
                return Err(if overloaded && !heard {
                    Failure::Retry { error, retry_after: None }
                } else {
                    Failure::Fatal(error)
                });
            }
            _ => {} // ping, content_block_stop
        }
    }
    parts.usage = usage.map(|usage| read_usage(&Value::Object(usage)));
    Ok(parts.reply())
}
