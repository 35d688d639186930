//! Request bodies are JSON objects. serde reads a struct from a JSON array as well (its fields in
//! order), so with axum's `Json` alone `["support", "x"]` would start a conversation; this
//! extractor lets axum check the content type, the syntax and the size, then refuses anything but
//! an object before the struct is read.

use crate::error::ApiError;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A request body that must be a JSON object of `T`'s shape.
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonObject<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let Json(value) =
            <Json<Value> as FromRequest<S>>::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        object(value).map_err(IntoResponse::into_response)
    }
}

/// An optional body: none without a `Content-Type`, as with axum's `Json`.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for JsonObject<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Response> {
        let found = <Json<Value> as OptionalFromRequest<S>>::from_request(request, state).await;
        match found.map_err(IntoResponse::into_response)? {
            Some(Json(value)) => object(value).map(Some).map_err(IntoResponse::into_response),
            None => Ok(None),
        }
    }
}

/// `value` read as `T`, if it is an object.
fn object<T: DeserializeOwned>(value: Value) -> Result<JsonObject<T>, ApiError> {
    let kind = match &value {
        Value::Object(_) => None,
        Value::Array(_) => Some("an array"),
        Value::String(_) => Some("a string"),
        Value::Number(_) => Some("a number"),
        Value::Bool(_) => Some("a boolean"),
        Value::Null => Some("null"),
    };
    if let Some(kind) = kind {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("the body must be a JSON object, not {kind}"),
        ));
    }
    serde_json::from_value(value).map(JsonObject).map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("the body does not fit the endpoint's schema: {error}"),
        )
    })
}
