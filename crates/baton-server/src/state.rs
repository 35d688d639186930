//! What every request handler shares: the teams served, the journal, the keys, the metrics,
//! the per-key limits and the wake-ups of event streams.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::feed::Feed;
use crate::keys::Keys;
use crate::limits::Limiter;
use crate::metrics::Metrics;
use axum::http::StatusCode;
use baton::store::{ConversationInfo, Store};
use baton::{Runtime, RuntimeError, Service};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The server's shared state.
pub struct AppState {
    /// The teams served, over the journal.
    pub service: Arc<Service>,
    /// The journal all of them write to.
    pub store: Arc<dyn Store>,
    /// The accepted keys; `None` serves loopback only, every caller an admin.
    pub keys: Option<Keys>,
    /// The counters of `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The per-key limits on requests and event streams.
    pub limiter: Limiter,
    /// Whether `/metrics` needs an operator or admin key.
    pub private_metrics: bool,
    /// How long a request waits for a conversation another process is advancing.
    pub busy_wait: Duration,
    /// Wake-ups for event streams when this process journals.
    pub feed: Feed,
    /// Becomes true when the server starts shutting down.
    pub stopping: watch::Receiver<bool>,
}

impl AppState {
    /// Runs `work` on `conversation` in its lane: after the work that arrived before it, in a task
    /// of its own (a client that hangs up does not stop it halfway), waiting up to `busy_wait`
    /// for another process's lease.
    pub async fn in_lane<T, F, Fut>(&self, conversation: &str, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, RuntimeError>> + Send,
    {
        Ok(self.service.lanes().run(conversation, self.busy_wait, work).await?)
    }

    /// The served team called `name`.
    pub fn team(&self, name: &str) -> Result<Arc<Runtime>, ApiError> {
        self.service.team(name).map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_team",
                format!("this server has no team '{name}'; it serves: {}", self.service.team_names().join(", ")),
            )
        })
    }

    /// The conversation `id` if `caller` may read it (404 otherwise, whether it exists or not),
    /// with its team's runtime.
    pub async fn conversation(&self, caller: &Caller, id: &str) -> Result<(ConversationInfo, Arc<Runtime>), ApiError> {
        if baton::check_conversation_id(id).is_err() {
            return Err(ApiError::no_conversation(id));
        }
        let info = self.store.conversation(id).await.map_err(baton::RuntimeError::from)?;
        let info = info.filter(|info| caller.can_read(info)).ok_or_else(|| ApiError::no_conversation(id))?;
        let runtime = self.service.runtime_of(&info).await.map_err(|_| {
            ApiError::new(
                StatusCode::CONFLICT,
                "team_not_served",
                format!(
                    "conversation '{id}' belongs to team '{}', which this server does not serve: start `baton serve` \
                     with its team file",
                    info.team
                ),
            )
        })?;
        Ok((info, runtime))
    }

    /// Like [`AppState::conversation`], for writing to it as its user.
    pub async fn conversation_to_talk(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(ConversationInfo, Arc<Runtime>), ApiError> {
        let (info, runtime) = self.conversation(caller, id).await?;
        if !caller.can_talk(&info) {
            return Err(ApiError::forbidden(
                "only the client that created a conversation (or an admin) writes to it as its user",
            ));
        }
        Ok((info, runtime))
    }
}
