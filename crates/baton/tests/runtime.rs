//! The runtime over a journal: a turn interrupted at any point is finished from its journal
//! on the next load, without losing or repeating a handoff.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::load_team;
use baton::core::{replay, JournalEntry, Record, TurnStatus};
use baton::store::{ConversationInfo, MemoryStore, Store};
use std::path::Path;
use std::sync::Arc;

fn example() -> baton::config::TeamConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    load_team(&path).unwrap().config
}

fn runtime(store: Arc<dyn Store>) -> baton::Runtime {
    baton::assemble::runtime(&example(), store).unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn handoffs_in(journal: &[JournalEntry]) -> usize {
    journal.iter().filter(|e| matches!(e, JournalEntry::Record(Record::HandoffTaken { .. }))).count()
}

#[test]
fn an_interrupted_turn_is_finished_from_its_journal_at_every_cut() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let report = block_on(runtime(store.clone()).send(None, "My internet is down (customer 42)")).unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Answered);
    let full: Vec<JournalEntry> = store.journal(&report.conversation).unwrap().into_iter().map(|s| s.entry).collect();
    assert_eq!(handoffs_in(&full), 1);

    let id = report.conversation.clone();
    for cut in 1..full.len() {
        let crashed: Arc<dyn Store> = Arc::new(MemoryStore::new());
        crashed
            .create(&ConversationInfo { id: id.clone(), team: "support".into(), created_ms: 0, team_file: None })
            .unwrap();
        let prefix: Vec<(u64, JournalEntry)> = full[..cut].iter().map(|e| (0, e.clone())).collect();
        crashed.append(&id, 0, &prefix).unwrap();

        let next = block_on(runtime(crashed.clone()).send(Some(&id), "Thanks!")).unwrap();
        assert_eq!(next.outcome.turn, 2, "cut {cut}: the interrupted turn is finished before the next one");
        let journal: Vec<JournalEntry> = crashed.journal(&id).unwrap().into_iter().map(|s| s.entry).collect();
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
