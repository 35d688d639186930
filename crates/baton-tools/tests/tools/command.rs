//! Command tools: what the program receives, and how its output and failures read.

use crate::support::{definition, temp_path, with_timeout};
use baton_core::ToolOutput;
use baton_tools::command::{CommandTool, CommandToolConfig, PASSED};
use baton_tools::guard::{Guarded, ToolSettings};
use baton_tools::Tool;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A tool called `script` running `program` with `args`.
fn tool(program: &str, args: &[&str]) -> CommandTool {
    CommandTool::new(definition("script"), config(program, args))
}

fn config(program: &str, args: &[&str]) -> CommandToolConfig {
    CommandToolConfig {
        program: program.into(),
        args: args.iter().map(|arg| arg.to_string()).collect(),
        cwd: None,
        env: Vec::new(),
        pass_env: Vec::new(),
    }
}

/// Whether the process `pid` still runs (a zombie waiting to be reaped does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits up to ten seconds for `pid` to be gone; whether it is.
async fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}

#[tokio::test]
async fn the_program_reads_the_arguments_on_stdin_and_its_stdout_is_the_result() {
    // The shell echoes the arguments it read inside indented JSON, which the result compacts.
    let script = r#"arguments=$(cat)
printf '{\n  "got": %s,\n  "key": "%s",\n  "region": "%s"\n}\n' "$arguments" "$BATON_IDEMPOTENCY_KEY" "$REGION""#;
    let mut config = config("sh", &["-c", script]);
    config.env.push(("REGION".into(), "eu".into()));
    let tool = CommandTool::new(definition("script"), config);
    let output = tool.call(&json!({"order": "A-1", "amount": 5}), "turn-2-call-1").await;
    assert_eq!(output, ToolOutput::ok(r#"{"got":{"order":"A-1","amount":5},"key":"turn-2-call-1","region":"eu"}"#));
}

#[tokio::test]
async fn env_values_read_batons_environment_at_each_call() {
    let mut config = config("sh", &["-c", "printf '%s' \"$API_TOKEN\""]);
    config.env.push(("API_TOKEN".into(), "Bearer ${BATON_TOOLS_TEST_COMMAND_TOKEN} $HOME $${literal}".into()));
    let tool = CommandTool::new(definition("script"), config);
    std::env::set_var("BATON_TOOLS_TEST_COMMAND_TOKEN", "first");
    assert_eq!(tool.call(&json!({}), "k").await, ToolOutput::ok("Bearer first $HOME ${literal}"));
    std::env::set_var("BATON_TOOLS_TEST_COMMAND_TOKEN", "second");
    assert_eq!(tool.call(&json!({}), "k").await, ToolOutput::ok("Bearer second $HOME ${literal}"));

    let mut config = self::config("sh", &["-c", "touch ran"]);
    config.env.push(("API_TOKEN".into(), "${BATON_TOOLS_TEST_COMMAND_NEVER_SET}".into()));
    let dir = temp_path("unset-env");
    std::fs::create_dir_all(&dir).unwrap();
    config.cwd = Some(dir.clone());
    let output = CommandTool::new(definition("script"), config).call(&json!({}), "k").await;
    assert_eq!(
        output,
        ToolOutput::error(
            "error: the environment variable API_TOKEN of 'script' uses ${BATON_TOOLS_TEST_COMMAND_NEVER_SET}, which \
             is not set: set the environment variable BATON_TOOLS_TEST_COMMAND_NEVER_SET"
        )
    );
    assert!(!dir.join("ran").exists(), "the program is not started");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The variables a run of `config` sees, as `NAME=value` lines printed by the shell.
async fn environment_of(config: CommandToolConfig) -> Vec<String> {
    let output = CommandTool::new(definition("script"), config).call(&json!({}), "k").await;
    assert!(!output.is_error, "{}", output.content);
    output.content.lines().map(String::from).collect()
}

#[tokio::test]
async fn the_program_sees_none_of_batons_environment_but_what_the_tool_passes() {
    std::env::set_var("BATON_TOOLS_TEST_SECRET_3", "hunter2");
    std::env::set_var("BATON_TOOLS_TEST_PASSED_3", "visible");
    let seen = environment_of(config("sh", &["-c", "env"])).await;
    assert!(!seen.iter().any(|line| line.contains("hunter2") || line.contains("visible")), "{seen:?}");
    // The shell adds PWD; the call adds its key and its run's mark.
    let expected: Vec<&str> =
        PASSED.iter().copied().chain(["PWD", "BATON_IDEMPOTENCY_KEY", "BATON_TOOL_RUN"]).collect();
    for line in &seen {
        let name = line.split_once('=').map_or(line.as_str(), |(name, _)| name);
        assert!(expected.contains(&name), "the program saw {name}: {seen:?}");
    }
    let path = format!("PATH={}", std::env::var("PATH").unwrap());
    assert!(seen.contains(&path), "PATH passes: {seen:?}");

    let mut passing = config("sh", &["-c", "env"]);
    passing.pass_env = vec!["BATON_TOOLS_TEST_PASSED_3".into(), "BATON_TOOLS_TEST_NEVER_SET_3".into()];
    passing.env.push(("REGION".into(), "eu".into()));
    let seen = environment_of(passing).await;
    assert!(seen.contains(&"BATON_TOOLS_TEST_PASSED_3=visible".to_string()), "{seen:?}");
    assert!(seen.contains(&"REGION=eu".to_string()), "{seen:?}");
    assert!(!seen.iter().any(|line| line.contains("hunter2") || line.contains("NEVER_SET")), "{seen:?}");
}

#[tokio::test]
async fn text_output_is_trimmed_and_no_output_says_ok() {
    assert_eq!(
        tool("sh", &["-c", "echo '  refund sent  '"]).call(&json!({}), "k").await,
        ToolOutput::ok("refund sent")
    );
    assert_eq!(tool("sh", &["-c", "true"]).call(&json!({}), "k").await, ToolOutput::ok("ok"));
}

#[tokio::test]
async fn the_program_runs_in_the_configured_directory() {
    let dir = temp_path("cwd");
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = config("sh", &["-c", "pwd -P"]);
    config.cwd = Some(dir.clone());
    let output = CommandTool::new(definition("script"), config).call(&json!({}), "k").await;
    assert_eq!(output, ToolOutput::ok(dir.canonicalize().unwrap().display().to_string()));
    std::fs::remove_dir(&dir).unwrap();
}

#[tokio::test]
async fn a_failing_program_reports_its_status_and_stderr() {
    let script = "echo 'progress: 50%'; echo 'amount must be positive' >&2; exit 3";
    let output = tool("sh", &["-c", script]).call(&json!({}), "k").await;
    assert_eq!(output, ToolOutput::error("error: 'script' failed (exit status: 3): amount must be positive"));
}

#[tokio::test]
async fn a_failing_program_with_nothing_on_stderr_reports_its_stdout() {
    let output = tool("sh", &["-c", "echo 'no such order'; exit 1"]).call(&json!({}), "k").await;
    assert_eq!(output, ToolOutput::error("error: 'script' failed (exit status: 1): no such order"));
}

#[tokio::test]
async fn a_long_stderr_is_quoted_by_its_end() {
    // 'noise ' 5000 times (30000 bytes), then the reason.
    let script = "yes noise | head -n 5000 | tr '\\n' ' ' >&2; printf 'the real reason' >&2; exit 2";
    let output = tool("sh", &["-c", script]).call(&json!({}), "k").await;
    assert!(output.is_error);
    assert!(output.content.ends_with("the real reason"), "{}", output.content);
    assert!(output.content.len() < 2200, "{} bytes", output.content.len());
}

#[tokio::test]
async fn a_program_killed_by_a_signal_says_so() {
    let output = tool("sh", &["-c", "kill -TERM $$"]).call(&json!({}), "k").await;
    assert!(output.is_error);
    assert!(output.content.contains("signal: 15"), "{}", output.content);
}

#[tokio::test]
async fn a_program_that_cannot_start_is_an_error_naming_it() {
    let output = tool("/nonexistent/baton/refund.sh", &[]).call(&json!({}), "k").await;
    assert!(output.is_error);
    assert!(output.content.starts_with("error: cannot start the program /nonexistent/baton/refund.sh of 'script': "));
    assert!(output.content.contains("No such file or directory"), "{}", output.content);
    assert!(output.content.contains("relative paths are resolved against the team file's directory"));
}

#[tokio::test]
async fn a_chatty_program_reading_a_large_input_does_not_block() {
    // The program fills the stdout pipe before it reads stdin, which is larger than a pipe too.
    let script = "head -c 300000 /dev/zero | tr '\\000' y; echo\n\
                  head -c 300000 /dev/zero | tr '\\000' z >&2\n\
                  wc -c | tr -d ' '";
    let arguments = json!({"text": "x".repeat(300_000)});
    let output = tool("sh", &["-c", script]).call(&arguments, "k").await;
    assert!(!output.is_error, "{}", &output.content[..200.min(output.content.len())]);
    assert!(output.content.ends_with(&format!("\n{}", arguments.to_string().len())));
}

#[tokio::test]
async fn a_program_that_ignores_its_input_still_answers() {
    let arguments = json!({"text": "x".repeat(1_000_000)});
    let output = tool("sh", &["-c", "echo done"]).call(&arguments, "k").await;
    assert_eq!(output, ToolOutput::ok("done"));
}

#[tokio::test]
async fn a_program_stopped_by_the_timeout_is_killed_with_what_it_started() {
    // The shell writes its pid and that of a `sleep` it started, then waits; if the machine is
    // so slow that the timeout comes before both are written, try again.
    for _ in 0..5 {
        let pid_file = temp_path("pids");
        let script = "echo $$ > \"$1\"; sleep 30 & echo $! >> \"$1\"; wait";
        let pid_path = pid_file.display().to_string();
        let guarded = with_timeout(tool("sh", &["-c", script, "sh", &pid_path]), Duration::from_millis(200));
        let output = guarded.call(&json!({}), "k").await;
        assert_eq!(
            output,
            ToolOutput::error(
                "error: 'script' did not answer within 200 ms; it was stopped (it may or may not have taken effect)"
            )
        );
        let pids: Vec<u32> = std::fs::read_to_string(&pid_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        let _ = std::fs::remove_file(&pid_file);
        if pids.len() < 2 {
            continue;
        }
        for pid in pids {
            assert!(gone(pid).await, "the process {pid} still runs after the call was stopped");
        }
        return;
    }
    panic!("the shell never wrote both pids within the 200 ms timeout");
}

#[tokio::test]
async fn a_program_stopped_by_the_timeout_is_killed_with_what_it_started_in_a_new_session() {
    // The shell starts a `sleep` in a session of its own (outside the shell's process group),
    // which writes its pid, and the shell waits; if the machine is so slow that the timeout comes
    // before the pid is written, try again.
    for _ in 0..5 {
        let pid_file = temp_path("setsid-pid");
        let pid_path = pid_file.display().to_string();
        let script = "echo $$ > \"$1.shell\"; setsid sh -c 'echo $$ > \"$1\"; exec sleep 300' sh \"$1\" & wait";
        let guarded = with_timeout(tool("sh", &["-c", script, "sh", &pid_path]), Duration::from_millis(300));
        let output = guarded.call(&json!({}), "k").await;
        assert!(output.content.contains("did not answer within 300 ms"), "{}", output.content);
        let read = |path: &str| std::fs::read_to_string(path).ok().and_then(|pid| pid.trim().parse::<u32>().ok());
        let (shell, grandchild) = (read(&format!("{pid_path}.shell")), read(&pid_path));
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(format!("{pid_path}.shell"));
        let (Some(shell), Some(grandchild)) = (shell, grandchild) else { continue };
        let survived = !gone(grandchild).await;
        if survived {
            let _ = std::process::Command::new("kill").args(["-s", "KILL", &grandchild.to_string()]).status();
        }
        assert!(!survived, "the grandchild {grandchild}, in a session of its own, still ran after the timeout");
        assert!(gone(shell).await, "the shell {shell} still runs");
        return;
    }
    panic!("the grandchild never wrote its pid within the 300 ms timeout");
}

#[tokio::test]
async fn a_megabyte_of_output_is_cut_by_the_guard() {
    let guarded = Guarded::new(
        Arc::new(tool("sh", &["-c", "head -c 1000000 /dev/zero | tr '\\000' x; echo"])),
        ToolSettings::default(),
    );
    let output = guarded.call(&json!({}), "k").await;
    assert!(!output.is_error);
    assert_eq!(output.content, format!("{}\n[… result cut: 32768 of 1000000 bytes shown]", "x".repeat(32768)));
}
