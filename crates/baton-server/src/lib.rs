//! `baton serve`: the HTTP API over one or more teams sharing one journal.
//!
//! The server keeps nothing between turns that is not in the journal, so several servers can
//! share one Postgres: each request reads the conversation from the journal, and a conversation
//! is advanced by one process at a time under its lease. See the README for the endpoints, and
//! `GET /openapi.json` for their schemas.

mod approvals;
mod auth;
mod connections;
mod conversations;
mod error;
mod events;
mod feed;
mod json_object;
pub mod keys;
mod limits;
mod loopback;
pub mod metrics;
mod observer;
mod openai;
mod openapi;
mod queue;
mod recovery;
mod request_log;
mod state;

pub use connections::{listen, ConnectionLimits};
pub use error::ApiError;
pub use limits::KeyLimits;

use crate::auth::Caller;
use crate::feed::Feed;
use crate::keys::{Keys, Role};
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton::store::Store;
use baton::{Runtime, Service};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// How often the server reads where the watched journals end: the longest an entry written by
/// another process waits to be sent on an event stream.
const FEED_POLL: Duration = Duration::from_secs(1);

/// How a server behaves.
#[derive(Debug)]
pub struct Options {
    /// The accepted API keys; `None` serves loopback only, every caller an admin.
    pub keys: Option<Keys>,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long shutting down waits for requests and turns in flight.
    pub grace: Duration,
    /// How long a request waits for a conversation another process is advancing.
    pub busy_wait: Duration,
    /// How often the server looks for interrupted turns to finish.
    pub sweep: Duration,
    /// The limits on connections (how many, how long a request's headers may take).
    pub connections: ConnectionLimits,
    /// Whether `/metrics` needs an operator or admin key (with keys; without, every caller is
    /// an admin).
    pub private_metrics: bool,
    /// The limits of each API key (with keys; without, there is one caller and no such limits).
    pub key_limits: KeyLimits,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keys: None,
            max_body: 256 * 1024,
            grace: Duration::from_secs(30),
            busy_wait: Duration::from_secs(120),
            sweep: Duration::from_secs(5),
            connections: ConnectionLimits::default(),
            private_metrics: false,
            key_limits: KeyLimits::default(),
        }
    }
}

/// Why there is no server for the teams given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotServable {
    /// Two team files name the same team.
    #[error("two team files name the team '{0}': give each team its own name")]
    SameName(String),
    /// No team was given.
    #[error("no team to serve: pass at least one team file")]
    NoTeam,
}

impl NotServable {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            NotServable::SameName(_) => "same_name",
            NotServable::NoTeam => "no_team",
        }
    }
}

/// A server for some teams journaling to one store.
pub struct Server {
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    max_body: usize,
    grace: Duration,
    sweep: Duration,
    connections: ConnectionLimits,
}

impl Server {
    /// A server for `teams` (each named by its team's name) journaling to `store`.
    pub fn new(teams: Vec<Arc<Runtime>>, store: Arc<dyn Store>, options: Options) -> Result<Server, NotServable> {
        let service = Service::new(store.clone());
        for runtime in teams {
            let name = runtime.team().name.clone();
            if service.team(&name).is_ok() {
                return Err(NotServable::SameName(name));
            }
            service.serve(runtime);
        }
        if service.team_names().is_empty() {
            return Err(NotServable::NoTeam);
        }
        let metrics = Arc::new(Metrics::new());
        let (stop, stopping) = watch::channel(false);
        let state = Arc::new(AppState {
            service: Arc::new(service),
            store,
            keys: options.keys,
            metrics: metrics.clone(),
            private_metrics: options.private_metrics,
            limiter: Limiter::new(options.key_limits),
            busy_wait: options.busy_wait,
            feed: Feed::default(),
            stopping,
        });
        Ok(Server {
            state,
            stop,
            max_body: options.max_body,
            grace: options.grace,
            sweep: options.sweep,
            connections: options.connections,
        })
    }

    /// The service under the server: reload a team file with [`Service::reload_file`] while it
    /// serves.
    pub fn service(&self) -> Arc<Service> {
        self.state.service.clone()
    }

