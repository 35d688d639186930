//! Starting, crashing, restarting and stopping stdio servers. Failing to start needs only `sh`
//! and `sleep`; the rest runs installed servers (the external tier).

use crate::stdio;
#[cfg(feature = "external-tests")]
use crate::{call, echo, everything, guarded, meta_server, names, tool};
#[cfg(feature = "external-tests")]
use baton_core::ToolOutput;
use baton_tools::mcp::{McpError, McpServer};
#[cfg(feature = "external-tests")]
use baton_tools::Tool;
#[cfg(feature = "external-tests")]
use serde_json::json;
#[cfg(feature = "external-tests")]
use std::time::Duration;

fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -9 {pid} failed");
}

/// Kills the process whose id follows the last `before` in `message` (a fixture's leftover).
fn kill_left_behind(message: &str, before: &str) {
    let (_, rest) = message.rsplit_once(before).unwrap_or_else(|| panic!("no '{before}' in {message}"));
    let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
    kill_9(pid.parse().unwrap());
}

/// Kills child process `pid` with SIGKILL and waits until it has ended as a whole, so it can
/// no longer read a call: a killed multithreaded process shows as a zombie while its other
/// threads still end, with its pipes open. Its status is read without reaping it (`WNOWAIT`).
#[cfg(feature = "external-tests")]
async fn kill_9_and_wait(pid: u32) {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    kill_9(pid);
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    // The bound only keeps a process that survives SIGKILL from hanging the test.
    for _ in 0..300 {
        // An error (ECHILD) means it was reaped already.
        if !matches!(waitid(Id::Pid(nix::unistd::Pid::from_raw(pid as i32)), flags), Ok(WaitStatus::StillAlive)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("process {pid} still runs 30 s after SIGKILL");
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
async fn a_server_killed_between_calls_is_restarted_by_the_next_call() {
    let server = McpServer::start(everything()).await.unwrap();
    assert_eq!(echo(&server, "before").await, ToolOutput::ok("Echo: before"));
    let pid = server.pid().unwrap();
    kill_9_and_wait(pid).await;

    // The call had not reached the dead server, so it runs on a new one.
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
        died.content.starts_with(
            "error: MCP server 'meta' stopped while running exit_now (its process exited with status 3; its stderr \
             ends with:\n"
        ),
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
async fn a_server_exiting_during_a_call_while_its_child_holds_its_stdout_is_reported_at_once() {
    let server = McpServer::start(meta_server()).await.unwrap();
    let first = server.pid().unwrap();
    // Its stdout stays open in the child, so only its exit tells; the call's time limit is a minute.
    let died = guarded(&server, "exit_leaving_a_child").call(&json!({}), "key-exit").await;
    kill_left_behind(&died.content, "leaving process ");
    assert!(died.is_error, "{died:?}");
    assert!(
        died.content.starts_with(
            "error: MCP server 'meta' stopped while running exit_leaving_a_child (its process exited with status 4"
        ),
        "{died:?}"
    );
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
    kill_9_and_wait(server.pid().unwrap()).await;

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
    kill_9_and_wait(server.pid().unwrap()).await;

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
    assert!(message.contains("failed to initialize: its process exited with status 3 before it answered"), "{message}");
    assert!(message.ends_with("its stderr ends with:\nfixture: no config file found"), "{message}");
}

#[tokio::test]
async fn a_server_that_exits_at_start_while_its_child_holds_its_stdout_is_reported_at_once() {
    // It reads the initialize request, then exits. Only the exit tells: the child keeps stdout
    // open for a minute, past the start's time limit.
    let script = "sleep 60 2>/dev/null & read -r request; echo \"fixture: giving up, leaving $!\" >&2; exit 5";
    let error = McpServer::start(stdio("leaky", vec!["sh".into(), "-c".into(), script.into()])).await.err().unwrap();
    let message = error.to_string();
    kill_left_behind(&message, "leaving ");
    assert!(matches!(error, McpError::Initialize { .. }), "{error:?}");
    assert!(message.contains("failed to initialize: its process exited with status 5 before it answered"), "{message}");
    assert!(message.contains("its stderr ends with:\nfixture: giving up, leaving "), "{message}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_at_start() {
    let error = McpServer::start(stdio("silent", vec!["sleep".into(), "600".into()])).await.err().unwrap();
    assert!(matches!(error, McpError::InitializeTimeout { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "MCP server 'silent' (sleep 600) did not answer initialize within 10 s: check that `command` starts an MCP \
         server speaking MCP over stdio (one that downloads itself first, as `npx -y` or `uvx` do, may need \
         installing beforehand)"
    );
}

#[tokio::test]
async fn servers_start_together_and_one_that_fails_is_reported_without_waiting_for_one_that_hangs() {
    let silent = stdio("silent", vec!["sleep".into(), "600".into()]);
    let broken = stdio("broken", vec!["sh".into(), "-c".into(), "echo 'fixture: broken' >&2; exit 3".into()]);
    // Started one after the other, the first would hold up the second for the whole time limit.
    let error = McpServer::start_all(vec![silent, broken]).await.err().unwrap();
    assert!(matches!(&error, McpError::Initialize { server, .. } if server == "broken"), "{error:?}");
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn servers_started_together_come_in_the_order_asked() {
    let servers = McpServer::start_all(vec![meta_server(), everything()]).await.unwrap();
    assert_eq!(servers.len(), 2);
    assert!(names(&servers[0]).contains(&"show_meta".to_string()), "{:?}", names(&servers[0]));
    assert!(names(&servers[1]).contains(&"echo".to_string()), "{:?}", names(&servers[1]));
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
