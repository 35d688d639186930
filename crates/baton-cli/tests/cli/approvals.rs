//! Approvals from the command line: a refund above a threshold suspends the turn with a
//! `pending` call, `baton approve` (or `--deny`) carries it on, and a crash at any journal
//! boundary of the decision is resumed to the same journal, the refund made under one
//! idempotency key.

use crate::support::{baton, example, run_json, temp_dir, trace_json};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TEAM: &str = r#"name = "refunds"
entry = "billing"

[limits]
fallback = "human"

[models.desk]
provider = "script"
script = "replies.toml"

[agents.billing]
model = "desk"
tools = ["issue_refund"]
handoffs = ["human"]

[agents.human]
kind = "human"

[tools.issue_refund]
kind = "command"
description = "Refund an invoice."
command = ["sh", "refund.sh"]
args = { properties = { invoice = { type = "string" }, amount = { type = "number" } }, required = ["invoice"] }
approval = { when = "amount > 100" }
"#;

const REPLIES: &str = r#"
[[reply]]
agent = "billing"
calls = [{ tool = "issue_refund", args = { invoice = "INV-7", amount = 250 } }]

[[reply]]
agent = "billing"
text = "Refunded."
"#;

/// Appends the call's idempotency key to ledger.txt (the refunds made) and answers which invoice
/// it refunded, read from the JSON arguments on stdin. A shell script, so that the tests need
/// nothing but `sh`.
const REFUND: &str = r#"arguments=$(cat)
invoice=$(printf '%s' "$arguments" | sed -n 's/.*"invoice" *: *"\([^"]*\)".*/\1/p')
if [ -z "$invoice" ]; then
  echo "no invoice in the arguments $arguments: give the invoice to refund" >&2
  exit 1
fi
printf '%s\n' "${BATON_IDEMPOTENCY_KEY:?is not set: baton sets it for every call}" >> ledger.txt
printf '{"refunded": true, "invoice": "%s"}\n' "$invoice"
"#;

const CONVERSATION: &str = "refund-1";

fn write_team(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("replies.toml"), REPLIES).unwrap();
    std::fs::write(dir.join("refund.sh"), REFUND).unwrap();
    let path = dir.join("team.toml");
    std::fs::write(&path, TEAM).unwrap();
    path
}

fn ledger(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ledger.txt")).unwrap_or_default().lines().map(String::from).collect()
}

/// The journal without its timestamps.
fn journal(db: &str) -> Vec<(String, Value)> {
    trace_json(db, CONVERSATION)
        .into_iter()
        .map(|line| (line["kind"].as_str().unwrap().to_string(), line["data"].clone()))
        .collect()
}

/// Runs the first turn, which stops at the approval; returns the pending call id.
fn suspend(team: &Path, db: &Path) -> String {
    let (code, out) = run_json(team, db, "Refund INV-7 please", &["--conversation", CONVERSATION], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["status"], "awaiting_approval", "{out}");
    assert_eq!(out["pending"]["tool"], "issue_refund", "{out}");
    assert_eq!(out["pending"]["args"], serde_json::json!({"invoice": "INV-7", "amount": 250}), "{out}");
    assert_eq!(out["tool_calls"], 0);
    out["pending"]["call_id"].as_str().unwrap().to_string()
}

