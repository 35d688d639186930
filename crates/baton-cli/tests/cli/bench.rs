//! `baton bench`: the figures it prints count what the conversations really did, a durable
//! journal ends every turn it counts, failures are counted and fail the command.

use crate::mock::{calls, text, Answer, MockServer};
use crate::support::{baton, example, support_team, temp_dir, DEFAULT_LIMITS};
use serde_json::{json, Value};
use std::process::Output;

const INTERNET_DOWN: &str = "Hi, my internet has been down since this morning. My customer number is 7.";

fn bench_json(args: &[&str]) -> (i32, Value, String) {
    let output: Output = baton(&[&["bench"], args, &["--json"]].concat(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}\nstderr: {stderr}"));
    (output.status.code().unwrap_or(-1), json, stderr)
}

fn number(report: &Value, field: &str) -> f64 {
    report[field].as_f64().unwrap_or_else(|| panic!("{field} is not a number: {report}"))
}

#[test]
fn the_support_example_runs_offline_and_every_figure_counts_what_happened() {
    let team = example("support", "team.toml");
    let (code, report, stderr) =
        bench_json(&[team.to_str().unwrap(), "--input", INTERNET_DOWN, "-n", "12", "-c", "4", "--warmup", "2"]);
    assert_eq!(code, 0, "{report}\n{stderr}");
    for field in ["conversations", "wall_s", "cpu_s", "cpu_ms_per_conv", "conv_per_s", "p50_ms", "p99_ms", "maxrss_mb"]
    {
        assert!(report.get(field).is_some(), "the issue's field {field} is missing: {report}");
    }
    assert_eq!((report["conversations"].as_u64(), report["turns"].as_u64()), (Some(12), Some(12)));
    assert_eq!((report["team"].as_str(), report["db"].as_str()), (Some("support"), Some("memory")));
    // Each conversation: triage hands off to technical, which checks the line and answers.
    assert_eq!(report["model_calls"], 36, "{report}");
    assert_eq!((report["handoffs"].as_u64(), report["tool_calls"].as_u64()), (Some(12), Some(12)));
    assert_eq!(report["agents"], json!({"technical": 12}));
    assert_eq!(report["statuses"], json!({"answered": 12}));
    assert_eq!((report["failed"].as_u64(), &report["first_error"]), (Some(0), &Value::Null));
    let [p50, p90, p99, max] = ["p50_ms", "p90_ms", "p99_ms", "max_ms"].map(|field| number(&report, field));
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{report}");
    assert!(number(&report, "cpu_s") > 0.0 && number(&report, "maxrss_mb") > 1.0, "{report}");
    let per_conversation = number(&report, "cpu_ms_per_conv");
    // cpu_s is rounded to the millisecond: 0.5 ms ÷ 12 conversations at most.
    assert!((per_conversation - number(&report, "cpu_s") * 1000.0 / 12.0).abs() < 0.05, "{report}");
    assert!(stderr.contains("12 conversations of 1 turn"), "{stderr}");
    assert!(!stderr.contains("12/12 conversations"), "no progress bar is drawn off a terminal: {stderr}");
}

/// What `../shared/peers/mockllm.py` answers: hand off to technical with no arguments, then
/// check the line, then answer.
fn peers_script(_: usize, request: &Value) -> Answer {
    let offered: Vec<&str> =
        request["tools"].as_array().into_iter().flatten().filter_map(|t| t["function"]["name"].as_str()).collect();
    let called: Vec<&str> = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["tool_calls"].as_array().into_iter().flatten())
        .filter_map(|call| call["function"]["name"].as_str())
        .collect();
    if offered.contains(&"transfer_to_technical") && !called.contains(&"transfer_to_technical") {
        calls(&[("h", "transfer_to_technical", json!({}))])
    } else if offered.contains(&"check_line_status") && !called.contains(&"check_line_status") {
        calls(&[("t", "check_line_status", json!({"customer_id": "42"}))])
    } else {
        text("Your line is up. Please restart the router.")
    }
}

