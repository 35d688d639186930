//! The conversation endpoints: start one, send it a message (answered with the turn's result,
//! or streamed as it happens), read it and its trace.

use crate::auth::{Allowed, Caller, StartConversation, Talk};
use crate::error::{ApiError, ErrorBody};
use crate::json_object::JsonObject;
use crate::keys::Role;
use crate::observer::{Heard, TurnObserver};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton::store::{ConversationInfo, StoredEntry};
use baton::wire::{JournalEntry, PendingApproval, TicketSummary, TranscriptEntry, TurnReport};
use baton::{Runtime, TicketStatus, TicketView};
use futures_util::stream::{self, Stream};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The body of `POST /v1/conversations`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// The team that answers (one the server serves).
    pub team: String,
    /// An id of your choosing (letters, digits, `-`, `_`, `.`, `:`, `@`, at most 128, not
    /// starting with `.`; a client key's start with its name and `:`, as `anna:order-17`); a
    /// fresh one if absent.
    #[serde(default)]
    #[schemars(pattern(crate::openapi::ID_PATTERN))]
    pub id: Option<String>,
}

/// The body of `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// What the user says (not only blanks).
    #[schemars(pattern(r"\S"))]
    pub content: String,
    /// Answer with a stream of server-sent events (text as it is written, journal entries, the
    /// result) instead of one JSON object.
    #[serde(default)]
    pub stream: bool,
}

/// A conversation: where it stands (the answer of `GET /v1/conversations/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Conversation {
    /// Its id.
    #[schemars(pattern(crate::openapi::ID_PATTERN))]
    pub id: String,
    /// Its team.
    pub team: String,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The name of the key that created it.
    pub owner: Option<String>,
    /// The agent in control.
    pub agent: String,
    /// How many turns it has had.
    pub turns: u32,
    /// Whether a turn runs or waits.
    pub status: ConversationStatus,
    /// The tool call its turn waits on.
    pub pending: Option<PendingApproval>,
    /// Its ticket, while a human agent has control.
    pub ticket: Option<TicketSummary>,
    /// The facts the team has gathered.
    pub facts: BTreeMap<String, String>,
    /// The whole transcript.
    pub transcript: Vec<TranscriptEntry>,
}

/// Whether a conversation's turn runs or waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// No turn runs: it waits for the user.
    Idle,
    /// A turn is under way.
    InTurn,
    /// A turn waits for a tool call's approval.
    AwaitingApproval,
}

/// A page of a conversation's journal (the answer of `GET /v1/conversations/{id}/trace`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Trace {
    /// The conversation.
    pub conversation: String,
    /// Its team.
    pub team: String,
    /// The page's entries, in order.
    pub entries: Vec<JournalEntry>,
    /// Where the next page starts: pass it as `after`. `null` when no entry follows.
    pub next: Option<u64>,
}

/// Text as a streamed turn's model writes it: the data of a `delta` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TextDelta {
    /// The agent whose model writes.
    pub agent: String,
    /// The text written since the last event.
    pub text: String,
}

/// `POST /v1/conversations`: starts a conversation (no turn runs yet).
pub async fn create(
    Allowed(caller, _): Allowed<StartConversation>,
    State(state): State<Arc<AppState>>,
    JsonObject(body): JsonObject<NewConversation>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    let runtime = state.team(&body.team)?;
    if let Some(id) = &body.id {
        check_namespace(&caller, id)?;
    }
    let info = runtime.start(body.id.as_deref(), caller.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(view(&runtime, &info.id).await?)))
}

/// Fails unless a client key's chosen `id` starts with the key's name and `:`. Ids of different
/// clients never meet, so a client cannot learn that another's id is taken (creating it would
/// answer 409 where reading it answers 404); the check comes before any lookup, so an id in
/// another client's space answers as an unused one does.
fn check_namespace(caller: &Caller, id: &str) -> Result<(), ApiError> {
    let (Role::Client, Some(name)) = (caller.role, &caller.name) else { return Ok(()) };
    match id.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with(':')) {
        true => Ok(()),
        false => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "id_outside_namespace",
            format!(
                "a client key picks conversation ids that start with its name and ':': send '{name}:' and your \
                 id (like '{name}:order-17'), or leave out `id` to get a new one"
            ),
        )),
    }
}

/// `GET /v1/conversations/{id}`: where the conversation stands.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    let (_, runtime) = state.conversation(&caller, &id).await?;
    Ok(Json(view(&runtime, &id).await?))
}

/// How many entries a page of the trace holds when the query does not say.
pub const TRACE_PAGE: u32 = 1000;
/// The most entries a page of the trace holds.
pub const TRACE_PAGE_MAX: u32 = 5000;

/// The query of the trace endpoint: which page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracePage {
    /// Start after this entry: the `next` of the page before.
    #[serde(default)]
    pub after: Option<u64>,
    /// At most this many entries, 1 to [`TRACE_PAGE_MAX`]; [`TRACE_PAGE`] if absent.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /v1/conversations/{id}/trace`: the journal, a page at a time: the entries after `after`
