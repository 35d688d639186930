//! The JSON the CLI's `--json` prints and the HTTP API answers with, as Rust types: what they
//! serialize to is the JSON, and the JSON Schema they derive is what `baton serve`'s OpenAPI
//! document publishes, so the two cannot disagree.
//!
//! They are the API's own types, made from the runtime's ([`crate::TurnReport`],
//! [`crate::TicketView`], the journal's entries and the core's transcript): the journal's format
//! can change without changing the API. The conversions name every field of the runtime's
//! types, so a field added there is a compile error here until it is published or left out.

use crate::queue::{TicketStatus, TicketView};
use crate::usage;
use baton_core as core;
use baton_store::StoredEntry;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The result of one user turn (what `baton run --json` prints).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TurnReport {
    /// The conversation.
    pub conversation: String,
    /// The turn's number, from 1.
    pub turn: u32,
    /// How the turn ended.
    pub status: TurnStatus,
    /// The agent in control at the end.
    pub agent: String,
    /// The answer for the user, if there is one.
    pub reply: Option<String>,
    /// The turn's handoff chain, escalations included.
    pub handoffs: Vec<HandoffStep>,
    /// The limit that tripped, if one did.
    pub limit: Option<LimitKind>,
    /// Model calls made.
    pub model_calls: u32,
    /// Tool calls run (handoffs not counted).
    pub tool_calls: u32,
    /// Why the turn failed, if it did.
    pub error: Option<String>,
    /// The front-door router's choice, on the turn it was made.
    pub routed: Option<HandoffStep>,
    /// Tool and handoff calls whose arguments were not a JSON object (each answered with an
    /// error the model could correct).
    pub malformed_calls: u32,
    /// The tokens the turn's model calls used.
    pub usage: TurnUsage,
    /// The tool call waiting for approval, when the status is `awaiting_approval`.
    pub pending: Option<PendingApproval>,
}

impl From<&crate::TurnReport> for TurnReport {
    fn from(report: &crate::TurnReport) -> TurnReport {
        let crate::TurnReport { conversation, outcome, usage } = report;
        // The usage lines per agent and model are summed up in `usage`.
        let core::TurnOutcome {
            turn,
            status,
            agent,
            reply,
            handoffs,
            limit,
            model_calls,
            tool_calls,
            error,
            routed,
            malformed_calls,
            usage: _,
            pending,
        } = outcome;
        TurnReport {
            conversation: conversation.clone(),
            turn: *turn,
            status: (*status).into(),
            agent: agent.clone(),
            reply: reply.clone(),
            handoffs: handoffs.iter().map(HandoffStep::from).collect(),
            limit: limit.map(LimitKind::from),
            model_calls: *model_calls,
            tool_calls: *tool_calls,
            error: error.clone(),
            routed: routed.as_ref().map(HandoffStep::from),
            // Journals written before the count was kept have none: none were counted.
            malformed_calls: malformed_calls.unwrap_or(0),
            usage: usage.into(),
            pending: pending.as_deref().map(PendingApproval::from),
        }
    }
}

/// How a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// An agent answered the user.
    Answered,
    /// Control is with a human agent (or with the fallback after a limit).
    Escalated,
    /// The turn failed; `error` says why.
    Failed,
    /// A tool call waits for a person's approval; the turn goes on once it is decided.
    AwaitingApproval,
}

impl From<core::TurnStatus> for TurnStatus {
    fn from(status: core::TurnStatus) -> TurnStatus {
        match status {
            core::TurnStatus::Answered => TurnStatus::Answered,
            core::TurnStatus::Escalated => TurnStatus::Escalated,
            core::TurnStatus::Failed => TurnStatus::Failed,
            core::TurnStatus::AwaitingApproval => TurnStatus::AwaitingApproval,
        }
    }
}

/// A limit that tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Too many handoffs in one turn.
    MaxHandoffs,
    /// Too many model calls in one turn.
    MaxModelCalls,
    /// Agents kept handing control back and forth.
    PingPong,
    /// An edge's budget was spent and the model kept trying.
    MaxUses,
    /// A tool that is not idempotent may or may not have run when the process stopped: a person
    /// must check.
    ToolOutcomeUnknown,
    /// The turn ran past its deadline.
    TurnSeconds,
}

