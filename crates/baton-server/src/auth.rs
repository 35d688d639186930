//! Who is calling: the key in `Authorization: Bearer KEY`, looked up in the keys file, and what
//! its role lets it do. Without a keys file the server only listens on loopback, and every
//! caller is an unnamed admin.

use crate::error::ApiError;
use crate::keys::Role;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use baton::store::ConversationInfo;
use std::sync::Arc;

/// The caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The key's name; `None` when the server runs without keys.
    pub name: Option<String>,
    /// What the key may do.
    pub role: Role,
}

impl Caller {
    /// Whether the caller may read `conversation`: admins and operators read every one, a client
    /// only those it created.
    pub fn can_read(&self, conversation: &ConversationInfo) -> bool {
        match self.role {
            Role::Admin | Role::Operator => true,
            Role::Client => self.name.is_some() && conversation.owner == self.name,
        }
    }

    /// Whether the caller may write to `conversation` as its user: its client, or an admin.
    pub fn can_talk(&self, conversation: &ConversationInfo) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Operator => false,
            Role::Client => self.can_read(conversation),
        }
    }

    /// Fails unless the caller has one of `roles`; `doing` says what was asked, for the message.
    pub fn require(&self, roles: &[Role], doing: &str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            return Ok(());
        }
        let allowed: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "{doing} needs a key with the role {}; this key ({}) is a {} key",
            allowed.join(" or "),
            self.name.as_deref().unwrap_or("-"),
            self.role.as_str()
        )))
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Caller, ApiError> {
        let Some(keys) = &state.keys else {
            return Ok(Caller { name: None, role: Role::Admin });
        };
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized("send your API key as `Authorization: Bearer KEY` (an admin makes one with `baton keys new`)")
        })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer KEY`"))?;
        let key = keys.find(secret).ok_or_else(|| unauthorized("this API key is not in the server's keys file"))?;
        Ok(Caller { name: Some(key.name.clone()), role: key.role })
    }
}
