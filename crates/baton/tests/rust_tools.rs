//! Rust tools in the library API: a typed async function offered to models under the name a
//! team file declares with `kind = "rust"`, its arguments' schema derived from its type, the team
//! file's approval rule applied to it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::assemble::AssembleError;
use baton::config::parse_team;
use baton::store::{MemoryStore, Store};
use baton::tools::typed::{typed_tool, CallContext};
use baton::{Decision, Unobserved};
use std::path::Path;
use std::sync::{Arc, Mutex};

const TEAM: &str = r#"name = "leads"
entry = "sales"

[limits]
on_limit = "fail"

[models.desk]
provider = "script"
script = "replies.toml"

[agents.sales]
model = "desk"
tools = ["score_lead"]

[tools.score_lead]
kind = "rust"
description = "Scores a sales lead from 0 to 100."
approval = { when = "budget_eur > 10000" }
"#;

const REPLIES: &str = r#"
[[reply]]
agent = "sales"
calls = [{ tool = "score_lead", args = { company = "Acme", budget_eur = 50000 } }]

[[reply]]
agent = "sales"
text = "Acme scores high."
"#;

/// The arguments of the Rust tool; its schema is derived from this type.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lead {
    /// The company's name.
    company: String,
    /// What the company may spend, in EUR.
    budget_eur: u64,
}

#[tokio::test]
async fn a_typed_rust_tool_is_offered_called_and_held_for_approval() {
    let dir = std::env::temp_dir().join(format!("baton-rust-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("replies.toml"), REPLIES).unwrap();
    let config = parse_team(TEAM, &dir.join("team.toml")).unwrap().config;
    let keys = Arc::new(Mutex::new(Vec::new()));
    let seen = keys.clone();
    let tool = typed_tool("score_lead", "Scores a lead.", move |lead: Lead, call: CallContext| {
        seen.lock().unwrap().push(call.idempotency_key);
        async move { Ok::<_, String>(format!("{}: {}", lead.company, lead.budget_eur / 1000)) }
    });
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = baton::assemble::runtime_with_tools(&config, store, vec![Arc::new(tool)]).await.unwrap();
    let offered = &runtime.team().tools["score_lead"];
    assert_eq!(offered.parameters["properties"]["budget_eur"]["type"], "integer", "{}", offered.parameters);
    assert_eq!(offered.description, "Scores a sales lead from 0 to 100.", "the team file describes it");

    let report = runtime.send(Some("lead-1"), "score Acme").await.unwrap();
    let pending = report.outcome.pending.clone().unwrap();
    assert_eq!(pending.tool, "score_lead");
    assert!(keys.lock().unwrap().is_empty(), "nothing runs before the approval");
    let decision = Decision { approve: true, reason: None, by: Some("lena".into()) };
    let report = runtime.decide("lead-1", &pending.call_id, decision, Arc::new(Unobserved)).await.unwrap();
    assert_eq!(report.outcome.reply.as_deref(), Some("Acme scores high."));
    assert_eq!(*keys.lock().unwrap(), [format!("lead-1:1:{}", pending.call_id)]);
}

#[tokio::test]
async fn a_rust_tool_the_program_does_not_supply_is_named() {
    let dir = std::env::temp_dir().join(format!("baton-rust-tools-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("replies.toml"), REPLIES).unwrap();
    let config = parse_team(TEAM, Path::new(&dir.join("team.toml"))).unwrap().config;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let error = baton::assemble::runtime(&config, store).await.err().unwrap().to_string();
    assert!(error.contains("tool 'score_lead'") && error.contains("kind = \"rust\""), "{error}");
}

#[tokio::test]
async fn a_rust_tool_the_team_file_does_not_declare_is_named() {
    let dir = std::env::temp_dir().join(format!("baton-rust-tools-undeclared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("replies.toml"), REPLIES).unwrap();
    let config = parse_team(TEAM, &dir.join("team.toml")).unwrap().config;
    let tool = |name: &str| {
        typed_tool(name, "Scores a lead.", |lead: Lead, _: CallContext| async move { Ok::<_, String>(lead.company) })
    };
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let supplied: Vec<Arc<dyn baton::tools::Tool>> = vec![Arc::new(tool("score_lead")), Arc::new(tool("extra"))];
    let error = baton::assemble::runtime_with_tools(&config, store, supplied).await.err().unwrap();
    assert!(matches!(&error, AssembleError::Undeclared(name) if name == "extra"), "{error:?}");
    assert_eq!(error.kind(), "undeclared_tool");
    assert_eq!(
        error.to_string(),
        "tool 'extra' was supplied, but the team file declares no [tools.extra] kind = \"rust\" for it"
    );
}
