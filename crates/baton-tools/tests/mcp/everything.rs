//! The reference "everything" server over stdio: discovery, filtering, calls and results.

use crate::{call, echo, everything, guarded, names, too_large, tool};
use baton_core::{Approval, ToolOutput};
use baton_tools::mcp::{McpError, McpServer, McpTransport};
use baton_tools::Tool;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn discovers_the_servers_tools_with_their_schemas() {
    let server = McpServer::start(everything()).await.unwrap();
    let names = names(&server);
    for expected in ["echo", "get-sum", "get-tiny-image"] {
        assert!(names.contains(&expected.to_string()), "{expected} missing from {names:?}");
    }
    let echo = server.definitions().into_iter().find(|d| d.name == "echo").unwrap();
    assert_eq!(echo.description, "Echoes back the input string");
    assert_eq!(echo.parameters["type"], "object");
    assert_eq!(echo.parameters["properties"]["message"]["type"], "string");
    assert_eq!(echo.parameters["required"], json!(["message"]));
    assert!(echo.idempotent);
    assert_eq!(echo.approval, Approval::Never);
    assert!(server.pid().is_some(), "a stdio server has a process");
}

#[tokio::test]
async fn include_and_exclude_choose_the_tools() {
    let mut config = everything();
    config.include = vec!["get-sum".into(), "echo".into()];
    let server = McpServer::start(config.clone()).await.unwrap();
    let mut kept = names(&server);
    kept.sort();
    assert_eq!(kept, ["echo", "get-sum"]);

    config.exclude = vec!["get-sum".into()];
    assert_eq!(names(&McpServer::start(config.clone()).await.unwrap()), ["echo"]);

    config.include.clear();
    let all_but_get_sum = names(&McpServer::start(config).await.unwrap());
    assert!(all_but_get_sum.contains(&"echo".to_string()) && all_but_get_sum.contains(&"get-tiny-image".to_string()));
    assert!(!all_but_get_sum.contains(&"get-sum".to_string()));
}

#[tokio::test]
async fn an_include_or_exclude_naming_a_missing_tool_lists_what_the_server_offers() {
    let mut config = everything();
    config.include = vec!["echo".into(), "no-such-tool".into()];
    let error = McpServer::start(config.clone()).await.err().unwrap();
    assert!(matches!(&error, McpError::UnknownTools { list: "include", missing, .. } if missing == &["no-such-tool"]));
    let message = error.to_string();
    assert!(
        message.starts_with("include names 'no-such-tool', which MCP server 'everything' does not offer (it offers ")
    );
    assert!(message.contains("echo, ") && message.contains("get-sum"), "{message}");
    assert!(message.ends_with("correct the include list"), "{message}");

    config.include.clear();
    config.exclude = vec!["ecko".into()];
    let message = McpServer::start(config).await.err().unwrap().to_string();
    assert!(message.starts_with("exclude names 'ecko', which MCP server 'everything' does not offer"), "{message}");
}

