//! A small support team, requests as the core builds them, and a shell that drives a conversation
//! through the core with the local model and canned tools.

#![allow(dead_code)]

use baton_core::handoff::handoff_tool;
use baton_core::{
    Agent, ChatMessage, Conversation, Effect, HandoffEdge, Input, ModelReply, ModelRequest, Purpose, Record, Team,
    ToolDef, ToolInvocation, ToolOutput, TurnOutcome,
};
use baton_local::LocalModel;
use baton_models::Model;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn tool(name: &str, description: &str, properties: Value, required: &[&str], examples: &[&str]) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: description.into(),
        parameters: json!({"type": "object", "properties": properties, "required": required}),
        examples: examples.iter().map(|e| e.to_string()).collect(),
        idempotent: true,
        approval: Default::default(),
    }
}

fn agent(name: &str, description: &str, examples: &[&str], tools: &[&str], handoffs: &[&str]) -> Agent {
    let mut agent = Agent::llm(name, "local");
    agent.description = description.into();
    agent.instructions = format!("You are the {name} agent of an internet provider.");
    agent.examples = examples.iter().map(|e| e.to_string()).collect();
    agent.tools = tools.iter().map(|t| t.to_string()).collect();
    agent.handoffs = handoffs.iter().map(|to| HandoffEdge::to(*to)).collect();
    agent
}

/// triage (general questions, opening hours), technical (check_line_status), billing
/// (lookup_invoice, issue_refund) and a human queue.
pub fn team() -> Team {
    let mut team = Team::new("support", "triage");
    for tool in [
        tool(
            "check_line_status",
            "Check the status of a customer's line by customer id.",
            json!({"customer_id": {"type": "string", "description": "The customer's id."}}),
            &["customer_id"],
            &["is there an outage on my line", "check my line", "is my connection down"],
        ),
        tool(
            "lookup_invoice",
            "Look up an invoice by its number: amount, date and status.",
            json!({"invoice_number": {"type": "string", "pattern": "^INV-\\d{4}$"}}),
            &["invoice_number"],
            &["show me invoice INV-2041", "what is on my invoice", "how much was my last bill"],
        ),
        tool(
            "issue_refund",
            "Refund an invoice that was charged by mistake.",
            json!({"invoice_number": {"type": "string", "pattern": "^INV-\\d{4}$"}, "amount": {"type": "string"}}),
            &["invoice_number"],
            &["refund invoice INV-2041", "I want my money back", "give me a refund"],
        ),
    ] {
        team.tools.insert(tool.name.clone(), tool);
    }
    let mut triage = agent(
        "triage",
        "Front desk: answers general questions and routes to a specialist.",
        &["hello", "I have a question", "where is your shop", "do you sell phones"],
        &[],
        &["technical", "billing", "human"],
    );
    triage.instructions = "You are the front desk of an internet provider. Greet the customer and hand off to \
        technical for connection problems and to billing for money questions.\n\n\
        - Opening hours: Monday to Saturday 9:00-18:00. Closed on Sundays.\n\
        - Shop address: 12 Analytical Row, London.\n\
        - Phone line: call 0800 123 456 for anything urgent.\n"
        .into();
    triage.languages = vec!["en".into(), "es".into()];
    let technical = agent(
        "technical",
        "Fixes connection problems: outages, slow lines, router trouble.",
        &[
            "my internet is down",
            "the connection is very slow",
            "my router keeps restarting",
            "wifi not working",
            "no tengo internet",
            "el router no enciende",
        ],
        &["check_line_status"],
        &["billing", "human"],
    );
    let billing = agent(
        "billing",
        "Handles charges, invoices and refunds.",
        &[
            "I was charged twice",
            "I want a refund",
            "my invoice is wrong",
            "why is my bill so high",
            "quiero un reembolso",
            "me cobraron dos veces",
        ],
        &["lookup_invoice", "issue_refund"],
        &["technical", "human"],
    );
    let mut human = Agent::human("human");
    human.description =
        "A human support operator, for customers who ask for a person or whom no agent can help.".into();
    for agent in [triage, technical, billing, human] {
        team.agents.insert(agent.name.clone(), agent);
    }
    team.limits.fallback = Some("human".into());
    team
}

/// The local model of `team`.
pub fn model(team: &Team) -> LocalModel {
    LocalModel::new(Arc::new(team.clone()))
}

/// Runs `future` on a current-thread runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(future)
}

/// The model's reply to `request`.
pub fn complete(model: &LocalModel, request: &ModelRequest) -> ModelReply {
    block_on(model.complete(request, &baton_models::Silent)).expect("the local model always answers")
}

/// The request the core would send for `agent` with `messages`: its tools, then its handoffs.
pub fn request(team: &Team, agent: &str, messages: Vec<ChatMessage>, facts: &[(&str, &str)]) -> ModelRequest {
    let agent = team.agent(agent).expect("a team agent");
    let own = agent.tools.iter().map(|name| team.tools[name].clone());
    let handoffs = agent.handoffs.iter().map(|edge| handoff_tool(edge, team.agent(&edge.to).expect("a target")));
    ModelRequest {
        turn: 1,
        agent: agent.name.clone(),
        model: "local".into(),
        agent_call_index: 0,
        purpose: Purpose::Act,
        system: agent.instructions.clone(),
        messages,
        tools: own.chain(handoffs).collect(),
        facts: facts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    }
}

/// The canned tools: line 42 is down, invoice INV-2041 exists, refunds go through.
pub fn run_tool(invocation: &ToolInvocation) -> ToolOutput {
    let argument = |name: &str| invocation.arguments.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    match (invocation.tool.as_str(), argument("customer_id").as_str(), argument("invoice_number").as_str()) {
        ("check_line_status", "42", _) => ToolOutput::ok(r#"{"status":"outage","since":"09:10"}"#),
        ("check_line_status", id, _) => ToolOutput::error(format!("no customer with id {id}")),
        ("lookup_invoice", _, "INV-2041") => ToolOutput::ok(r#"{"amount":"39.90 EUR","status":"paid"}"#),
        ("issue_refund", _, number) => ToolOutput::ok(json!({"refund": "issued", "invoice": number}).to_string()),
        (tool, ..) => ToolOutput::error(format!("{tool} failed")),
    }
}

/// A conversation driven through the core, recording the tool calls it ran.
pub struct Chat {
    pub conversation: Conversation,
    pub model: LocalModel,
    pub tool_calls: Vec<ToolInvocation>,
}

impl Chat {
    /// A new conversation with `team`.
    pub fn new(team: Team) -> Chat {
        let model = model(&team);
        Chat { conversation: Conversation::new(Arc::new(team), "c1"), model, tool_calls: Vec::new() }
    }

    /// One user turn, to its end.
    pub fn say(&mut self, text: &str) -> TurnOutcome {
        let mut pending = vec![Input::user(text)];
        while let Some(input) = pending.pop() {
            for effect in self.conversation.handle(input).expect("the core accepts the input") {
                match effect {
                    Effect::Record(Record::TurnEnded(outcome)) => return outcome,
                    Effect::Record(_) => {}
                    Effect::CallModel(request) => {
                        pending.push(Input::ModelReplied { reply: complete(&self.model, &request) });
                    }
                    Effect::CallTool(invocation) => {
                        pending.insert(
                            0,
                            Input::ToolReturned { call_id: invocation.call_id.clone(), output: run_tool(&invocation) },
                        );
                        self.tool_calls.push(invocation);
                    }
                }
            }
        }
        panic!("the turn did not end");
    }
}
