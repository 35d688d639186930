//! The MCP tools against MCP servers written by others: the npm reference "everything" server
//! (over stdio and streamable HTTP) and the PyPI time server, plus a tiny fixture server built on
//! the official Python SDK. Those tests are the external tier (the `external-tests` feature):
//! `cargo xtask test` installs the servers and runs them; they fail, never skip, without the
//! servers. The tests of servers that fail to start are hermetic.
#![allow(clippy::unwrap_used)]

#[cfg(feature = "external-tests")]
mod everything;
mod http;
mod lifecycle;
#[cfg(feature = "external-tests")]
mod python;

use baton_tools::mcp::{McpConfig, McpTransport};
#[cfg(feature = "external-tests")]
use {
    baton_core::{ToolDef, ToolOutput},
    baton_tools::guard::{Guarded, ToolSettings},
    baton_tools::mcp::{McpServer, MAX_MESSAGE_BYTES},
    baton_tools::Tool,
    serde_json::{json, Value},
    std::path::PathBuf,
    std::sync::Arc,
    std::time::Duration,
};

/// The path an environment variable set by `cargo xtask test` names.
#[cfg(feature = "external-tests")]
fn installed(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(path) if !path.is_empty() => path,
        _ => panic!(
            "{variable} is not set: these tests run MCP servers that `cargo xtask test` installs; run them \
             with `cargo xtask test` (or first `eval \"$(cargo xtask setup)\"`)"
        ),
    }
}

fn stdio(name: &str, command: Vec<String>) -> McpConfig {
    McpConfig {
        name: name.to_string(),
        transport: McpTransport::Stdio { command, env: Vec::new(), cwd: None },
        include: Vec::new(),
        exclude: Vec::new(),
    }
}

/// The reference "everything" server over stdio.
#[cfg(feature = "external-tests")]
fn everything() -> McpConfig {
    stdio("everything", vec![installed("BATON_TEST_MCP_EVERYTHING")])
}

/// The PyPI time server, in UTC.
#[cfg(feature = "external-tests")]
fn time_server() -> McpConfig {
    stdio("time", vec![installed("BATON_TEST_MCP_TIME"), "--local-timezone".into(), "UTC".into()])
}

/// The fixture server of `fixtures/meta_server.py`.
#[cfg(feature = "external-tests")]
fn meta_server() -> McpConfig {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fixtures/meta_server.py");
    stdio("meta", vec![installed("BATON_TEST_MCP_PYTHON"), script.display().to_string()])
}

#[cfg(feature = "external-tests")]
fn names(server: &McpServer) -> Vec<String> {
    server.definitions().into_iter().map(|definition| definition.name).collect()
}

/// The tool `name` as the server describes it, or a bare definition when it does not offer it.
#[cfg(feature = "external-tests")]
fn tool(server: &Arc<McpServer>, name: &str) -> Arc<dyn Tool> {
    let definition = server
        .definitions()
        .into_iter()
        .find(|definition| definition.name == name)
        .unwrap_or_else(|| ToolDef::new(name, "", json!({"type": "object"})));
    Arc::new(server.tool(definition))
}

#[cfg(feature = "external-tests")]
async fn call(server: &Arc<McpServer>, name: &str, arguments: Value) -> ToolOutput {
    tool(server, name).call(&arguments, "key-1").await
}

#[cfg(feature = "external-tests")]
async fn echo(server: &Arc<McpServer>, message: &str) -> ToolOutput {
    call(server, "echo", json!({ "message": message })).await
}

/// The tool `name` under the time limit baton puts around every tool, set to a minute: far
/// beyond what the tests' calls need, so an answer that never comes shows as a timeout, never
/// as the error a test expects. Its results are not cut.
#[cfg(feature = "external-tests")]
fn guarded(server: &Arc<McpServer>, name: &str) -> Guarded {
    Guarded::new(tool(server, name), ToolSettings { timeout: Duration::from_secs(60), max_result_bytes: usize::MAX })
}

/// The size `answer` says was over the cap, checking it is the error of a result over the cap.
#[cfg(feature = "external-tests")]
fn too_large(answer: &ToolOutput, server: &str, tool: &str) -> u64 {
    assert!(answer.is_error, "{answer:?}");
    let start = format!("error: MCP server '{server}' answered {tool} with a result too large (");
    let Some(rest) = answer.content.strip_prefix(&start) else { panic!("not the size error: {answer:?}") };
    let cap =
        format!(" bytes, the cap is {MAX_MESSAGE_BYTES}), so it was dropped; the call did run: ask for less of it");
    let Some((bytes, "")) = rest.split_once(&cap) else { panic!("not the size error: {answer:?}") };
    bytes.parse().unwrap()
}
