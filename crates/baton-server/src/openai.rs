//! `POST /v1/chat/completions`: the OpenAI-compatible endpoint, so the official `openai` clients
//! (and anything else that speaks Chat Completions) talk to a team. `model` names the team; the
//! conversation is named by the `X-Baton-Conversation` header, which every answer carries once
//! the conversation is known: send it back to continue, leave it out to start a new one.

use crate::auth::{Allowed, Chat};
use crate::conversations;
use crate::error::ApiError;
use crate::json_object::JsonObject;
use crate::observer::Heard;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton::core::{JournalEntry, Record, TurnStatus};
use baton::store::ConversationInfo;
use baton::{wire, Runtime, TurnReport};
use futures_util::stream::{self, Stream};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// The header naming the conversation: sent back to continue it, and set on every answer once
/// the conversation is known.
pub const CONVERSATION_HEADER: &str = "x-baton-conversation";

/// The body of `POST /v1/chat/completions`, as OpenAI's Chat Completions API has it. The other
/// fields OpenAI clients send (`temperature`, `top_p`, `max_tokens`, `max_completion_tokens`,
/// `user`, `response_format`, `seed`, `stop`, `metadata`, `store`, `tool_choice`,
/// `parallel_tool_calls`, `frequency_penalty`, `presence_penalty`, `logprobs`, …) are accepted
/// and ignored: the team file sets its agents' models and their settings.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChatRequest {
    /// The team that answers (one the server serves); for a continued conversation, its team.
    pub model: String,
    /// The conversation so far. The last `user` message is what the user says now. Without the
    /// `X-Baton-Conversation` header, the messages before it (but for `system` and `developer`
    /// ones) reach the team as a short transcript in front of it; with the header the journal
    /// has them, and only the last `user` message is sent.
    pub messages: Vec<ChatMessage>,
    /// Answer with server-sent events of `chat.completion.chunk` objects, ending with
    /// `data: [DONE]`.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Streaming options: `include_usage` adds a last chunk with the token counts.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// How many choices to answer with: only 1.
    #[serde(default)]
    pub n: Option<u32>,
    /// Tools for the model: not taken, the team's agents bring their own (leave it out or empty).
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
}

/// One message of [`ChatRequest::messages`].
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// `user`, `assistant`, `system`, `developer` or `tool`. System and developer messages are
    /// ignored: the team file gives the agents their instructions.
    pub role: String,
    /// The text, as a string or as content parts (only `text` parts are taken).
    #[serde(default)]
    pub content: Option<ChatContent>,
}

/// A message's content.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ChatContent {
    /// Plain text.
    Text(String),
    /// Content parts; only those of type `text` are supported.
    Parts(Vec<ChatContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChatContentPart {
    /// The part's type: `text` is the one supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// [`ChatRequest::stream_options`].
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StreamOptions {
    /// Send a last chunk, with no choices, carrying the turn's token counts.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// The answer of a non-streaming `POST /v1/chat/completions`: a `chat.completion` object with
/// baton's turn report beside it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-<conversation>-<turn>`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// When the request arrived, in seconds since the Unix epoch.
    pub created: u64,
    /// The team that answered.
    pub model: String,
    /// The one choice.
    pub choices: Vec<ChatChoice>,
    /// The tokens the turn's model calls used, all agents together.
    pub usage: ChatUsage,
    /// baton's report of the turn: status, agent, reply, handoffs, tool calls, usage per agent,
    /// and the call waiting for approval if there is one.
    pub baton: wire::TurnReport,
}

/// A choice of a [`ChatCompletion`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChatChoice {
    /// Always 0.
    pub index: u32,
    /// The team's answer.
    pub message: ChatReply,
    /// Always `stop`.
    pub finish_reason: String,
    /// Always null.
    pub logprobs: Option<Value>,
}

/// The assistant message of a [`ChatChoice`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChatReply {
    /// Always `assistant`.
    pub role: String,
    /// The reply; without one, a sentence saying what happened (a person takes over, a tool
    /// call waits for approval).
    pub content: String,
    /// Always null.
    pub refusal: Option<String>,
}

/// Token counts in OpenAI's names.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChatUsage {
    /// Tokens sent to models.
    pub prompt_tokens: u64,
    /// Tokens models produced.
    pub completion_tokens: u64,
    /// Both together.
    pub total_tokens: u64,
}

