//! Crash tests on real processes: `baton` aborts right after its N-th journal append
//! (`BATON_CRASH_AT`, compiled into debug builds only), `baton resume` finishes the interrupted
//! turn, and the conversation goes on. For every boundary the final journal equals the clean
//! run's: no handoff lost or recorded twice, no model call repeated after its reply was
//! journaled, every tool call with the same idempotency key.

#[cfg(feature = "external-tests")]
use crate::support::postgres_url;
use crate::support::{baton, temp_dir, trace_json};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TEAM: &str = r#"name = "crashy"
entry = "triage"

[limits]
fallback = "human"

[models.desk]
provider = "script"
script = "replies.toml"

[agents.triage]
model = "desk"
handoffs = ["technical"]

[agents.technical]
model = "desk"
tools = ["check_line_status"]
handoffs = ["billing", "human"]

[agents.billing]
model = "desk"
tools = ["lookup_invoice"]
handoffs = ["technical", "human"]

[agents.human]
kind = "human"

[tools.check_line_status]
kind = "lookup"
description = "Line status by customer id."
data = "lines.json"
key = "customer_id"

[tools.lookup_invoice]
kind = "lookup"
description = "An invoice by number."
data = "invoices.json"
key = "invoice_number"
"#;

const REPLIES: &str = r#"
[[reply]]
agent = "triage"
handoff = "technical"
reason = "the line is down"
facts = { customer_id = "42" }

[[reply]]
agent = "technical"
calls = [{ tool = "check_line_status", args = { customer_id = "42" } }]

[[reply]]
agent = "technical"
handoff = "billing"
reason = "a double charge"
summary = "Line is up; the customer was charged twice."

[[reply]]
agent = "billing"
calls = [{ tool = "lookup_invoice", args = { invoice_number = "INV-2042" } }]

[[reply]]
agent = "billing"
text = "INV-2042 was charged twice; the refund is on its way."

[[reply]]
agent = "billing"
handoff = "human"
reason = "the customer wants a person"
"#;

const TURNS: [&str; 2] = ["My line is down and I was charged twice (customer 42)", "I want to talk to a person"];
const CONVERSATION: &str = "crash-test-1";

fn write_team(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("replies.toml"), REPLIES).unwrap();
    std::fs::write(dir.join("lines.json"), r#"{"42": {"status": "up"}}"#).unwrap();
    std::fs::write(dir.join("invoices.json"), r#"{"INV-2042": {"amount": 39.9, "charged": 2}}"#).unwrap();
    let path = dir.join("team.toml");
    std::fs::write(&path, TEAM).unwrap();
    path
}

/// Which journal a test runs on.
#[derive(Clone, Copy)]
enum Journal {
    Sqlite,
    #[cfg(feature = "external-tests")]
    Postgres,
}

impl Journal {
    /// A fresh, empty journal of this kind: a file in `dir`, or a schema of its own.
    fn fresh(self, dir: &Path) -> String {
        match self {
            Journal::Sqlite => dir.join("baton.db").to_str().unwrap().to_string(),
            #[cfg(feature = "external-tests")]
            Journal::Postgres => postgres_url("crash"),
        }
    }
}

/// Runs turn `index` of the conversation, with `crash_at` set or not.
fn turn(team: &Path, db: &str, index: usize, crash_at: Option<usize>) -> std::process::Output {
    let args = ["run", team.to_str().unwrap(), TURNS[index], "--db", db, "--conversation", CONVERSATION];
    let crash = crash_at.map(|n| n.to_string());
    let env: Vec<(&str, &str)> = crash.iter().map(|n| ("BATON_CRASH_AT", n.as_str())).collect();
    baton(&args, &env)
}

/// The journal without its timestamps: what must be equal run to run.
fn journal(db: &str) -> Vec<(String, Value)> {
    trace_json(db, CONVERSATION)
        .into_iter()
        .map(|line| (line["kind"].as_str().unwrap().to_string(), line["data"].clone()))
        .collect()
}

#[test]
fn a_crash_at_every_journal_boundary_resumes_to_the_clean_run_on_sqlite() {
    crash_at_every_boundary(Journal::Sqlite);
}

#[cfg(feature = "external-tests")]
#[test]
fn a_crash_at_every_journal_boundary_resumes_to_the_clean_run_on_postgres() {
    crash_at_every_boundary(Journal::Postgres);
}

fn crash_at_every_boundary(kind: Journal) {
    let dir = temp_dir("crash-clean");
    let team = write_team(&dir);
    let db = &kind.fresh(&dir);
    for index in 0..TURNS.len() {
        assert_eq!(turn(&team, db, index, None).status.code(), Some(0));
    }
    let clean = journal(db);
    let kinds: Vec<&str> = clean.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == "handoff_taken").count(), 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|kind| **kind == "tool_call_started").count(), 2, "{kinds:?}");
    assert_eq!(clean.last().unwrap().1["status"], "escalated");

    let mut crashes = 0;
    for crashing in 0..TURNS.len() {
        for n in 1.. {
            let dir = temp_dir("crash");
            let team = write_team(&dir);
            let db = &kind.fresh(&dir);
            for index in 0..crashing {
                assert_eq!(turn(&team, db, index, None).status.code(), Some(0));
            }
            let output = turn(&team, db, crashing, Some(n));
            if output.status.code() == Some(0) {
                break; // the turn has fewer than n boundaries
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!("aborting after journal boundary {n}")),
                "turn {crashing}, n {n}: {stderr}"
            );
            crashes += 1;
            let resumed = baton(&["resume", "--db", db, "--json"], &[]);
            assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
            for index in crashing + 1..TURNS.len() {
                let next = turn(&team, db, index, None);
                assert_eq!(next.status.code(), Some(0), "{}", String::from_utf8_lossy(&next.stderr));
            }
            let after = journal(db);
            assert_eq!(
                after, clean,
                "turn {crashing}, crash after boundary {n}: the journal differs from the clean run"
            );
        }
    }
    assert!(crashes >= 15, "every boundary of both turns was crashed at: {crashes}");
}

#[test]
fn resume_prints_each_finished_turn_and_has_nothing_to_do_twice() {
    let dir = temp_dir("crash-resume");
    let team = write_team(&dir);
    let db = &Journal::Sqlite.fresh(&dir);
    let output = turn(&team, db, 0, Some(3));
    assert_ne!(output.status.code(), Some(0), "the process was aborted");
    let resumed = baton(&["resume", "--db", db, "--json"], &[]);
    assert_eq!(resumed.status.code(), Some(0));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&resumed.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0]["conversation"].as_str(), lines[0]["agent"].as_str()), (Some(CONVERSATION), Some("billing")));
    assert_eq!(lines[0]["reply"], "INV-2042 was charged twice; the refund is on its way.");
    let again = baton(&["resume", "--db", db], &[]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to resume"));
    let missing = baton(&["resume", "--db", dir.join("nope.db").to_str().unwrap()], &[]);
    assert_eq!(missing.status.code(), Some(2));
}
