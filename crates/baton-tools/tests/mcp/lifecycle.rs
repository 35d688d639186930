//! Starting, crashing, restarting and stopping stdio servers. Failing to start needs only `sh`
//! and `sleep`; the rest runs installed servers (the external tier).

use crate::stdio;
#[cfg(feature = "external-tests")]
use crate::{call, echo, everything, meta_server, tool};
#[cfg(feature = "external-tests")]
use baton_core::ToolOutput;
use baton_tools::mcp::{McpError, McpServer};
#[cfg(feature = "external-tests")]
use serde_json::json;
#[cfg(feature = "external-tests")]
use std::time::Duration;

#[cfg(feature = "external-tests")]
fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -9 {pid} failed");
}

/// Whether process `pid` still runs (a zombie does not).
#[cfg(feature = "external-tests")]
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn a_killed_server_is_reported_then_restarted_for_the_next_call() {
    let server = McpServer::start(everything()).await.unwrap();
    assert_eq!(echo(&server, "before").await, ToolOutput::ok("Echo: before"));
    let pid = server.pid().unwrap();
    kill_9(pid);

    let stopped = echo(&server, "during").await;
    assert!(stopped.is_error, "{stopped:?}");
    assert!(stopped.content.starts_with("error: MCP server 'everything' "), "{stopped:?}");
    assert!(stopped.content.contains("stopped"), "{stopped:?}");
    assert!(stopped.content.contains("it will be restarted for the next call"), "{stopped:?}");

    assert_eq!(echo(&server, "after").await, ToolOutput::ok("Echo: after"));
    let restarted = server.pid().unwrap();
    assert_ne!(restarted, pid);
    assert!(running(restarted));
    // The tools discovered at start stay as they were.
    assert!(server.definitions().iter().any(|d| d.name == "echo"));
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn a_server_dying_during_a_call_is_reported_with_its_stderr_then_restarted() {
    let server = McpServer::start(meta_server()).await.unwrap();
    let first = server.pid().unwrap();
    let died = call(&server, "exit_now", json!({})).await;
    assert!(died.is_error, "{died:?}");
    assert!(
        died.content.starts_with("error: MCP server 'meta' stopped while running exit_now (its connection closed"),
        "{died:?}"
    );
    assert!(died.content.contains("meta fixture: exiting on purpose"), "the stderr tail is missing: {died:?}");
    assert!(died
        .content
        .ends_with("it will be restarted for the next call — the call may or may not have taken effect"));

    let meta = call(&server, "show_meta", json!({})).await;
    assert!(!meta.is_error, "{meta:?}");
    assert_ne!(server.pid().unwrap(), first);
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn a_restart_that_fails_is_reported_and_tried_again_by_the_next_call() {
    let dir = std::env::temp_dir().join(format!("baton-mcp-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flag = dir.join("broken");
    let everything = crate::installed("BATON_TEST_MCP_EVERYTHING");
    // Runs the everything server, unless the flag file exists.
    let script = format!(
        "if [ -e '{}' ]; then echo 'restart refused by the test' >&2; exit 4; fi; exec '{everything}'",
        flag.display()
    );
    let server = McpServer::start(stdio("flaky", vec!["sh".into(), "-c".into(), script])).await.unwrap();
    std::fs::write(&flag, "").unwrap();
    kill_9(server.pid().unwrap());

    let stopped = echo(&server, "one").await;
    assert!(stopped.is_error && stopped.content.contains("stopped"), "{stopped:?}");
    for _ in 0..2 {
        let refused = echo(&server, "two").await;
        assert!(refused.is_error, "{refused:?}");
        assert!(
            refused.content.starts_with("error: MCP server 'flaky' had stopped and could not be restarted to run echo"),
            "{refused:?}"
        );
        assert!(refused.content.contains("restart refused by the test"), "{refused:?}");
        assert_eq!(server.pid(), None);
    }
    std::fs::remove_file(&flag).unwrap();
    assert_eq!(echo(&server, "three").await, ToolOutput::ok("Echo: three"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "external-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_after_a_crash_restart_the_server_once() {
    let starts = std::env::temp_dir().join(format!("baton-mcp-starts-{}", std::process::id()));
    let everything = crate::installed("BATON_TEST_MCP_EVERYTHING");
    // Runs the everything server, counting its starts in a file.
    let script = format!("echo started >> '{}'; exec '{everything}'", starts.display());
    let server = McpServer::start(stdio("counted", vec!["sh".into(), "-c".into(), script])).await.unwrap();
    kill_9(server.pid().unwrap());
    let stopped = echo(&server, "one").await;
    assert!(stopped.is_error && stopped.content.contains("stopped"), "{stopped:?}");

    let echo_tool = tool(&server, "echo");
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let echo_tool = echo_tool.clone();
            tokio::spawn(async move { echo_tool.call(&json!({ "message": format!("call {i}") }), "k").await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap(), ToolOutput::ok(format!("Echo: call {i}")));
    }
    assert_eq!(std::fs::read_to_string(&starts).unwrap(), "started\nstarted\n", "one start, then one restart");
    std::fs::remove_file(&starts).unwrap();
}

#[tokio::test]
async fn a_program_that_does_not_exist_is_named_at_start() {
    let config = stdio("files", vec!["baton-no-such-mcp-server".into(), "--root".into(), "/tmp".into()]);
    let error = McpServer::start(config).await.err().unwrap();
    assert!(matches!(error, McpError::Spawn { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot start MCP server 'files' (baton-no-such-mcp-server --root /tmp): "),
        "{message}"
    );
    assert!(message.contains("check `command`"), "{message}");

    let empty = McpServer::start(stdio("empty", Vec::new())).await.err().unwrap();
    assert!(matches!(empty, McpError::Config { .. }), "{empty:?}");
}

#[tokio::test]
async fn a_server_that_exits_at_start_reports_its_stderr() {
    let command = vec!["sh".into(), "-c".into(), "echo 'fixture: no config file found' >&2; exit 3".into()];
    let error = McpServer::start(stdio("broken", command)).await.err().unwrap();
    assert!(matches!(error, McpError::Initialize { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "MCP server 'broken' (sh -c \"echo 'fixture: no config file found' >&2; exit 3\") failed to initialize"
        ),
        "{message}"
    );
    assert!(message.ends_with("its stderr ends with:\nfixture: no config file found"), "{message}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_start() {
    let error = McpServer::start(stdio("silent", vec!["sleep".into(), "600".into()])).await.err().unwrap();
    assert!(matches!(error, McpError::InitializeTimeout { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "MCP server 'silent' (sleep 600) did not answer initialize within 30 s: check that `command` starts an MCP \
         server speaking MCP over stdio"
    );
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn dropping_the_server_stops_its_process() {
    let server = McpServer::start(everything()).await.unwrap();
    let pid = server.pid().unwrap();
    let echo_tool = tool(&server, "echo");
    assert!(running(pid));
    drop(server);
    // The tools hold the server: it is still up while one is left.
    assert_eq!(echo_tool.call(&json!({"message": "still"}), "k").await, ToolOutput::ok("Echo: still"));
    drop(echo_tool);
    // Stopping is asynchronous (a grace period, then a kill); the bound only keeps a leak from hanging.
    for _ in 0..300 {
        if !running(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server process {pid} still runs 30 s after its McpServer was dropped");
}

#[tokio::test]
async fn a_stdio_server_gets_a_clean_environment_and_what_env_sets() {
    // `cargo test` runs this with CARGO_* variables set: they stand for baton's secrets.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some(), "cargo sets CARGO_PKG_NAME for its tests");
    let script = "env | cut -d= -f1 | sort | tr '\\n' ' ' >&2; echo >&2; echo \"given=$GIVEN\" >&2; exit 3";
    let mut config = stdio("nosy", vec!["sh".into(), "-c".into(), script.into()]);
    if let baton_tools::mcp::McpTransport::Stdio { env, .. } = &mut config.transport {
        env.push(("GIVEN".into(), "${CARGO_PKG_NAME}".into()));
    }
    let message = McpServer::start(config).await.err().unwrap().to_string();
    assert!(message.contains("given=baton-tools"), "a value `env` sets reaches the server: {message}");
    let names = message.lines().rev().nth(1).unwrap_or_default();
    assert!(names.contains("PATH"), "PATH is passed: {message}");
    assert!(!names.contains("CARGO_PKG_NAME"), "baton's own variables must not reach the server: {names}");
}
