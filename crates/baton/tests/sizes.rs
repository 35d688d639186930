//! Sizes at the runtime: a user message over the team's `max_message_bytes` is refused before
//! anything is created or journaled, and the offline model quotes a long message by its start, so
//! a turn's journal holds the message once and grows only by a small constant beyond it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::parse_team;
use baton::core::{JournalEntry, TurnStatus};
use baton::store::{MemoryStore, Store};
use baton::RuntimeError;
use std::path::Path;
use std::sync::Arc;

/// The support example, with `[limits] max_message_bytes = limit` when given.
async fn support(store: Arc<dyn Store>, limit: Option<u32>) -> baton::Runtime {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if let Some(limit) = limit {
        text = text.replacen("[limits]\n", &format!("[limits]\nmax_message_bytes = {limit}\n"), 1);
    }
    let config = parse_team(&text, &path).unwrap().config;
    baton::assemble::runtime(&config, store).await.unwrap()
}

async fn journal(store: &Arc<dyn Store>, id: &str) -> Vec<JournalEntry> {
    store.journal(id).await.unwrap().into_iter().map(|stored| stored.entry).collect()
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_before_anything_is_journaled() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = support(store.clone(), None).await;
    let big = "my internet is down ".repeat(4_000);
    let refused = runtime.send(Some("big"), &big).await.unwrap_err();
    assert!(matches!(refused, RuntimeError::MessageTooLarge { bytes: 80_000, limit: 65_536, .. }), "{refused:?}");
    let said = refused.to_string();
    for needle in ["80000 bytes", "team 'support'", "at most 65536 bytes", "raise max_message_bytes under [limits]"] {
        assert!(said.contains(needle), "{needle:?} in {said}");
    }
    assert!(store.conversation("big").await.unwrap().is_none(), "no conversation was created");

    let answered = runtime.send(Some("talk"), "my internet is down").await.unwrap();
    assert_eq!(answered.outcome.status, TurnStatus::Answered);
    let before = journal(&store, "talk").await;
    assert!(matches!(runtime.send(Some("talk"), &big).await, Err(RuntimeError::MessageTooLarge { .. })));
    assert_eq!(journal(&store, "talk").await, before, "nothing was journaled");

    let at_the_limit: String = "my internet is down. ".repeat(3_200).chars().take(65_536).collect();
    assert_eq!(at_the_limit.len(), 65_536);
    runtime.send(Some("talk"), &at_the_limit).await.unwrap();
}

#[tokio::test]
async fn the_offline_model_journals_a_long_message_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = support(store.clone(), Some(300_000)).await;
    let sentence = "my internet is down and the connection keeps dropping every few minutes, the router blinks red. ";
    let message: String = sentence.repeat(200_000 / sentence.len() + 1).chars().take(200_000).collect();
    let report = runtime.send(None, &message).await.unwrap();
    assert_eq!(report.outcome.handoffs.len(), 1, "{:?}", report.outcome);
    let entries = journal(&store, &report.conversation).await;
    let bytes: usize = entries.iter().map(|entry| serde_json::to_string(entry).unwrap().len()).sum();
    let growth = bytes - message.len();
    assert!(growth < 8 * 1024, "a 200,000-byte message made a {bytes}-byte journal: {growth} bytes beyond it");
}
