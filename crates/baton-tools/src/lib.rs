//! Tools agents call: the [`Tool`] trait and the built-in tools.
//!
//! A tool receives the arguments object the core checked is an object, and the call's stable
//! idempotency key. A failure is a [`ToolOutput`] with `is_error` set: the model reads it and
//! carries on; a tool never ends a turn by itself.
//!
//! The tools that need a network client are cargo features, `http` ([`http::HttpTool`]) and
//! `mcp` ([`mcp::McpServer`]), both on by default; their settings are always there, so a team
//! file naming them is read and checked by every build.

use async_trait::async_trait;
use baton_core::{ToolDef, ToolOutput};

pub mod command;
pub mod guard;
pub mod http;
pub mod lookup;
pub mod mcp;
pub mod typed;

pub use lookup::LookupTool;

/// A tool an agent may call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// How the tool is offered to models.
    fn definition(&self) -> &ToolDef;

    /// Runs one call. `idempotency_key` is stable if the same call is run again after a crash.
    async fn call(&self, arguments: &serde_json::Value, idempotency_key: &str) -> ToolOutput;
}
