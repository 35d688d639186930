//! `baton eval`: routing measured on the examples' cases, and clear errors for a broken cases file.

use crate::support::{baton, example, temp_dir};
use serde_json::Value;

fn eval_json(name: &str) -> Value {
    let team = example(name, "team.toml");
    let cases = example(name, "eval.jsonl");
    let output =
        baton(&["eval", team.to_str().unwrap(), cases.to_str().unwrap(), "--json", "--min-accuracy", "0.9"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(output.status.code(), Some(0), "below 90 %: {report:#}");
    report
}

fn check_report(report: &Value, agents: &[&str]) {
    let cases = report["cases"].as_u64().unwrap();
    assert!(cases >= 60, "at least 60 cases: {cases}");
    let correct = report["correct"].as_u64().unwrap();
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!((accuracy - correct as f64 / cases as f64).abs() < 1e-9);
    assert!(accuracy >= 0.9, "{accuracy}");
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len() as u64, cases - correct);
    let confused: u64 = report["confusion"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|row| row.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(confused, cases, "every case is in the confusion matrix once");
    for agent in agents {
        let figures = &report["per_agent"][agent];
        assert!(figures["recall"].as_f64().is_some() && figures["support"].as_u64().unwrap() > 0, "{agent}: {figures}");
    }
}

#[test]
fn the_support_desk_routes_at_least_nine_cases_in_ten() {
    let report = eval_json("support");
    check_report(&report, &["triage", "technical", "billing", "human", "spanish"]);
}

#[test]
fn the_business_analysis_desk_routes_at_least_nine_cases_in_ten() {
    let report = eval_json("ba-triage");
    check_report(&report, &["triage", "requirements", "process", "data", "testing"]);
}

#[test]
fn a_broken_cases_file_names_each_bad_line() {
    let dir = temp_dir("eval-broken");
    let cases = dir.join("cases.jsonl");
    let lines = [
        r#"{"input": "my internet is down", "expect_agent": "technical"}"#,
        r#"{"input": "hi", "expect_agent": "techincal"}"#,
        "not json",
        r#"{"expect_agent": "billing"}"#,
        r#"{"input": "hi", "expect_agent": "triage", "expect": "x"}"#,
    ];
    std::fs::write(&cases, lines.join("\n")).unwrap();
    let team = example("support", "team.toml");
    let output = baton(&["eval", team.to_str().unwrap(), cases.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = cases.display().to_string();
    for line in 2..=5 {
        assert!(stderr.contains(&format!("{file}:{line}:")), "line {line}: {stderr}");
    }
    assert!(!stderr.contains(&format!("{file}:1:")), "{stderr}");
    assert!(stderr.contains("did you mean 'technical'?"), "{stderr}");
}

#[test]
fn the_report_for_people_has_the_figures_and_the_failures() {
    let dir = temp_dir("eval-text");
    let cases = dir.join("cases.jsonl");
    let lines = [
        r#"{"input": "my internet is down", "expect_agent": "technical"}"#,
        r#"{"input": "my internet is down", "expect_agent": "billing"}"#,
        r#"{"turns": ["hi", "I want to speak to a human"], "expect_agent": "human", "expect_status": "escalated"}"#,
    ];
    std::fs::write(&cases, lines.join("\n")).unwrap();
    let team = example("support", "team.toml");
    let output = baton(&["eval", team.to_str().unwrap(), cases.to_str().unwrap(), "--min-accuracy", "0.9"], &[]);
    assert_eq!(output.status.code(), Some(1), "2 of 3 is below 0.9");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("accuracy 66.7% (2/3 cases)"), "{stdout}");
    assert!(stdout.contains("precision  recall  support"), "{stdout}");
    assert!(
        stdout.contains("line 2: \"my internet is down\"\n    expected billing, got technical (answered)"),
        "{stdout}"
    );
}