impl From<core::LimitKind> for LimitKind {
    fn from(limit: core::LimitKind) -> LimitKind {
        match limit {
            core::LimitKind::MaxHandoffs => LimitKind::MaxHandoffs,
            core::LimitKind::MaxModelCalls => LimitKind::MaxModelCalls,
            core::LimitKind::PingPong => LimitKind::PingPong,
            core::LimitKind::MaxUses => LimitKind::MaxUses,
            core::LimitKind::ToolOutcomeUnknown => LimitKind::ToolOutcomeUnknown,
            core::LimitKind::TurnSeconds => LimitKind::TurnSeconds,
        }
    }
}

/// One step of a turn's handoff chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HandoffStep {
    /// Who had control.
    pub from: String,
    /// Who took it.
    pub to: String,
    /// Why.
    pub reason: String,
}

impl From<&core::HandoffStep> for HandoffStep {
    fn from(step: &core::HandoffStep) -> HandoffStep {
        let core::HandoffStep { from, to, reason } = step;
        HandoffStep { from: from.clone(), to: to.clone(), reason: reason.clone() }
    }
}

/// The tool call a turn waits on.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PendingApproval {
    /// The call's id, to decide on.
    pub call_id: String,
    /// The tool.
    pub tool: String,
    /// The arguments.
    #[schemars(extend("type" = "object"))]
    pub args: Value,
}

impl From<&core::PendingApproval> for PendingApproval {
    fn from(pending: &core::PendingApproval) -> PendingApproval {
        let core::PendingApproval { call_id, tool, args } = pending;
        PendingApproval { call_id: call_id.clone(), tool: tool.clone(), args: args.clone() }
    }
}

/// A turn's tokens, in total and per agent (`router` for the front-door router).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TurnUsage {
    /// Tokens sent to models.
    pub input_tokens: u64,
    /// Tokens models produced.
    pub output_tokens: u64,
    /// In US dollars; absent when a model has no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Per agent, by name; absent when no model call reported its tokens.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, UsageTotals>,
}

impl From<&usage::TurnUsage> for TurnUsage {
    fn from(usage: &usage::TurnUsage) -> TurnUsage {
        let usage::TurnUsage { total, agents } = usage;
        let UsageTotals { input_tokens, output_tokens, cost_usd } = total.into();
        let agents = agents.iter().map(|(agent, totals)| (agent.clone(), totals.into())).collect();
        TurnUsage { input_tokens, output_tokens, cost_usd, agents }
    }
}

/// Tokens, and their cost where every model involved has a price.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct UsageTotals {
    /// Tokens sent to models.
    pub input_tokens: u64,
    /// Tokens models produced.
    pub output_tokens: u64,
    /// In US dollars; absent when a model has no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

impl From<&usage::UsageTotals> for UsageTotals {
    fn from(totals: &usage::UsageTotals) -> UsageTotals {
        let usage::UsageTotals { input_tokens, output_tokens, cost_usd } = totals;
        UsageTotals { input_tokens: *input_tokens, output_tokens: *output_tokens, cost_usd: *cost_usd }
    }
}

/// A ticket without its context package: an element of the queue, and the answer to an
/// operator's action.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TicketSummary {
    /// The conversation, and the ticket's name.
    pub conversation: String,
    /// The conversation's team.
    pub team: String,
    /// Where the ticket stands.
    pub status: TicketStatus,
    /// The human agent, when there is a ticket.
    pub queue: Option<String>,
    /// Who claimed it.
    pub operator: Option<String>,
    /// Why it opened.
    pub reason: Option<String>,
    /// The turn in which it opened.
    pub opened_turn: Option<u32>,
    /// When it opened, in milliseconds since the Unix epoch.
    pub opened_ms: Option<u64>,
    /// The agent in control.
    pub agent: String,
    /// The user's latest message.
    pub last_user_message: Option<String>,
}

impl From<&TicketView> for TicketSummary {
    fn from(view: &TicketView) -> TicketSummary {
        let TicketView {
            conversation,
            team,
            status,
            queue,
            operator,
            reason,
            opened_turn,
            opened_ms,
            agent,
            note: _,
            last_user_message,
            facts: _,
            transcript: _,
        } = view;
        TicketSummary {
            conversation: conversation.clone(),
            team: team.clone(),
            status: *status,
            queue: queue.clone(),
            operator: operator.clone(),
            reason: reason.clone(),
            opened_turn: *opened_turn,
            opened_ms: *opened_ms,
            agent: agent.clone(),
            last_user_message: last_user_message.clone(),
        }
    }
}