/// `POST /v1/chat/completions`: one user turn of the team named by `model`, answered as a
/// `chat.completion` or streamed as `chat.completion.chunk` events.
///
/// The conversation is the one in the `X-Baton-Conversation` header (it must be the caller's,
/// and of the team `model` names), or a new one owned by the caller's key when the header is
/// absent or empty. What the user says is the last `user` message; `system` and `developer`
/// messages are ignored, since the team file defines the agents' prompts. A message longer than
/// the team's `max_message_bytes` answers 413 `message_too_large` before a conversation is
/// started or anything journaled. A failed turn answers 502 `turn_failed`; a turn that escalates
/// or waits for an approval answers normally, with the details in the `baton` field.
pub async fn chat_completions(
    Allowed(caller, _): Allowed<Chat>,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    JsonObject(body): JsonObject<ChatRequest>,
) -> Result<Response, ApiError> {
    let continued = conversation_header(&headers)?;
    check_options(&body)?;
    let text = turn_text(&body.messages, continued.is_none())?;
    let team = state.team(&body.model)?.clone();
    team.check_message(&text)?;
    let (info, runtime) = match continued {
        Some(id) => state.conversation_to_talk(&caller, &id).await?,
        None => (team.start(None, caller.name.as_deref()).await?, team),
    };
    let answer = answer(state, &info, runtime, body, text).await;
    let retry = matches!(&answer, Err(error) if error.code == "conversation_busy");
    Ok(tagged(answer.into_response(), &info.id, retry))
}

/// The turn's answer, once the conversation is known.
async fn answer(
    state: Arc<AppState>,
    info: &ConversationInfo,
    runtime: Arc<Runtime>,
    body: ChatRequest,
    text: String,
) -> Result<Response, ApiError> {
    if info.team != body.model {
        return Err(ApiError::bad_request(format!(
            "conversation '{}' belongs to team '{}', not '{}': send `\"model\": \"{}\"` to continue it, or leave out \
             the X-Baton-Conversation header to start a new conversation with team '{}'",
            info.id, info.team, body.model, info.team, body.model
        )));
    }
    let head = ChunkHead { id: String::new(), created: now(), model: info.team.clone() };
    if body.stream.unwrap_or(false) {
        let include_usage = body.stream_options.and_then(|options| options.include_usage).unwrap_or(false);
        return Ok(streamed(state, info.clone(), runtime, text, head, include_usage).into_response());
    }
    let report = conversations::turn(&state, info, runtime, text, None).await?;
    if report.outcome.status == TurnStatus::Failed {
        return Err(turn_failed(&report));
    }
    let completion = ChatCompletion {
        id: completion_id(&info.id, Some(report.outcome.turn)),
        object: "chat.completion".into(),
        created: head.created,
        model: head.model,
        choices: vec![ChatChoice {
            index: 0,
            message: ChatReply { role: "assistant".into(), content: content(&report), refusal: None },
            finish_reason: "stop".into(),
            logprobs: None,
        }],
        usage: usage(&report),
        baton: wire::TurnReport::from(&report),
    };
    Ok(Json(completion).into_response())
}

/// The conversation the header names; `None` when it is absent or empty.
fn conversation_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(CONVERSATION_HEADER) else { return Ok(None) };
    let id = value.to_str().map_err(|_| {
        ApiError::bad_request("the X-Baton-Conversation header is not a conversation id: send the id an answer gave")
    })?;
    Ok(Some(id.trim().to_string()).filter(|id| !id.is_empty()))
}

/// Refuses the options baton cannot honour.
fn check_options(body: &ChatRequest) -> Result<(), ApiError> {
    if body.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_request("a team answers with one choice: leave `n` out or set it to 1"));
    }
    if body.tools.as_ref().is_some_and(|tools| !tools.is_empty()) {
        return Err(ApiError::bad_request(
            "baton's teams bring their own tools: leave `tools` out (the team file declares each agent's tools)",
        ));
    }
    Ok(())
}

/// What the user says this turn: the last `user` message, after a transcript of the messages
/// before it when `with_history` (a new conversation).
fn turn_text(messages: &[ChatMessage], with_history: bool) -> Result<String, ApiError> {
    let last = messages.iter().rposition(|message| message.role == "user").ok_or_else(|| {
        ApiError::bad_request("`messages` has no message with the role `user`: send what the user says as one")
    })?;
    let said = text_of(&messages[last], last)?;
    if said.trim().is_empty() {
        return Err(ApiError::bad_request("the last `user` message is empty: send what the user says"));
    }
    if !with_history {
        return Ok(said);
    }
    let mut earlier = String::new();
    for (index, message) in messages[..last].iter().enumerate() {
        if matches!(message.role.as_str(), "system" | "developer") {
            continue;
        }
        let text = text_of(message, index)?;
        if !text.trim().is_empty() {
            earlier.push_str(&format!("{}: {}\n", message.role, text.trim()));
        }
    }
    match earlier.is_empty() {
        true => Ok(said),
        false => Ok(format!("Earlier in this conversation:\n{earlier}\n{said}")),
    }
}

