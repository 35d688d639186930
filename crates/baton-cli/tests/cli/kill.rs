//! `kill -9` at random moments, against a slow model server: whenever the process dies,
//! `baton resume` (or, if the message never reached the journal, sending it again) ends the turn
//! exactly as a run that was never killed: the same transcript, handoffs and agent; and no model
//! call is made again once its reply was journaled.

use crate::mock::{calls, text, Answer, MockServer};
use crate::support::{baton, support_team, temp_dir, trace_json, DEFAULT_LIMITS};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONVERSATION: &str = "kill-test";
const MESSAGE: &str = "My line is down (customer 42)";
const DELAY: Duration = Duration::from_millis(120);

/// Whether the request offers a tool named `name`.
fn offers(body: &Value, name: &str) -> bool {
    body["tools"].as_array().is_some_and(|tools| tools.iter().any(|tool| tool["function"]["name"] == name))
}

/// Whether the request's history has the result of the call with id `call_id`.
fn answered(body: &Value, call_id: &str) -> bool {
    body["messages"].as_array().is_some_and(|messages| messages.iter().any(|m| m["tool_call_id"] == call_id))
}

/// The model, answering by what each request asks so a re-issued call gets the same answer:
/// triage looks the customer up and hands off to technical, which checks the line and answers.
fn slow_model() -> MockServer {
    MockServer::start_with(|_, body| {
        let answer = if offers(body, "check_line_status") {
            match answered(body, "call_line") {
                false => calls(&[("call_line", "check_line_status", json!({"customer_id": "42"}))]),
                true => text("Your line is up again; please restart the router."),
            }
        } else {
            match answered(body, "call_lookup") {
                false => calls(&[("call_lookup", "lookup_customer", json!({"customer_id": "42"}))]),
                true => calls(&[(
                    "call_handoff",
                    "transfer_to_technical",
                    json!({"reason": "the line is down", "facts": {"customer_id": "42"}}),
                )]),
            }
        };
        Answer::Slow(DELAY, Box::new(answer))
    })
}

/// The journal without its timestamps and epochs: what must be equal run to run.
fn journal(db: &str) -> Vec<(String, Value)> {
    trace_json(db, CONVERSATION)
        .into_iter()
        .map(|line| (line["kind"].as_str().unwrap().to_string(), line["data"].clone()))
        .collect()
}

fn count(journal: &[(String, Value)], kind: &str) -> usize {
    journal.iter().filter(|(k, _)| k == kind).count()
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound.max(1)
    }
}

#[test]
fn kill_9_at_random_moments_then_resume_ends_the_turn_as_a_clean_run() {
    let model = slow_model();
    let dir = temp_dir("kill-clean");
    let team = support_team(&dir, &model.base_url, DEFAULT_LIMITS);
    let db = dir.join("baton.db");
    let db = db.to_str().unwrap();
    let args = ["run", team.to_str().unwrap(), MESSAGE, "--db", db, "--conversation", CONVERSATION];
    let started = Instant::now();
    let clean_run = baton(&args, &[("BATON_TEST_KEY", "k")]);
    let clean_ms = started.elapsed().as_millis() as u64;
    assert_eq!(clean_run.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean_run.stderr));
    let clean = journal(db);
    assert_eq!((count(&clean, "model_call_started"), count(&clean, "handoff_taken")), (4, 1));
    assert_eq!(clean.last().unwrap().1["agent"], "technical");

    let mut random = Lcg(0x5eed);
    let mut killed_mid_call = 0;
    for round in 0..12 {
        let dir = temp_dir("kill");
        let team = support_team(&dir, &model.base_url, DEFAULT_LIMITS);
        let db = dir.join("baton.db");
        let db = db.to_str().unwrap();
        let args = ["run", team.to_str().unwrap(), MESSAGE, "--db", db, "--conversation", CONVERSATION];
        let requests_before = model.received().len();
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(args)
            .env("BATON_TEST_KEY", "k")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let after_ms = random.below(clean_ms);
        std::thread::sleep(Duration::from_millis(after_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let context = format!("round {round}, killed after {after_ms} ms of a {clean_ms} ms run");

        let at_kill: Vec<Value> = match std::path::Path::new(db).exists() {
            true => {
                let trace = baton(&["trace", CONVERSATION, "--db", db, "--json"], &[]);
                String::from_utf8_lossy(&trace.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
            }
            false => Vec::new(),
        };
        let awaiting_reply = at_kill.last().is_some_and(|last| last["kind"] == "model_call_started");
        if at_kill.iter().any(|entry| entry["kind"] == "user_message") {
            let resumed = baton(&["resume", "--db", db, "--json"], &[("BATON_TEST_KEY", "k")]);
            assert_eq!(resumed.status.code(), Some(0), "{context}: {}", String::from_utf8_lossy(&resumed.stderr));
        } else {
            // The message never reached the journal: the client sends it again.
            let again = baton(&args, &[("BATON_TEST_KEY", "k")]);
            assert_eq!(again.status.code(), Some(0), "{context}: {}", String::from_utf8_lossy(&again.stderr));
        }
        let after = journal(db);
        assert_eq!(after, clean, "{context}: the journal differs from the clean run's");
        let requests = (model.received().len() - requests_before) as i64;
        let extra = requests - count(&after, "model_call_started") as i64;
        assert!(extra == 0 || (extra == 1 && awaiting_reply), "{context}: {extra} model calls made again");
        killed_mid_call += usize::from(awaiting_reply);
    }
    assert!(killed_mid_call >= 3, "most kills land during a slow model call: {killed_mid_call} of 12");
}
