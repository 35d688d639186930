//! Servers built on the official Python SDK: the PyPI time server, and the `_meta` fixture.

use crate::{call, guarded, meta_server, names, time_server, too_large, tool};
use baton_tools::mcp::McpServer;
use baton_tools::Tool;
use serde_json::{json, Value};

#[tokio::test]
async fn the_time_server_lists_its_tools_and_answers() {
    let server = McpServer::start(time_server()).await.unwrap();
    let mut tools = names(&server);
    tools.sort();
    assert_eq!(tools, ["convert_time", "get_current_time"]);
    let definition = server.definitions().into_iter().find(|d| d.name == "get_current_time").unwrap();
    assert_eq!(definition.description, "Get current time in a specific timezone");
    assert_eq!(definition.parameters["required"], json!(["timezone"]));

    let now = call(&server, "get_current_time", json!({"timezone": "UTC"})).await;
    assert!(!now.is_error, "{now:?}");
    let answer: Value = serde_json::from_str(&now.content).unwrap();
    assert_eq!(answer["timezone"], "UTC");

    let converted = call(
        &server,
        "convert_time",
        json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
    )
    .await;
    assert!(!converted.is_error && converted.content.contains("21:00"), "{converted:?}");
}

#[tokio::test]
async fn a_tool_error_and_a_protocol_error_are_error_results() {
    let server = McpServer::start(time_server()).await.unwrap();
    let tool_error = call(&server, "get_current_time", json!({"timezone": "Mars/Olympus_Mons"})).await;
    assert!(tool_error.is_error, "{tool_error:?}");
    assert!(tool_error.content.contains("Invalid timezone"), "{tool_error:?}");

    // The time server answers an unknown tool with JSON-RPC error -32602.
    let unknown = call(&server, "get_the_weather", json!({})).await;
    assert!(unknown.is_error, "{unknown:?}");
    assert_eq!(
        unknown.content,
        "error: MCP server 'time' refused the call of get_the_weather: Unknown tool: get_the_weather (JSON-RPC error -32602)"
    );
    let now = call(&server, "get_current_time", json!({"timezone": "UTC"})).await;
    assert!(!now.is_error, "{now:?}");
}

#[tokio::test]
async fn the_idempotency_key_reaches_the_server_in_meta() {
    let server = McpServer::start(meta_server()).await.unwrap();
    let show_meta = tool(&server, "show_meta");
    for key in ["turn-3/call-1", "turn-3/call-2"] {
        let answer = show_meta.call(&json!({}), key).await;
        assert!(!answer.is_error, "{answer:?}");
        let meta: Value = serde_json::from_str(&answer.content).unwrap();
        assert_eq!(meta["idempotency_key"], key, "{meta}");
    }
}

#[tokio::test]
async fn a_result_over_the_cap_is_an_error_at_once_and_the_session_carries_on() {
    let server = McpServer::start(meta_server()).await.unwrap();
    let pid = server.pid();
    // The Python SDK writes the answer's id before its result.
    let answer = guarded(&server, "big_text").call(&json!({"mebibytes": 20}), "key-big").await;
    let bytes = too_large(&answer, "meta", "big_text");
    assert!(bytes > 20 * 1024 * 1024, "{bytes} bytes for 20 MiB of text");

    assert_eq!(server.pid(), pid, "the same process goes on serving");
    let meta = call(&server, "show_meta", json!({})).await;
    assert!(!meta.is_error, "{meta:?}");
    // An answer under the cap is whole.
    let under = call(&server, "big_text", json!({"mebibytes": 3})).await;
    assert!(!under.is_error, "{:?}", &under.content[..under.content.len().min(200)]);
    assert_eq!(under.content.len(), 3 * 1024 * 1024);
}