/// (from the first), at most `limit` of them, and `next`, the `after` of the next page (`null`
/// after the last entry).
pub async fn trace(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<TracePage>,
) -> Result<Json<Trace>, ApiError> {
    let limit = page.limit.unwrap_or(TRACE_PAGE);
    if !(1..=TRACE_PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` is {limit}: a page holds 1 to {TRACE_PAGE_MAX} entries (read the rest with `after`)"
        )));
    }
    let (info, _) = state.conversation(&caller, &id).await?;
    let from = page.after.map_or(0, |after| after.saturating_add(1));
    let rest = state.store.journal_from(&id, from).await.map_err(baton::RuntimeError::from)?;
    let shown = rest.get(..limit as usize).unwrap_or(&rest);
    let next = match shown.len() < rest.len() {
        true => shown.last().map(|last| last.seq),
        false => None,
    };
    let entries = shown.iter().map(JournalEntry::from).collect();
    Ok(Json(Trace { conversation: info.id, team: info.team, entries, next }))
}

/// `POST /v1/conversations/{id}/messages`: one user turn.
pub async fn message(
    Allowed(caller, _): Allowed<Talk>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<NewMessage>,
) -> Result<Response, ApiError> {
    if body.content.trim().is_empty() {
        return Err(ApiError::bad_request("`content` is empty: send what the user says"));
    }
    let (info, runtime) = state.conversation_to_talk(&caller, &id).await?;
    runtime.check_message(&body.content)?;
    if body.stream {
        return Ok(streamed(state, info, runtime, body.content).into_response());
    }
    let report = turn(&state, &info, runtime, body.content, None).await?;
    Ok(Json(TurnReport::from(&report)).into_response())
}

/// Runs one user turn of `info` in order with the conversation's other work.
pub async fn turn(
    state: &AppState,
    info: &ConversationInfo,
    runtime: Arc<Runtime>,
    content: String,
    listener: Option<mpsc::UnboundedSender<Heard>>,
) -> Result<baton::TurnReport, ApiError> {
    let observer = TurnObserver::new(state, &info.team, &info.id, listener);
    let id = info.id.clone();
    let work = move || {
        let (runtime, observer, id, content) = (runtime.clone(), observer.clone(), id.clone(), content.clone());
        async move { runtime.send_observed(Some(&id), &content, observer).await }
    };
    state.in_lane(&info.id, work).await
}

/// The turn as server-sent events: `delta` for text, one event per journal entry named by its
/// kind (with the entry's position as the event id), then `result` (or `error`).
fn streamed(
    state: Arc<AppState>,
    info: ConversationInfo,
    runtime: Arc<Runtime>,
    content: String,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (heard, last) = turn_heard(state, info, runtime, content);
    Sse::new(heard_then_last(heard, last)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Starts one user turn of `info` in a task of its own: what its observer hears arrives on the
/// first receiver (which closes when the turn is over), then its result on the second.
pub fn turn_heard(
    state: Arc<AppState>,
    info: ConversationInfo,
    runtime: Arc<Runtime>,
    content: String,
) -> (mpsc::UnboundedReceiver<Heard>, oneshot::Receiver<Result<baton::TurnReport, ApiError>>) {
    let (listener, heard) = mpsc::unbounded_channel();
    let (ended, last) = oneshot::channel();
    tokio::spawn(async move {
        let _ = ended.send(turn(&state, &info, runtime, content, Some(listener)).await);
    });
    (heard, last)
}

/// The events of what a turn's observer hears until it is dropped, then the turn's result.
fn heard_then_last(
    heard: mpsc::UnboundedReceiver<Heard>,
    last: oneshot::Receiver<Result<baton::TurnReport, ApiError>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(Some((heard, last)), |phase| async move {
        let (mut heard, last) = phase?;
        let event = match heard.recv().await {
            Some(Heard::Text { agent, delta }) => {
                Event::default().event("delta").data(json(&TextDelta { agent, text: delta }))
            }
            Some(Heard::Entry(stored)) => entry_event(&stored),
            None => {
                let event = match last.await {
                    Ok(Ok(report)) => Event::default().event("result").data(json(&TurnReport::from(&report))),
                    Ok(Err(error)) => Event::default().event("error").data(json(&ErrorBody::from(&error))),
                    Err(_) => {
                        let error = ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal",
                            "the turn stopped unexpectedly",
                        );
                        Event::default().event("error").data(json(&ErrorBody::from(&error)))
                    }
                };
                return Some((Ok(event), None));
            }
        };
        Some((Ok(event), Some((heard, last))))
    })
}

/// One journal entry as an event: named by its kind, its position as the id.
pub fn entry_event(stored: &StoredEntry) -> Event {
    Event::default().id(stored.seq.to_string()).event(stored.entry.kind()).data(json(&JournalEntry::from(stored)))
}

/// `value` as the data of an event.
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The conversation as `GET /v1/conversations/{id}` shows it.
pub async fn view(runtime: &Runtime, id: &str) -> Result<Conversation, ApiError> {
    let (info, journal, state) = runtime.conversation(id).await?;
    let ticket = TicketView::of(&info, &journal, &state);
    let pending = state.pending_approval();
    let status = match (&pending, state.in_turn()) {
        (Some(_), _) => ConversationStatus::AwaitingApproval,
        (None, true) => ConversationStatus::InTurn,
        (None, false) => ConversationStatus::Idle,
    };
    Ok(Conversation {
        id: info.id,
        team: info.team,
        created_ms: info.created_ms,
        owner: info.owner,
        agent: state.active_agent().to_string(),
        turns: state.turns(),
        status,
        pending: pending.as_ref().map(PendingApproval::from),
        ticket: (ticket.status != TicketStatus::None).then(|| TicketSummary::from(&ticket)),
        facts: state.facts().clone(),
        transcript: state.transcript().iter().map(TranscriptEntry::from).collect(),
    })
}