/// The text of message `index`: its string, or its `text` parts joined by newlines.
fn text_of(message: &ChatMessage, index: usize) -> Result<String, ApiError> {
    match &message.content {
        None => Ok(String::new()),
        Some(ChatContent::Text(text)) => Ok(text.clone()),
        Some(ChatContent::Parts(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts {
                if part.kind != "text" {
                    return Err(ApiError::bad_request(format!(
                        "message {index} has a content part of type '{}': only text is supported, send `text` parts \
                         or a string",
                        part.kind
                    )));
                }
                texts.push(part.text.as_deref().unwrap_or_default());
            }
            Ok(texts.join("\n"))
        }
    }
}

/// The assistant message's content: the reply, or a sentence saying what happened.
fn content(report: &TurnReport) -> String {
    let outcome = &report.outcome;
    match (outcome.reply.as_deref(), outcome.status) {
        (Some(reply), _) if !reply.is_empty() => reply.to_string(),
        (_, TurnStatus::Escalated) => "A person will take over this conversation.".into(),
        (_, TurnStatus::AwaitingApproval) => "A tool call waits for approval.".into(),
        _ => String::new(),
    }
}

/// The turn's token counts.
fn usage(report: &TurnReport) -> ChatUsage {
    let total = &report.usage.total;
    ChatUsage {
        prompt_tokens: total.input_tokens,
        completion_tokens: total.output_tokens,
        total_tokens: total.input_tokens + total.output_tokens,
    }
}

/// 502 for a turn that failed.
fn turn_failed(report: &TurnReport) -> ApiError {
    let message = report.outcome.error.clone().unwrap_or_else(|| {
        format!(
            "the turn failed without saying why: see GET /v1/conversations/{}/trace for its journal",
            report.conversation
        )
    });
    ApiError::new(StatusCode::BAD_GATEWAY, "turn_failed", message)
}

/// `response` with the conversation header. An error also tells the official OpenAI clients not
/// to send the request again by themselves (`x-should-retry: false`) unless `retry`: they resend
/// on 409 and 5xx, and once the message may be journaled, sending it again would add it to the
/// conversation twice (only a busy conversation journaled nothing).
fn tagged(mut response: Response, conversation: &str, retry: bool) -> Response {
    if let Ok(value) = HeaderValue::from_str(conversation) {
        response.headers_mut().insert(CONVERSATION_HEADER, value);
    }
    let status = response.status();
    if !retry && (status.is_client_error() || status.is_server_error()) {
        response.headers_mut().insert("x-should-retry", HeaderValue::from_static("false"));
    }
    response
}

/// `chatcmpl-<conversation>-<turn>`, or without the turn while it is not known.
fn completion_id(conversation: &str, turn: Option<u32>) -> String {
    match turn {
        Some(turn) => format!("chatcmpl-{conversation}-{turn}"),
        None => format!("chatcmpl-{conversation}"),
    }
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// What every chunk of one answer repeats.
struct ChunkHead {
    id: String,
    created: u64,
    model: String,
}

/// One `chat.completion.chunk` of a streamed answer.
#[derive(Serialize)]
struct ChatChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    /// The turn's token counts, on the chunk after the last choice when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<ChatUsage>,
    /// baton's report of the turn, on the chunk that ends the choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    baton: Option<wire::TurnReport>,
}

/// The one choice of a chunk.
#[derive(Serialize)]
struct ChunkChoice {
    index: u32,
    delta: ChunkDelta,
    finish_reason: Option<&'static str>,
    logprobs: Option<()>,
}

/// What a chunk adds to the answer: the role on the first, text on those after, nothing on the
/// last.
#[derive(Default, Serialize)]
struct ChunkDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
}

impl ChunkHead {
    /// A `chat.completion.chunk` with these choices and no usage or report.
    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatChunk<'_> {
        ChatChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: None,
            baton: None,
        }
    }

    /// A chunk of the one choice with this delta.
    fn delta(&self, delta: ChunkDelta, finish_reason: Option<&'static str>) -> ChatChunk<'_> {
        self.chunk(vec![ChunkChoice { index: 0, delta, finish_reason, logprobs: None }])
    }
}