fn approve(db: &Path, call_id: &str, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut args = vec!["approve", CONVERSATION, call_id, "--db", db.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    baton(&args, env)
}

#[test]
fn an_approved_call_runs_and_the_turn_answers() {
    let dir = temp_dir("approve");
    let team = write_team(&dir);
    let db = dir.join("baton.db");
    let call_id = suspend(&team, &db);
    assert!(ledger(&dir).is_empty(), "nothing is refunded before the approval");

    let waiting = baton(
        &["run", team.to_str().unwrap(), "hello?", "--conversation", CONVERSATION, "--db", db.to_str().unwrap()],
        &[],
    );
    assert_eq!(waiting.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&waiting.stderr);
    assert!(stderr.contains("waiting for approval of 'issue_refund'"), "{stderr}");
    let stray = approve(&db, "call_nope", &[], &[]);
    assert_eq!(stray.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stray.stderr).contains(&format!("waiting: {call_id}")));

    let output = approve(&db, &call_id, &["--by", "anna"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((out["status"].as_str(), out["reply"].as_str()), (Some("answered"), Some("Refunded.")), "{out}");
    assert_eq!((out["tool_calls"].as_u64(), out["pending"].is_null()), (Some(1), true), "{out}");
    assert_eq!(ledger(&dir), [format!("{CONVERSATION}:1:{call_id}")]);
    let kinds: Vec<String> = journal(db.to_str().unwrap()).into_iter().map(|(kind, _)| kind).collect();
    let decided = kinds.iter().position(|k| k == "approval_decided").unwrap();
    assert_eq!(kinds[decided + 1], "tool_call_started", "the call's intent follows the decision: {kinds:?}");

    let again = approve(&db, &call_id, &[], &[]);
    assert_eq!(again.status.code(), Some(1), "a decision is made once");
}

#[test]
fn a_denied_call_is_never_run_and_the_model_reads_why() {
    let dir = temp_dir("deny");
    let team = write_team(&dir);
    let db = dir.join("baton.db");
    let call_id = suspend(&team, &db);
    let output = approve(&db, &call_id, &["--deny", "--reason", "over the monthly limit"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(ledger(&dir).is_empty(), "a denied refund is not made");
    let result = trace_json(db.to_str().unwrap(), CONVERSATION)
        .into_iter()
        .find(|line| line["kind"] == "approval_decided")
        .unwrap();
    assert_eq!(result["data"]["approved"], false);
    assert_eq!(result["data"]["reason"], "over the monthly limit");
    let text = String::from_utf8_lossy(&baton(&["trace", CONVERSATION, "--db", db.to_str().unwrap()], &[]).stdout)
        .into_owned();
    assert!(text.contains("DENIED [") && text.contains("over the monthly limit"), "{text}");
}

#[test]
fn a_crash_at_every_boundary_of_a_decision_resumes_to_the_clean_run() {
    let dir = temp_dir("approve-clean");
    let team = write_team(&dir);
    let db = dir.join("baton.db");
    let call_id = suspend(&team, &db);
    assert_eq!(approve(&db, &call_id, &[], &[]).status.code(), Some(0));
    let clean = journal(db.to_str().unwrap());
    let key = format!("{CONVERSATION}:1:{call_id}");

    let mut crashes = 0;
    for n in 1.. {
        let dir = temp_dir("approve-crash");
        let team = write_team(&dir);
        let db = dir.join("baton.db");
        let call_id = suspend(&team, &db);
        let crash = n.to_string();
        let output = approve(&db, &call_id, &[], &[("BATON_CRASH_AT", crash.as_str())]);
        if output.status.code() == Some(0) {
            break;
        }
        crashes += 1;
        let resumed = baton(&["resume", "--db", db.to_str().unwrap(), "--json"], &[]);
        assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
        assert_eq!(journal(db.to_str().unwrap()), clean, "crash after boundary {n} of the decision");
        let refunds = ledger(&dir);
        assert!(!refunds.is_empty() && refunds.iter().all(|k| *k == key), "boundary {n}: {refunds:?}");
    }
    assert!(crashes >= 4, "the decision has several boundaries: {crashes}");
}

#[test]
fn a_crash_before_the_turn_suspends_is_resumed_to_the_suspension() {
    let dir = temp_dir("suspend-crash");
    let team = write_team(&dir);
    let db = dir.join("baton.db");
    let args = [
        "run",
        team.to_str().unwrap(),
        "Refund INV-7 please",
        "--conversation",
        CONVERSATION,
        "--db",
        db.to_str().unwrap(),
    ];
    let crashed = baton(&args, &[("BATON_CRASH_AT", "3")]);
    assert_ne!(crashed.status.code(), Some(0));
    let resumed = baton(&["resume", "--db", db.to_str().unwrap(), "--json"], &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let line: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(line["status"], "awaiting_approval", "{line}");
    let call_id = line["pending"]["call_id"].as_str().unwrap();
    let nothing = baton(&["resume", "--db", db.to_str().unwrap()], &[]);
    assert!(
        String::from_utf8_lossy(&nothing.stderr).contains("nothing to resume"),
        "a suspended turn is not interrupted"
    );
    assert_eq!(approve(&db, call_id, &[], &[]).status.code(), Some(0));
    assert_eq!(ledger(&dir).len(), 1);
}

/// The support example asks a person before refunding more than 50 EUR; the refund tool does not
/// run while the call waits, so this needs nothing but Rust.
#[test]
fn the_support_desk_asks_before_refunding_above_50_eur() {
    let dir = temp_dir("support-approval");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let (code, large) = run_json(&team, &db, "Please refund invoice INV-2041, the 89.99 EUR router fee", &[], &[]);
    assert_eq!((code, large["status"].as_str()), (0, Some("awaiting_approval")), "{large}");
    assert_eq!(large["pending"]["args"]["amount_eur"], 89.99, "{large}");
}

/// The support example refunds a small amount at once. External: the refund runs the example's
/// own tool, `python3 tools/refund.py`, and that script is what this test checks.
#[cfg(feature = "external-tests")]
#[test]
fn the_support_desk_refunds_small_amounts_at_once() {
    let dir = temp_dir("support-refund");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let (code, small) =
        run_json(&team, &db, "I was charged twice on invoice INV-2042, 39.90 EUR, please refund it", &[], &[]);
    assert_eq!((code, small["status"].as_str()), (0, Some("answered")), "{small}");
    assert!(small["reply"].as_str().unwrap().contains("refunded 39.9 EUR"), "{small}");
}
