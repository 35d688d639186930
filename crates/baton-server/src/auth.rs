//! Who is calling: the key in `Authorization: Bearer KEY`, looked up in the keys file, and what
//! its role lets it do. Without a keys file the server only listens on loopback, and every
//! caller is an unnamed admin.
//!
//! An endpoint that only some roles may call takes an [`Allowed`] as its first extractor: the key
//! and its role are checked before the body is read, so a key that may not call the endpoint is
//! answered 401 or 403 whatever it sent.

use crate::error::ApiError;
use crate::keys::Role;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use baton::store::ConversationInfo;
use std::marker::PhantomData;
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
        let article = match self.role {
            Role::Admin | Role::Operator => "an",
            Role::Client => "a",
        };
        Err(ApiError::forbidden(format!(
            "{doing} needs a key with the role {}; this key ({}) is {article} {} key",
            allowed.join(" or "),
            self.name.as_deref().unwrap_or("-"),
            self.role.as_str()
        )))
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Caller, ApiError> {
        // The per-key limits found the caller already (`limits::limit`): the key is hashed once.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
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

/// What an endpoint does and which roles may do it, for [`Allowed`].
pub trait Permission {
    /// The roles that may.
    const ROLES: &'static [Role];
    /// What the endpoint does, for the refusal: "working the queue".
    const DOING: &'static str;
}

/// The caller of a request, whose role has `P`: the extractor refuses any other with 403 before
/// the body is read.
pub struct Allowed<P>(pub Caller, pub PhantomData<P>);

impl<P: Permission + Send + Sync> FromRequestParts<Arc<AppState>> for Allowed<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Allowed<P>, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(P::ROLES, P::DOING)?;
        Ok(Allowed(caller, PhantomData))
    }
}

/// Declares a [`Permission`] for each `Name: [roles], "doing"`.
macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident: [$($role:ident),+], $doing:literal;)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl Permission for $name {
            const ROLES: &'static [Role] = &[$(Role::$role),+];
            const DOING: &'static str = $doing;
        }
    )+};
}

permissions! {
    /// `POST /v1/conversations`.
    StartConversation: [Client, Admin], "starting a conversation";
    /// `POST /v1/conversations/{id}/messages` (the conversation's client, or an admin).
    Talk: [Client, Admin], "writing to a conversation as its user (only the client that created it does, or an admin)";
    /// `POST /v1/conversations/{id}/approvals/{call_id}`.
    Decide: [Operator, Admin], "deciding on a tool call";
    /// `GET /v1/queue`.
    ReadQueue: [Operator, Admin], "reading the queue";
    /// `GET /v1/queue/{id}`.
    ReadTicket: [Operator, Admin], "reading a ticket";
    /// The queue's actions: claim, reply, hand back, close.
    WorkQueue: [Operator, Admin], "working the queue";
    /// `POST /v1/chat/completions`.
    Chat: [Client, Admin], "chatting with a team";
}
