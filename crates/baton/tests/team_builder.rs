//! Teams defined in code: the builder makes the same team as the team file of each example, and
//! a team built from any declarations either is refused with its problems or runs a turn.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use async_trait::async_trait;
use baton::config::{load_team, TeamConfig};
use baton::core::{
    Approval, ContextPolicy, ModelReply, ModelRequest, ReturnTo, Rule, Severity, Site, ToolCall, ToolDef, ToolOutput,
    Trigger,
};
use baton::models::{Listener, Model, ModelError};
use baton::store::{MemoryStore, Store};
use baton::tools::command::{CommandTool, CommandToolConfig};
use baton::tools::guard::ToolSettings;
use baton::tools::{LookupTool, Tool};
use baton::{Agent, HandoffEdge, Limits, Runtime, TeamBuilder};
use proptest::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn example_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn loaded(name: &str) -> TeamConfig {
    load_team(&example_dir(name).join("team.toml")).unwrap().config
}

/// `agent` with the prose (description, instructions, examples, reply templates) of the agent of
/// the same name in `file`: what the comparison checks is the structure written in code.
fn with_prose(agent: Agent, file: &TeamConfig) -> Agent {
    let written = &file.team.agents[&agent.name];
    Agent {
        description: written.description.clone(),
        instructions: written.instructions.clone(),
        examples: written.examples.clone(),
        replies: written.replies.clone(),
        ..agent
    }
}

#[test]
fn the_builder_makes_the_support_team_of_the_team_file() {
    let file = loaded("support");
    let dir = example_dir("support");
    let lookup = |name: &str, description: &str, key: &str, pattern: &str, data: &str, examples: [&str; 3]| {
        let definition = LookupTool::definition_for(name, description, key, Some(pattern)).examples(examples);
        LookupTool::load(definition, key, &dir.join("data").join(data)).unwrap()
    };
    let line_status = lookup(
        "check_line_status",
        "Check the status of a customer's internet line: up or down, outages, sync speed.",
        "customer_id",
        "^[0-9]{1,8}$",
        "line_status.json",
        ["is my line down", "check my connection status", "is there an outage on my line"],
    );
    let invoices = lookup(
        "lookup_invoice",
        "Look up an invoice by its number: amount, period, status and what it charged.",
        "invoice_number",
        "^INV-[0-9]{4}$",
        "invoices.json",
        ["what is on my invoice", "explain this charge on my bill", "how much was my last invoice"],
    );
    let refund_arguments = json!({
        "type": "object",
        "properties": {
            "invoice_number": { "type": "string", "pattern": "^INV-[0-9]{4}$" },
            "amount_eur": { "type": "number", "description": "The amount to refund, in EUR." },
        },
        "required": ["invoice_number"],
    });
    let refund = ToolDef::new(
        "issue_refund",
        "Refund an invoice that was charged in error; give the amount in EUR when you know it.",
        refund_arguments,
    )
    .approval(Approval::When(vec![Rule::parse("amount_eur > 50").unwrap()]))
    .examples(["I want a refund", "refund the double charge", "give me my money back", "I was charged twice"]);
    let run_refund = CommandToolConfig {
        program: PathBuf::from("python3"),
        args: vec!["tools/refund.py".into()],
        cwd: Some(dir.clone()),
        env: Vec::new(),
        pass_env: Vec::new(),
    };
    let ten_seconds = ToolSettings { timeout: Duration::from_secs(10), ..ToolSettings::default() };

    let built = TeamBuilder::new("support", "triage")
        .limits(Limits::default().max_handoffs(5).max_model_calls(16).escalate_to("human").return_to(ReturnTo::Active))
        .trigger(Trigger::AsksForHuman { to: "human".into() })
        .trigger(Trigger::Language)
        .trigger(Trigger::UnresolvedTurns { turns: 4, to: "human".into() })
        .agent(with_prose(
            Agent::local("triage")
                .handoff(
                    HandoffEdge::to("technical").description(
                        "Connection problems: outages, slow internet, wifi and router trouble, no signal.",
                    ),
                )
                .handoff(
                    HandoffEdge::to("billing")
                        .description("Bills, invoices, charges, payments and refunds.")
                        .context(ContextPolicy::Summary),
                )
                .handoff("spanish")
                .handoff("human"),
            &file,
        ))
        .agent(with_prose(
            Agent::local("technical")
                .tool("check_line_status")
                .handoff(HandoffEdge::to("billing").context(ContextPolicy::Summary))
                .handoff("triage")
                .handoff("human"),
            &file,
        ))
        .agent(with_prose(
            Agent::local("billing")
                .tool("lookup_invoice")
                .tool("issue_refund")
                .handoff("technical")
                .handoff("triage")
                .handoff("human"),
            &file,
        ))
        .agent(with_prose(Agent::local("spanish").languages(["es"]).handoff("triage").handoff("human"), &file))
        .agent(with_prose(
            Agent::human("human").languages(["en", "es"]).handoff("triage").handoff("technical").handoff("billing"),
            &file,
        ))
        .tool(line_status)
        .tool(invoices)
        .tool_with(CommandTool::new(refund, run_refund), ten_seconds)
        .build()
        .unwrap();
    assert_eq!(**built.team(), file.team);
}

