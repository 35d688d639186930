//! Where an HTTP model lives and how it is asked: the settings both wire formats share.

use serde_json::{Map, Value};
use std::time::Duration;

/// How to reach one model over HTTP and what to ask of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// The model name sent to the server, such as `gpt-4o-mini` or `claude-sonnet-4-5`.
    pub model: String,
    /// The API root: `https://api.openai.com/v1` for Chat Completions, `https://api.anthropic.com`
    /// for Anthropic's Messages API. `${VAR}` in it is replaced by that environment variable
    /// when the model is built: an address does not rotate, and the client is set up for it
    /// once.
    pub base_url: String,
    /// The environment variable holding the API key, read at each call; `None`, or an unset or
    /// empty variable, sends no key.
    pub api_key_env: Option<String>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long the server may stay silent: before its answer starts, and between two pieces of a
    /// streamed answer.
    pub timeout: Duration,
    /// Retries of a transient failure (HTTP 429, 5xx, a refused or dropped connection).
    pub retries: u32,
    /// Whether the answer is streamed (server-sent events).
    pub stream: bool,
    /// Extra request headers; `${VAR}` in a value is replaced by that environment variable at
    /// each call.
    pub headers: Vec<(String, String)>,
    /// Extra members of the JSON body, for vendor extensions; they replace members baton sets,
    /// and `null` removes one.
    pub extra_body: Map<String, Value>,
    /// Sampling options.
    pub sampling: Sampling,
}

/// The sampling options a user can set per model; `None` leaves the provider's default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sampling {
    /// Randomness, usually 0 to 2.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// The most tokens one reply may have.
    pub max_tokens: Option<u32>,
    /// A seed for providers that support reproducible sampling.
    pub seed: Option<i64>,
    /// Whether the model may make several tool calls in one reply.
    pub parallel_tool_calls: Option<bool>,
}

/// The connect timeout when none is configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The read timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Retries of a transient failure when none are configured.
pub const DEFAULT_RETRIES: u32 = 3;

impl Endpoint {
    /// An endpoint for `model` at `base_url`, with the key in `api_key_env` and default timeouts,
    /// retries and sampling, not streamed.
    pub fn new(model: impl Into<String>, base_url: impl Into<String>, api_key_env: Option<&str>) -> Self {
        Endpoint {
            model: model.into(),
            base_url: base_url.into(),
            api_key_env: api_key_env.map(str::to_string),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            stream: false,
            headers: Vec::new(),
            extra_body: Map::new(),
            sampling: Sampling::default(),
        }
    }
}