    /// The API's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/conversations", post(conversations::create))
            .route("/v1/conversations/{id}", get(conversations::get))
            .route("/v1/conversations/{id}/messages", post(conversations::message))
            .route("/v1/conversations/{id}/trace", get(conversations::trace))
            .route("/v1/conversations/{id}/events", get(events::events))
            .route("/v1/conversations/{id}/approvals/{call_id}", post(approvals::decide))
            .route("/v1/queue", get(queue::list))
            .route("/v1/queue/{id}", get(queue::show))
            .route("/v1/queue/{id}/claim", post(queue::claim))
            .route("/v1/queue/{id}/reply", post(queue::reply))
            .route("/v1/queue/{id}/handback", post(queue::handback))
            .route("/v1/queue/{id}/close", post(queue::close))
            .route("/v1/chat/completions", post(openai::chat_completions))
            .route("/openapi.json", get(openapi::document))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics))
            .layer(CatchPanicLayer::custom(panicked))
            .layer(middleware::map_response(error::json_errors))
            .layer(middleware::from_fn_with_state(self.state.clone(), limits::limit))
            .layer(middleware::from_fn_with_state(self.state.clone(), loopback::guard))
            .layer(middleware::from_fn_with_state(self.state.clone(), count_request))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_log::span)
                    .on_request(())
                    .on_response(request_log::answered)
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(HeaderName::from_static(request_log::REQUEST_ID)))
            .layer(SetRequestIdLayer::new(HeaderName::from_static(request_log::REQUEST_ID), request_log::RandomIds))
            .layer(DefaultBodyLimit::max(self.max_body))
            .with_state(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then stops taking requests, lets those
    /// in flight and their turns finish for up to the grace period, and returns. A turn still
    /// running then is left as the journal has it: the next server on the journal finishes it.
    /// Interrupted turns of the served teams are finished from the start on.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let router = self.router();
        let sweeper = tokio::spawn(recovery::sweep(state.clone(), self.sweep));
        let poller = tokio::spawn(state.feed.clone().poll(state.store.clone(), FEED_POLL, state.stopping.clone()));
        let stop = self.stop;
        let stopping_state = state.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopping_state.service.lanes().stop();
            let _ = stop.send(true);
        });
        let serving =
            connections::serve(listener, router, self.connections, state.metrics.clone(), state.stopping.clone());
        let finished = async {
            serving.await;
            state.service.lanes().drained().await;
            Ok::<_, std::io::Error>(())
        };
        let mut stopping = state.stopping.clone();
        let grace = self.grace;
        let grace_over = async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            finished = finished => finished?,
            _ = grace_over => match state.service.lanes().in_flight() {
                0 => tracing::warn!(
                    "stopping after {} s with requests still open (event streams, slow clients): they are cut off",
                    grace.as_secs()
                ),
                unfinished => tracing::warn!(
                    "stopping with {unfinished} turn(s) unfinished after {} s: they are journaled up to here, and the \
                     next server on this journal finishes them",
                    grace.as_secs()
                ),
            },
        }
        sweeper.abort();
        poller.abort();
        Ok(())
    }
}

/// Why an address is not served ([`check_address`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeAddress {
    /// The address is not loopback and there are no keys: every caller who reaches it would be
    /// an admin.
    #[error(
        "refusing to serve {0} without API keys: anyone who reaches it could act as an admin. Make keys \
         with `baton keys new --name NAME --role client >> keys.toml` and pass --keys keys.toml, or serve \
         on 127.0.0.1"
    )]
    PublicWithoutKeys(SocketAddr),
}

impl UnsafeAddress {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            UnsafeAddress::PublicWithoutKeys(_) => "public_without_keys",
        }
    }
}

/// Fails for an address other than loopback when there are no keys: without keys every caller
/// is an admin.
pub fn check_address(addr: &SocketAddr, keys: Option<&Keys>) -> Result<(), UnsafeAddress> {
    match keys.is_none() && !addr.ip().is_loopback() {
        true => Err(UnsafeAddress::PublicWithoutKeys(*addr)),
        false => Ok(()),
    }
}

/// `GET /healthz`: ok while the journal answers.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.conversation("healthz").await {
        Ok(_) => Json(openapi::Health {
            status: openapi::HealthStatus::Ok,
            teams: state.service.team_names(),
            turns_in_flight: state.service.lanes().in_flight(),
        })
        .into_response(),
        Err(error) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "journal_unavailable",
            format!("the journal does not answer: {error}"),
        )
        .into_response(),
    }
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics(State(state): State<Arc<AppState>>, caller: Result<Caller, ApiError>) -> Result<Response, ApiError> {
    if state.private_metrics {
        caller?.require(&[Role::Operator, Role::Admin], "reading /metrics")?;
    }
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render(state.service.lanes().in_flight()))
        .into_response())
}

/// The answer to a request whose handler panicked: the standard error JSON (the panic's message
/// goes to the log, not to the client).
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!("a request handler panicked: {message}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server failed while answering this request (a bug in baton, logged on its stderr): try again, \
         and report it if it happens again",
    )
    .into_response()
}

/// Counts every request by route template and status.
async fn count_request(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |path| path.as_str()).to_string();
    let response = next.run(request).await;
    state.metrics.http_request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_public_address_without_keys_is_refused_with_what_to_do() {
        let refused = check_address(&"0.0.0.0:8080".parse().unwrap(), None).unwrap_err();
        assert_eq!(refused.kind(), "public_without_keys");
        assert_eq!(
            refused.to_string(),
            "refusing to serve 0.0.0.0:8080 without API keys: anyone who reaches it could act as an admin. Make \
             keys with `baton keys new --name NAME --role client >> keys.toml` and pass --keys keys.toml, or \
             serve on 127.0.0.1"
        );
        let refused = check_address(&"[::]:80".parse().unwrap(), None).unwrap_err();
        assert!(refused.to_string().starts_with("refusing to serve [::]:80 without API keys: "), "{refused}");
    }
}
