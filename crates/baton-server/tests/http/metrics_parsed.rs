//! `/metrics` after a workload, read by a Prometheus parser written by others (the Python
//! `prometheus_client` package's OpenMetrics parser; the external tier): every family parses, and
//! its values are the workload's counts.

use crate::api::{answered, create, OUTAGE};
use crate::server::{client, root, TestServer};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// The value of the sample `name` with exactly `labels`.
fn value(parsed: &Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    let samples = parsed["samples"].as_array().unwrap();
    let found: Vec<&Value> = samples
        .iter()
        .filter(|sample| {
            sample["name"] == name
                && sample["labels"].as_object().unwrap().len() == labels.len()
                && labels.iter().all(|(key, value)| sample["labels"][*key] == *value)
        })
        .collect();
    assert_eq!(found.len(), 1, "one sample {name} {labels:?} in {parsed}");
    found[0]["value"].as_f64().unwrap()
}

#[tokio::test]
async fn a_real_parser_reads_the_metrics_and_they_count_the_workload() {
    let python = std::env::var("BATON_TEST_HTTP_PYTHON")
        .unwrap_or_else(|_| panic!("BATON_TEST_HTTP_PYTHON is not set: run this test with `cargo xtask test`"));
    let server = TestServer::start().await;
    for id in ["m-1", "m-2", "m-3"] {
        create(&server, None, id).await;
        answered(&server, id, OUTAGE).await;
    }
    create(&server, None, "m-4").await;
    answered(&server, "m-4", "I want to talk to a person").await;
    let text = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();

    let mut parser = Command::new(&python)
        .arg(root().join("crates/baton-server/tests/python/parse_metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {python}: {error}"));
    parser.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = parser.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the parser refused the metrics: {stderr}\n{text}");
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();

    let families = &parsed["families"];
    for (name, kind) in [
        ("baton_turns", "counter"),
        ("baton_handoffs", "counter"),
        ("baton_tool_calls", "counter"),
        ("baton_escalations", "counter"),
        ("baton_model_call_duration_seconds", "histogram"),
        ("baton_journal_append_duration_seconds", "histogram"),
        ("baton_http_requests", "counter"),
        ("baton_turns_in_flight", "gauge"),
    ] {
        assert_eq!(families[name], kind, "{name}: {families}");
    }
    let team = ("team", "support");
    assert_eq!(value(&parsed, "baton_turns_total", &[team, ("status", "answered")]), 3.0);
    assert_eq!(value(&parsed, "baton_turns_total", &[team, ("status", "escalated")]), 1.0);
    let edge = [team, ("from", "triage"), ("to", "technical"), ("kind", "model")];
    assert_eq!(value(&parsed, "baton_handoffs_total", &edge), 3.0);
    let human = [team, ("from", "triage"), ("to", "human"), ("kind", "trigger")];
    assert_eq!(value(&parsed, "baton_handoffs_total", &human), 1.0);
    let tool = [team, ("tool", "check_line_status"), ("outcome", "ok")];
    assert_eq!(value(&parsed, "baton_tool_calls_total", &tool), 3.0);
    assert_eq!(value(&parsed, "baton_escalations_total", &[team, ("queue", "human"), ("reason", "trigger")]), 1.0);
    let messages = [("method", "POST"), ("route", "/v1/conversations/{id}/messages"), ("status", "200")];
    assert_eq!(value(&parsed, "baton_http_requests_total", &messages), 4.0);
    assert_eq!(value(&parsed, "baton_turns_in_flight", &[]), 0.0);
    let appends = value(&parsed, "baton_journal_append_duration_seconds_count", &[team]);
    assert!(appends >= 4.0 * 4.0, "every turn journals several times: {appends}");
    server.stop().await;
}
