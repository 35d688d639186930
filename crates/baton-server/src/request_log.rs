//! The request log: every request gets an id (`x-request-id`: the client's own, or a new random
//! one, sent back on the answer) and a `request` span with its method, route template and id, so
//! that what happens while it is answered (a turn's outcome, an error) is logged inside it; its
//! answer is logged with the status and latency. Paths are logged as route templates, never with
//! query strings, and no header or body is logged: a key or a message never reaches the log.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Response};
use std::time::Duration;
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Span;

/// The header carrying a request's id.
pub const REQUEST_ID: &str = "x-request-id";

/// Makes a random id for a request that brings none.
#[derive(Clone, Copy, Default)]
pub struct RandomIds;

impl MakeRequestId for RandomIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The span of one request.
pub fn span(request: &Request) -> Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |path| path.as_str());
    let id = request.headers().get(REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or("");
    tracing::info_span!("request", method = %request.method(), route, request_id = id)
}

/// Logs a request's answer: a server error as a warning, the rest as information.
pub fn answered<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_micros() as f64 / 1000.0;
    match response.status().is_server_error() {
        true => tracing::warn!(status, latency_ms, "answered"),
        false => tracing::info!(status, latency_ms, "answered"),
    }
}
