//! Prometheus metrics for `baton serve`: counters fed from the journal, model call and HTTP
//! latency histograms, the in-flight turn gauge, rendered by hand in the text exposition format
//! (version 0.0.4).

use baton::core::{JournalEntry, Record};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histograms' buckets, in seconds (`+Inf` is implied).
const BUCKETS: [f64; 13] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The process's metrics; shared by reference (or in an `Arc`) between all tasks.
pub struct Metrics {
    families: Mutex<Families>,
}

/// Every labelled family, in the order they are rendered.
struct Families {
    turns: Family<u64>,
    handoffs: Family<u64>,
    limits: Family<u64>,
    escalations: Family<u64>,
    approvals: Family<u64>,
    model_calls: Family<Histogram>,
    http_requests: Family<u64>,
    http_durations: Family<Histogram>,
    refused: Family<u64>,
}

/// One metric family: its name, help, label names, and a sample per label-value tuple.
struct Family<T> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    samples: BTreeMap<Vec<String>, T>,
}

impl<T: Default> Family<T> {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Family { name, help, labels, samples: BTreeMap::new() }
    }

    /// The sample for `values` (one per label name, in order), created at its default.
    fn sample(&mut self, values: &[&str]) -> &mut T {
        debug_assert_eq!(values.len(), self.labels.len(), "{}: wrong number of label values", self.name);
        self.samples.entry(values.iter().map(|v| v.to_string()).collect()).or_default()
    }
}

/// Cumulative bucket counts, sum and count of one histogram's observations.
#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

impl Metrics {
    /// Metrics with nothing counted yet.
    pub fn new() -> Metrics {
        let families = Families {
            turns: Family::new("baton_turns_total", "Turns ended, by how they ended.", &["team", "status"]),
            handoffs: Family::new(
                "baton_handoffs_total",
                "Handoffs taken, per edge (from the agent that had control to the one that took it).",
                &["team", "from", "to"],
            ),
            limits: Family::new("baton_limits_tripped_total", "Limits tripped, by limit.", &["team", "limit"]),
            escalations: Family::new(
                "baton_escalations_total",
                "Tickets opened in a human agent's escalation queue.",
                &["team", "queue"],
            ),
            approvals: Family::new(
                "baton_approvals_requested_total",
                "Tool calls that waited for a person's approval, by tool.",
                &["team", "tool"],
            ),
            model_calls: Family::new(
                "baton_model_call_duration_seconds",
                "Duration of model calls, by agent, model and outcome (ok or error).",
                &["team", "agent", "model", "outcome"],
            ),
            http_requests: Family::new(
                "baton_http_requests_total",
                "HTTP requests answered, by method, route template and status.",
                &["method", "route", "status"],
            ),
            refused: Family::new(
                "baton_http_refused_total",
                "Requests refused and connections closed to protect the server, by reason: rate_limited, \
                 too_many_requests and too_many_streams (per key), connection_evicted (a half-sent or idle \
                 connection closed at the connection cap) and connection_refused (every connection busy).",
                &["reason"],
            ),
            http_durations: Family::new(
                "baton_http_request_duration_seconds",
                "Duration of HTTP requests, by method and route template.",
                &["method", "route"],
            ),
        };
        Metrics { families: Mutex::new(families) }
    }

    /// A journal entry was written in a conversation of `team`.
    pub fn journaled(&self, team: &str, entry: &JournalEntry) {
        let JournalEntry::Record(record) = entry else { return };
        let mut families = self.lock();
        match record {
            Record::TurnEnded(outcome) => *families.turns.sample(&[team, outcome.status.as_str()]) += 1,
            Record::HandoffTaken { from, to, .. } => *families.handoffs.sample(&[team, from, to]) += 1,
            Record::LimitTripped { limit, .. } => *families.limits.sample(&[team, limit.as_str()]) += 1,
            Record::TicketOpened { agent, .. } => *families.escalations.sample(&[team, agent]) += 1,
            Record::ApprovalRequested { tool, .. } => *families.approvals.sample(&[team, tool]) += 1,
            _ => {}
        }
    }

    /// `agent`'s call to `model` (the team's model name) ended after `elapsed`, ok or failed.
    pub fn model_called(&self, team: &str, agent: &str, model: &str, elapsed: Duration, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.lock().model_calls.sample(&[team, agent, model, outcome]).observe(elapsed);
    }