#[test]
fn the_builder_makes_the_ba_triage_team_of_the_team_file() {
    let file = loaded("ba-triage");
    let specialists = ["requirements", "process", "data", "testing"];
    let specialist = |name: &str| {
        let others = specialists.iter().filter(|other| **other != name).chain(["triage"].iter());
        with_prose(others.fold(Agent::local(name), |agent, other| agent.handoff(*other)), &file)
    };
    let triage = specialists.iter().fold(Agent::local("triage"), |agent, to| agent.handoff(*to));
    let built = specialists
        .iter()
        .fold(TeamBuilder::new("ba-triage", "triage"), |team, name| team.agent(specialist(name)))
        .agent(with_prose(triage, &file))
        .limits(Limits::default().fail_on_limit())
        .router("local")
        .build()
        .unwrap();
    assert_eq!(**built.team(), file.team);
}

#[test]
fn a_team_built_wrong_is_refused_with_every_problem() {
    let invalid = TeamBuilder::new("desk", "front")
        .limits(Limits::default().fail_on_limit())
        .agent(Agent::llm("front", "gpt").tool("search"))
        .agent(Agent::local("front"))
        .agent(Agent::local("side").handoff("back"))
        .model("local", UnsureModel)
        .model("local", UnsureModel)
        .build()
        .err()
        .unwrap();
    let errors: Vec<String> = invalid.errors().map(|problem| problem.to_string()).collect();
    assert!(errors.contains(&"agent 'front': agent 'front' is declared twice (give each a name of its own)".into()));
    assert!(errors.contains(&"team: model 'local' is registered twice (give each a name of its own)".into()));
    assert!(errors.iter().any(|error| error.starts_with("agent 'side', handoffs item 1: ")), "{errors:?}");
    let shown = invalid.to_string();
    assert!(shown.starts_with(&format!("team 'desk' has {} errors:", errors.len())), "{shown}");
}

#[test]
fn a_model_or_tool_without_its_provider_is_an_error() {
    let mut team = baton::core::Team::new("desk", "front");
    team.limits = Limits::default().fail_on_limit();
    team.models.insert("gpt".into());
    team.agents.insert("front".into(), Agent::llm("front", "gpt").tool("search"));
    team.tools.insert("search".into(), ToolDef::new("search", "Searches.", json!({ "type": "object" })));
    let invalid = baton::BuiltTeam::new(team, Default::default(), Default::default()).err().unwrap();
    let sites: Vec<&Site> = invalid.errors().map(|problem| &problem.site).collect();
    assert_eq!(sites, [&Site::AgentModel("front".into()), &Site::Tool("search".into())]);
    assert_eq!(invalid.problems.iter().filter(|p| p.severity == Severity::Error).count(), 2);
}

