//! The runtime over a journal: a turn interrupted at any point is finished from its journal
//! on the next load, without losing or repeating a handoff; a tool call that may have run is run
//! again with its idempotency key, or, for a tool that is not idempotent, never again.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use async_trait::async_trait;
use baton::config::{load_team, parse_team};
use baton::core::{replay, JournalEntry, LimitKind, Record, ToolDef, ToolOutput, TurnStatus};
use baton::models::{Model, ScriptModel};
use baton::store::{ConversationInfo, MemoryStore, Store};
use baton::tools::Tool;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn example() -> baton::config::TeamConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    load_team(&path).unwrap().config
}

async fn runtime(store: Arc<dyn Store>) -> baton::Runtime {
    baton::assemble::runtime(&example(), store).await.unwrap()
}

fn handoffs_in(journal: &[JournalEntry]) -> usize {
    journal.iter().filter(|e| matches!(e, JournalEntry::Record(Record::HandoffTaken { .. }))).count()
}

async fn entries(store: &Arc<dyn Store>, id: &str) -> Vec<JournalEntry> {
    store.journal(id).await.unwrap().into_iter().map(|s| s.entry).collect()
}

/// A store holding conversation `id` with the first `cut` entries of `journal`, as a crash
/// after them leaves it.
async fn crashed_after(id: &str, team: &str, journal: &[JournalEntry], cut: usize) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store
        .create(&ConversationInfo { id: id.into(), team: team.into(), created_ms: 0, team_file: None, owner: None })
        .await
        .unwrap();
    let lease = store.acquire(id, "the crashed process", Duration::from_millis(1)).await.unwrap();
    let prefix: Vec<(u64, JournalEntry)> = journal[..cut].iter().map(|e| (0, e.clone())).collect();
    store.append(&lease, 0, &prefix).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    store
}

#[tokio::test]
async fn an_interrupted_turn_is_finished_from_its_journal_at_every_cut() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let report = runtime(store.clone()).await.send(None, "My internet is down (customer 42)").await.unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Answered);
    let full = entries(&store, &report.conversation).await;
    assert_eq!(handoffs_in(&full), 1);

    let id = report.conversation.clone();
    for cut in 1..full.len() {
        let crashed = crashed_after(&id, "support", &full, cut).await;
        let next = runtime(crashed.clone()).await.send(Some(&id), "Thanks!").await.unwrap();
        assert_eq!(next.outcome.turn, 2, "cut {cut}: the interrupted turn is finished before the next one");
        let journal = entries(&crashed, &id).await;
        assert_eq!(handoffs_in(&journal), 1, "cut {cut}: the handoff is neither lost nor repeated");
        let first_turn_end = journal.iter().find_map(|e| match e {
            JournalEntry::Record(Record::TurnEnded(outcome)) if outcome.turn == 1 => Some(outcome.clone()),
            _ => None,
        });
        assert_eq!(first_turn_end.unwrap().agent, "technical", "cut {cut}");
        let team = Arc::new(example().team);
        let replayed = replay(team, &id, &journal).unwrap();
        assert!(replayed.unfinished.is_empty() && !replayed.conversation.in_turn());
    }
}

const REFUNDS: &str = r#"name = "refunds"
entry = "billing"

[limits]
fallback = "human"

[models.desk]
provider = "script"
script = "replies.toml"

[agents.billing]
model = "desk"
tools = ["issue_refund"]
handoffs = ["human"]

[agents.human]
kind = "human"

[tools.issue_refund]
kind = "lookup"
description = "Refunds an invoice."
data = "refunds.json"
key = "invoice"
"#;

const REFUND_REPLIES: &str = r#"
[[reply]]
agent = "billing"
calls = [{ tool = "issue_refund", args = { invoice = "INV-7" } }]

[[reply]]
agent = "billing"
text = "Refunded."
"#;

/// A tool that counts its calls and remembers their idempotency keys.
struct Refund {
    definition: ToolDef,
    keys: Mutex<Vec<String>>,
}

#[async_trait]
impl Tool for Refund {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, _arguments: &serde_json::Value, idempotency_key: &str) -> ToolOutput {
        self.keys.lock().unwrap().push(idempotency_key.to_string());
        ToolOutput::ok("refund issued")
    }
}

