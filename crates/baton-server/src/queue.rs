//! The operator queue: the tickets of conversations a human agent holds, and what operators do
//! with them (claim, reply, hand back, close). The operator is the caller's key name.

use crate::auth::{Allowed, Caller, ReadQueue, ReadTicket, WorkQueue};
use crate::error::{ApiError, ErrorDetail};
use crate::json_object::JsonObject;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use baton::queue::waiting;
use baton::store::StoreError;
use baton::wire::{Ticket, TicketSummary};
use baton::{RuntimeError, TicketView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Who acts: without keys, operators say who they are.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acting {
    /// The operator's name. With keys it is the key's name, and may be left out.
    #[serde(default)]
    pub operator: Option<String>,
}

/// The body of a reply.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReply {
    /// What to tell the user (not only blanks).
    #[schemars(pattern(r"\S"))]
    pub text: String,
    /// The operator's name. With keys it is the key's name, and may be left out.
    #[serde(default)]
    pub operator: Option<String>,
}

/// The body of a handback.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHandback {
    /// The AI agent that takes control (along a declared edge of the human agent).
    pub agent: String,
    /// A note for that agent, in its handoff note.
    #[serde(default)]
    pub note: Option<String>,
    /// The operator's name. With keys it is the key's name, and may be left out.
    #[serde(default)]
    pub operator: Option<String>,
}

/// The tickets waiting for an operator or held by one, oldest first (the answer of
/// `GET /v1/queue`).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Queue {
    /// The tickets.
    pub tickets: Vec<TicketSummary>,
    /// The tickets left out because their conversation cannot be read: an entry that does not
    /// decode (`journal_entry_unreadable`) or a journal that does not replay
    /// (`journal_does_not_replay`).
    pub unreadable: Vec<Unreadable>,
}

/// A ticket left out of the queue: its conversation cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Unreadable {
    /// The conversation.
    pub conversation: String,
    /// Its team.
    pub team: String,
    /// Why it cannot be read.
    pub error: ErrorDetail,
}

/// `GET /v1/queue`: the tickets waiting for an operator or held by one, oldest first. A ticket
/// whose conversation cannot be read (an entry that does not decode, or a journal that does not
/// replay) is left out and listed under `unreadable` with the error, and said on stderr, so one
/// broken journal does not hide the queue from every operator.
pub async fn list(_: Allowed<ReadQueue>, State(state): State<Arc<AppState>>) -> Result<Json<Queue>, ApiError> {
    let waiting = waiting(state.store.as_ref()).await.map_err(RuntimeError::from)?;
    let (mut tickets, mut unreadable) = (Vec::new(), Vec::new());
    for info in waiting {
        let Ok(runtime) = state.service.team(&info.team) else { continue };
        match runtime.ticket(&info.id).await {
            Ok(ticket) => tickets.push(TicketSummary::from(&ticket)),
            Err(error) => {
                let code = match &error {
                    RuntimeError::Replay { .. } => "journal_does_not_replay",
                    RuntimeError::Store(StoreError::Corrupt { .. }) => "journal_entry_unreadable",
                    _ => return Err(error.into()),
                };
                let message = error.to_string();
                warn_once(&info.id, &message);
                let error = ErrorDetail { code: code.to_string(), message };
                unreadable.push(Unreadable { conversation: info.id, team: info.team, error });
            }
        }
    }
    Ok(Json(Queue { tickets, unreadable }))
}

/// Says on stderr that `conversation`'s ticket cannot be read, the first time this process sees
/// it fail with `message` (the queue is read again and again; the warning would drown the log).
fn warn_once(conversation: &str, message: &str) {
    static WARNED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
    if warned.len() >= 1024 {
        warned.clear();
    }
    if warned.insert((conversation.to_string(), message.to_string())) {
        tracing::warn!(conversation, "the queue leaves out a ticket: {message}");
    }
}

