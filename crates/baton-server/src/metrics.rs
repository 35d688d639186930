//! Prometheus metrics for `baton serve`, kept by `prometheus-client` and rendered in the
//! OpenMetrics text format: counters fed from the journal (turns, handoffs, limits, escalations,
//! refusals, approvals, operator actions, tool calls, tokens and cost), latency histograms of
//! model calls, journal appends and HTTP requests, the turns in flight, and what the server
//! refused to protect itself.

use baton::core::{Input, JournalEntry, Record};
use baton::entry_names::{handoff_kind, refusal_kind};
use baton::{TurnUsage, UsageTotals};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the latency histograms' buckets, in seconds (`+Inf` is implied).
const BUCKETS: [f64; 13] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Upper bounds of the journal append histogram's buckets, in seconds.
const APPEND_BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

fn append_latency() -> Histogram {
    Histogram::new(APPEND_BUCKETS)
}

type Counters<L> = Family<L, Counter>;
type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

/// The process's metrics; shared in an `Arc` between all tasks.
pub struct Metrics {
    registry: Registry,
    turns: Counters<TeamStatus>,
    handoffs: Counters<HandoffLabels>,
    limits: Counters<TeamLimit>,
    escalations: Counters<Escalation>,
    refusals: Counters<TeamReason>,
    approvals: Counters<TeamTool>,
    decisions: Counters<Decision>,
    operator_actions: Counters<OperatorAction>,
    tool_calls: Counters<ToolCall>,
    tokens: Counters<Tokens>,
    cost: Family<TeamAgent, Counter<f64, AtomicU64>>,
    resumed: Counters<Team>,
    model_calls: Latencies<ModelCall>,
    appends: Latencies<Team>,
    http_requests: Counters<HttpRequest>,
    http_durations: Latencies<HttpRoute>,
    refused: Counters<Refused>,
    in_flight: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Team {
    team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamStatus {
    team: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandoffLabels {
    team: String,
    from: String,
    to: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamLimit {
    team: String,
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Escalation {
    team: String,
    queue: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamReason {
    team: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamTool {
    team: String,
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    team: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperatorAction {
    team: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolCall {
    team: String,
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Tokens {
    team: String,
    agent: String,
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamAgent {
    team: String,
    agent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelCall {
    team: String,
    agent: String,
    model: String,
    provider: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpRequest {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpRoute {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refused {
    reason: String,
}

/// What one turn's observer remembers between entries, so that a later entry is counted with
/// what an earlier one said: the tool of each call, and why control last moved.
#[derive(Default)]
pub struct Tally {
    tools: BTreeMap<String, String>,
    last_move: Option<String>,
}

impl Metrics {
    /// Metrics with nothing counted yet.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let metrics = Metrics {
            turns: Family::default(),
            handoffs: Family::default(),
            limits: Family::default(),
            escalations: Family::default(),
            refusals: Family::default(),
            approvals: Family::default(),
            decisions: Family::default(),
            operator_actions: Family::default(),
            tool_calls: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            resumed: Family::default(),
            model_calls: Family::new_with_constructor(latency),
            appends: Family::new_with_constructor(append_latency),
            http_requests: Family::default(),
            http_durations: Family::new_with_constructor(latency),
            refused: Family::default(),
            in_flight: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("baton_turns", "Turns ended, by how they ended", metrics.turns.clone());
        registry.register(
            "baton_handoffs",
            "Handoffs taken, per edge (from the agent that had control to the one that took it), by kind: model, \
             trigger, router, escalation or operator",
            metrics.handoffs.clone(),
        );
        registry.register("baton_limits_tripped", "Limits tripped, by limit", metrics.limits.clone());
        registry.register(
            "baton_escalations",
            "Tickets opened in a human agent's escalation queue, by what moved control there (model, trigger, \
             operator, message, or the limit that tripped)",
            metrics.escalations.clone(),
        );
        registry.register(
            "baton_handoff_refusals",
            "Handoff calls that did not move control, by reason",
            metrics.refusals.clone(),
        );
        registry.register(
            "baton_approvals_requested",
            "Tool calls that waited for a person's approval, by tool; less baton_approvals_decided_total is how \
             many wait",
            metrics.approvals.clone(),
        );
        registry.register(
            "baton_approvals_decided",
            "Decisions on tool calls waiting for approval: approved or denied",
            metrics.decisions.clone(),
        );
        registry.register(
            "baton_operator_actions",
            "What operators did with tickets: claim, reply, handback, close",
            metrics.operator_actions.clone(),
        );
        registry.register(
            "baton_tool_calls",
            "Tool calls answered, by tool and outcome (ok, error, unknown, rejected)",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "baton_tokens",
            "Tokens of model calls, by agent and direction (input, output)",
            metrics.tokens.clone(),
        );
        registry.register(
            "baton_cost_usd",
            "What model calls cost in US dollars where the model has a price, by agent",
            metrics.cost.clone(),
        );
        registry.register(
            "baton_turns_resumed",
            "Turns taken up again after the process advancing them stopped (a crash, a lost lease)",
            metrics.resumed.clone(),
        );
        registry.register(
            "baton_model_call_duration_seconds",
            "Duration of model calls, by agent, model, provider and outcome (ok or error)",
            metrics.model_calls.clone(),
        );
        registry.register(
            "baton_journal_append_duration_seconds",
            "Duration of journal appends",
            metrics.appends.clone(),
        );
        registry.register(
            "baton_http_requests",
            "HTTP requests answered, by method, route template and status",
            metrics.http_requests.clone(),
        );
        registry.register(
            "baton_http_request_duration_seconds",
            "Duration of HTTP requests, by method and route template",
            metrics.http_durations.clone(),
        );
        registry.register(
            "baton_http_refused",
            "Requests refused and connections closed to protect the server, by reason: rate_limited, \
             too_many_requests and too_many_streams (per key), connection_evicted (a half-sent or idle connection \
             closed at the connection cap) and connection_refused (every connection busy)",
            metrics.refused.clone(),
        );
        registry.register("baton_turns_in_flight", "Turns running in this process now", metrics.in_flight.clone());
        Metrics { registry, ..metrics }
    }

    /// A journal entry was written in a conversation of `team`; `tally` is the turn's memory.
    pub fn journaled(&self, team: &str, entry: &JournalEntry, tally: &mut Tally) {
        let team = team.to_string();
        match entry {
            JournalEntry::Record(Record::TurnEnded(outcome)) => {
                self.turns.get_or_create(&TeamStatus { team, status: outcome.status.as_str().into() }).inc();
            }
            JournalEntry::Record(Record::HandoffTaken { from, to, escalation, trigger, operator, .. }) => {
                let kind = handoff_kind(escalation.as_ref(), trigger.as_ref(), operator.as_ref());
                tally.last_move = Some(escalation.map_or(kind, |limit| limit.as_str()).to_string());
                let labels = HandoffLabels { team, from: from.clone(), to: to.clone(), kind: kind.into() };
                self.handoffs.get_or_create(&labels).inc();
            }
            JournalEntry::Record(Record::Routed { from, to, .. }) if from != to => {
                let labels = HandoffLabels { team, from: from.clone(), to: to.clone(), kind: "router".into() };
                self.handoffs.get_or_create(&labels).inc();
            }
            JournalEntry::Record(Record::HandoffRefused { refusal, .. }) => {
                let reason = refusal_kind(refusal).to_string();
                self.refusals.get_or_create(&TeamReason { team, reason }).inc();
            }
            JournalEntry::Record(Record::LimitTripped { limit, .. }) => {
                self.limits.get_or_create(&TeamLimit { team, limit: limit.as_str().into() }).inc();
            }
            JournalEntry::Record(Record::TicketOpened { agent, .. }) => {
                let reason = tally.last_move.take().unwrap_or_else(|| "message".to_string());
                self.escalations.get_or_create(&Escalation { team, queue: agent.clone(), reason }).inc();
            }
            JournalEntry::Record(Record::ApprovalRequested { tool, .. }) => {
                self.approvals.get_or_create(&TeamTool { team, tool: tool.clone() }).inc();
            }
            JournalEntry::Input(Input::ApprovalDecided { approved, .. }) => {
                let decision = if *approved { "approved" } else { "denied" };
                self.decisions.get_or_create(&Decision { team, decision: decision.into() }).inc();
            }
            JournalEntry::Input(action) if operator_action(action).is_some() => {
                let action = operator_action(action).unwrap_or_default().to_string();
                self.operator_actions.get_or_create(&OperatorAction { team, action }).inc();
            }
            JournalEntry::Record(Record::ToolCallStarted { call_id, tool, .. }) => {
                tally.tools.insert(call_id.clone(), tool.clone());
            }
            JournalEntry::Record(Record::ToolCallRejected { tool, .. }) => {
                self.tool_calls.get_or_create(&ToolCall { team, tool: tool.clone(), outcome: "rejected".into() }).inc();
            }
            JournalEntry::Input(Input::ToolReturned { call_id, output }) => {
                let outcome = if output.is_error { "error" } else { "ok" };
                if let Some(tool) = tally.tools.remove(call_id) {
                    self.tool_calls.get_or_create(&ToolCall { team, tool, outcome: outcome.into() }).inc();
                }
            }
            JournalEntry::Input(Input::ToolOutcomeUnknown { call_id }) => {
                if let Some(tool) = tally.tools.remove(call_id) {
                    self.tool_calls.get_or_create(&ToolCall { team, tool, outcome: "unknown".into() }).inc();
                }
            }
            _ => {}
        }
    }

    /// A turn of `team` ended having used `usage`: its tokens and cost, by agent.
    pub fn used(&self, team: &str, usage: &TurnUsage) {
        for (agent, UsageTotals { input_tokens, output_tokens, cost_usd }) in &usage.agents {
            for (direction, tokens) in [("input", input_tokens), ("output", output_tokens)] {
                let labels = Tokens { team: team.into(), agent: agent.clone(), direction: direction.into() };
                self.tokens.get_or_create(&labels).inc_by(*tokens);
            }
            if let Some(cost) = cost_usd {
                self.cost.get_or_create(&TeamAgent { team: team.into(), agent: agent.clone() }).inc_by(*cost);
            }
        }
    }

    /// `agent`'s call to `model` (the team's model name, served by `provider`) ended after
    /// `elapsed`, ok or failed.
    pub fn model_called(&self, team: &str, agent: &str, model: &str, provider: &str, elapsed: Duration, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        let labels = ModelCall {
            team: team.into(),
            agent: agent.into(),
            model: model.into(),
            provider: provider.into(),
            outcome: outcome.into(),
        };
        self.model_calls.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// A journal append of `team` took `elapsed`.
    pub fn appended(&self, team: &str, elapsed: Duration) {
        self.appends.get_or_create(&Team { team: team.into() }).observe(elapsed.as_secs_f64());
    }

    /// A turn of `team` was taken up again after the process advancing it stopped.
    pub fn resumed(&self, team: &str) {
        self.resumed.get_or_create(&Team { team: team.into() }).inc();
    }

    /// One HTTP request was answered: `route` is the route template such as
    /// `"/v1/conversations/{id}/messages"`.
    /// A method outside the standard ones is counted as `other`, so that a client cannot grow
    /// the metrics by inventing method names.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method).to_string();
        let labels = HttpRequest { method: method.clone(), route: route.into(), status: status.to_string() };
        self.http_requests.get_or_create(&labels).inc();
        self.http_durations.get_or_create(&HttpRoute { method, route: route.into() }).observe(elapsed.as_secs_f64());
    }

    /// A request or connection was refused for `reason` (one of a few fixed words).
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&Refused { reason: reason.into() }).inc();
    }

    /// Everything in the OpenMetrics text format, `turns_in_flight` being how many turns run or
    /// wait in this process now.
    pub fn render(&self, turns_in_flight: usize) -> String {
        self.in_flight.set(i64::try_from(turns_in_flight).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The operator's action an input is, if it is one.
fn operator_action(input: &Input) -> Option<&'static str> {
    match input {
        Input::TicketClaimed { .. } => Some("claim"),
        Input::OperatorReplied { .. } => Some("reply"),
        Input::TicketHandedBack { .. } => Some("handback"),
        Input::TicketClosed { .. } => Some("close"),
        _ => None,
    }
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
    use baton::core::{ContextPolicy, LimitKind, Payload, Refusal, ToolOutput, TurnOutcome, TurnStatus};

    fn record(record: Record) -> JournalEntry {
        JournalEntry::Record(record)
    }

    fn ended(status: TurnStatus) -> JournalEntry {
        record(Record::TurnEnded(TurnOutcome {
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

    fn handoff(to: &str, escalation: Option<LimitKind>) -> JournalEntry {
        record(Record::HandoffTaken {
            turn: 1,
            from: "triage".into(),
            to: to.into(),
            payload: Payload { reason: "billing question".into(), summary: None, facts: BTreeMap::new() },
            context: ContextPolicy::Full,
            call_id: Some("call_1".into()),
            escalation,
            trigger: None,
            operator: None,
        })
    }

    fn tool_started(call_id: &str, tool: &str) -> JournalEntry {
        record(Record::ToolCallStarted {
            turn: 1,
            call_id: call_id.into(),
            agent: "technical".into(),
            tool: tool.into(),
            arguments: "{}".into(),
            idempotency_key: format!("key-{call_id}"),
        })
    }

    fn returned(call_id: &str, error: bool) -> JournalEntry {
        let output = if error { ToolOutput::error("down") } else { ToolOutput::ok("up") };
        JournalEntry::Input(Input::ToolReturned { call_id: call_id.into(), output })
    }

    fn lines(metrics: &Metrics) -> Vec<String> {
        metrics.render(2).lines().map(str::to_string).collect()
    }

    fn has(lines: &[String], line: &str) {
        assert!(lines.iter().any(|l| l == line), "{line} is missing from:\n{}", lines.join("\n"));
    }

    #[test]
    fn the_in_flight_gauge_and_the_end_marker_are_there_before_anything_is_counted() {
        let lines = lines(&Metrics::new());
        has(&lines, "# HELP baton_turns_in_flight Turns running in this process now.");
        has(&lines, "# TYPE baton_turns_in_flight gauge");
        has(&lines, "baton_turns_in_flight 2");
        assert_eq!(lines.last().map(String::as_str), Some("# EOF"));
    }

    #[test]
    fn a_workload_is_counted_by_what_the_journal_says() {
        let metrics = Metrics::new();
        let mut tally = Tally::default();
        let entries = [
            handoff("technical", None),
            tool_started("call_a", "check_line_status"),
            tool_started("call_b", "check_line_status"),
            returned("call_a", false),
            returned("call_b", true),
            tool_started("call_c", "issue_refund"),
            JournalEntry::Input(Input::ToolOutcomeUnknown { call_id: "call_c".into() }),
            record(Record::HandoffRefused {
                turn: 1,
                call_id: "call_d".into(),
                from: "technical".into(),
                to: "billing".into(),
                refusal: Refusal::PingPong,
            }),
            record(Record::LimitTripped {
                turn: 1,
                limit: LimitKind::MaxHandoffs,
                agent: "technical".into(),
                detail: "3 handoffs".into(),
            }),
            handoff("human", Some(LimitKind::MaxHandoffs)),
            record(Record::TicketOpened { turn: 1, agent: "human".into(), reason: "limit".into() }),
            record(Record::TicketOpened { turn: 2, agent: "human".into(), reason: "asked".into() }),
            JournalEntry::Input(Input::TicketClaimed { operator: "anna".into() }),
            JournalEntry::Input(Input::ApprovalDecided {
                call_id: "call_e".into(),
                approved: false,
                reason: None,
                by: None,
            }),
            ended(TurnStatus::Escalated),
        ];
        for entry in &entries {
            metrics.journaled("support", entry, &mut tally);
        }
        let mut usage = TurnUsage::default();
        usage.agents.insert("triage".into(), UsageTotals { input_tokens: 120, output_tokens: 30, cost_usd: Some(0.5) });
        metrics.used("support", &usage);
        metrics.model_called("support", "triage", "fast", "openai", Duration::from_millis(40), true);
        metrics.appended("support", Duration::from_micros(300));
        metrics.resumed("support");

        let lines = lines(&metrics);
        for family in ["baton_handoffs counter", "baton_tool_calls counter", "baton_cost_usd counter"] {
            has(&lines, &format!("# TYPE {family}"));
        }
        has(&lines, "# TYPE baton_model_call_duration_seconds histogram");
        for line in [
            r#"baton_handoffs_total{team="support",from="triage",to="technical",kind="model"} 1"#,
            r#"baton_handoffs_total{team="support",from="triage",to="human",kind="escalation"} 1"#,
            r#"baton_tool_calls_total{team="support",tool="check_line_status",outcome="ok"} 1"#,
            r#"baton_tool_calls_total{team="support",tool="check_line_status",outcome="error"} 1"#,
            r#"baton_tool_calls_total{team="support",tool="issue_refund",outcome="unknown"} 1"#,
            r#"baton_handoff_refusals_total{team="support",reason="ping_pong"} 1"#,
            r#"baton_limits_tripped_total{team="support",limit="max_handoffs"} 1"#,
            r#"baton_escalations_total{team="support",queue="human",reason="max_handoffs"} 1"#,
            r#"baton_escalations_total{team="support",queue="human",reason="message"} 1"#,
            r#"baton_operator_actions_total{team="support",action="claim"} 1"#,
            r#"baton_approvals_decided_total{team="support",decision="denied"} 1"#,
            r#"baton_turns_total{team="support",status="escalated"} 1"#,
            r#"baton_tokens_total{team="support",agent="triage",direction="input"} 120"#,
            r#"baton_tokens_total{team="support",agent="triage",direction="output"} 30"#,
            r#"baton_cost_usd_total{team="support",agent="triage"} 0.5"#,
            r#"baton_turns_resumed_total{team="support"} 1"#,
            r#"baton_model_call_duration_seconds_count{team="support",agent="triage",model="fast",provider="openai",outcome="ok"} 1"#,
            r#"baton_model_call_duration_seconds_bucket{le="0.05",team="support",agent="triage",model="fast",provider="openai",outcome="ok"} 1"#,
            r#"baton_journal_append_duration_seconds_count{team="support"} 1"#,
        ] {
            has(&lines, line);
        }
    }

    #[test]
    fn label_values_are_escaped_and_invented_methods_are_other() {
        let metrics = Metrics::new();
        metrics.journaled("a\"b\\c\nd", &ended(TurnStatus::Failed), &mut Tally::default());
        metrics.http_request("BREW", "/healthz", 405, Duration::from_millis(1));
        let lines = lines(&metrics);
        has(&lines, r#"baton_turns_total{team="a\"b\\c\nd",status="failed"} 1"#);
        has(&lines, r#"baton_http_requests_total{method="other",route="/healthz",status="405"} 1"#);
    }
}
