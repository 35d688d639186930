//! Errors as the API answers them: one JSON shape, `{"error": {"code", "message"}}`, with a
//! status that says whose fault it is and a message that says what to do.

use axum::body::to_bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use baton::service::ServiceError;
use baton::store::StoreError;
use baton::RuntimeError;
use schemars::JsonSchema;
use serde::Serialize;

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code such as `not_found`.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 for a conversation that does not exist or that the caller may not see (the two are
    /// not told apart, so a client cannot probe for others' conversations).
    pub fn no_conversation(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "there is no conversation '{id}': check the id (a client key sees only the conversations it started)"
            ),
        )
    }

    /// 403: the key's role may not do this.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// The error as a JSON value: its [`ErrorBody`].
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody::from(self)).unwrap_or_default()
    }
}

/// Every error answer: what went wrong under `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(rename = "Error", deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `not_found`, `forbidden`, `conversation_busy`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl From<&ApiError> for ErrorBody {
    fn from(error: &ApiError) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: error.code.to_string(), message: error.message.clone() } }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A server-side failure is logged with its cause, inside the request's span; a client's
        // mistake is only counted (its message may quote what the client sent).
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = self.code, "{}", self.message);
        }
        let mut response = (self.status, axum::Json(ErrorBody::from(&self))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        match error {
            ServiceError::Runtime(error) => ApiError::from(error),
            ServiceError::Busy(busy) => ApiError::new(StatusCode::CONFLICT, "conversation_busy", busy.to_string()),
            ServiceError::Stopping => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_stopping",
                "the server is stopping, and this had not started: nothing was done; send it again (to another \
                 server, or to this one once it is back)",
            ),
            ServiceError::TaskFailed => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the turn stopped unexpectedly (its task failed); it resumes from the journal",
            ),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> ApiError {
        let message = error.to_string();
        match error {
            RuntimeError::Store(StoreError::UnknownConversation(id)) => ApiError::no_conversation(&id),
            RuntimeError::Store(StoreError::DuplicateConversation(_)) => {
                ApiError::new(StatusCode::CONFLICT, "conversation_exists", format!("{message}: choose another id"))
            }
            RuntimeError::Store(StoreError::Leased { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conversation_busy", message)
            }
            RuntimeError::Store(StoreError::Fenced { .. } | StoreError::Conflict { .. }) => ApiError::new(
                StatusCode::CONFLICT,
                "conversation_moved",
                format!("{message}; read the conversation and try again"),
            ),
            RuntimeError::Store(StoreError::Corrupt { .. }) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "journal_entry_unreadable", message)
            }
            RuntimeError::Store(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "journal_unavailable", message),
            RuntimeError::BadId(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad_id", message),
            RuntimeError::Refused(_) => ApiError::new(StatusCode::CONFLICT, "refused", message),
            RuntimeError::MessageTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", message)
            }
            RuntimeError::WrongTeam { .. } => ApiError::new(StatusCode::CONFLICT, "wrong_team", message),
            RuntimeError::Replay { .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "journal_does_not_replay", message)
            }
        }
    }
}

/// Gives every error answer the JSON shape, including those axum makes itself (an unknown route,
/// a wrong method, a body that is not JSON or is too large): their text becomes the message.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, 64 * 1024).await.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let text = text.ok().filter(|text| !text.trim().is_empty());
    let (code, default) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint: see GET /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this endpoint does not take that method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "send JSON with Content-Type: application/json")
        }
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the body does not fit the endpoint's schema"),
        status if status.is_server_error() => ("internal", "the server failed"),
        _ => ("bad_request", "the request is malformed"),
    };
    let mut message = text.unwrap_or_else(|| default.to_string());
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        message = format!("{message}: the body is over this server's limit (see --max-body)");
    }
    let error = ApiError::new(status, code, message);
    let mut response = error.into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}
