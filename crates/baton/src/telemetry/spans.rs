//! A turn as OpenTelemetry spans, made from the journal entries as they are written (the journal
//! is the one account of a turn; the spans retell it), following the GenAI semantic conventions
//! of semconv v1.41.0 and the transfer attributes proposed for them:
//!
//! - `turn {team}`, the root (INTERNAL), with `gen_ai.conversation.id`, `baton.team`,
//!   `baton.turn` and, at its end, `baton.turn.status`;
//! - `invoke_agent {agent}` (INTERNAL) for each stint of an agent in control, so a handoff shows
//!   as one agent's span ending and the next one's starting;
//! - `chat {model}` (CLIENT) for each model call, with the provider, the model, the tokens and
//!   the finish reasons, or `error.type`; the call runs in this span's context, so a provider's
//!   retries are its events;
//! - `execute_tool {tool}` (INTERNAL) for each tool call, with its id and outcome;
//! - `execute_tool transfer_to_{agent}` for each change of control, with
//!   `gen_ai.transfer.mode = pass_control`, the target's name and type and baton's reason,
//!   context policy and kind (model, trigger, router, escalation, operator);
//! - refusals, limits, approvals, deadlines and tickets as events.
//!
//! What was said (messages, arguments, results) is added only when
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is `true` (or `SPAN_ONLY`,
//! `SPAN_AND_EVENT`). The spans go to the global tracer provider; exporting them is the
//! program's business, and never holds up a turn.

use super::ids::with_trace_id;
use crate::entry_names::{handoff_kind, refusal_kind};
use crate::trace_ids::turn_trace_id;
use crate::Observer;
use baton_core::{AgentKind, Input, JournalEntry, ModelReply, Record, StopReason, Team, TurnStatus};
use baton_models::Model;
use baton_store::{ConversationInfo, StoredEntry};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, TraceId, Tracer as _};
use opentelemetry::{global, Array, Context, KeyValue, StringValue, Value};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What the spans of a team's turns say about its agents and models, gathered once.
pub(crate) struct Catalog {
    team: Arc<Team>,
    /// Each model's provider (`gen_ai.provider.name`) and the model it asks for, by model name.
    models: BTreeMap<String, (String, String)>,
    /// Whether what was said goes into the spans.
    capture: bool,
}

impl Catalog {
    /// The catalog of `team` served by `models`.
    pub(crate) fn new(team: Arc<Team>, models: &BTreeMap<String, Arc<dyn Model>>) -> Catalog {
        let models = models
            .iter()
            .map(|(name, model)| {
                let asked = model.model_id().unwrap_or(name).to_string();
                (name.clone(), (model.provider_name().to_string(), asked))
            })
            .collect();
        Catalog {
            team,
            models,
            capture: capture_asked(std::env::var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").ok()),
        }
    }

    fn provider(&self, model: &str) -> (String, String) {
        self.models.get(model).cloned().unwrap_or_else(|| ("custom".to_string(), model.to_string()))
    }

    /// The provider and model of `agent`'s model; a human agent's provider is `baton.human`.
    fn agent_provider(&self, agent: &str) -> (String, Option<String>) {
        match self.team.agent(agent).and_then(|agent| agent.model.clone()) {
            Some(model) => {
                let (provider, asked) = self.provider(&model);
                (provider, Some(asked))
            }
            None if self.team.is_human(agent) => ("baton.human".to_string(), None),
            None => ("baton.local".to_string(), None),
        }
    }
}

/// Whether the capture variable asks for what was said in the spans.
fn capture_asked(value: Option<String>) -> bool {
    value.is_some_and(|value| {
        let value = value.trim().to_ascii_lowercase();
        matches!(value.as_str(), "true" | "span_only" | "span_and_event")
    })
}

/// The spans of one conversation's turns while this process works on it, told the journal's
/// entries; passes everything on to `inner`.
pub(crate) struct TurnSpans {
    catalog: Arc<Catalog>,
    info: ConversationInfo,
    open: Mutex<Open>,
    inner: Arc<dyn Observer>,
}

/// How this process came to a turn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Began {
    /// It began here.
    Here,
    /// Another process (or this one before a crash) stopped it halfway; it is finished here.
    Resumed,
    /// It waited for a person's decision and goes on here.
    Continued,
}

/// The spans open now.
#[derive(Default)]
struct Open {
    /// The turn in progress and how this process came to it.
    turn: Option<(u32, Began)>,
    root: Option<Context>,
    /// The agent in control and its span, once it has one.
    agent: Option<String>,
    agent_span: Option<Context>,
    chat: Option<Context>,
    tools: BTreeMap<String, Context>,
    /// The user's message, for the root's input when content is captured.
    message: Option<String>,
}