/// A ticket with its context package: the handoff note the human agent received, the facts and
/// the transcript.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Ticket {
    /// The conversation, and the ticket's name.
    pub conversation: String,
    /// The conversation's team.
    pub team: String,
    /// Where the ticket stands.
    pub status: TicketStatus,
    /// The human agent, when there is a ticket.
    pub queue: Option<String>,
    /// Who claimed it.
    pub operator: Option<String>,
    /// Why it opened.
    pub reason: Option<String>,
    /// The turn in which it opened.
    pub opened_turn: Option<u32>,
    /// When it opened, in milliseconds since the Unix epoch.
    pub opened_ms: Option<u64>,
    /// The agent in control.
    pub agent: String,
    /// The handoff note the human agent received.
    pub note: Option<HandoffNote>,
    /// The user's latest message.
    pub last_user_message: Option<String>,
    /// The facts the team has gathered.
    pub facts: BTreeMap<String, String>,
    /// The whole transcript.
    pub transcript: Vec<TranscriptEntry>,
}

impl From<&TicketView> for Ticket {
    fn from(view: &TicketView) -> Ticket {
        let TicketView {
            conversation,
            team,
            status,
            queue,
            operator,
            reason,
            opened_turn,
            opened_ms,
            agent,
            note,
            last_user_message,
            facts,
            transcript,
        } = view;
        Ticket {
            conversation: conversation.clone(),
            team: team.clone(),
            status: *status,
            queue: queue.clone(),
            operator: operator.clone(),
            reason: reason.clone(),
            opened_turn: *opened_turn,
            opened_ms: *opened_ms,
            agent: agent.clone(),
            note: note.as_ref().map(HandoffNote::from),
            last_user_message: last_user_message.clone(),
            facts: facts.clone(),
            transcript: transcript.iter().map(TranscriptEntry::from).collect(),
        }
    }
}

/// The context package an agent gets with control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HandoffNote {
    /// Who had control.
    pub from: String,
    /// Who has it now.
    pub to: String,
    /// Why.
    pub reason: String,
    /// The handing-off model's summary, if it gave one.
    pub summary: Option<String>,
    /// The facts the team had gathered.
    pub facts: BTreeMap<String, String>,
    /// The user's message of the turn control passed in.
    pub request: String,
    /// The user's first message in the conversation, when it is not `request`.
    pub first_request: Option<String>,
    /// How much of the transcript the receiver sees.
    pub context: ContextPolicy,
    /// The limit that tripped, when the runtime escalated rather than a model handing off.
    pub escalation: Option<LimitKind>,
}

impl From<&core::HandoffNote> for HandoffNote {
    fn from(note: &core::HandoffNote) -> HandoffNote {
        let core::HandoffNote { from, to, reason, summary, facts, request, first_request, context, escalation } = note;
        HandoffNote {
            from: from.clone(),
            to: to.clone(),
            reason: reason.clone(),
            summary: summary.clone(),
            facts: facts.clone(),
            request: request.clone(),
            first_request: first_request.clone(),
            context: (*context).into(),
            escalation: escalation.map(LimitKind::from),
        }
    }
}

/// What the receiving agent of a handoff sees of the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContextPolicy {
    /// The whole transcript and the handoff note.
    Full,
    /// The handoff note and what follows it.
    Summary,
    /// Who handed off, why, and the user's request.
    None,
}

impl From<core::ContextPolicy> for ContextPolicy {
    fn from(context: core::ContextPolicy) -> ContextPolicy {
        match context {
            core::ContextPolicy::Full => ContextPolicy::Full,
            core::ContextPolicy::Summary => ContextPolicy::Summary,
            core::ContextPolicy::None => ContextPolicy::None,
        }
    }
}

