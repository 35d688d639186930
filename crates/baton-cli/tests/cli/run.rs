//! `baton run` and `baton trace` against a Chat Completions server.

use crate::mock::{calls, text, Answer, MockServer};
use crate::support::{baton, run_json, support_team, temp_dir, trace_json, DEFAULT_LIMITS};
use serde_json::{json, Value};
use std::time::Duration;

fn reason(reason: &str) -> Value {
    json!({"reason": reason, "summary": "Ada's internet is down", "facts": {"customer_id": "42"}})
}

#[test]
fn a_turn_hands_off_runs_a_tool_and_answers_in_the_json_contract() {
    let server = MockServer::start(vec![
        calls(&[("c1", "lookup_customer", json!({"customer_id": "42"}))]),
        calls(&[("c2", "transfer_to_technical", reason("network problem"))]),
        calls(&[("c3", "check_line_status", json!({"customer_id": "42"}))]),
        text("Your line is up. Please restart the router."),
    ]);
    let dir = temp_dir("turn");
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let (code, out) = run_json(&team, &dir.join("baton.db"), "My internet is down (customer 42)", &[], &[]);
    assert_eq!(code, 0, "{out}");
    let keys: Vec<&str> = out.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "conversation",
            "turn",
            "status",
            "agent",
            "reply",
            "handoffs",
            "limit",
            "model_calls",
            "tool_calls",
            "error",
            "routed",
            "malformed_calls",
            "usage",
            "pending"
        ]
    );
    // Four calls of 11 tokens in and 7 out: two by triage, two by technical; no prices, no cost.
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 44, "output_tokens": 28, "agents": {
            "technical": {"input_tokens": 22, "output_tokens": 14},
            "triage": {"input_tokens": 22, "output_tokens": 14},
        }})
    );
    assert_eq!(out["malformed_calls"], 0);
    assert_eq!(out["turn"], 1);
    assert_eq!(out["status"], "answered");
    assert_eq!(out["agent"], "technical");
    assert_eq!(out["reply"], "Your line is up. Please restart the router.");
    assert_eq!(out["handoffs"], json!([{"from": "triage", "to": "technical", "reason": "network problem"}]));
    assert_eq!((out["limit"].clone(), out["error"].clone()), (Value::Null, Value::Null));
    assert_eq!((out["model_calls"].clone(), out["tool_calls"].clone()), (json!(4), json!(2)));

    let received = server.received();
    assert_eq!(received.len(), 4);
    let technical = &received[2].body;
    let system = technical["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are technical."), "{system}");
    assert!(system.contains("Reason: network problem") && system.contains("customer_id: 42"), "{system}");
    let offered: Vec<&str> =
        technical["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(offered, ["check_line_status", "transfer_to_triage", "transfer_to_billing", "transfer_to_human"]);
    assert!(received.iter().all(|r| r.authorization.is_none()), "no key configured, no Authorization header");
}