impl TurnSpans {
    /// Spans for `info`'s turns, the turn `in_turn` (its number, the agent in control, and
    /// whether it was interrupted rather than waiting for a decision) being in progress already
    /// when this process takes the conversation up.
    pub(crate) fn around(
        catalog: Arc<Catalog>,
        info: &ConversationInfo,
        in_turn: Option<(u32, &str, bool)>,
        inner: Arc<dyn Observer>,
    ) -> Arc<TurnSpans> {
        let mut open = Open::default();
        if let Some((turn, agent, interrupted)) = in_turn {
            open.turn = Some((turn, if interrupted { Began::Resumed } else { Began::Continued }));
            open.agent = Some(agent.to_string());
        }
        Arc::new(TurnSpans { catalog, info: info.clone(), open: Mutex::new(open), inner })
    }

    /// The context a model call runs in: its `chat` span's, so that what the provider tells it
    /// (a retry) is an event of that span.
    pub(crate) fn model_context(&self) -> Context {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.chat.clone().unwrap_or_else(Context::current)
    }

    fn told(&self, entry: &JournalEntry) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let starts = matches!(entry, JournalEntry::Record(Record::TurnStarted { .. }));
        if let (JournalEntry::Input(Input::UserMessage { text, .. }), true) = (entry, self.catalog.capture) {
            open.message = Some(text.clone());
        }
        // What happens outside a turn (an operator's action) is not part of any turn's trace.
        if open.turn.is_none() && !starts {
            return;
        }
        match entry {
            JournalEntry::Record(Record::TurnStarted { turn, agent }) => {
                self.end_all(&mut open);
                open.turn = Some((*turn, Began::Here));
                open.agent = Some(agent.clone());
                self.root(&mut open);
            }
            JournalEntry::Record(Record::RouterCallStarted { model, .. }) => {
                let root = self.root(&mut open);
                open.chat = Some(self.chat(&root, "router", model, true));
            }
            JournalEntry::Record(Record::Routed { from, to, reason, .. }) => {
                if from != to {
                    let root = self.root(&mut open);
                    self.transfer(&root, from, to, None, reason, "full", "router");
                }
                open.agent = Some(to.clone());
            }
            JournalEntry::Record(Record::ModelCallStarted { agent, model, .. }) => {
                let parent = self.agent_span(&mut open, agent);
                open.chat = Some(self.chat(&parent, agent, model, false));
            }
            JournalEntry::Input(Input::ModelReplied { reply }) => {
                if let Some(chat) = open.chat.take() {
                    self.replied(&chat, reply);
                }
            }
            JournalEntry::Input(Input::ModelFailed { error }) => {
                if let Some(chat) = open.chat.take() {
                    failed(&chat, "model_error", error);
                }
            }
            JournalEntry::Record(Record::ToolCallStarted { call_id, agent, tool, arguments, .. }) => {
                let parent = self.agent_span(&mut open, agent);
                let span = self.tool(&parent, tool, call_id);
                if self.catalog.capture {
                    span.span().set_attribute(KeyValue::new("gen_ai.tool.call.arguments", arguments.clone()));
                }
                open.tools.insert(call_id.clone(), span);
            }
            JournalEntry::Input(Input::ToolReturned { call_id, output }) => {
                if let Some(span) = open.tools.remove(call_id) {
                    if self.catalog.capture {
                        span.span().set_attribute(KeyValue::new("gen_ai.tool.call.result", output.content.clone()));
                    }
                    match output.is_error {
                        true => failed(&span, "tool_error", "the tool answered with an error"),
                        false => finished(&span, "ok"),
                    }
                }
            }
            JournalEntry::Input(Input::ToolOutcomeUnknown { call_id }) => {
                if let Some(span) = open.tools.remove(call_id) {
                    failed(&span, "tool_outcome_unknown", "the process stopped while the tool ran");
                }
            }
            JournalEntry::Record(Record::ToolCallRejected { call_id, agent, tool, error, .. }) => {
                let parent = self.agent_span(&mut open, agent);
                let span = self.tool(&parent, tool, call_id);
                failed(&span, "rejected", error);
            }
            JournalEntry::Record(Record::HandoffTaken {
                from,
                to,
                payload,
                context,
                call_id,
                escalation,
                trigger,
                operator,
                ..
            }) => {
                let kind = handoff_kind(escalation.as_ref(), trigger.as_ref(), operator.as_ref());
                let parent = self.agent_span(&mut open, from);
                self.transfer(&parent, from, to, call_id.as_deref(), &payload.reason, context.as_str(), kind);
                if let Some(span) = open.agent_span.take() {
                    span.span().end();
                }
                open.agent = Some(to.clone());
            }
            JournalEntry::Record(Record::HandoffRefused { from, to, refusal, .. }) => {
                let parent = self.agent_span(&mut open, from);
                let event = vec![
                    KeyValue::new("baton.handoff.target", to.clone()),
                    KeyValue::new("baton.refusal", refusal_kind(refusal)),
                ];
                parent.span().add_event("handoff_refused", event);
            }
            JournalEntry::Record(Record::ApprovalRequested { call_id, agent, tool, .. }) => {
                let parent = self.agent_span(&mut open, agent);
                let event = vec![
                    KeyValue::new("gen_ai.tool.name", tool.clone()),
                    KeyValue::new("gen_ai.tool.call.id", call_id.clone()),
                ];
                parent.span().add_event("approval_requested", event);
            }
            JournalEntry::Input(Input::ApprovalDecided { call_id, approved, .. }) => {
                let root = self.root(&mut open);
                let event = vec![
                    KeyValue::new("gen_ai.tool.call.id", call_id.clone()),
                    KeyValue::new("baton.approved", *approved),
                ];
                root.span().add_event("approval_decided", event);
            }
            JournalEntry::Record(Record::TicketOpened { agent, .. }) => {
                let parent = self.agent_span(&mut open, agent);
                parent.span().add_event("ticket_opened", vec![KeyValue::new("gen_ai.agent.name", agent.clone())]);
            }
            JournalEntry::Record(Record::LimitTripped { limit, agent, detail, .. }) => {
                let root = self.root(&mut open);
                let event = vec![
                    KeyValue::new("baton.limit", limit.as_str()),
                    KeyValue::new("gen_ai.agent.name", agent.clone()),
                    KeyValue::new("baton.limit.detail", detail.clone()),
                ];
                root.span().add_event("limit_tripped", event);
            }
            JournalEntry::Input(Input::DeadlinePassed { seconds }) => {
                let root = self.root(&mut open);
                root.span()
                    .add_event("deadline_passed", vec![KeyValue::new("baton.turn_seconds", i64::from(*seconds))]);
            }
            JournalEntry::Record(Record::TurnEnded(outcome)) => {
                let agent = outcome.agent.clone();
                self.agent_span(&mut open, &agent);
                let root = self.root(&mut open);
                let span = root.span();
                span.set_attribute(KeyValue::new("baton.turn.status", outcome.status.as_str()));
                span.set_attribute(KeyValue::new("baton.turn.agent", agent));
                if outcome.status == TurnStatus::Failed {
                    span.set_attribute(KeyValue::new("error.type", "turn_failed"));
                    span.set_status(Status::error(outcome.error.clone().unwrap_or_default()));
                }
                if let (true, Some(reply)) = (self.catalog.capture, &outcome.reply) {
                    span.set_attribute(KeyValue::new("gen_ai.output.messages", messages("assistant", reply)));
                }
                self.end_all(&mut open);
            }
            _ => {}
        }
    }

    /// The root span of the turn in progress, started if it is not yet.
    fn root(&self, open: &mut Open) -> Context {
        if let Some(root) = &open.root {
            return root.clone();
        }
        let (turn, began) = open.turn.unwrap_or((0, Began::Here));
        let tracer = global::tracer("baton");
        let mut attributes = vec![
            KeyValue::new("gen_ai.conversation.id", self.info.id.clone()),
            KeyValue::new("baton.team", self.info.team.clone()),
            KeyValue::new("baton.turn", i64::from(turn)),
        ];
        match began {
            Began::Here => {}
            Began::Resumed => attributes.push(KeyValue::new("baton.resumed", true)),
            Began::Continued => attributes.push(KeyValue::new("baton.continued", true)),
        }
        if let (true, Some(message)) = (self.catalog.capture, open.message.take()) {
            attributes.push(KeyValue::new("gen_ai.input.messages", messages("user", &message)));
        }
        let builder = tracer
            .span_builder(format!("turn {}", self.info.team))
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes);
        // A program's own span around the turn is its parent; otherwise the turn is a trace of
        // its own, with the turn's id.
        let current = Context::current();
        let span = match current.span().span_context().is_valid() {
            true => builder.start_with_context(&tracer, &current),
            false => {
                let trace = TraceId::from_bytes(turn_trace_id(&self.info.id, self.info.created_ms, turn));
                with_trace_id(trace, || builder.start_with_context(&tracer, &Context::new()))
            }
        };
        let root = Context::new().with_span(span);
        open.root = Some(root.clone());
        root
    }

    /// The span of `agent`'s stint in control, started if it is not yet (after ending another
    /// agent's, if the journal moved control without a handoff record this process saw).
    fn agent_span(&self, open: &mut Open, agent: &str) -> Context {
        if let (Some(span), Some(current)) = (&open.agent_span, &open.agent) {
            if current == agent {
                return span.clone();
            }
        }
        if let Some(span) = open.agent_span.take() {
            span.span().end();
        }
        let root = self.root(open);
        let (provider, model) = self.catalog.agent_provider(agent);
        let tracer = global::tracer("baton");
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.provider.name", provider),
            KeyValue::new("gen_ai.agent.name", agent.to_string()),
            KeyValue::new("gen_ai.conversation.id", self.info.id.clone()),
        ];
        if let Some(description) = self.catalog.team.agent(agent).map(|agent| agent.description.clone()) {
            if !description.is_empty() {
                attributes.push(KeyValue::new("gen_ai.agent.description", description));
            }
        }
        if let Some(model) = model {
            attributes.push(KeyValue::new("gen_ai.request.model", model));
        }
        let span = tracer
            .span_builder(format!("invoke_agent {agent}"))
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes)
            .start_with_context(&tracer, &root);
        let span = root.with_span(span);
        open.agent = Some(agent.to_string());
        open.agent_span = Some(span.clone());
        span
    }

    /// A model call of `agent` (the router's when `routing`).
    fn chat(&self, parent: &Context, agent: &str, model: &str, routing: bool) -> Context {
        let (provider, asked) = self.catalog.provider(model);
        let tracer = global::tracer("baton");
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", provider),
            KeyValue::new("gen_ai.request.model", asked.clone()),
            KeyValue::new("gen_ai.conversation.id", self.info.id.clone()),
            KeyValue::new("gen_ai.agent.name", agent.to_string()),
            KeyValue::new("baton.model", model.to_string()),
        ];
        if routing {
            attributes.push(KeyValue::new("baton.purpose", "route"));
        }
        let span = tracer
            .span_builder(format!("chat {asked}"))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&tracer, parent);
        parent.with_span(span)
    }

    /// Ends a model call's span with what the reply says.
    fn replied(&self, chat: &Context, reply: &ModelReply) {
        let span = chat.span();
        if let Some(usage) = reply.usage {
            span.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", usage.input_tokens as i64));
            span.set_attribute(KeyValue::new("gen_ai.usage.output_tokens", usage.output_tokens as i64));
        }
        let reason = match reply.stop {
            Some(StopReason::Length) => "length",
            Some(StopReason::Refusal) => "refusal",
            Some(StopReason::ContentFilter) => "content_filter",
            None if !reply.tool_calls.is_empty() => "tool_calls",
            None => "stop",
        };
        let reasons = Value::Array(Array::String(vec![StringValue::from(reason)]));
        span.set_attribute(KeyValue::new("gen_ai.response.finish_reasons", reasons));
        if self.catalog.capture {
            let calls: Vec<serde_json::Value> = reply
                .tool_calls
                .iter()
                .map(|call| json!({"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}))
                .collect();
            let text = reply.text.iter().map(|text| json!({"type": "text", "content": text}));
            let parts: Vec<serde_json::Value> = text.chain(calls).collect();
            let output = json!([{"role": "assistant", "parts": parts, "finish_reason": reason}]);
            span.set_attribute(KeyValue::new("gen_ai.output.messages", output.to_string()));
        }
        span.end();
    }

    /// A tool call's span.
    fn tool(&self, parent: &Context, tool: &str, call_id: &str) -> Context {
        let tracer = global::tracer("baton");
        let attributes = vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", tool.to_string()),
            KeyValue::new("gen_ai.tool.call.id", call_id.to_string()),
            KeyValue::new("gen_ai.tool.type", "function"),
            KeyValue::new("gen_ai.conversation.id", self.info.id.clone()),
        ];
        let span = tracer
            .span_builder(format!("execute_tool {tool}"))
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes)
            .start_with_context(&tracer, parent);
        parent.with_span(span)
    }

    /// A change of control, as the transfer tool's span.
    #[allow(clippy::too_many_arguments)] // each is an attribute of the span
    fn transfer(
        &self,
        parent: &Context,
        from: &str,
        to: &str,
        call_id: Option<&str>,
        reason: &str,
        context: &str,
        kind: &str,
    ) {
        let tracer = global::tracer("baton");
        let target_type = match self.catalog.team.agent(to).map(|agent| agent.kind) {
            Some(AgentKind::Human) => "human",
            _ => "agent",
        };
        let tool = format!("transfer_to_{to}");
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", tool.clone()),
            KeyValue::new("gen_ai.tool.type", "function"),
            KeyValue::new("gen_ai.conversation.id", self.info.id.clone()),
            KeyValue::new("gen_ai.transfer.mode", "pass_control"),
            KeyValue::new("gen_ai.transfer.target.name", to.to_string()),
            KeyValue::new("gen_ai.transfer.target.type", target_type),
            KeyValue::new("baton.handoff.from", from.to_string()),
            KeyValue::new("baton.handoff.reason", reason.to_string()),
            KeyValue::new("baton.handoff.context", context.to_string()),
            KeyValue::new("baton.handoff.kind", kind.to_string()),
        ];
        if let Some(call_id) = call_id {
            attributes.push(KeyValue::new("gen_ai.tool.call.id", call_id.to_string()));
        }
        let mut span = tracer
            .span_builder(format!("execute_tool {tool}"))
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes)
            .start_with_context(&tracer, parent);
        span.end();
    }

    /// Ends every span still open, innermost first.
    fn end_all(&self, open: &mut Open) {
        if let Some(chat) = open.chat.take() {
            chat.span().end();
        }
        for (_, tool) in std::mem::take(&mut open.tools) {
            tool.span().end();
        }
        if let Some(agent) = open.agent_span.take() {
            agent.span().end();
        }
        if let Some(root) = open.root.take() {
            root.span().end();
        }
        open.turn = None;
    }
}

