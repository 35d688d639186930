//! `POST /v1/chat/completions`: the OpenAI-compatible endpoint (being written).

use crate::error::ApiError;
use axum::http::StatusCode;

/// `POST /v1/chat/completions`.
pub async fn chat_completions() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", "not yet")
}
