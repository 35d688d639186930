//! `GET /openapi.json`: the API's OpenAPI document (being written).

use axum::Json;
use serde_json::{json, Value};

/// `GET /openapi.json`.
pub async fn document() -> Json<Value> {
    Json(json!({}))
}
