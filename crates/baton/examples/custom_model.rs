//! A model of your own: anything that implements `Model` can drive an agent. This one hands a
//! message about money to billing and otherwise answers; a real one would call a provider.

use async_trait::async_trait;
use baton::core::{ChatMessage, ModelReply, ModelRequest, ToolCall};
use baton::models::{Listener, Model, ModelError};
use baton::store::MemoryStore;
use baton::{Agent, Limits, Runtime, TeamBuilder};
use std::sync::Arc;

/// Hands off on a keyword, answers otherwise.
struct Keywords;

#[async_trait]
impl Model for Keywords {
    async fn complete(&self, request: &ModelRequest, listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        let said = request.messages.iter().rev().find_map(|message| match message {
            ChatMessage::User(text) => Some(text.to_lowercase()),
            _ => None,
        });
        let said = said.unwrap_or_default();
        // The handoff tools this agent is offered are named `transfer_to_<agent>`.
        let to_billing = request.tools.iter().any(|tool| tool.name == "transfer_to_billing");
        if to_billing && (said.contains("refund") || said.contains("charged")) {
            let call = ToolCall {
                id: format!("call_{}", request.agent_call_index),
                name: "transfer_to_billing".into(),
                arguments: r#"{"reason": "the user asks about a charge"}"#.into(),
            };
            return Ok(ModelReply { tool_calls: vec![call], ..ModelReply::default() });
        }
        let text = format!("{} here: I read \"{said}\".", request.agent);
        listener.text(&text);
        Ok(ModelReply { text: Some(text), ..ModelReply::default() })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let team = TeamBuilder::new("desk", "triage")
        .limits(Limits::default().fail_on_limit())
        .model("keywords", Keywords)
        .agent(Agent::llm("triage", "keywords").description("Front desk").handoff("billing"))
        .agent(Agent::llm("billing", "keywords").description("Invoices and refunds").handoff("triage"))
        .build()?;
    let runtime = Runtime::new(team, Arc::new(MemoryStore::new()));
    let report = runtime.send(None, "I was charged twice").await?;
    let chain: Vec<String> =
        report.outcome.handoffs.iter().map(|step| format!("{} → {}", step.from, step.to)).collect();
    println!("{}: {}", report.outcome.agent, report.outcome.reply.as_deref().unwrap_or(""));
    println!("handoffs: {}", chain.join(", "));
    assert_eq!(report.outcome.agent, "billing");
    Ok(())
}