/// The refunds team, with `issue_refund` idempotent or not, and its counting tool.
fn refunds(idempotent: bool) -> (baton::config::TeamConfig, Arc<Refund>) {
    let dir = std::env::temp_dir().join(format!("baton-refunds-{}-{idempotent}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("replies.toml"), REFUND_REPLIES).unwrap();
    std::fs::write(dir.join("refunds.json"), "{}").unwrap();
    let text = REFUNDS.replace("key = \"invoice\"", &format!("key = \"invoice\"\nidempotent = {idempotent}"));
    let config = parse_team(&text, &dir.join("team.toml")).unwrap().config;
    let definition = config.team.tools["issue_refund"].clone();
    assert_eq!(definition.idempotent, idempotent);
    (config, Arc::new(Refund { definition, keys: Mutex::new(Vec::new()) }))
}

fn refund_runtime(config: &baton::config::TeamConfig, tool: Arc<Refund>, store: Arc<dyn Store>) -> baton::Runtime {
    let script = ScriptModel::parse(REFUND_REPLIES, "replies.toml").unwrap();
    let models: BTreeMap<String, Arc<dyn Model>> = BTreeMap::from([("desk".to_string(), Arc::new(script) as _)]);
    let tools: BTreeMap<String, Arc<dyn Tool>> = BTreeMap::from([("issue_refund".to_string(), tool as _)]);
    baton::Runtime::new(baton::BuiltTeam::new(config.team.clone(), models, tools).unwrap(), store)
}

/// Where the refund's call was journaled and where its result was.
fn refund_positions(journal: &[JournalEntry]) -> (usize, usize) {
    let started = journal.iter().position(|e| e.kind() == "tool_call_started").unwrap();
    let returned = journal.iter().position(|e| e.kind() == "tool_returned").unwrap();
    (started, returned)
}

#[tokio::test]
async fn a_tool_that_may_have_run_is_run_again_with_the_same_key_if_idempotent() {
    let (config, tool) = refunds(true);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clean = refund_runtime(&config, tool.clone(), store.clone()).send(Some("r1"), "Refund INV-7").await.unwrap();
    assert_eq!(clean.outcome.status, TurnStatus::Answered);
    let full = entries(&store, "r1").await;
    let key = tool.keys.lock().unwrap()[0].clone();
    let (_, returned) = refund_positions(&full);
    for cut in 1..full.len() {
        let (_, tool) = refunds(true);
        let crashed = crashed_after("r1", "refunds", &full, cut).await;
        let resumed = refund_runtime(&config, tool.clone(), crashed.clone()).resume("r1").await.unwrap().unwrap();
        assert_eq!(resumed.outcome, clean.outcome, "cut {cut}");
        let keys = tool.keys.lock().unwrap().clone();
        match cut {
            cut if cut <= returned => {
                assert_eq!(keys, std::slice::from_ref(&key), "cut {cut}: run once more, same key")
            }
            _ => assert!(keys.is_empty(), "cut {cut}: its result was journaled"),
        }
        assert_eq!(entries(&crashed, "r1").await, full, "cut {cut}");
    }
}

#[tokio::test]
async fn a_tool_that_is_not_idempotent_is_never_run_twice_and_the_turn_goes_to_a_person() {
    let (config, tool) = refunds(false);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clean = refund_runtime(&config, tool.clone(), store.clone()).send(Some("r2"), "Refund INV-7").await.unwrap();
    assert_eq!(clean.outcome.status, TurnStatus::Answered);
    let full = entries(&store, "r2").await;
    let (started, returned) = refund_positions(&full);
    for cut in 1..full.len() {
        let (_, tool) = refunds(false);
        let crashed = crashed_after("r2", "refunds", &full, cut).await;
        let resumed = refund_runtime(&config, tool.clone(), crashed.clone()).resume("r2").await.unwrap().unwrap();
        let calls = tool.keys.lock().unwrap().len();
        if cut > started && cut <= returned {
            assert_eq!(calls, 0, "cut {cut}: the refund may have been issued: never again");
            assert_eq!(resumed.outcome.status, TurnStatus::Escalated, "cut {cut}");
            assert_eq!(
                (resumed.outcome.agent.as_str(), resumed.outcome.limit),
                ("human", Some(LimitKind::ToolOutcomeUnknown))
            );
            let journal = entries(&crashed, "r2").await;
            let note = journal.iter().find_map(|e| match e {
                JournalEntry::Record(Record::HandoffTaken { payload, .. }) => Some(payload.reason.clone()),
                _ => None,
            });
            let note = note.unwrap();
            assert!(note.contains("tool outcome unknown") && note.contains("issue_refund"), "{note}");
        } else {
            assert_eq!(resumed.outcome, clean.outcome, "cut {cut}");
            assert_eq!(calls, usize::from(cut <= started), "cut {cut}: run only if it never started");
        }
    }
}
