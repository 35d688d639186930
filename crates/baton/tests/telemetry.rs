//! OpenTelemetry spans of a turn (the `otel` feature), read from an in-memory exporter: one trace
//! per turn with the turn's own id, the turn at its root, an agent's stint per span with its
//! model calls and tool calls inside, and each handoff as a transfer span between two stints.

#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use async_trait::async_trait;
use baton::config::load_team;
use baton::core::{ModelReply, ModelRequest};
use baton::models::{Listener, Model, ModelError};
use baton::store::{MemoryStore, Store};
use baton::telemetry::TurnTraceIds;
use baton::trace_ids::turn_trace_hex;
use baton::{Agent, Limits, Runtime, TeamBuilder};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use std::path::Path;
use std::sync::Arc;

/// A model that tells the span it runs in that it was called.
struct Probing;

#[async_trait]
impl Model for Probing {
    async fn complete(&self, _request: &ModelRequest, _listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        opentelemetry::Context::current().span().add_event("probe", Vec::new());
        Ok(ModelReply { text: Some("hi".into()), ..ModelReply::default() })
    }

    fn provider_name(&self) -> &str {
        "probe"
    }

    fn model_id(&self) -> Option<&str> {
        Some("probe-1")
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
}

fn text(span: &SpanData, key: &str) -> String {
    attribute(span, key).map(|value| value.to_string()).unwrap_or_default()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|span| span.name == name).collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one span '{name}' in {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    found[0]
}

#[tokio::test]
async fn a_turn_is_one_trace_of_agent_stints_model_calls_tool_calls_and_a_transfer() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_id_generator(TurnTraceIds::default())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    let team = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = baton::assemble::runtime(&load_team(&team).unwrap().config, store.clone()).await.unwrap();
    let report = runtime.send(Some("c-otel"), "My internet is down, customer 42").await.unwrap();
    assert_eq!(report.outcome.status.as_str(), "answered");
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();

    let info = store.conversation("c-otel").await.unwrap().unwrap();
    let trace = turn_trace_hex("c-otel", info.created_ms, 1);
    for span in &spans {
        assert_eq!(span.span_context.trace_id().to_string(), trace, "one trace per turn, with the turn's id");
    }
    let root = one(&spans, "turn support");
    assert_eq!(root.parent_span_id.to_string(), "0000000000000000", "the turn is the root");
    assert_eq!((text(root, "gen_ai.conversation.id"), text(root, "baton.turn")), ("c-otel".into(), "1".into()));
    assert_eq!(text(root, "baton.turn.status"), "answered");

    let triage = one(&spans, "invoke_agent triage");
    let technical = one(&spans, "invoke_agent technical");
    for agent in [triage, technical] {
        assert_eq!(agent.parent_span_id, root.span_context.span_id());
        assert_eq!(agent.span_kind, SpanKind::Internal);
        assert_eq!(text(agent, "gen_ai.operation.name"), "invoke_agent");
        assert_eq!(text(agent, "gen_ai.provider.name"), "baton.local");
    }
    assert!(triage.end_time <= technical.start_time, "one agent in control at a time");

    let transfer = one(&spans, "execute_tool transfer_to_technical");
    assert_eq!(transfer.parent_span_id, triage.span_context.span_id(), "the handoff is triage's act");
    assert_eq!(text(transfer, "gen_ai.transfer.mode"), "pass_control");
    assert_eq!(text(transfer, "gen_ai.transfer.target.name"), "technical");
    assert_eq!(text(transfer, "gen_ai.transfer.target.type"), "agent");
    assert_eq!(
        (text(transfer, "baton.handoff.kind"), text(transfer, "baton.handoff.context")),
        ("model".into(), "full".into())
    );
    assert!(!text(transfer, "baton.handoff.reason").is_empty());

    let chats = named(&spans, "chat local");
    assert_eq!(chats.len(), report.outcome.model_calls as usize);
    for chat in &chats {
        assert_eq!(chat.span_kind, SpanKind::Client);
        assert_eq!(
            (text(chat, "gen_ai.operation.name"), text(chat, "gen_ai.request.model")),
            ("chat".into(), "local".into())
        );
        assert!([triage.span_context.span_id(), technical.span_context.span_id()].contains(&chat.parent_span_id));
        assert!(attribute(chat, "gen_ai.response.finish_reasons").is_some());
    }
    let tool = one(&spans, "execute_tool check_line_status");
    assert_eq!(tool.parent_span_id, technical.span_context.span_id());
    assert_eq!(
        (text(tool, "gen_ai.tool.name"), text(tool, "baton.outcome")),
        ("check_line_status".into(), "ok".into())
    );
    assert!(!text(tool, "gen_ai.tool.call.id").is_empty());
    assert_eq!(tool.status, Status::Unset);
    assert!(attribute(tool, "gen_ai.tool.call.arguments").is_none(), "no content unless asked for");
    assert!(attribute(root, "gen_ai.input.messages").is_none(), "no content unless asked for");

    // A model call runs in its chat span: what the provider tells the current span (a retry)
    // lands there.
    exporter.reset();
    let probing = TeamBuilder::new("probe", "solo")
        .limits(Limits::default().fail_on_limit())
        .agent(Agent::llm("solo", "p").description("Answers."))
        .model("p", Probing)
        .build()
        .unwrap();
    Runtime::new(probing, store.clone()).send(Some("c-probe"), "hello").await.unwrap();
    provider.force_flush().unwrap();
    let probed = exporter.get_finished_spans().unwrap();
    let chat = one(&probed, "chat probe-1");
    assert_eq!(text(chat, "gen_ai.provider.name"), "probe");
    assert_eq!(chat.events.iter().map(|event| event.name.to_string()).collect::<Vec<_>>(), ["probe"]);

    // The next turn is a trace of its own.
    exporter.reset();
    runtime.send(Some("c-otel"), "thanks").await.unwrap();
    provider.force_flush().unwrap();
    let next = exporter.get_finished_spans().unwrap();
    let root = one(&next, "turn support");
    assert_eq!(root.span_context.trace_id().to_string(), turn_trace_hex("c-otel", info.created_ms, 2));
    assert_eq!(text(root, "baton.turn"), "2");
}
