//! The team never asks for what it already knows: a fact the user gave one agent travels in the
//! handoff note and the next agent uses it, even when it does not see the message it came from.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::load_team;
use baton::core::{ContextPolicy, Input, JournalEntry, Record};
use baton::store::{MemoryStore, Store};
use std::path::Path;
use std::sync::Arc;

#[tokio::test]
async fn a_fact_given_to_triage_is_used_by_technical_without_asking() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    let mut config = load_team(&path).unwrap().config;
    // technical sees only the handoff note and the request of the turn, not the earlier message.
    let triage = config.team.agents.get_mut("triage").unwrap();
    triage.handoffs.iter_mut().find(|edge| edge.to == "technical").unwrap().context = ContextPolicy::Summary;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = baton::assemble::runtime(&config, store.clone()).await.unwrap();

    let first = runtime.send(None, "Hello! I'm customer 1017.").await.unwrap();
    assert_eq!(first.outcome.agent, "triage");
    let conversation = first.conversation.clone();
    let second = runtime.send(Some(&conversation), "my wifi keeps dropping").await.unwrap();
    assert_eq!(second.outcome.agent, "technical");
    let reply = second.outcome.reply.unwrap();
    assert!(reply.contains("degraded"), "technical checked customer 1017's line: {reply}");
    assert!(!reply.contains('?'), "nothing is asked again: {reply}");

    let journal: Vec<JournalEntry> = store.journal(&conversation).await.unwrap().into_iter().map(|s| s.entry).collect();
    let handoff = journal.iter().find_map(|entry| match entry {
        JournalEntry::Record(Record::HandoffTaken { payload, context, .. }) => Some((payload.clone(), *context)),
        _ => None,
    });
    let (payload, context) = handoff.unwrap();
    assert_eq!(context, ContextPolicy::Summary);
    assert_eq!(payload.facts.get("customer_id").map(String::as_str), Some("1017"), "{payload:?}");
    let users: Vec<&str> = journal
        .iter()
        .filter_map(|entry| match entry {
            JournalEntry::Input(Input::UserMessage { text, .. }) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(users.len(), 2, "the user said the id once");
    let call = journal.iter().find_map(|entry| match entry {
        JournalEntry::Record(Record::ToolCallStarted { agent, tool, arguments, .. }) => {
            Some((agent.clone(), tool.clone(), arguments.clone()))
        }
        _ => None,
    });
    assert_eq!(call.unwrap(), ("technical".into(), "check_line_status".into(), r#"{"customer_id":"1017"}"#.into()));
}