#[test]
fn mixed_calls_keep_the_history_valid_for_the_provider() {
    let server = MockServer::start(vec![
        calls(&[
            ("h1", "transfer_to_technical", reason("network")),
            ("t1", "lookup_customer", json!({"customer_id": "42"})),
            ("h2", "transfer_to_billing", reason("money")),
            ("h3", "transfer_to_nobody", reason("?")),
        ]),
        text("Fixed."),
    ]);
    let dir = temp_dir("mixed");
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let (code, out) = run_json(&team, &dir.join("baton.db"), "help", &[], &[("BATON_TEST_KEY", "sk-test")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!((out["agent"].as_str(), out["reply"].as_str()), (Some("technical"), Some("Fixed.")));
    let received = server.received();
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer sk-test"));
    let history = received[1].body["messages"].as_array().unwrap();
    let tool_results: Vec<&str> =
        history.iter().filter(|m| m["role"] == "tool").map(|m| m["content"].as_str().unwrap()).collect();
    assert!(tool_results.is_empty(), "another agent's tool traffic is rewritten as text: {history:?}");
    let rewritten: String = history.iter().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n");
    assert!(rewritten.contains("ignored: one handoff per response"), "{rewritten}");
    assert!(rewritten.contains("'nobody' is not an agent you can hand off to"), "{rewritten}");
}

#[test]
fn follow_up_turns_stay_with_the_specialist_and_the_journal_survives_the_process() {
    let server = MockServer::start(vec![
        calls(&[("h1", "transfer_to_technical", reason("network"))]),
        text("Restart the router."),
        text("Then call us again."),
    ]);
    let dir = temp_dir("sticky");
    let (team, db) = (support_team(&dir, &server.base_url, DEFAULT_LIMITS), dir.join("baton.db"));
    let (_, first) = run_json(&team, &db, "My internet is down", &[], &[]);
    let conversation = first["conversation"].as_str().unwrap().to_string();
    let (code, second) = run_json(&team, &db, "Still down", &["--conversation", &conversation], &[]);
    assert_eq!(code, 0, "{second}");
    assert_eq!((second["turn"].clone(), second["agent"].clone()), (json!(2), json!("technical")));
    assert_eq!(second["handoffs"], json!([]));
    let last = &server.received()[2].body;
    assert!(last["messages"][0]["content"].as_str().unwrap().starts_with("You are technical."));
    let users: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["My internet is down", "Still down"], "the specialist sees the whole conversation");

    let trace = trace_json(db.to_str().unwrap(), &conversation);
    let handoff = trace.iter().find(|line| line["kind"] == "handoff_taken").expect("the handoff is in the trace");
    assert_eq!(handoff["data"]["from"], "triage");
    assert_eq!(handoff["data"]["to"], "technical");
    assert_eq!(handoff["data"]["payload"]["reason"], "network");
    assert_eq!(handoff["data"]["context"], "full");
    assert_eq!(trace.iter().filter(|line| line["kind"] == "turn_ended").count(), 2);
    let seqs: Vec<u64> = trace.iter().map(|line| line["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());

    let readable = baton(&["trace", &conversation, "--db", db.to_str().unwrap()], &[]);
    let readable = String::from_utf8_lossy(&readable.stdout);
    assert!(readable.contains("HANDOFF triage → technical (context full): network"), "{readable}");
}

#[test]
fn transient_errors_are_retried_then_succeed() {
    let busy = Answer::Raw(503, r#"{"error":{"message":"overloaded"}}"#.into());
    let server = MockServer::start(vec![busy.clone(), busy, text("Hello!")]);
    let dir = temp_dir("retry");
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let (code, out) = run_json(&team, &dir.join("baton.db"), "hi", &[], &[]);
    assert_eq!((code, out["reply"].as_str()), (0, Some("Hello!")), "{out}");
    assert_eq!(server.received().len(), 3);
}

#[test]
fn a_failing_provider_fails_the_turn_with_its_message_after_four_attempts() {
    let server = MockServer::start(vec![Answer::Raw(500, r#"{"error":{"message":"the GPU caught fire"}}"#.into())]);
    let dir = temp_dir("fail");
    let (team, db) = (support_team(&dir, &server.base_url, DEFAULT_LIMITS), dir.join("baton.db"));
    let (code, out) = run_json(&team, &db, "hi", &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["status"], "failed");
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("the GPU caught fire") && error.contains("4 attempts"), "{error}");
    assert_eq!(server.received().len(), 4);
    let trace = trace_json(db.to_str().unwrap(), out["conversation"].as_str().unwrap());
    assert!(trace.iter().any(|line| line["kind"] == "model_failed"), "the failure is journaled");
}

#[test]
fn invalid_json_and_timeouts_become_clear_errors() {
    let server = MockServer::start(vec![Answer::Raw(200, "this is not json".into())]);
    let dir = temp_dir("invalid");
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let (code, out) = run_json(&team, &dir.join("baton.db"), "hi", &[], &[]);
    assert_eq!(code, 1);
    assert!(out["error"].as_str().unwrap().contains("invalid response"), "{out}");

    let server = MockServer::start(vec![Answer::Slow(Duration::from_secs(5), Box::new(text("late")))]);
    let dir = temp_dir("timeout");
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let (code, out) = run_json(&team, &dir.join("baton.db"), "hi", &[], &[]);
    assert_eq!(code, 1);
    assert!(out["error"].as_str().unwrap().contains("within 2 s"), "{out}");
}

#[test]
fn handoff_limits_escalate_to_the_fallback() {
    let server = MockServer::start(vec![
        calls(&[("h1", "transfer_to_technical", reason("network"))]),
        calls(&[("h2", "transfer_to_billing", reason("maybe money"))]),
    ]);
    let dir = temp_dir("limit");
    let team = support_team(&dir, &server.base_url, "max_handoffs = 1\nfallback = \"human\"");
    let (code, out) = run_json(&team, &dir.join("baton.db"), "hi", &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!((out["status"].as_str(), out["agent"].as_str()), (Some("escalated"), Some("human")));
    assert_eq!(out["limit"], "max_handoffs");
    assert_eq!(out["handoffs"].as_array().unwrap().len(), 2);
    assert_eq!(out["handoffs"][1]["to"], "human");
}

#[test]
fn on_limit_fail_exits_1_with_the_limit_named() {
    let server = MockServer::start(vec![calls(&[("t", "lookup_customer", json!({"customer_id": "42"}))])]);
    let dir = temp_dir("limit-fail");
    let team = support_team(&dir, &server.base_url, "max_model_calls = 2\non_limit = \"fail\"");
    let (code, out) = run_json(&team, &dir.join("baton.db"), "hi", &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!((out["status"].as_str(), out["limit"].as_str()), (Some("failed"), Some("max_model_calls")));
    assert_eq!(out["model_calls"], 2);
}

#[test]
fn a_client_chosen_id_names_a_new_conversation_and_a_malformed_one_is_refused() {
    let server = MockServer::start(vec![text("hi"), text("again")]);
    let dir = temp_dir("client-id");
    let (team, db) = (support_team(&dir, &server.base_url, DEFAULT_LIMITS), dir.join("baton.db"));
    let (code, first) = run_json(&team, &db, "hello", &["--conversation", "ticket-4711"], &[]);
    assert_eq!(code, 0, "{first}");
    assert_eq!((first["conversation"].as_str(), first["turn"].as_u64()), (Some("ticket-4711"), Some(1)));
    let (_, second) = run_json(&team, &db, "hello again", &["--conversation", "ticket-4711"], &[]);
    assert_eq!((second["conversation"].as_str(), second["turn"].as_u64()), (Some("ticket-4711"), Some(2)));
    let output =
        baton(&["run", team.to_str().unwrap(), "hi", "--db", db.to_str().unwrap(), "--conversation", "a b"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'a b' is not a usable conversation id"));
    let output = baton(&["trace", "c-nope", "--db", db.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("conversation 'c-nope' does not exist"));
}

#[test]
fn an_empty_message_is_a_usage_error_and_journals_nothing() {
    let dir = temp_dir("empty");
    let db = dir.join("baton.db");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/support/team.toml");
    let output = baton(&["run", root, "  ", "--db", db.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the message is empty"));
    assert!(!db.exists(), "no journal is created for a refused message");
}

#[test]
fn the_readme_command_runs_the_support_example_offline_and_prints_the_transcript() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/support/team.toml");
    let message = "Hi, my internet has been down since this morning. My customer number is 7.";
    let dir = temp_dir("example");
    let db = dir.join("baton.db");
    let output = baton(&["run", root, message, "--db", db.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("you: {message}"));
    assert!(lines[1].starts_with("→ technical: the request mentions"), "{stdout}");
    assert_eq!(lines[2], r#"  technical calls check_line_status {"customer_id":"7"}"#, "{stdout}");
    assert!(lines[4].starts_with("technical: I checked the line of customer 7: it is down"), "{stdout}");
    assert!(stdout.ends_with("\nhandoff chain: triage → technical\n"), "{stdout}");

    let (code, out) = run_json(root.as_ref(), &db, message, &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        (out["agent"].as_str(), out["model_calls"].as_u64(), out["tool_calls"].as_u64()),
        (Some("technical"), Some(3), Some(1))
    );
    assert!(out["reply"].as_str().unwrap().contains("NET-1187"), "{out}");
}

#[test]
fn a_turn_a_crash_interrupted_is_printed_before_the_next_one() {
    let dir = temp_dir("run-after-crash");
    let db = dir.join("baton.db");
    let team = crate::support::example("support", "team.toml");
    let [team, db] = [team.to_str().unwrap(), db.to_str().unwrap()];
    for conversation in ["c-1", "c-2"] {
        let args = ["run", team, "My internet is down, customer 42", "--conversation", conversation, "--db", db];
        let crashed = baton(&args, &[("BATON_CRASH_AT", "4")]);
        assert_ne!(crashed.status.code(), Some(0), "the crash is injected (debug builds)");
    }
    let next = baton(&["run", team, "thanks! and my invoice INV-2041?", "--conversation", "c-1", "--db", db], &[]);
    assert_eq!(next.status.code(), Some(0), "{}", String::from_utf8_lossy(&next.stderr));
    let stdout = String::from_utf8_lossy(&next.stdout);
    let finished =
        stdout.find("── turn 1 was interrupted by a crash; finished now:").unwrap_or_else(|| panic!("{stdout}"));
    let reply =
        stdout.find("technical: I checked the line of customer 42: it is up").unwrap_or_else(|| panic!("{stdout}"));
    let new_turn = stdout.find("you: thanks! and my invoice INV-2041?").unwrap_or_else(|| panic!("{stdout}"));
    assert!(finished < reply && reply < new_turn, "the finished turn comes first: {stdout}");
    assert_eq!(stdout.matches("you: My internet is down").count(), 1, "{stdout}");

    let (code, out) =
        run_json(std::path::Path::new(team), std::path::Path::new(db), "thanks!", &["--conversation", "c-2"], &[]);
    assert_eq!((code, out["turn"].as_u64()), (0, Some(2)), "{out}");
    let interrupted = &out["interrupted_turn"];
    assert_eq!((interrupted["turn"].as_u64(), interrupted["status"].as_str()), (Some(1), Some("answered")), "{out}");
    assert!(interrupted["reply"].as_str().unwrap().contains("it is up"), "{out}");
    let fields: Vec<&str> = out.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields.last(), Some(&"interrupted_turn"), "it follows the new turn's fields: {out}");
    assert_eq!(fields.first(), Some(&"conversation"), "{out}");
    let (code, plain) =
        run_json(std::path::Path::new(team), std::path::Path::new(db), "ok", &["--conversation", "c-2"], &[]);
    assert_eq!(code, 0);
    assert!(plain.get("interrupted_turn").is_none(), "only a turn that was interrupted is reported: {plain}");
}
