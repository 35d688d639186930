//! Bugs a new user met in the first hour, end to end.

use crate::support::{baton, baton_in, copy_of_example, example, run_json, temp_dir, trace_json};
use serde_json::Value;
use std::path::Path;

/// `cd examples/support && baton run team.toml "…"`: the team file named without a directory
/// still runs its command tools (the refund) in the team file's folder. The copy's refund tool
/// is a shell script instead of the example's Python, so that the test needs nothing but `sh`.
#[test]
fn a_team_file_named_without_a_directory_runs_its_command_tools() {
    let support = copy_of_example("support");
    let team = std::fs::read_to_string(support.join("team.toml")).unwrap();
    let python = r#"command = ["python3", "tools/refund.py"]"#;
    assert!(team.contains(python), "the example's refund tool changed: update this test");
    std::fs::write(support.join("team.toml"), team.replace(python, r#"command = ["sh", "tools/refund.sh"]"#)).unwrap();
    // Both paths are relative: the script to the team file's folder, the data to where it runs.
    std::fs::write(support.join("tools/refund.sh"), "cat data/refund-INV-2042.json\n").unwrap();
    let refund = r#"{"refunded": true, "amount_eur": 39.90, "refund_id": "RF-5521"}"#;
    std::fs::write(support.join("data/refund-INV-2042.json"), refund).unwrap();

    let message = "I was charged twice on invoice INV-2042, 39.90 EUR";
    let output = baton_in(&support, &["run", "team.toml", message, "--db", "memory", "--json"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["status"].as_str(), report["tool_calls"].as_u64()), (Some("answered"), Some(1)), "{report}");
    let reply = report["reply"].as_str().unwrap_or_default();
    assert!(reply.contains("refunded 39.9 EUR for invoice INV-2042"), "{report}\n{stderr}");
    let _ = std::fs::remove_dir_all(support.parent().unwrap());
}

/// Runs `baton queue ARGS --db DB` and returns the exit code and stderr.
fn queue(db: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["queue"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--db", db.to_str().unwrap()]);
    let output = baton(&all, &[]);
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A second `handback` says the ticket was already handed back, to whom and by whom, instead of
/// asking for a claim; it changes nothing and exits 1, as other refused actions do.
#[test]
fn a_second_handback_says_the_ticket_was_already_handed_back() {
    let dir = temp_dir("first-hour-handback");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let (code, out) = run_json(&team, &db, "I want to talk to a person", &["--conversation", "hb-1"], &[]);
    assert_eq!((code, out["agent"].as_str()), (0, Some("human")), "{out}");
    assert_eq!(queue(&db, &["claim", "hb-1", "--operator", "anna"]).0, Some(0));
    let (code, stderr) = queue(&db, &["handback", "hb-1", "billing"]);
    assert_eq!(code, Some(0), "{stderr}");
    let journal_length = trace_json(db.to_str().unwrap(), "hb-1").len();

    let (code, stderr) = queue(&db, &["handback", "hb-1", "billing"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "the ticket of conversation 'hb-1' was already handed back to 'billing' by anna: nothing to do ('billing' \
             has the conversation)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("claim it first"), "{stderr}");
    assert_eq!(trace_json(db.to_str().unwrap(), "hb-1").len(), journal_length, "nothing was journaled");
    let _ = std::fs::remove_dir_all(&dir);
}
