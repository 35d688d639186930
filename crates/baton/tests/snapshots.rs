//! Snapshots: a long conversation is loaded from its latest snapshot and the entries after it,
//! never from its first entries; a snapshot taken under another team file, or damaged, is passed
//! over for the whole journal and then replaced. A process takes up a conversation it left
//! without folding anything, unless another process advanced it meanwhile.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::{load_team, parse_team, TeamConfig};
use baton::core::TurnStatus;
use baton::store::{SqliteStore, Store};
use baton::RuntimeError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const QUESTION: &str = "when are you open";

fn team_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml")
}

fn example() -> TeamConfig {
    load_team(&team_file()).unwrap().config
}

/// The example with its front desk described otherwise: the same rules, another team file.
fn reworded() -> TeamConfig {
    let text = std::fs::read_to_string(team_file()).unwrap();
    let text = text.replacen("description = \"Front desk:", "description = \"The front desk:", 1);
    parse_team(&text, &team_file()).unwrap().config
}

fn journal_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-snapshots-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.db")
}

/// A runtime of `config` over the journal at `path`, as a new process would have.
async fn runtime(config: &TeamConfig, path: &Path) -> baton::Runtime {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
    baton::assemble::runtime(config, store).await.unwrap()
}

/// A conversation of 60 turns (300 entries) in the journal at `path`; returns its snapshot's
/// position.
async fn long_conversation(path: &Path) -> u64 {
    let runtime = runtime(&example(), path).await;
    for _ in 0..60 {
        let report = runtime.send(Some("long"), QUESTION).await.unwrap();
        assert_eq!(report.outcome.status, TurnStatus::Answered);
    }
    let journal = runtime.store().journal("long").await.unwrap();
    let snapshot = runtime.store().latest_snapshot("long").await.unwrap().expect("a snapshot after 256 entries");
    assert!(snapshot.seq >= 256 && snapshot.seq <= journal.len() as u64, "{} of {}", snapshot.seq, journal.len());
    snapshot.seq
}

/// Overwrites column `column` of the rows of table `table` that `filter` selects.
fn damage(path: &Path, table: &str, column: &str, filter: &str) {
    let connection = rusqlite::Connection::open(path).unwrap();
    let changed = connection.execute(&format!("UPDATE {table} SET {column} = 'damaged' WHERE {filter}"), []).unwrap();
    assert_eq!(changed, 1);
}

#[tokio::test]
async fn a_long_conversation_is_loaded_from_its_snapshot_not_its_first_entries() {
    let path = journal_file("loaded");
    long_conversation(&path).await;
    damage(&path, "journal", "body", "conversation = 'long' AND seq = 3");
    let runtime = runtime(&example(), &path).await;
    let report = runtime.send(Some("long"), QUESTION).await.unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Answered, "the damaged entry 3 was never read");
    assert!(report.outcome.reply.is_some_and(|reply| reply.contains("8:00")));
    let whole = runtime.conversation("long").await.map(|_| ());
    assert!(matches!(whole, Err(RuntimeError::Store(_))), "reading the whole journal meets it: {whole:?}");
}

#[tokio::test]
async fn a_snapshot_taken_under_another_team_file_is_passed_over_then_replaced() {
    let path = journal_file("team");
    let first = long_conversation(&path).await;
    let reworded = runtime(&reworded(), &path).await;
    let report = reworded.send(Some("long"), QUESTION).await.unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Answered);
    let replaced = reworded.store().latest_snapshot("long").await.unwrap().unwrap();
    assert!(replaced.seq > first, "the new team's snapshot replaced it: {} after {first}", replaced.seq);

    // Under the first team file again, the reworded team's snapshot is passed over: the whole
    // journal is read, damaged entry and all.
    damage(&path, "journal", "body", "conversation = 'long' AND seq = 3");
    let again = runtime(&example(), &path).await.send(Some("long"), QUESTION).await;
    assert!(matches!(again, Err(RuntimeError::Store(_))), "the whole journal was read: {again:?}");
}

#[tokio::test]
async fn a_damaged_snapshot_is_passed_over_then_replaced() {
    let path = journal_file("damaged");
    let first = long_conversation(&path).await;
    damage(&path, "snapshots", "body", "conversation = 'long'");
    let runtime = runtime(&example(), &path).await;
    let report = runtime.send(Some("long"), QUESTION).await.unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Answered);
    let replaced = runtime.store().latest_snapshot("long").await.unwrap().unwrap();
    assert!(replaced.seq > first && replaced.body.starts_with('{'), "a readable snapshot replaced it");
    assert_eq!(report.outcome.turn, 61);
}

#[tokio::test]
async fn a_conversation_this_process_left_is_taken_up_without_reading_its_journal() {
    let path = journal_file("warm");
    let here = runtime(&example(), &path).await;
    here.send(Some("warm"), QUESTION).await.unwrap();
    here.send(Some("warm"), QUESTION).await.unwrap();
    damage(&path, "journal", "body", "conversation = 'warm' AND seq = 1");
    let report = here.send(Some("warm"), QUESTION).await.unwrap();
    assert_eq!((report.outcome.status, report.outcome.turn), (TurnStatus::Answered, 3));
    let elsewhere = runtime(&example(), &path).await.send(Some("warm"), QUESTION).await;
    assert!(matches!(elsewhere, Err(RuntimeError::Store(_))), "another process reads the journal: {elsewhere:?}");
}

#[tokio::test]
async fn a_turn_another_process_took_meanwhile_is_not_passed_over() {
    let path = journal_file("moved-on");
    let (here, there) = (runtime(&example(), &path).await, runtime(&example(), &path).await);
    here.send(Some("shared"), QUESTION).await.unwrap();
    there.send(Some("shared"), "how much is fibre 500 a month").await.unwrap();
    let report = here.send(Some("shared"), QUESTION).await.unwrap();
    assert_eq!((report.outcome.status, report.outcome.turn), (TurnStatus::Answered, 3));
    let whole = here.conversation("shared").await.unwrap().2;
    assert_eq!(whole.turns(), 3);
}