/// Ends a span that went well, saying its outcome.
fn finished(span: &Context, outcome: &'static str) {
    let span = span.span();
    span.set_attribute(KeyValue::new("baton.outcome", outcome));
    span.end();
}

/// Ends a span that failed, with its `error.type` and why.
fn failed(span: &Context, kind: &'static str, why: &str) {
    let span = span.span();
    span.set_attribute(KeyValue::new("error.type", kind));
    span.set_attribute(KeyValue::new("baton.outcome", "error"));
    span.set_status(Status::error(why.to_string()));
    span.end();
}

/// One message as the conventions' JSON: `[{"role", "parts": [{"type": "text", "content"}]}]`.
fn messages(role: &str, text: &str) -> String {
    json!([{"role": role, "parts": [{"type": "text", "content": text}]}]).to_string()
}

impl Observer for TurnSpans {
    fn text(&self, agent: &str, delta: &str) {
        self.inner.text(agent, delta);
    }

    fn journaled(&self, stored: &StoredEntry) {
        self.told(&stored.entry);
        self.inner.journaled(stored);
    }

    fn model_called(&self, agent: &str, model: &str, elapsed: Duration, ok: bool) {
        self.inner.model_called(agent, model, elapsed, ok);
    }

    fn appended(&self, elapsed: Duration) {
        self.inner.appended(elapsed);
    }

    fn resumed(&self, turn: u32) {
        self.inner.resumed(turn);
    }
}

impl Drop for TurnSpans {
    /// A turn this process stops working on (it waits for approval, or failed to journal) ends
    /// its spans here; the turn goes on in the same trace when it is taken up again.
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        // A root still open here did not see its turn end: the work stopped (the journal failed,
        // the lease was lost); the turn is finished later, in the same trace.
        if let Some(root) = &open.root {
            let span = root.span();
            span.set_attribute(KeyValue::new("baton.turn.status", "interrupted"));
            span.set_status(Status::error("the turn stopped here before it ended; it is finished later"));
        }
        self.end_all(&mut open);
    }
}

#[cfg(test)]
mod tests {
    use super::capture_asked;

    #[test]
    fn content_is_captured_only_when_asked() {
        for asked in ["true", "TRUE", "span_only", "SPAN_AND_EVENT"] {
            assert!(capture_asked(Some(asked.into())), "{asked}");
        }
        for not in [None, Some("false".into()), Some("NO_CONTENT".into()), Some("event_only".into()), Some("".into())] {
            assert!(!capture_asked(not.clone()), "{not:?}");
        }
    }
}