/// One entry of a transcript: the user's message, a model's response, a tool's result or a
/// handoff (with the handoff note's fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schemars(deny_unknown_fields)]
pub enum TranscriptEntry {
    /// The user's message that opened a turn.
    User {
        /// The turn it opened.
        turn: u32,
        /// What the user wrote.
        text: String,
    },
    /// A model's response (or an operator's reply, as the human agent).
    Assistant {
        /// The agent whose model answered.
        agent: String,
        /// Its text, if any.
        text: Option<String>,
        /// Its tool calls.
        tool_calls: Vec<ToolCall>,
    },
    /// The result of a tool call.
    ToolResult {
        /// The agent that made the call.
        agent: String,
        /// The call answered.
        call_id: String,
        /// The tool called.
        name: String,
        /// The result.
        output: ToolOutput,
    },
    /// Control passed to another agent.
    Handoff(HandoffNote),
}

impl From<&core::Entry> for TranscriptEntry {
    fn from(entry: &core::Entry) -> TranscriptEntry {
        match entry {
            core::Entry::User { turn, text } => TranscriptEntry::User { turn: *turn, text: text.clone() },
            core::Entry::Assistant { agent, text, tool_calls } => TranscriptEntry::Assistant {
                agent: agent.clone(),
                text: text.clone(),
                tool_calls: tool_calls.iter().map(ToolCall::from).collect(),
            },
            core::Entry::ToolResult { agent, call_id, name, output } => TranscriptEntry::ToolResult {
                agent: agent.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                output: output.into(),
            },
            core::Entry::Handoff(note) => TranscriptEntry::Handoff(note.into()),
        }
    }
}

/// A tool call made by a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ToolCall {
    /// The call's id.
    pub id: String,
    /// The tool's name (`transfer_to_<agent>` for a handoff).
    pub name: String,
    /// The arguments, as the JSON text the model wrote (it may be malformed).
    pub arguments: String,
}

impl From<&core::ToolCall> for ToolCall {
    fn from(call: &core::ToolCall) -> ToolCall {
        let core::ToolCall { id, name, arguments } = call;
        ToolCall { id: id.clone(), name: name.clone(), arguments: arguments.clone() }
    }
}

/// The result of a tool call, as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ToolOutput {
    /// The result's text (JSON for structured results).
    pub content: String,
    /// Whether the call failed; `content` then says why.
    pub is_error: bool,
}

impl From<&core::ToolOutput> for ToolOutput {
    fn from(output: &core::ToolOutput) -> ToolOutput {
        let core::ToolOutput { content, is_error } = output;
        ToolOutput { content: content.clone(), is_error: *is_error }
    }
}

/// One journal entry.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct JournalEntry {
    /// Its position in the journal, from 0.
    pub seq: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The epoch of the lease it was written under: it grows where another process took the
    /// conversation over.
    pub epoch: u64,
    /// What it is, e.g. `user_message`, `turn_started`, `ticket_opened`.
    pub kind: String,
    /// The entry itself: an input or a record, tagged by `type`.
    #[schemars(extend("type" = "object", "required" = ["type"]))]
    pub data: Value,
}