#[tokio::test]
async fn a_call_returns_the_servers_answer() {
    let server = McpServer::start(everything()).await.unwrap();
    assert_eq!(echo(&server, "hello from baton").await, ToolOutput::ok("Echo: hello from baton"));
    let sum = call(&server, "get-sum", json!({"a": 2, "b": 40})).await;
    assert!(!sum.is_error && sum.content.contains("42"), "{sum:?}");
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools_are_error_results() {
    let server = McpServer::start(everything()).await.unwrap();
    let missing_argument = call(&server, "echo", json!({})).await;
    assert!(missing_argument.is_error, "{missing_argument:?}");
    assert!(missing_argument.content.contains("message"), "{missing_argument:?}");
    let wrong_type = call(&server, "echo", json!({"message": 7})).await;
    assert!(wrong_type.is_error, "{wrong_type:?}");
    let unknown = call(&server, "no-such-tool", json!({})).await;
    assert!(unknown.is_error && unknown.content.contains("no-such-tool"), "{unknown:?}");
    let not_an_object = tool(&server, "echo").call(&json!(["hello"]), "key-1").await;
    assert!(not_an_object.is_error && not_an_object.content.contains("must be a JSON object"), "{not_an_object:?}");
    assert_eq!(echo(&server, "still here").await, ToolOutput::ok("Echo: still here"));
}

#[tokio::test]
async fn a_tool_reporting_an_error_is_an_error_result() {
    let server = McpServer::start(everything()).await.unwrap();
    let failed = call(&server, "get-resource-reference", json!({"resourceType": "Text", "resourceId": 0})).await;
    assert!(failed.is_error, "{failed:?}");
    assert!(failed.content.contains("Invalid resourceId: 0"), "{failed:?}");
}

#[tokio::test]
async fn non_text_contents_become_placeholders_and_resources_their_text() {
    let server = McpServer::start(everything()).await.unwrap();
    let image = call(&server, "get-tiny-image", json!({})).await;
    assert!(!image.is_error, "{image:?}");
    let lines: Vec<&str> = image.content.lines().collect();
    assert_eq!(lines.len(), 3, "{image:?}");
    assert_eq!(lines[0], "Here's the image you requested:");
    assert!(lines[1].starts_with("[image/png, ") && lines[1].ends_with(" bytes]"), "{image:?}");
    assert!(!image.content.contains("iVBOR"), "the image data must not reach the model: {image:?}");

    let text = call(&server, "get-resource-reference", json!({"resourceType": "Text", "resourceId": 2})).await;
    assert!(text.content.contains("Resource 2: This is a plaintext resource"), "{text:?}");
    let blob = call(&server, "get-resource-reference", json!({"resourceType": "Blob", "resourceId": 2})).await;
    assert!(blob.content.contains("[resource ") && blob.content.contains("text/plain, "), "{blob:?}");
    let links = call(&server, "get-resource-links", json!({"count": 2})).await;
    assert_eq!(links.content.matches("[resource link ").count(), 2, "{links:?}");

    // The text block already carries the structured content, so it is not repeated.
    let structured = call(&server, "get-structured-content", json!({"location": "New York"})).await;
    assert_eq!(structured, ToolOutput::ok(r#"{"temperature":33,"conditions":"Cloudy","humidity":82}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_are_all_answered() {
    let server = McpServer::start(everything()).await.unwrap();
    let echo_tool = tool(&server, "echo");
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let echo_tool = echo_tool.clone();
            tokio::spawn(async move {
                echo_tool.call(&json!({ "message": format!("call {i}") }), &format!("key-{i}")).await
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap(), ToolOutput::ok(format!("Echo: call {i}")));
    }
}

#[tokio::test]
async fn a_dropped_call_leaves_the_session_usable() {
    let server = McpServer::start(everything()).await.unwrap();
    let pid = server.pid();
    let long = tool(&server, "trigger-long-running-operation");
    let arguments = json!({"duration": 30, "steps": 3});
    let dropped = tokio::time::timeout(Duration::from_millis(300), long.call(&arguments, "key-long")).await;
    assert!(dropped.is_err(), "a 30 s operation answered early: {dropped:?}");
    assert_eq!(echo(&server, "after the drop").await, ToolOutput::ok("Echo: after the drop"));
    assert_eq!(server.pid(), pid, "the session was kept");
}

/// Serves `body` on 127.0.0.1 to the first few connections, whatever they ask; answers the port.
async fn serve(body: Vec<u8>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = Arc::new(body);
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let body = Arc::clone(&body);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 4096];
                while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(n @ 1..) => head.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: \
                     close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

/// `len` bytes gzip cannot shrink (xorshift64).
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

#[tokio::test]
async fn a_result_over_the_cap_is_an_error_at_once_and_the_session_carries_on() {
    // gzip-file-as-resource fetches a file and answers it gzipped, in base64: 15 MiB of noise
    // makes a 20 MiB answer. The TypeScript SDK writes the answer's id after its result.
    let port = serve(noise(15 * 1024 * 1024)).await;
    let mut config = everything();
    if let McpTransport::Stdio { env, .. } = &mut config.transport {
        env.push(("GZIP_MAX_FETCH_SIZE".into(), (64 * 1024 * 1024).to_string()));
    }
    let server = McpServer::start(config).await.unwrap();
    let pid = server.pid();
    let arguments = json!({
        "name": "noise.gz",
        "data": format!("http://127.0.0.1:{port}/noise"),
        "outputType": "resource",
    });
    let answer = guarded(&server, "gzip-file-as-resource").call(&arguments, "key-gzip").await;
    let bytes = too_large(&answer, "everything", "gzip-file-as-resource");
    assert!(bytes > 20 * 1024 * 1024, "{bytes} bytes for 15 MiB in base64");

    assert_eq!(server.pid(), pid, "the same process goes on serving");
    assert_eq!(echo(&server, "after the large answer").await, ToolOutput::ok("Echo: after the large answer"));
    // The same tool's answer under the cap comes whole.
    let port = serve(noise(1024)).await;
    let arguments =
        json!({"name": "small.gz", "data": format!("http://127.0.0.1:{port}/small"), "outputType": "resource"});
    let small = call(&server, "gzip-file-as-resource", arguments).await;
    assert!(!small.is_error && small.content.contains("application/gzip"), "{small:?}");
}
