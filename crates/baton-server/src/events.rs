//! `GET /v1/conversations/{id}/events`: the conversation's journal as server-sent events, first
//! what is there, then each entry as it is written (by this process or another sharing the
//! journal). Each event's id is the entry's position, so a client that reconnects with
//! `Last-Event-ID` (or `?after=`) goes on where it stopped without missing an entry. A stream
//! reads the journal only when woken (see `feed.rs`), and then only what it has not sent.

use crate::auth::Caller;
use crate::conversations::entry_event;
use crate::error::ApiError;
use crate::feed::Watch;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use baton::store::StoredEntry;
use futures_util::stream::{self, Stream};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The query of the events endpoint.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct After {
    /// Start after this entry (the id of the last event received); `Last-Event-ID` does the same.
    #[serde(default)]
    pub after: Option<u64>,
}

/// `GET /v1/conversations/{id}/events`.
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<After>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    state.conversation(&caller, &id).await?;
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be the id of an event: a number"))?,
        ),
        None => None,
    };
    let next = last_event_id.or(query.after).map_or(0, |seen| seen.saturating_add(1));
    let watch = state.feed.watch(&id);
    let follower = Follower { state, id, next, ready: VecDeque::new(), watch };
    Ok(Sse::new(stream::unfold(follower, Follower::next_event))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Follows one conversation's journal.
struct Follower {
    state: Arc<AppState>,
    id: String,
    /// The position of the next entry to send.
    next: u64,
    ready: VecDeque<StoredEntry>,
    watch: Watch,
}

impl Follower {
    /// The next event, once there is one; `None` ends the stream (the server is stopping, or the
    /// journal cannot be read).
    async fn next_event(mut self) -> Option<(Result<Event, Infallible>, Follower)> {
        loop {
            if let Some(stored) = self.ready.pop_front() {
                self.next = stored.seq + 1;
                return Some((Ok(entry_event(&stored)), self));
            }
            if *self.state.stopping.borrow() {
                return None;
            }
            self.watch.mark_seen();
            self.ready = self.state.store.journal_from(&self.id, self.next).await.ok()?.into();
            if !self.ready.is_empty() {
                continue;
            }
            let mut stopping = self.state.stopping.clone();
            tokio::select! {
                _ = self.watch.woken() => {}
                _ = stopping.wait_for(|stopping| *stopping) => return None,
            }
        }
    }
}