    /// One HTTP request was answered: `route` is the route template such as
    /// `"/v1/conversations/{id}/messages"`.
    /// A method outside the standard ones is counted as `other`, so that a client cannot grow
    /// the metrics by inventing method names.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let mut families = self.lock();
        *families.http_requests.sample(&[method, route, &status.to_string()]) += 1;
        families.http_durations.sample(&[method, route]).observe(elapsed);
    }

    /// A request or connection was refused for `reason` (one of a few fixed words).
    pub fn refused(&self, reason: &'static str) {
        *self.lock().refused.sample(&[reason]) += 1;
    }

    /// Everything in the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE`
    /// lines for every family even before anything was counted, samples sorted by label values;
    /// `turns_in_flight` is how many turns run or wait in this process now.
    pub fn render(&self, turns_in_flight: usize) -> String {
        let mut out = String::new();
        {
            let families = self.lock();
            counter(&mut out, &families.turns);
            counter(&mut out, &families.handoffs);
            counter(&mut out, &families.limits);
            counter(&mut out, &families.escalations);
            counter(&mut out, &families.approvals);
            histogram(&mut out, &families.model_calls);
            counter(&mut out, &families.http_requests);
            histogram(&mut out, &families.http_durations);
            counter(&mut out, &families.refused);
        }
        let name = "baton_turns_in_flight";
        header(&mut out, name, "Turns running in this process now.", "gauge");
        let _ = writeln!(out, "{name} {turns_in_flight}");
        out
    }

    /// The families; a panic while they were held cannot leave them inconsistent, so poisoning is
    /// ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, Families> {
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, family: &Family<u64>) {
    header(out, family.name, family.help, "counter");
    for (values, count) in &family.samples {
        let _ = writeln!(out, "{}{} {count}", family.name, labels(family.labels, values, None));
    }
}

fn histogram(out: &mut String, family: &Family<Histogram>) {
    let name = family.name;
    header(out, name, family.help, "histogram");
    for (values, h) in &family.samples {
        for (bound, bucket) in BUCKETS.iter().zip(h.buckets) {
            let le = bound.to_string();
            let _ = writeln!(out, "{name}_bucket{} {bucket}", labels(family.labels, values, Some(&le)));
        }
        let _ = writeln!(out, "{name}_bucket{} {}", labels(family.labels, values, Some("+Inf")), h.count);
        let plain = labels(family.labels, values, None);
        let _ = writeln!(out, "{name}_sum{plain} {}", h.sum);
        let _ = writeln!(out, "{name}_count{plain} {}", h.count);
    }
}

