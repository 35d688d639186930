//! The escalation queue from the command line, on the support desk: a conversation handed to
//! the human agent waits as a ticket; one operator claims it, replies, and hands it back to an
//! AI agent, which takes the next turn with the operator's note.

use crate::support::{baton, example, run_json, temp_dir, trace_json};
use serde_json::Value;
use std::path::Path;

fn queue(db: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["queue"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--db", db.to_str().unwrap(), "--json"]);
    let output = baton(&all, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr)
}

fn waiting(db: &Path) -> Vec<Value> {
    let (code, list, stderr) = queue(db, &["list"]);
    assert_eq!(code, 0, "{stderr}");
    list["tickets"].as_array().unwrap().clone()
}

#[test]
fn an_operator_claims_replies_and_hands_back_with_a_note() {
    let dir = temp_dir("queue");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let message = "The router fee on INV-2041 is wrong. I want to talk to a person.";
    let (code, out) = run_json(&team, &db, message, &["--conversation", "q-1"], &[]);
    assert_eq!((code, out["status"].as_str(), out["agent"].as_str()), (0, Some("escalated"), Some("human")), "{out}");
    let (code, _) = run_json(&team, &db, "hello, anyone there?", &["--conversation", "q-calm"], &[]);
    assert_eq!(code, 0);

    let tickets = waiting(&db);
    assert_eq!(tickets.len(), 1, "only the escalated conversation waits: {tickets:?}");
    assert_eq!((tickets[0]["conversation"].as_str(), tickets[0]["status"].as_str()), (Some("q-1"), Some("open")));
    assert_eq!(tickets[0]["queue"], "human");
    assert_eq!(tickets[0]["last_user_message"], message);

    let (code, _, stderr) = queue(&db, &["reply", "q-1", "Hello"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not claimed: claim it first"), "{stderr}");
    let (code, claimed, stderr) = queue(&db, &["claim", "q-1", "--operator", "anna"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((claimed["status"].as_str(), claimed["operator"].as_str()), (Some("claimed"), Some("anna")));
    let (code, _, stderr) = queue(&db, &["claim", "q-1", "--operator", "bob"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("claimed by anna, not bob"), "claims are exclusive: {stderr}");
    assert_eq!(waiting(&db)[0]["operator"], "anna");

    let (code, _, stderr) = queue(&db, &["reply", "q-1", "Hi, I'm Anna: I removed the fee."]);
    assert_eq!(code, 0, "{stderr}");
    let (code, shown, _) = queue(&db, &["show", "q-1"]);
    assert_eq!(code, 0);
    assert_eq!(shown["note"]["request"], message, "the context package holds the user's request: {shown}");
    let last = shown["transcript"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["agent"].as_str(), last["text"].as_str()),
        (Some("human"), Some("Hi, I'm Anna: I removed the fee."))
    );

    let (code, _, stderr) = queue(&db, &["handback", "q-1", "spanish"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no handoff edge to 'spanish'"), "{stderr}");
    let (code, back, stderr) = queue(&db, &["handback", "q-1", "billing", "--note", "fee removed by hand"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((back["status"].as_str(), back["agent"].as_str()), (Some("none"), Some("billing")));
    assert!(waiting(&db).is_empty(), "a handed-back ticket leaves the queue");

    let (code, next) = run_json(&team, &db, "thanks! what is on invoice INV-2041?", &["--conversation", "q-1"], &[]);
    assert_eq!(
        (code, next["agent"].as_str(), next["status"].as_str()),
        (0, Some("billing"), Some("answered")),
        "{next}"
    );
    let trace = trace_json(db.to_str().unwrap(), "q-1");
    let handback =
        trace.iter().find(|line| line["kind"] == "handoff_taken" && line["data"]["operator"] == "anna").unwrap();
    assert_eq!(handback["data"]["payload"]["summary"], "fee removed by hand");
    let kinds: Vec<&str> = trace.iter().map(|line| line["kind"].as_str().unwrap()).collect();
    for kind in ["ticket_opened", "ticket_claimed", "operator_replied", "ticket_handed_back"] {
        assert!(kinds.contains(&kind), "{kind} is journaled: {kinds:?}");
    }
}

#[test]
fn a_closed_ticket_comes_back_when_the_user_writes_again() {
    let dir = temp_dir("queue-close");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let (code, _) = run_json(&team, &db, "I want to talk to a human", &["--conversation", "q-2"], &[]);
    assert_eq!(code, 0);
    assert_eq!(queue(&db, &["claim", "q-2", "--operator", "anna"]).0, 0);
    let (code, closed, stderr) = queue(&db, &["close", "q-2"]);
    assert_eq!((code, closed["status"].as_str()), (0, Some("closed")), "{stderr}");
    assert!(waiting(&db).is_empty());
    let (code, out) = run_json(&team, &db, "one more question", &["--conversation", "q-2"], &[]);
    assert_eq!((code, out["status"].as_str()), (0, Some("escalated")));
    let tickets = waiting(&db);
    assert_eq!(tickets.len(), 1);
    assert_eq!((tickets[0]["status"].as_str(), tickets[0]["operator"].as_str()), (Some("open"), None));
    let text = baton(&["queue", "list", "--db", db.to_str().unwrap()], &[]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("q-2 (team support) · queue human · open"));
    let unknown = baton(&["queue", "show", "nope", "--db", db.to_str().unwrap()], &[]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// `value` with every member whose name ends in `_ms` set to 0.
fn without_times(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, member)| match name.ends_with("_ms") && member.is_u64() {
                    true => (name.clone(), Value::from(0)),
                    false => (name.clone(), without_times(member)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Runs `baton args` and checks it prints this one line of JSON (times zeroed).
fn prints(args: &[&str], expected: &str) {
    let output = baton(args, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let text = without_times(&json).to_string();
    assert_eq!(stdout.matches('\n').count(), 1, "one line: {stdout}");
    assert_eq!(text, expected, "{args:?}\n{text}\n");
}

#[test]
fn the_json_outputs_keep_their_bytes() {
    let dir = temp_dir("queue-json");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let [team, db] = [team.to_str().unwrap(), db.to_str().unwrap()];
    prints(&["run", team, "I want to talk to a human", "--conversation", "q-3", "--db", db, "--json"], RUN);
    prints(&["queue", "list", "--db", db, "--json"], LIST);
    prints(&["queue", "show", "q-3", "--db", db, "--json"], SHOW);
    prints(&["queue", "claim", "q-3", "--operator", "anna", "--db", db, "--json"], CLAIM);
}

const RUN: &str = r#"{"conversation":"q-3","turn":1,"status":"escalated","agent":"human","reply":null,"handoffs":[{"from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person"}],"limit":null,"model_calls":0,"tool_calls":0,"error":null,"routed":null,"malformed_calls":0,"usage":{"input_tokens":0,"output_tokens":0},"pending":null}"#;
const LIST: &str = r#"{"tickets":[{"conversation":"q-3","team":"support","status":"open","queue":"human","operator":null,"reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","last_user_message":"I want to talk to a human"}]}"#;
const SHOW: &str = r#"{"conversation":"q-3","team":"support","status":"open","queue":"human","operator":null,"reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","note":{"from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person","summary":null,"facts":{},"request":"I want to talk to a human","first_request":null,"context":"full","escalation":null},"last_user_message":"I want to talk to a human","facts":{},"transcript":[{"type":"user","turn":1,"text":"I want to talk to a human"},{"type":"handoff","from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person","summary":null,"facts":{},"request":"I want to talk to a human","first_request":null,"context":"full","escalation":null}]}"#;
const CLAIM: &str = r#"{"conversation":"q-3","team":"support","status":"claimed","queue":"human","operator":"anna","reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","last_user_message":"I want to talk to a human"}"#;
