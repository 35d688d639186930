//! MCP tools: the tools of a Model Context Protocol server, offered to agents as
//! [`Tool`](crate::Tool)s.
//!
//! An [`McpServer`] is one server session: a child process speaking MCP over stdio, or a
//! connection to a streamable HTTP endpoint. All its [`McpTool`]s share that session, and their
//! calls may run at once. When the server stops (its process died, its connection closed) while
//! a call runs, that call returns an error result; the next call starts the server again and
//! runs on it. Starting a server and each of its start-up requests may take [`START_TIMEOUT`];
//! a stdio server's message over [`MAX_MESSAGE_BYTES`] is an error for the call it answers at
//! once, and the session carries on (`stdio`).
//! `${VAR}` in the server's `env` values, `url` and header values ([`baton_core::env_template`])
//! is read from the environment each time the server is started or connected to.
//!
//! The settings of an entry and the errors of starting one are here in every build; the client
//! ([`McpServer`], [`McpTool`], over rmcp) is the cargo feature `mcp`.

#[cfg(feature = "mcp")]
mod server;
#[cfg(feature = "mcp")]
mod stdio;

#[cfg(feature = "mcp")]
pub use server::{McpServer, McpTool};
use std::path::PathBuf;
use std::time::Duration;

/// The largest message a server may send: 4 MiB of JSON, as the HTTP and command tools read at
/// most 4 MiB of a body or an output. A model is shown far less of a result anyway (see
/// [`crate::guard`]).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How long starting a server and its initialize handshake may take, and (at start) listing its
/// tools: a server that hangs holds up baton's start no longer than this.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How baton reaches an MCP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpTransport {
    /// A server started as a child process speaking MCP over stdio.
    Stdio {
        /// The program, then its arguments (run directly, not through a shell).
        command: Vec<String>,
        /// Environment variables set for the server. It does not get baton's environment (API
        /// keys, the store's address with its password), only the few variables programs need
        /// ([`crate::command::PASSED`]) and these; `${VAR}` in a value is replaced by baton's own
        /// variable `VAR` when the server is started, which is how one is passed through.
        env: Vec<(String, String)>,
        /// The server's working directory (baton's own when `None`).
        cwd: Option<PathBuf>,
    },
    /// A server reached over streamable HTTP.
    Http {
        /// The endpoint, e.g. `http://127.0.0.1:3001/mcp`; `${VAR}` in it is replaced by the
        /// environment variable `VAR` when connecting.
        url: String,
        /// Headers sent with every request; `${VAR}` in a value is replaced by the environment
        /// variable `VAR` when connecting.
        headers: Vec<(String, String)>,
    },
}

/// One MCP server entry of a team file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpConfig {
    /// The entry's name, used in messages.
    pub name: String,
    /// How to reach the server.
    pub transport: McpTransport,
    /// The server tools to offer; all of them when empty.
    pub include: Vec<String>,
    /// Server tools not to offer, even when `include` names them.
    pub exclude: Vec<String>,
}

/// Why an MCP server could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The configuration cannot work as written.
    #[error("MCP server '{server}': {problem}")]
    Config {
        /// The server entry.
        server: String,
        /// What is wrong and what to change.
        problem: String,
    },
    /// The server's program could not be started.
    #[error(
        "cannot start MCP server '{server}' ({command}): {source}: check `command` (the program must exist, \
         on PATH or as a path, and be executable)"
    )]
    Spawn {
        /// The server entry.
        server: String,
        /// The command line that failed.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server did not complete the initialize handshake in time.
    #[error(
        "MCP server '{server}' ({target}) did not answer initialize within {} s: {hint}{}",
        START_TIMEOUT.as_secs(),
        stderr_note(.stderr)
    )]
    InitializeTimeout {
        /// The server entry.
        server: String,
        /// The command line or URL.
        target: String,
        /// What to check.
        hint: String,
        /// The end of the server's stderr, if it wrote any.
        stderr: Option<String>,
    },
    /// The initialize handshake failed.
    #[error("MCP server '{server}' ({target}) failed to initialize: {detail}: {hint}{}", stderr_note(.stderr))]
    Initialize {
        /// The server entry.
        server: String,
        /// The command line or URL.
        target: String,
        /// What went wrong.
        detail: String,
        /// What to check.
        hint: String,
        /// The end of the server's stderr, if it wrote any.
        stderr: Option<String>,
    },
    /// The server did not list its tools.
    #[error("MCP server '{server}' ({target}) did not list its tools: {detail}{}", stderr_note(.stderr))]
    ListTools {
        /// The server entry.
        server: String,
        /// The command line or URL.
        target: String,
        /// What went wrong.
        detail: String,
        /// The end of the server's stderr, if it wrote any.
        stderr: Option<String>,
    },
    /// The include or exclude list names tools the server does not offer.
    #[error(
        "{list} names {}, which MCP server '{server}' does not offer (it offers {}): correct the {list} list",
        quoted(.missing),
        .offered.join(", ")
    )]
    UnknownTools {
        /// The server entry.
        server: String,
        /// `include` or `exclude`.
        list: &'static str,
        /// The names the server does not offer.
        missing: Vec<String>,
        /// The names it does offer.
        offered: Vec<String>,
    },
}

fn stderr_note(stderr: &Option<String>) -> String {
    match stderr {
        Some(text) => format!("; its stderr ends with:\n{text}"),
        None => String::new(),
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|name| format!("'{name}'")).collect::<Vec<_>>().join(", ")
}