/// `{name="value",...}` with the values escaped, and `le` last when given; empty without labels.
fn labels(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> =
        names.iter().zip(values).map(|(name, value)| format!("{name}=\"{}\"", escape(value))).collect();
    if let Some(le) = le {
        pairs.push(format!("le=\"{le}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// A label value as the exposition format quotes it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The label of an HTTP method: the standard methods as they are, any other `other`.
fn method_label(method: &str) -> &str {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE" | "CONNECT" => method,
        _ => "other",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use baton::core::{ContextPolicy, Input, LimitKind, Payload, TurnOutcome, TurnStatus};

    fn ended(status: TurnStatus) -> JournalEntry {
        JournalEntry::Record(Record::TurnEnded(TurnOutcome {
            turn: 1,
            status,
            agent: "triage".into(),
            reply: None,
            handoffs: Vec::new(),
            limit: None,
            model_calls: 1,
            tool_calls: 0,
            error: None,
            routed: None,
            malformed_calls: Some(0),
            usage: None,
            pending: None,
        }))
    }

    fn handoff(from: &str, to: &str) -> JournalEntry {
        JournalEntry::Record(Record::HandoffTaken {
            turn: 1,
            from: from.into(),
            to: to.into(),
            payload: Payload { reason: "billing question".into(), summary: None, facts: BTreeMap::new() },
            context: ContextPolicy::Full,
            call_id: Some("call_1".into()),
            escalation: None,
            trigger: None,
            operator: None,
        })
    }

    fn lines(metrics: &Metrics) -> Vec<String> {
        metrics.render(0).lines().map(str::to_string).collect()
    }

    fn has(lines: &[String], line: &str) {
        assert!(lines.iter().any(|l| l == line), "missing line {line:?} in:\n{}", lines.join("\n"));
    }

    const FAMILIES: [(&str, &str); 10] = [
        ("baton_turns_total", "counter"),
        ("baton_handoffs_total", "counter"),
        ("baton_limits_tripped_total", "counter"),
        ("baton_escalations_total", "counter"),
        ("baton_approvals_requested_total", "counter"),
        ("baton_model_call_duration_seconds", "histogram"),
        ("baton_http_requests_total", "counter"),
        ("baton_http_request_duration_seconds", "histogram"),
        ("baton_http_refused_total", "counter"),
        ("baton_turns_in_flight", "gauge"),
    ];

    #[test]
    fn empty_metrics_declare_every_family() {
        let lines = lines(&Metrics::default());
        for (name, kind) in FAMILIES {
            assert!(lines.iter().any(|l| l.starts_with(&format!("# HELP {name} "))), "no HELP for {name}");
            has(&lines, &format!("# TYPE {name} {kind}"));
        }
        let samples: Vec<&String> = lines.iter().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["baton_turns_in_flight 0"]);
    }

    #[test]
    fn journal_entries_are_counted() {
        let metrics = Metrics::new();
        metrics.journaled("support", &ended(TurnStatus::Answered));
        metrics.journaled("support", &ended(TurnStatus::Answered));
        metrics.journaled("support", &ended(TurnStatus::Escalated));
        metrics.journaled("sales", &ended(TurnStatus::Answered));
        metrics.journaled("support", &handoff("triage", "billing"));
        metrics.journaled("support", &handoff("triage", "billing"));
        metrics.journaled("support", &handoff("billing", "triage"));
        metrics.journaled(
            "support",
            &JournalEntry::Record(Record::TicketOpened { turn: 2, agent: "humans".into(), reason: "angry".into() }),
        );
        metrics.journaled(
            "support",
            &JournalEntry::Record(Record::LimitTripped {
                turn: 2,
                limit: LimitKind::PingPong,
                agent: "billing".into(),
                detail: "agents kept handing control back and forth".into(),
            }),
        );
        metrics.journaled(
            "support",
            &JournalEntry::Record(Record::ApprovalRequested {
                turn: 3,
                call_id: "call_9".into(),
                agent: "billing".into(),
                tool: "refund".into(),
                arguments: serde_json::json!({"amount": 250}),
            }),
        );
        // Entries that no family counts.
        metrics.journaled("support", &JournalEntry::Input(Input::user("hello")));
        metrics.journaled("support", &JournalEntry::Record(Record::TurnStarted { turn: 4, agent: "triage".into() }));

        let lines = lines(&metrics);
        has(&lines, r#"baton_turns_total{team="sales",status="answered"} 1"#);
        has(&lines, r#"baton_turns_total{team="support",status="answered"} 2"#);
        has(&lines, r#"baton_turns_total{team="support",status="escalated"} 1"#);
        has(&lines, r#"baton_handoffs_total{team="support",from="billing",to="triage"} 1"#);
        has(&lines, r#"baton_handoffs_total{team="support",from="triage",to="billing"} 2"#);
        has(&lines, r#"baton_escalations_total{team="support",queue="humans"} 1"#);
        has(&lines, r#"baton_limits_tripped_total{team="support",limit="ping_pong"} 1"#);
        has(&lines, r#"baton_approvals_requested_total{team="support",tool="refund"} 1"#);
        let samples = lines.iter().filter(|l| !l.starts_with('#')).count();
        assert_eq!(samples, 9, "one line per label set, plus the gauge");

        // Sorted by label values, whatever the order they were first seen in.
        let turns: Vec<&String> = lines.iter().filter(|l| l.starts_with("baton_turns_total{")).collect();
        assert!(turns[0].contains("sales") && turns[2].contains("escalated"), "{turns:?}");
    }

    #[test]
    fn model_call_histogram_is_cumulative() {
        let metrics = Metrics::new();
        metrics.model_called("support", "triage", "fast", Duration::from_millis(20), true);
        metrics.model_called("support", "triage", "fast", Duration::from_millis(300), true);
        metrics.model_called("support", "triage", "fast", Duration::from_secs(90), false);

        let lines = lines(&metrics);
        let ok = r#"team="support",agent="triage",model="fast",outcome="ok""#;
        let bucket = |le: &str, n: u64| format!("baton_model_call_duration_seconds_bucket{{{ok},le=\"{le}\"}} {n}");
        has(&lines, &bucket("0.005", 0));
        has(&lines, &bucket("0.01", 0));
        has(&lines, &bucket("0.025", 1));
        has(&lines, &bucket("0.25", 1));
        has(&lines, &bucket("0.5", 2));
        has(&lines, &bucket("1", 2));
        has(&lines, &bucket("60", 2));
        has(&lines, &bucket("+Inf", 2));
        has(&lines, &format!("baton_model_call_duration_seconds_sum{{{ok}}} 0.32"));
        has(&lines, &format!("baton_model_call_duration_seconds_count{{{ok}}} 2"));

        let error = r#"team="support",agent="triage",model="fast",outcome="error""#;
        has(&lines, &format!("baton_model_call_duration_seconds_bucket{{{error},le=\"60\"}} 0"));
        has(&lines, &format!("baton_model_call_duration_seconds_bucket{{{error},le=\"+Inf\"}} 1"));
        has(&lines, &format!("baton_model_call_duration_seconds_sum{{{error}}} 90"));
        has(&lines, &format!("baton_model_call_duration_seconds_count{{{error}}} 1"));
        let buckets = lines.iter().filter(|l| l.contains("_bucket{")).count();
        assert_eq!(buckets, 2 * (BUCKETS.len() + 1));
    }

    #[test]
    fn http_requests_and_in_flight_turns() {
        let metrics = Metrics::new();
        let route = "/v1/conversations/{id}/messages";
        metrics.http_request("POST", route, 200, Duration::from_millis(40));
        metrics.http_request("POST", route, 200, Duration::from_millis(60));
        metrics.http_request("POST", route, 404, Duration::from_millis(1));

        let lines: Vec<String> = metrics.render(1).lines().map(str::to_string).collect();
        has(
            &lines,
            r#"baton_http_requests_total{method="POST",route="/v1/conversations/{id}/messages",status="200"} 2"#,
        );
        has(
            &lines,
            r#"baton_http_requests_total{method="POST",route="/v1/conversations/{id}/messages",status="404"} 1"#,
        );
        let labels = r#"method="POST",route="/v1/conversations/{id}/messages""#;
        has(&lines, &format!("baton_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 1"));
        has(&lines, &format!("baton_http_request_duration_seconds_bucket{{{labels},le=\"0.05\"}} 2"));
        has(&lines, &format!("baton_http_request_duration_seconds_bucket{{{labels},le=\"0.1\"}} 3"));
        has(&lines, &format!("baton_http_request_duration_seconds_count{{{labels}}} 3"));
        has(&lines, "baton_turns_in_flight 1");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.journaled("a\"b\\c\nd", &ended(TurnStatus::Failed));
        has(&lines(&metrics), r#"baton_turns_total{team="a\"b\\c\nd",status="failed"} 1"#);
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let metrics = Metrics::new();
        metrics.journaled("we\"ird\nteam\\", &ended(TurnStatus::AwaitingApproval));
        metrics.journaled("support", &handoff("triage", "billing"));
        metrics.model_called("support", "router", "fast", Duration::from_nanos(1), true);
        metrics.model_called("support", "triage", "slow", Duration::from_millis(1234), false);
        metrics.http_request("GET", "/metrics", 200, Duration::from_micros(150));

        let text = metrics.render(1);
        assert!(text.ends_with('\n'));
        let mut declared: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                declared.push((name.to_string(), kind.to_string()));
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (name, value) = parse_sample(line).unwrap_or_else(|| panic!("malformed sample line {line:?}"));
            assert!(value == "+Inf" || value.parse::<f64>().is_ok(), "bad value in {line:?}");
            let (family, kind) = declared.last().unwrap_or_else(|| panic!("sample before any TYPE: {line:?}"));
            let ok = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| name == format!("{family}{s}")),
                _ => name == *family,
            };
            assert!(ok, "{name} does not belong to the {kind} {family}");
        }
        assert_eq!(declared.len(), FAMILIES.len());
    }

    /// Splits `name{label="value",...} value` (labels optional) into its name and value, or
    /// `None` if it is not in the exposition format.
    fn parse_sample(line: &str) -> Option<(&str, &str)> {
        let name_end = line.find(['{', ' '])?;
        let name = &line[..name_end];
        let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || !name.chars().all(is_name_char) {
            return None;
        }
        let mut rest = &line[name_end..];
        if let Some(mut labels) = rest.strip_prefix('{') {
            loop {
                let eq = labels.find('=')?;
                let label = &labels[..eq];
                if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return None;
                }
                let mut chars = labels[eq + 1..].strip_prefix('"')?.char_indices();
                let close = loop {
                    match chars.next()? {
                        (_, '\\') => match chars.next()? {
                            (_, '\\' | '"' | 'n') => {}
                            _ => return None,
                        },
                        (_, '\n') => return None,
                        (i, '"') => break i,
                        _ => {}
                    }
                };
                labels = &labels[eq + 1 + 1 + close + 1..];
                if let Some(more) = labels.strip_prefix(',') {
                    labels = more;
                } else {
                    rest = labels.strip_prefix('}')?;
                    break;
                }
            }
        }
        let value = rest.strip_prefix(' ')?;
        (!value.is_empty() && !value.contains(' ')).then_some((name, value))
    }

    #[test]
    fn metrics_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<Metrics>();
    }
}
