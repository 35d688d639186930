//! Model providers: the [`Model`] trait and its implementations.
//!
//! Only this crate knows a provider's wire format. A provider turns a provider-neutral
//! [`ModelRequest`] into a request of its own and its answer into a [`ModelReply`]; streamed or
//! not, the same answer gives the same reply.
//!
//! The providers that call a server are cargo features, `openai` and `anthropic` (both on by
//! default; each brings reqwest); [`ScriptModel`] and the settings of every provider
//! ([`Endpoint`], the defaults in [`openai`] and [`anthropic`]) are always there.

pub mod anthropic;
mod endpoint;
#[cfg(any(feature = "openai", feature = "anthropic"))]
mod http;
pub mod openai;
pub mod script;
#[cfg(any(feature = "openai", feature = "anthropic"))]
mod sse;

#[cfg(feature = "anthropic")]
pub use anthropic::AnthropicModel;
pub use endpoint::{Endpoint, Sampling, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_TIMEOUT};
#[cfg(feature = "openai")]
pub use openai::OpenAiModel;
pub use script::{ScriptError, ScriptModel};

use async_trait::async_trait;
use baton_core::{ModelReply, ModelRequest};

/// A language model the runtime can call.
#[async_trait]
pub trait Model: Send + Sync {
    /// Answers one request, telling `listener` the reply's text as it arrives when the provider
    /// streams. Retries of transient failures happen inside; an error is final.
    async fn complete(&self, request: &ModelRequest, listener: &dyn Listener) -> Result<ModelReply, ModelError>;

    /// Who serves the model, as OpenTelemetry's `gen_ai.provider.name` names it (`openai`,
    /// `anthropic`, …); telemetry tells it with every call.
    fn provider_name(&self) -> &str {
        "custom"
    }

    /// The model the provider is asked for (`gpt-4.1-mini`), when it has a name of its own.
    fn model_id(&self) -> Option<&str> {
        None
    }
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

/// A model call that failed for good: which failure it is, for a caller to match on, and a
/// sentence saying what happened and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// Which failure this is; [`ModelError::kind`] names it.
    pub failure: ModelFailure,
    /// A sentence for the user and the journal.
    pub message: String,
}

/// The failures a model call can end in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelFailure {
    /// The model's settings, or the environment variables they read, cannot be used (an empty
    /// model name, a bad `base_url`, a header or API key that cannot be sent); nothing was sent.
    Config,
    /// The server refused the credentials (HTTP 401 or 403).
    Auth,
    /// The server does not know the address or the model (HTTP 404).
    NotFound,
    /// The server refused the request as sent (another 4xx, such as 400 or 413); another attempt
    /// would not help.
    Refused,
    /// The server answered 429 until baton gave up, or asked for a longer wait than baton waits.
    RateLimited,
    /// The provider failed: it answered 5xx until baton gave up (or asked for a longer wait than
    /// baton waits), or reported an error in its streamed answer.
    Unavailable,
    /// No answer came within the model's timeout, or the server answered 408 until baton gave up.
    TimedOut,
    /// No connection could be made to the server.
    Unreachable,
    /// The connection failed after it was made, or a streamed answer broke off.
    ConnectionFailed,
    /// The server answered 2xx with a body or stream baton cannot read.
    MalformedReply,
    /// A scripted model has no reply for the agent that asked.
    NoScriptedReply,
    /// Any other failure, such as one of a model outside this crate.
    Other,
}

impl ModelFailure {
    /// The failure as a short stable name (`auth`, `rate_limited`, …).
    pub fn name(self) -> &'static str {
        match self {
            ModelFailure::Config => "config",
            ModelFailure::Auth => "auth",
            ModelFailure::NotFound => "not_found",
            ModelFailure::Refused => "refused",
            ModelFailure::RateLimited => "rate_limited",
            ModelFailure::Unavailable => "unavailable",
            ModelFailure::TimedOut => "timed_out",
            ModelFailure::Unreachable => "unreachable",
            ModelFailure::ConnectionFailed => "connection_failed",
            ModelFailure::MalformedReply => "malformed_reply",
            ModelFailure::NoScriptedReply => "no_scripted_reply",
            ModelFailure::Other => "other",
        }
    }
}

impl ModelError {
    /// An error of no particular kind ([`ModelFailure::Other`]) with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        ModelError::of(ModelFailure::Other, message)
    }

    /// A `failure` with the given message.
    pub fn of(failure: ModelFailure, message: impl Into<String>) -> Self {
        ModelError { failure, message: message.into() }
    }

    /// A [`ModelFailure::Config`] error with the given message.
    #[cfg(any(feature = "openai", feature = "anthropic"))]
    pub(crate) fn config(message: impl Into<String>) -> Self {
        ModelError::of(ModelFailure::Config, message)
    }

    /// The failure as a short stable name (`auth`, `rate_limited`, …).
    pub fn kind(&self) -> &'static str {
        self.failure.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_shows_its_message_and_names_its_failure() {
        let message = "the script demo.toml has no reply for agent 'triage'; add a [[reply]] with agent = \"triage\"";
        let error = ModelError::of(ModelFailure::NoScriptedReply, message);
        assert_eq!(error.kind(), "no_scripted_reply");
        assert_eq!(error.to_string(), message);
        let error = ModelError::new("simulated crash: the process is dead");
        assert_eq!((error.failure, error.kind()), (ModelFailure::Other, "other"));
        assert_eq!(error.to_string(), "simulated crash: the process is dead");
    }
}