#[test]
fn a_router_on_an_undeclared_model_is_told_once() {
    let invalid = TeamBuilder::new("desk", "front")
        .agent(Agent::local("front").description("Front desk."))
        .agent(Agent::local("side").description("Side desk."))
        .router("nope")
        .build()
        .err()
        .unwrap();
    let about: Vec<String> =
        invalid.errors().map(|problem| problem.to_string()).filter(|error| error.contains("'nope'")).collect();
    assert_eq!(about.len(), 1, "{about:?}");
    assert!(about[0].contains("router model 'nope' is not defined"), "{about:?}");
}

/// A model that hands off whenever it may and otherwise calls a tool or answers, in turn.
struct UnsureModel;

#[async_trait]
impl Model for UnsureModel {
    async fn complete(&self, request: &ModelRequest, _listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        let pick = request.agent_call_index as usize;
        let call = |tool: &ToolDef, arguments: serde_json::Value| ToolCall {
            id: format!("call_{pick}"),
            name: tool.name.clone(),
            arguments: arguments.to_string(),
        };
        let handoff = request.tools.iter().find(|tool| tool.name.starts_with(baton::core::HANDOFF_PREFIX));
        let tool = request.tools.iter().find(|tool| !tool.name.starts_with(baton::core::HANDOFF_PREFIX));
        let tool_calls = match (pick % 3, handoff, tool) {
            (0, Some(handoff), _) => vec![call(handoff, json!({ "reason": "not mine" }))],
            (1, _, Some(tool)) => vec![call(tool, json!({}))],
            _ => Vec::new(),
        };
        let text = tool_calls.is_empty().then(|| "done".to_string());
        Ok(ModelReply { text, tool_calls, usage: None, stop: None })
    }
}

/// A tool that answers every call.
struct Echo(ToolDef);

#[async_trait]
impl Tool for Echo {
    fn definition(&self) -> &ToolDef {
        &self.0
    }

    async fn call(&self, arguments: &serde_json::Value, _idempotency_key: &str) -> ToolOutput {
        ToolOutput::ok(arguments.to_string())
    }
}

/// The agents' names; a draw of 0 picks a name no agent has (or, for the last agent, one that is
/// not a usable name), any other draw one of the first `n`, so most draws make a team that fits.
const NAMES: [&str; 5] = ["front", "back", "side", "desk", "help"];

fn named(draw: u8, n: usize) -> &'static str {
    match draw {
        0 => "nobody",
        _ => NAMES[draw as usize % n],
    }
}

/// One agent's declarations, as draws.
#[derive(Clone, Debug)]
struct Declared {
    human: bool,
    model: u8,
    tools: Vec<u8>,
    edges: Vec<(u8, u8, Option<u32>, bool)>,
}

fn declared() -> impl Strategy<Value = Declared> {
    let edge = (0..20u8, 0..3u8, proptest::option::of(1..3u32), any::<bool>());
    (
        proptest::bool::weighted(0.3),
        0..20u8,
        proptest::collection::vec(0..20u8, 0..3),
        proptest::collection::vec(edge, 0..4),
    )
        .prop_map(|(human, model, tools, edges)| Declared { human, model, tools, edges })
}

/// A whole team's declarations, as draws.
#[derive(Clone, Debug)]
struct Declarations {
    agents: Vec<Declared>,
    bad_name: bool,
    entry: u8,
    limits: (u32, u32, Option<u8>, bool),
    triggers: Vec<(u8, u8)>,
    router: Option<u8>,
    registered: (bool, bool),
}

fn declarations() -> impl Strategy<Value = Declarations> {
    (
        proptest::collection::vec(declared(), 1..=NAMES.len()),
        proptest::bool::weighted(0.05),
        0..20u8,
        (0..4u32, 0..20u32, proptest::option::of(0..20u8), any::<bool>()),
        proptest::collection::vec((0..3u8, 0..20u8), 0..3),
        proptest::option::weighted(0.3, 0..20u8),
        (proptest::bool::weighted(0.95), proptest::bool::weighted(0.95)),
    )
        .prop_map(|(agents, bad_name, entry, limits, triggers, router, registered)| Declarations {
            agents,
            bad_name,
            entry,
            limits,
            triggers,
            router,
            registered,
        })
}

/// The model a draw names: mostly the local model or the registered one, at times one nobody
/// registered.
fn model(draw: u8) -> &'static str {
    match draw {
        0 => "unregistered",
        _ if draw % 2 == 0 => "unsure",
        _ => "local",
    }
}