impl From<&StoredEntry> for JournalEntry {
    fn from(stored: &StoredEntry) -> JournalEntry {
        let StoredEntry { seq, at_ms, epoch, entry } = stored;
        let data = match entry {
            core::JournalEntry::Input(input) => serde_json::to_value(input),
            core::JournalEntry::Record(record) => serde_json::to_value(record),
        };
        JournalEntry {
            seq: *seq,
            at_ms: *at_ms,
            epoch: *epoch,
            kind: entry.kind().to_string(),
            data: data.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{JournalEntry, Ticket, TicketSummary};
    use crate::queue::{TicketStatus, TicketView};
    use crate::usage::{TurnUsage, UsageTotals};
    use crate::TurnReport;
    use baton_core::{
        ContextPolicy, Entry, HandoffNote, HandoffStep, Input, LimitKind, PendingApproval, Record, ToolCall,
        ToolOutput, TurnOutcome, TurnStatus,
    };
    use baton_store::StoredEntry;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// `value` as the CLI prints it and the server sends it.
    fn json(value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }

    fn step(from: &str, to: &str, reason: &str) -> HandoffStep {
        HandoffStep { from: from.into(), to: to.into(), reason: reason.into() }
    }

    fn totals(input_tokens: u64, output_tokens: u64, cost_usd: Option<f64>) -> UsageTotals {
        UsageTotals { input_tokens, output_tokens, cost_usd }
    }

    /// A turn with every field set.
    fn full_report() -> TurnReport {
        let agents =
            BTreeMap::from([("billing".into(), totals(100, 20, Some(0.001))), ("router".into(), totals(20, 10, None))]);
        TurnReport {
            conversation: "c-1".into(),
            outcome: TurnOutcome {
                turn: 3,
                status: TurnStatus::AwaitingApproval,
                agent: "billing".into(),
                reply: Some("One moment.".into()),
                handoffs: vec![step("triage", "billing", "an invoice question")],
                limit: Some(LimitKind::MaxHandoffs),
                model_calls: 4,
                tool_calls: 2,
                error: Some("the model failed".into()),
                routed: Some(step("router", "triage", "the front door")),
                malformed_calls: Some(1),
                usage: None,
                pending: Some(Box::new(PendingApproval {
                    call_id: "call_1".into(),
                    tool: "refund".into(),
                    args: json!({"invoice": "INV-2041", "amount": 89.99}),
                })),
            },
            usage: TurnUsage { total: totals(120, 30, None), agents },
        }
    }

    /// A turn with every optional field left out.
    fn bare_report() -> TurnReport {
        TurnReport {
            conversation: "c-2".into(),
            outcome: TurnOutcome {
                turn: 1,
                status: TurnStatus::Answered,
                agent: "triage".into(),
                reply: None,
                handoffs: Vec::new(),
                limit: None,
                model_calls: 1,
                tool_calls: 0,
                error: None,
                routed: None,
                malformed_calls: None,
                usage: None,
                pending: None,
            },
            usage: TurnUsage { total: totals(5, 7, Some(0.0)), agents: BTreeMap::new() },
        }
    }

    fn note() -> HandoffNote {
        HandoffNote {
            from: "billing".into(),
            to: "human".into(),
            reason: "a person must decide".into(),
            summary: Some("refund of a router fee".into()),
            facts: BTreeMap::from([("customer".into(), "7".into())]),
            request: "refund it".into(),
            first_request: Some("my bill is wrong".into()),
            context: ContextPolicy::Summary,
            escalation: Some(LimitKind::PingPong),
        }
    }

    /// A claimed ticket with a transcript of every kind of entry.
    fn full_ticket() -> TicketView {
        TicketView {
            conversation: "c-1".into(),
            team: "support".into(),
            status: TicketStatus::Claimed,
            queue: Some("human".into()),
            operator: Some("anna".into()),
            reason: Some("a person must decide".into()),
            opened_turn: Some(2),
            opened_ms: Some(1_700_000_000_000),
            agent: "human".into(),
            note: Some(note()),
            last_user_message: Some("refund it".into()),
            facts: BTreeMap::from([("customer".into(), "7".into())]),
            transcript: vec![
                Entry::User { turn: 1, text: "my bill is wrong".into() },
                Entry::Assistant {
                    agent: "billing".into(),
                    text: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "lookup".into(),
                        arguments: "{\"x\":1}".into(),
                    }],
                },
                Entry::ToolResult {
                    agent: "billing".into(),
                    call_id: "call_1".into(),
                    name: "lookup".into(),
                    output: ToolOutput { content: "no such invoice".into(), is_error: true },
                },
                Entry::Assistant {
                    agent: "billing".into(),
                    text: Some("Let me get a person.".into()),
                    tool_calls: Vec::new(),
                },
                Entry::Handoff(note()),
            ],
        }
    }

    /// A conversation without a ticket.
    fn no_ticket() -> TicketView {
        TicketView {
            conversation: "c-2".into(),
            team: "support".into(),
            status: TicketStatus::None,
            queue: None,
            operator: None,
            reason: None,
            opened_turn: None,
            opened_ms: None,
            agent: "triage".into(),
            note: None,
            last_user_message: None,
            facts: BTreeMap::new(),
            transcript: Vec::new(),
        }
    }

