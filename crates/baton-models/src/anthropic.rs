//! Anthropic's Messages API (`POST {base_url}/v1/messages`), streamed or not: [`AnthropicModel`]
//! (the cargo feature `anthropic`) and the defaults a team file's settings start from (always
//! there).

/// The endpoint used when no `base_url` is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The environment variable read for the API key when no other is configured.
pub const DEFAULT_API_KEY_ENV: &str = "ANTHROPIC_API_KEY";

/// The `anthropic-version` header sent (a configured header of that name replaces it).
pub const API_VERSION: &str = "2023-06-01";

/// `max_tokens` when the team file gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[cfg(feature = "anthropic")]
mod model;

#[cfg(feature = "anthropic")]
pub use model::AnthropicModel;