/// `GET /v1/queue/{id}`: one ticket with its context package and transcript.
pub async fn show(
    Allowed(caller, _): Allowed<ReadTicket>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    let (_, runtime) = state.conversation(&caller, &id).await?;
    Ok(Json(Ticket::from(&runtime.ticket(&id).await?)))
}

/// `POST /v1/queue/{id}/claim`.
pub async fn claim(
    Allowed(caller, _): Allowed<WorkQueue>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Option<JsonObject<Acting>>,
) -> Result<Json<TicketSummary>, ApiError> {
    let operator = operator(&caller, body.and_then(|JsonObject(body)| body.operator))?;
    act(&state, &caller, &id, move |runtime, id| {
        let operator = operator.clone();
        async move { runtime.claim(&id, &operator).await }
    })
    .await
}

/// `POST /v1/queue/{id}/reply`.
pub async fn reply(
    Allowed(caller, _): Allowed<WorkQueue>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<NewReply>,
) -> Result<Json<TicketSummary>, ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError::bad_request("`text` is empty: send what to tell the user"));
    }
    let operator = optional_operator(&caller, body.operator)?;
    let text = body.text;
    act(&state, &caller, &id, move |runtime, id| {
        let (operator, text) = (operator.clone(), text.clone());
        async move { runtime.reply(&id, operator.as_deref(), &text).await }
    })
    .await
}

/// `POST /v1/queue/{id}/handback`.
pub async fn handback(
    Allowed(caller, _): Allowed<WorkQueue>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonObject(body): JsonObject<NewHandback>,
) -> Result<Json<TicketSummary>, ApiError> {
    let operator = optional_operator(&caller, body.operator)?;
    let (agent, note) = (body.agent, body.note);
    act(&state, &caller, &id, move |runtime, id| {
        let (operator, agent, note) = (operator.clone(), agent.clone(), note.clone());
        async move { runtime.hand_back(&id, operator.as_deref(), &agent, note.as_deref()).await }
    })
    .await
}

/// `POST /v1/queue/{id}/close`.
pub async fn close(
    Allowed(caller, _): Allowed<WorkQueue>,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Option<JsonObject<Acting>>,
) -> Result<Json<TicketSummary>, ApiError> {
    let operator = optional_operator(&caller, body.and_then(|JsonObject(body)| body.operator))?;
    act(&state, &caller, &id, move |runtime, id| {
        let operator = operator.clone();
        async move { runtime.close(&id, operator.as_deref()).await }
    })
    .await
}

/// Carries out an operator's action on ticket `id`, in order with the conversation's turns (the
/// caller's role was checked by [`Allowed`]).
async fn act<F, Fut>(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
    action: F,
) -> Result<Json<TicketSummary>, ApiError>
where
    F: Fn(Arc<baton::Runtime>, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<TicketView, RuntimeError>> + Send,
{
    let (info, runtime) = state.conversation(caller, id).await?;
    let conversation = info.id.clone();
    let view = state.in_lane(&info.id, move || action(runtime.clone(), conversation.clone())).await?;
    state.feed.wake(&info.id);
    Ok(Json(TicketSummary::from(&view)))
}

/// The operator acting: the key's name, or without keys the name the body gives.
fn operator(caller: &Caller, named: Option<String>) -> Result<String, ApiError> {
    optional_operator(caller, named)?.ok_or_else(|| {
        ApiError::bad_request("say who you are: send {\"operator\": \"NAME\"} (with keys, the key's name is used)")
    })
}

/// Like [`operator`], where leaving it out means whoever claimed the ticket.
fn optional_operator(caller: &Caller, named: Option<String>) -> Result<Option<String>, ApiError> {
    match (&caller.name, named) {
        (Some(key), Some(named)) if *key != named => Err(ApiError::forbidden(format!(
            "this key acts as operator '{key}', not '{named}': leave `operator` out or use that operator's key"
        ))),
        (Some(key), _) => Ok(Some(key.clone())),
        (None, named) => Ok(named.filter(|name| !name.trim().is_empty())),
    }
}