    #[test]
    fn a_turn_report_keeps_its_json() {
        assert_eq!(
            json(&super::TurnReport::from(&full_report())),
            r#"{"conversation":"c-1","turn":3,"status":"awaiting_approval","agent":"billing","reply":"One moment.","handoffs":[{"from":"triage","to":"billing","reason":"an invoice question"}],"limit":"max_handoffs","model_calls":4,"tool_calls":2,"error":"the model failed","routed":{"from":"router","to":"triage","reason":"the front door"},"malformed_calls":1,"usage":{"input_tokens":120,"output_tokens":30,"agents":{"billing":{"input_tokens":100,"output_tokens":20,"cost_usd":0.001},"router":{"input_tokens":20,"output_tokens":10}}},"pending":{"call_id":"call_1","tool":"refund","args":{"invoice":"INV-2041","amount":89.99}}}"#
        );
        assert_eq!(
            json(&super::TurnReport::from(&bare_report())),
            r#"{"conversation":"c-2","turn":1,"status":"answered","agent":"triage","reply":null,"handoffs":[],"limit":null,"model_calls":1,"tool_calls":0,"error":null,"routed":null,"malformed_calls":0,"usage":{"input_tokens":5,"output_tokens":7,"cost_usd":0.0},"pending":null}"#
        );
    }

    #[test]
    fn a_ticket_keeps_its_json() {
        assert_eq!(
            json(&Ticket::from(&full_ticket())),
            r#"{"conversation":"c-1","team":"support","status":"claimed","queue":"human","operator":"anna","reason":"a person must decide","opened_turn":2,"opened_ms":1700000000000,"agent":"human","note":{"from":"billing","to":"human","reason":"a person must decide","summary":"refund of a router fee","facts":{"customer":"7"},"request":"refund it","first_request":"my bill is wrong","context":"summary","escalation":"ping_pong"},"last_user_message":"refund it","facts":{"customer":"7"},"transcript":[{"type":"user","turn":1,"text":"my bill is wrong"},{"type":"assistant","agent":"billing","text":null,"tool_calls":[{"id":"call_1","name":"lookup","arguments":"{\"x\":1}"}]},{"type":"tool_result","agent":"billing","call_id":"call_1","name":"lookup","output":{"content":"no such invoice","is_error":true}},{"type":"assistant","agent":"billing","text":"Let me get a person.","tool_calls":[]},{"type":"handoff","from":"billing","to":"human","reason":"a person must decide","summary":"refund of a router fee","facts":{"customer":"7"},"request":"refund it","first_request":"my bill is wrong","context":"summary","escalation":"ping_pong"}]}"#
        );
        assert_eq!(
            json(&Ticket::from(&no_ticket())),
            r#"{"conversation":"c-2","team":"support","status":"none","queue":null,"operator":null,"reason":null,"opened_turn":null,"opened_ms":null,"agent":"triage","note":null,"last_user_message":null,"facts":{},"transcript":[]}"#
        );
        assert_eq!(
            json(&TicketSummary::from(&full_ticket())),
            r#"{"conversation":"c-1","team":"support","status":"claimed","queue":"human","operator":"anna","reason":"a person must decide","opened_turn":2,"opened_ms":1700000000000,"agent":"human","last_user_message":"refund it"}"#
        );
        assert_eq!(
            json(&TicketSummary::from(&no_ticket())),
            r#"{"conversation":"c-2","team":"support","status":"none","queue":null,"operator":null,"reason":null,"opened_turn":null,"opened_ms":null,"agent":"triage","last_user_message":null}"#
        );
    }

    #[test]
    fn a_journal_entry_keeps_its_json() {
        let input = StoredEntry {
            seq: 0,
            at_ms: 1_700_000_000_000,
            epoch: 1,
            entry: baton_core::JournalEntry::Input(Input::UserMessage {
                text: "hello".into(),
                signals: Default::default(),
            }),
        };
        let record = StoredEntry {
            seq: 1,
            at_ms: 1_700_000_000_001,
            epoch: 2,
            entry: baton_core::JournalEntry::Record(Record::TurnStarted { turn: 1, agent: "triage".into() }),
        };
        assert_eq!(
            json(&JournalEntry::from(&input)),
            r#"{"seq":0,"at_ms":1700000000000,"epoch":1,"kind":"user_message","data":{"type":"user_message","text":"hello"}}"#
        );
        assert_eq!(
            json(&JournalEntry::from(&record)),
            r#"{"seq":1,"at_ms":1700000000001,"epoch":2,"kind":"turn_started","data":{"type":"turn_started","turn":1,"agent":"triage"}}"#
        );
    }
}