/// The chunk as a server-sent event.
fn event(chunk: &ChatChunk<'_>) -> Event {
    Event::default().data(serde_json::to_string(chunk).unwrap_or_default())
}

/// The turn as `chat.completion.chunk` events.
fn streamed(
    state: Arc<AppState>,
    info: ConversationInfo,
    runtime: Arc<Runtime>,
    text: String,
    head: ChunkHead,
    include_usage: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let conversation = info.id.clone();
    let (heard, last) = conversations::turn_heard(state, info, runtime, text);
    let chunks = Chunks {
        heard: Some(heard),
        last: Some(last),
        ready: VecDeque::new(),
        head,
        conversation,
        started: false,
        speaker: None,
        wrote: false,
        include_usage,
    };
    let events =
        stream::unfold(chunks, |mut chunks| async move { chunks.next().await.map(|event| (Ok(event), chunks)) });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Where a streamed answer is: what the turn's observer still has to say, then the turn's
/// result, and the events made of them but not yet sent.
struct Chunks {
    heard: Option<mpsc::UnboundedReceiver<Heard>>,
    last: Option<oneshot::Receiver<Result<TurnReport, ApiError>>>,
    ready: VecDeque<Event>,
    head: ChunkHead,
    conversation: String,
    /// Whether the first chunk (the assistant's role) is out.
    started: bool,
    /// The agent whose text came last.
    speaker: Option<String>,
    /// Whether any text is out.
    wrote: bool,
    include_usage: bool,
}

impl Chunks {
    /// The next event; `None` after `[DONE]`.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if let Some(heard) = &mut self.heard {
                match heard.recv().await {
                    Some(Heard::Entry(stored)) => {
                        if let JournalEntry::Record(Record::TurnStarted { turn, .. }) = stored.entry {
                            self.start(Some(turn));
                        }
                    }
                    Some(Heard::Text { agent, delta }) => self.text(agent, delta),
                    None => self.heard = None,
                }
                continue;
            }
            let last = self.last.take()?;
            match last.await {
                Ok(Ok(report)) if report.outcome.status == TurnStatus::Failed => self.fail(&turn_failed(&report)),
                Ok(Ok(report)) => self.finish(&report),
                Ok(Err(error)) => self.fail(&error),
                Err(_) => self.fail(&ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the turn stopped unexpectedly; it resumes from the journal: read the conversation to see where \
                     it stands",
                )),
            }
        }
    }

    /// Queues the first chunk unless it is out, naming the answer after `turn` when it is known.
    fn start(&mut self, turn: Option<u32>) {
        if self.started {
            return;
        }
        self.started = true;
        self.head.id = completion_id(&self.conversation, turn);
        let first = ChunkDelta { role: Some("assistant"), content: Some(String::new()) };
        self.ready.push_back(event(&self.head.delta(first, None)));
    }

    /// Queues a piece of `agent`'s text, a blank line first when another agent spoke before.
    fn text(&mut self, agent: String, delta: String) {
        self.start(None);
        let mut piece = delta;
        if self.speaker.as_ref().is_some_and(|speaker| *speaker != agent) {
            piece.insert_str(0, "\n\n");
        }
        self.speaker = Some(agent);
        self.wrote = true;
        self.ready.push_back(event(&self.head.delta(ChunkDelta { content: Some(piece), role: None }, None)));
    }

    /// Queues the end of a turn that went well: its reply if no text came, the last chunk with
    /// the report, the usage if asked for, and `[DONE]`.
    fn finish(&mut self, report: &TurnReport) {
        self.start(Some(report.outcome.turn));
        let said = content(report);
        if !self.wrote && !said.is_empty() {
            self.ready.push_back(event(&self.head.delta(ChunkDelta { content: Some(said), role: None }, None)));
        }
        let last = ChatChunk {
            baton: Some(wire::TurnReport::from(report)),
            ..self.head.delta(ChunkDelta::default(), Some("stop"))
        };
        self.ready.push_back(event(&last));
        if self.include_usage {
            let usage = ChatChunk { usage: Some(usage(report)), ..self.head.chunk(Vec::new()) };
            self.ready.push_back(event(&usage));
        }
        self.ready.push_back(Event::default().data("[DONE]"));
    }

    /// Queues an error chunk and `[DONE]`.
    fn fail(&mut self, error: &ApiError) {
        self.ready.push_back(Event::default().data(error.body().to_string()));
        self.ready.push_back(Event::default().data("[DONE]"));
    }
}