#[test]
fn a_durable_bench_of_several_turns_journals_every_turn_to_its_end() {
    let server = MockServer::start_with(peers_script);
    let dir = temp_dir("bench-durable");
    std::fs::write(dir.join("data/lines.json"), r#"{"42": {"status": "up"}}"#).unwrap();
    let team = dir.join("team.toml");
    std::fs::write(
        &team,
        format!(
            r#"name = "peers"
entry = "triage"

[limits]
on_limit = "fail"

[models.mock]
provider = "openai"
model = "mock"
base_url = "{}"

[agents.triage]
instructions = "Route the customer."
model = "mock"
handoffs = [{{ to = "technical", require_reason = false }}, {{ to = "billing", require_reason = false }}]

[agents.technical]
instructions = "You fix network problems."
model = "mock"
tools = ["check_line_status"]

[agents.billing]
instructions = "You resolve billing disputes."
model = "mock"

[tools.check_line_status]
kind = "lookup"
description = "Check the customer's line status."
data = "data/lines.json"
key = "customer_id"
"#,
            server.base_url
        ),
    )
    .unwrap();
    let db = dir.join("bench.db");
    let (code, report, stderr) = bench_json(&[
        team.to_str().unwrap(),
        "--input",
        "My internet is down (customer 42)",
        "--input",
        "Thanks. Is it fixed now?",
        "-n",
        "6",
        "-c",
        "3",
        "--warmup",
        "1",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!((report["conversations"].as_u64(), report["turns"].as_u64()), (Some(6), Some(12)));
    // Turn 1: hand off (no reason given), check the line, answer; turn 2: technical answers.
    assert_eq!((report["model_calls"].as_u64(), report["handoffs"].as_u64()), (Some(24), Some(6)), "{report}");
    assert_eq!(report["agents"], json!({"technical": 6}));
    assert_eq!(server.received().len(), 7 * 4, "the warm-up's calls reached the model too, and no more");
    let resume = baton(&["resume", "--db", db.to_str().unwrap()], &[]);
    assert_eq!(resume.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&resume.stderr).contains("nothing to resume"),
        "every turn of the durable bench ended in the journal: {}",
        String::from_utf8_lossy(&resume.stderr)
    );
}

#[test]
fn failed_conversations_are_counted_reported_and_fail_the_command() {
    let dir = temp_dir("bench-failing");
    let team = support_team(&dir, "http://127.0.0.1:9/v1", DEFAULT_LIMITS);
    let team = team.to_str().unwrap();
    let (code, report, _) = bench_json(&[team, "--input", "hi", "-n", "2", "-c", "2", "--warmup", "0"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!((report["conversations"].as_u64(), report["failed"].as_u64()), (Some(2), Some(2)));
    assert!(report["first_error"].as_str().is_some_and(|error| !error.is_empty()), "{report}");

    let warm_up = baton(&["bench", team, "--input", "hi", "-n", "2", "--warmup", "1"], &[]);
    assert_eq!(warm_up.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&warm_up.stderr).contains("a warm-up conversation failed"));
    assert!(warm_up.stdout.is_empty(), "no figures for a bench that could not start");
}

#[test]
fn bad_arguments_are_usage_errors_that_say_what_to_do() {
    let team = example("support", "team.toml");
    let team = team.to_str().unwrap();
    for (args, says) in [
        (vec!["-c", "0"], "-c must be at least 1"),
        (vec!["-n", "0"], "-n must be at least 1"),
        (vec!["--threads", "0"], "--threads must be at least 1"),
    ] {
        let output = baton(&[&["bench", team, "--input", "hi"], &args[..]].concat(), &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(says), "{args:?}");
    }
    let blank = baton(&["bench", team, "--input", "  "], &[]);
    assert_eq!(blank.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&blank.stderr).contains("--input"));
    assert_eq!(baton(&["bench", team], &[]).status.code(), Some(2), "--input is required");
}
