//! The MCP tools against MCP servers written by others: the npm reference "everything" server
//! (over stdio and streamable HTTP) and the PyPI time server, plus a tiny fixture server built on
//! the official Python SDK. `.ci/mcp-servers.sh` installs them; without it these tests fail.
#![allow(clippy::unwrap_used)]

mod everything;
mod http;
mod lifecycle;
mod python;

use baton_core::{ToolDef, ToolOutput};
use baton_tools::mcp::{McpConfig, McpServer, McpTransport};
use baton_tools::Tool;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// The path an environment variable set by `.ci/mcp-servers.sh` names.
fn installed(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(path) if !path.is_empty() => path,
        _ => panic!(
            "{variable} is not set: these tests run MCP servers installed by .ci/mcp-servers.sh; from the \
             repository root run `eval \"$(bash .ci/mcp-servers.sh)\"`, then the tests again"
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
fn everything() -> McpConfig {
    stdio("everything", vec![installed("BATON_TEST_MCP_EVERYTHING")])
}

/// The PyPI time server, in UTC.
fn time_server() -> McpConfig {
    stdio("time", vec![installed("BATON_TEST_MCP_TIME"), "--local-timezone".into(), "UTC".into()])
}

/// The fixture server of `fixtures/meta_server.py`.
fn meta_server() -> McpConfig {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fixtures/meta_server.py");
    stdio("meta", vec![installed("BATON_TEST_MCP_PYTHON"), script.display().to_string()])
}

fn names(server: &McpServer) -> Vec<String> {
    server.definitions().into_iter().map(|definition| definition.name).collect()
}

/// The tool `name` as the server describes it, or a bare definition when it does not offer it.
fn tool(server: &Arc<McpServer>, name: &str) -> Arc<dyn Tool> {
    let definition = server
        .definitions()
        .into_iter()
        .find(|definition| definition.name == name)
        .unwrap_or_else(|| ToolDef::new(name, "", json!({"type": "object"})));
    Arc::new(server.tool(definition))
}

async fn call(server: &Arc<McpServer>, name: &str, arguments: Value) -> ToolOutput {
    tool(server, name).call(&arguments, "key-1").await
}

async fn echo(server: &Arc<McpServer>, message: &str) -> ToolOutput {
    call(server, "echo", json!({ "message": message })).await
}
