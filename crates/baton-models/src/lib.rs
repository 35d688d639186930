//! Model providers: the [`Model`] trait and its implementations.
//!
//! Only this crate knows a provider's wire format. A provider turns a provider-neutral
//! [`ModelRequest`] into a request of its own and its answer into a [`ModelReply`]; streamed or
//! not, the same answer gives the same reply.

pub mod anthropic;
mod endpoint;
mod http;
pub mod openai;
pub mod script;
mod sse;

pub use anthropic::AnthropicModel;
pub use endpoint::{Endpoint, Sampling, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_TIMEOUT};
pub use openai::OpenAiModel;
pub use script::{ScriptError, ScriptModel};

use async_trait::async_trait;
use baton_core::{ModelReply, ModelRequest};
use std::fmt;

/// A language model the runtime can call.
#[async_trait]
pub trait Model: Send + Sync {
    /// Answers one request, telling `listener` the reply's text as it arrives when the provider
    /// streams. Retries of transient failures happen inside; an error is final.
    async fn complete(&self, request: &ModelRequest, listener: &dyn Listener) -> Result<ModelReply, ModelError>;
}

/// Hears a reply's text while it is generated.
pub trait Listener: Send + Sync {
    /// The next piece of the reply's text.
    fn text(&self, delta: &str);
}

/// A listener that ignores everything.
pub struct Silent;

impl Listener for Silent {
    fn text(&self, _delta: &str) {}
}

/// A model call that failed for good; the message says what happened and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError {
    /// A sentence for the user and the journal.
    pub message: String,
}

impl ModelError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        ModelError { message: message.into() }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModelError {}
