//! `baton check`: every problem at once, with file, line, column and what to do.

use crate::support::{baton, temp_dir};

const BROKEN: &str = r#"name = "broken"
entry = "triage"

[models.fast]
provider = "openai"
model = "gpt-test"

[agents.triage]
model = "fast"
tools = ["lookup_custmer"]
handoffs = ["techincal", "triage"]

[agents.technical]
model = "slow"

[agents.human]
kind = "human"
model = "fast"

[tools.lookup_customer]
kind = "lookup"
description = "Look up a customer."
data = "data/missing.json"
key = "customer_id"
"#;

#[test]
fn a_broken_team_file_reports_every_error_with_its_position() {
    let dir = temp_dir("check");
    let path = dir.join("team.toml");
    std::fs::write(&path, BROKEN).unwrap();
    let output = baton(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = path.display().to_string();
    for (position, words) in [
        ("10:10", "did you mean 'lookup_customer'?"),
        ("11:13", "did you mean 'technical'?"),
        ("11:26", "hands off to itself"),
        ("14:9", "use one of the models: 'fast'"),
        ("18:9", "human agent 'human' has a model"),
        ("23:8", "missing.json"),
    ] {
        assert!(stderr.contains(&format!("{file}:{position}")), "no error at {position} in:\n{stderr}");
        assert!(stderr.contains(words), "'{words}' missing in:\n{stderr}");
    }
    assert!(stderr.contains("needs a fallback agent"), "{stderr}");
    assert!(stderr.contains("errors found"), "{stderr}");
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    let dir = temp_dir("syntax");
    let path = dir.join("team.toml");
    std::fs::write(&path, "name = \"x\"\nentry = \n").unwrap();
    let output = baton(&["check", path.to_str().unwrap(), "--json"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["diagnostics"][0]["line"], 2);
    assert_eq!(report["diagnostics"][0]["severity"], "error");
}

#[test]
fn the_support_example_is_valid() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/support/team.toml");
    let output = baton(&["check", root], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("team 'support' is valid"));
}

#[test]
fn warnings_do_not_fail_the_check() {
    let dir = temp_dir("warn");
    let path = dir.join("team.toml");
    std::fs::write(
        &path,
        "name = \"w\"\nentry = \"a\"\n[limits]\non_limit = \"fail\"\n[models.m]\nprovider = \"openai\"\nmodel = \"x\"\n[agents.a]\nmodel = \"m\"\n[agents.lonely]\nmodel = \"m\"\n",
    )
    .unwrap();
    let output = baton(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("agent 'lonely' cannot be reached"));
}
