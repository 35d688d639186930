//! `baton new`: every template writes a team directory that passes `check` and `eval` at once
//! and answers a turn offline; a name that cannot be used or a directory in use is refused and
//! nothing is written.

use crate::support::{baton, baton_in, baton_with_stdout_closed, temp_dir, text};
use serde_json::Value;
use std::path::Path;

/// `baton new DIRECTORY --template TEMPLATE --json`, which must succeed.
fn new_team(directory: &Path, template: &str) -> Value {
    let output = baton(&["new", directory.to_str().unwrap(), "--template", template, "--json"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn every_template_passes_check_and_eval_and_runs_offline() {
    for (template, message, expected_agent) in [
        ("minimal", "I was charged twice this month", "billing"),
        ("support", "my internet is down, customer number 7", "technical"),
        ("ba-triage", "help me write acceptance criteria for the login story", "requirements"),
    ] {
        let directory = temp_dir(&format!("new-{template}")).join("my-desk");
        let written = new_team(&directory, template);
        assert_eq!(written["team"], "my-desk");
        assert_eq!(written["template"], template);
        for file in ["team.toml", "eval.jsonl", "README.md"] {
            assert!(directory.join(file).is_file(), "{template}: {file} written");
        }
        let team = directory.join("team.toml");
        let team = team.to_str().unwrap();

        let check = baton(&["check", team, "--json"], &[]);
        let report: Value = serde_json::from_slice(&check.stdout).unwrap();
        assert_eq!(check.status.code(), Some(0), "{template}: {report:#}");
        assert_eq!(report["valid"], true);

        let cases = directory.join("eval.jsonl");
        let eval = baton(&["eval", team, cases.to_str().unwrap(), "--json", "--min-accuracy", "0.9"], &[]);
        let figures: Value = serde_json::from_slice(&eval.stdout).unwrap();
        assert_eq!(eval.status.code(), Some(0), "{template} routes at least 9 cases in 10: {figures:#}");

        let db = directory.join("baton.db");
        let run = baton(&["run", team, message, "--db", db.to_str().unwrap(), "--json"], &[]);
        let turn: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(run.status.code(), Some(0), "{template}: {turn:#} {}", text(&run.stderr));
        assert_eq!(turn["agent"], expected_agent, "{template}: {turn:#}");
        assert_eq!(turn["status"], "answered", "{template}: {turn:#}");
    }
}

#[test]
fn the_readme_names_the_new_directory_and_the_text_output_says_what_next() {
    let directory = temp_dir("new-text").join("desk");
    let output = baton(&["new", directory.to_str().unwrap(), "--template", "support"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let team = directory.join("team.toml");
    assert!(stdout.contains(&format!("baton check {}", team.display())), "{stdout}");
    assert!(stdout.contains("tools/refund.py"), "{stdout}");
    let readme = std::fs::read_to_string(directory.join("README.md")).unwrap();
    assert!(readme.contains(&format!("baton run {} ", team.display())), "{readme}");
    assert!(!readme.contains("examples/support"), "{readme}");
}

#[test]
fn a_directory_in_use_or_a_name_that_cannot_name_a_team_is_refused_and_nothing_is_written() {
    let base = temp_dir("new-refused");
    let used = base.join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("notes.txt"), "mine").unwrap();
    let output = baton(&["new", used.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("already exists and is not empty"), "{}", text(&output.stderr));
    assert_eq!(std::fs::read_dir(&used).unwrap().count(), 1, "nothing added to a directory in use");

    let bad = base.join("my desk!");
    let output = baton(&["new", bad.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("cannot name a team"), "{}", text(&output.stderr));
    assert!(!bad.exists(), "nothing created for a name that cannot be used");
}

#[test]
fn the_directory_may_be_named_as_dot_or_any_relative_path() {
    let base = temp_dir("new-relative");
    let here = base.join("here-desk");
    std::fs::create_dir_all(&here).unwrap();
    for (run_in, name, team, written) in [
        (&here, ".", "here-desk", here.clone()),
        (&here, "../sibling-desk", "sibling-desk", base.join("sibling-desk")),
        (&base, "slash-desk/", "slash-desk", base.join("slash-desk")),
    ] {
        let output = baton_in(run_in, &["new", name, "--json"], &[]);
        assert_eq!(output.status.code(), Some(0), "baton new {name}: {}", text(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["team"], team, "baton new {name}: {report}");
        let toml = std::fs::read_to_string(written.join("team.toml")).unwrap();
        assert!(toml.contains(&format!("name = \"{team}\"")), "{toml}");
    }
}

#[test]
fn a_directory_that_cannot_be_made_is_a_coloured_error_and_exit_1() {
    let base = temp_dir("new-io-error");
    std::fs::write(base.join("a-file"), "not a directory").unwrap();
    let output = baton_in(&base, &["new", "a-file/desk"], &[("CLICOLOR_FORCE", "1")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "an I/O failure is not a usage error: {stderr}");
    assert!(stderr.starts_with("\u{1b}[1m\u{1b}[31merror:\u{1b}[0m cannot create"), "{stderr:?}");
}

#[test]
fn a_closed_stdout_does_not_crash_baton_new() {
    let base = temp_dir("new-closed-stdout");
    for (args, directory) in
        [(vec!["new", "text-desk"], "text-desk"), (vec!["new", "json-desk", "--json"], "json-desk")]
    {
        let output = baton_with_stdout_closed(&base, &args, b"");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(base.join(directory).join("team.toml").is_file(), "the team was written");
    }
}
