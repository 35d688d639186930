//! `POST /v1/conversations/{id}/approvals/{call_id}`: an operator decides on a tool call waiting
//! for approval, and the turn carries on.

use crate::auth::{Allowed, Decide};
use crate::error::ApiError;
use crate::json_object::JsonObject;
use crate::observer::TurnObserver;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use baton::wire::TurnReport;
use baton::Decision;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// The body of a decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    /// Whether the call may run.
    pub approve: bool,
    /// Why; a denial's reason is told to the model.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Decides, and answers with the turn's result (the object of a message's answer).
pub async fn decide(
    Allowed(caller, _): Allowed<Decide>,
    State(state): State<Arc<AppState>>,
    Path((id, call_id)): Path<(String, String)>,
    JsonObject(body): JsonObject<NewDecision>,
) -> Result<Json<TurnReport>, ApiError> {
    let (info, runtime) = state.conversation(&caller, &id).await?;
    let observer = TurnObserver::new(&state, &info.team, &info.id, None);
    let decision = Decision { approve: body.approve, reason: body.reason, by: caller.name.clone() };
    let work = move || {
        let (runtime, observer, id, call_id, decision) =
            (runtime.clone(), observer.clone(), id.clone(), call_id.clone(), decision.clone());
        async move { runtime.decide(&id, &call_id, decision, observer).await }
    };
    let report = state.in_lane(&info.id, work).await?;
    Ok(Json(TurnReport::from(&report)))
}
