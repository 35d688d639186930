//! `[limits] turn_seconds` end to end: a model or a tool slower than the turn's deadline is cut
//! off, the turn ends through the limit path within the bound, `run` and `trace` show the limit,
//! and the conversation goes on from its journal with a history the provider accepts.

use crate::mock::{calls, text, Answer, MockServer};
use crate::support::{baton, run_json, support_team, temp_dir};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn a_slow_model_past_turn_seconds_escalates_and_run_and_trace_show_the_limit() {
    let server = MockServer::start(vec![Answer::Slow(Duration::from_secs(5), Box::new(text("Too late.")))]);
    let dir = temp_dir("deadline-model");
    let team = support_team(&dir, &server.base_url, "fallback = \"human\"\nturn_seconds = 1");
    let db = dir.join("baton.db");
    let (team, db) = (team.to_str().unwrap(), db.to_str().unwrap());
    let started = Instant::now();
    let output = baton(&["run", team, "My internet is down", "--db", db, "--conversation", "slow"], &[]);
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(took < Duration::from_secs(4), "the turn ended at its deadline, not the model's: {took:?}");
    assert!(
        stdout.contains("[human has the conversation (limit turn_seconds reached): it waits for a person]"),
        "{stdout}"
    );

    let trace = baton(&["trace", "slow", "--db", db], &[]);
    let trace = String::from_utf8_lossy(&trace.stdout);
    assert!(trace.contains("DEADLINE: the turn ran for its 1 s; the calls in flight were cut off"), "{trace}");
    assert!(
        trace.contains(
            "LIMIT turn_seconds: the turn ran past its deadline of 1 s while the model of agent 'triage' was answering"
        ),
        "{trace}"
    );
}

/// A desk whose one tool runs `sleep 3` and then writes `done` into `dir`, failing on a limit.
fn slow_tool_team(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let done = dir.join("done");
    let team = format!(
        r#"name = "slowdesk"
entry = "desk"

[limits]
on_limit = "fail"
turn_seconds = 1

[models.fast]
provider = "openai"
model = "gpt-test"
base_url = "{base_url}"
timeout_secs = 10

[agents.desk]
model = "fast"
tools = ["slow_job"]

[tools.slow_job]
kind = "command"
description = "A slow job."
command = ["sh", "-c", "sleep 3; echo done > '{}'"]
timeout = 30
"#,
        done.display()
    );
    let path = dir.join("team.toml");
    std::fs::write(&path, team).unwrap();
    path
}

#[test]
fn a_slow_tool_is_stopped_at_the_deadline_the_turn_fails_and_the_next_turn_goes_on() {
    let server = MockServer::start(vec![calls(&[("job1", "slow_job", json!({}))]), text("Back.")]);
    let dir = temp_dir("deadline-tool");
    let team = slow_tool_team(&dir, &server.base_url);
    let db = dir.join("baton.db");
    let started = Instant::now();
    let (code, out) = run_json(&team, &db, "run the job", &["--conversation", "job"], &[]);
    assert!(started.elapsed() < Duration::from_secs(3), "cut off at the deadline: {:?}", started.elapsed());
    assert_eq!(code, 1, "{out}");
    assert_eq!((out["status"].as_str(), out["limit"].as_str()), (Some("failed"), Some("turn_seconds")));
    let error = out["error"].as_str().unwrap();
    assert_eq!(
        error,
        "limit turn_seconds reached: the turn ran past its deadline of 1 s while 'slow_job' (call job1) ran, cut off \
         with its outcome unknown: check whether it took effect"
    );

    // The next turn loads the journal (the deadline replays) and sends the provider a history
    // in which the cut-off call has its result.
    let (code, out) = run_json(&team, &db, "and now?", &["--conversation", "job"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["reply"], "Back.");
    let received = server.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].rejected, None, "the provider accepts the history");
    let messages = received[1].body["messages"].as_array().unwrap();
    let result = messages.iter().find(|m| m["tool_call_id"] == "job1").unwrap();
    assert!(result["content"].as_str().unwrap().contains("cut off"), "{result}");

    // The job was stopped with the turn: it never finished.
    std::thread::sleep(Duration::from_secs(4).saturating_sub(started.elapsed()));
    assert!(!dir.join("done").exists(), "the cut-off tool call went on running");
}
