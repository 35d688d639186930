//! The OpenAI Chat Completions wire format, streamed or not: [`OpenAiModel`] (the cargo feature
//! `openai`) and the defaults a team file's settings start from (always there).
//!
//! Works with any server that speaks it: OpenAI itself, Ollama, vLLM, llama.cpp's server, LM
//! Studio, DeepSeek, Groq, OpenRouter, Gemini's OpenAI-compatible endpoint and others.

/// The endpoint used when no `base_url` is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The environment variable read for the API key when no other is configured.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";

#[cfg(feature = "openai")]
mod model;

#[cfg(feature = "openai")]
pub use model::OpenAiModel;
