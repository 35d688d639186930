//! The HTTP routes, as mockllm.py serves them: `POST /v1/chat/completions` answers by the
//! script (streamed when the request says `"stream": true`), `GET /stats` counts the calls.

use crate::decide::decide;
use crate::wire::{chunks, completion, event_stream, Meta};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest request body accepted, as mockllm.py's `client_max_size`.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The mock's state: its counters and its latency.
#[derive(Debug, Default)]
pub struct Mock {
    /// Chat completion requests answered (or being answered) so far.
    calls: AtomicU64,
    /// The number of the next answer (`chatcmpl-N`, `call_N`).
    ids: AtomicU64,
    /// How long each call waits before it is answered.
    latency: Duration,
}

impl Mock {
    /// A mock that waits `latency` before each answer.
    pub fn new(latency: Duration) -> Self {
        Mock { latency, ..Mock::default() }
    }
}

/// The routes over `mock`.
pub fn router(mock: Arc<Mock>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/stats", get(stats))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(mock)
}

/// `POST /v1/chat/completions`.
async fn chat(State(mock): State<Arc<Mock>>, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("the request body is not JSON: {e}\n")).into_response(),
    };
    mock.calls.fetch_add(1, Ordering::Relaxed);
    if !mock.latency.is_zero() {
        tokio::time::sleep(mock.latency).await;
    }
    if !body.is_object() {
        return (StatusCode::BAD_REQUEST, "the request body is not a JSON object\n").into_response();
    }
    let decision = decide(&body);
    let meta = Meta {
        model: body.get("model").cloned().unwrap_or_else(|| json!("mock")),
        n: mock.ids.fetch_add(1, Ordering::Relaxed),
        created: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs()),
    };
    if truthy(body.get("stream")) {
        ([(header::CONTENT_TYPE, "text/event-stream")], event_stream(&chunks(&meta, &decision))).into_response()
    } else {
        Json(completion(&meta, &decision)).into_response()
    }
}

/// `GET /stats`: `{"n": calls}`.
async fn stats(State(mock): State<Arc<Mock>>) -> Json<Value> {
    Json(json!({"n": mock.calls.load(Ordering::Relaxed)}))
}

/// Whether Python would take `value` as true (`if body.get("stream")`).
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(members)) => !members.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_read_as_python_reads_it() {
        assert!(truthy(Some(&json!(true))));
        assert!(truthy(Some(&json!(1))));
        assert!(!truthy(Some(&json!(false))));
        assert!(!truthy(Some(&json!(0))));
        assert!(!truthy(Some(&Value::Null)));
        assert!(!truthy(None));
    }
}