fn builder(declared: &Declarations) -> TeamBuilder {
    let n = declared.agents.len();
    let (max_handoffs, max_model_calls, fallback, return_to_entry) = declared.limits;
    // A draw of 0 model calls is a team that cannot run; others allow 1 to 5.
    let max_model_calls = if max_model_calls == 0 { 0 } else { 1 + max_model_calls % 5 };
    let mut limits = Limits::default().max_handoffs(max_handoffs).max_model_calls(max_model_calls);
    let humans: Vec<&str> = (0..n).filter(|index| declared.agents[*index].human).map(|index| NAMES[index]).collect();
    limits = match fallback {
        // The fallback is a human agent, at times one that is not.
        Some(0) => limits.escalate_to(named(0, n)),
        Some(draw) if !humans.is_empty() => limits.escalate_to(humans[draw as usize % humans.len()]),
        Some(draw) if draw % 4 == 0 => limits.escalate_to(named(draw, n)),
        Some(_) | None => limits.fail_on_limit(),
    };
    if return_to_entry {
        limits = limits.return_to(ReturnTo::Entry);
    }
    let mut team = TeamBuilder::new("random", named(declared.entry, n)).limits(limits).model("unsure", UnsureModel);
    for (index, agent) in declared.agents.iter().enumerate() {
        let name = match declared.bad_name && index + 1 == n {
            true => "two words",
            false => NAMES[index],
        };
        let mut built = match agent.human {
            true => Agent::human(name),
            false => Agent::llm(name, model(agent.model)),
        };
        // Human agents call no tools; a model-driven one mostly calls registered ones.
        for tool in agent.tools.iter().filter(|_| !agent.human) {
            let tool = ["unregistered", "lookup", "search"][(*tool as usize).min(1 + *tool as usize % 2)];
            if !built.tools.iter().any(|listed| listed == tool) {
                built = built.tool(tool);
            }
        }
        // Edges go to another agent, once each, or (drawn 0) to one the team does not have.
        for (to, context, max_uses, require_reason) in &agent.edges {
            let to = match (*to, n) {
                (0, _) => "nobody",
                (_, 1) => continue,
                (draw, n) => NAMES[(index + 1 + draw as usize % (n - 1)) % n],
            };
            if built.handoffs.iter().any(|edge| edge.to == to) {
                continue;
            }
            let context = [ContextPolicy::Full, ContextPolicy::Summary, ContextPolicy::None][*context as usize];
            let mut edge = HandoffEdge::to(to).context(context).require_reason(*require_reason);
            if let Some(uses) = max_uses {
                edge = edge.max_uses(*uses);
            }
            built = built.handoff(edge);
        }
        team = team.agent(built);
    }
    let mut kinds = Vec::new();
    for (kind, to) in declared.triggers.iter().filter(|(kind, _)| {
        let first = !kinds.contains(kind);
        kinds.push(*kind);
        first
    }) {
        team = team.trigger(match kind {
            0 => Trigger::Language,
            1 => Trigger::AsksForHuman { to: named(*to, n).into() },
            _ => Trigger::UnresolvedTurns { turns: 1, to: named(*to, n).into() },
        });
    }
    if let Some(router) = declared.router {
        team = team.router(model(router));
    }
    let (lookup, search) = declared.registered;
    for (registered, tool) in [(lookup, "lookup"), (search, "search")] {
        if registered {
            team = team.tool(Echo(ToolDef::new(tool, "Answers.", json!({ "type": "object" }))));
        }
    }
    team
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_built_team_runs_a_turn_and_an_unbuildable_one_says_why(declared in declarations()) {
        match builder(&declared).build() {
            Err(invalid) => prop_assert!(invalid.errors().count() > 0, "refused without an error: {invalid:?}"),
            Ok(team) => {
                let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
                let runtime = Runtime::new(team, store);
                let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let turn = tokio.block_on(runtime.send(None, "hello, please help me with my invoice"));
                prop_assert!(turn.is_ok(), "a valid team's turn could not run: {:?}", turn.err());
            }
        }
    }
}
