//! Many processes opening one SQLite journal at once, as `baton run`s started together do: every
//! one opens it, creates its conversation and appends to it, and the file is whole afterwards.
//! The processes are this test binary run again with `BATON_TEST_OPENER` naming the file; each
//! waits for its stdin to close, so that they all open the file at the same moment.
#![allow(clippy::unwrap_used)]

use baton_core::{Input, JournalEntry};
use baton_store::{ConversationInfo, Durability, SqliteStore, Store};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a process that opens the journal it names, instead of running the test.
const OPENER: &str = "BATON_TEST_OPENER";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-opens-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn conversation(id: &str) -> ConversationInfo {
    ConversationInfo { id: id.into(), team: "t".into(), created_ms: 1, team_file: None, owner: None }
}

/// What one opener does: open the journal (syncing less than by default: what is raced is the
/// opening), create a conversation of its own and append to it.
fn open_and_write(path: &Path, id: &str) -> Result<(), String> {
    let store = SqliteStore::open_with(path, Durability::Normal).map_err(|e| e.to_string())?;
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio
        .block_on(async {
            store.create(&conversation(id)).await?;
            let lease = store.acquire(id, id, Duration::from_secs(30)).await?;
            store.append(&lease, 0, &[(2, JournalEntry::Input(Input::user("hello")))]).await
        })
        .map_err(|e| e.to_string())
}

/// In an opener process: waits for stdin to close, then opens and writes, exiting 0 or 1.
fn be_an_opener(path: &str) -> ! {
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    match open_and_write(Path::new(path), &format!("c{}", std::process::id())) {
        Ok(()) => std::process::exit(0),
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(1)
        }
    }
}

/// Starts `processes` openers of `path`, lets them go at once and returns each one's
/// conversation id (for those that succeeded) or error.
fn race(test: &str, path: &Path, processes: usize) -> Vec<Result<String, String>> {
    let mut children: Vec<Child> = (0..processes)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads", "1"])
                .env(OPENER, path)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        drop(child.stdin.take());
    }
    children
        .into_iter()
        .map(|child| {
            let id = format!("c{}", child.id());
            let output = child.wait_with_output().unwrap();
            match output.status.success() {
                true => Ok(id),
                false => Err(String::from_utf8_lossy(&output.stderr).trim().to_string()),
            }
        })
        .collect()
}

/// Whether the journal at `path` opens at `version` with every conversation in `ids` whole, and
/// takes a new one.
fn usable(path: &Path, version: u32, ids: &[String]) -> Result<(), String> {
    let store = SqliteStore::open(path).map_err(|e| e.to_string())?;
    let found = store.schema_version().map_err(|e| e.to_string())?;
    if found != version {
        return Err(format!("schema version {found}, not {version}"));
    }
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for id in ids {
        let journal = tokio.block_on(store.journal(id)).map_err(|e| e.to_string())?;
        if journal.len() != 1 {
            return Err(format!("conversation {id} has {} entries, not 1", journal.len()));
        }
    }
    drop(store);
    open_and_write(path, "after")
}

/// Runs the race `rounds` times for each number of processes on a file `prepare` makes (or not),
/// and says what failed.
fn races(test: &str, name: &str, rounds: usize, prepare: impl Fn(&Path)) {
    if let Ok(path) = std::env::var(OPENER) {
        be_an_opener(&path);
    }
    let dir = temp_dir(name);
    let reference = dir.join("reference.db");
    let version = SqliteStore::open(&reference).unwrap().schema_version().unwrap();
    let started = Instant::now();
    let mut failures = Vec::new();
    for processes in [2, 30] {
        let (mut failed_rounds, mut unusable) = (0, 0);
        for round in 0..rounds {
            let path = dir.join(format!("{processes}-{round}.db"));
            prepare(&path);
            let outcomes = race(test, &path, processes);
            let errors: Vec<&String> = outcomes.iter().filter_map(|outcome| outcome.as_ref().err()).collect();
            if let Some(first) = errors.first() {
                failed_rounds += 1;
                failures.push(format!("{processes} processes, round {round}: {} failed, e.g. {first}", errors.len()));
            }
            let ids: Vec<String> = outcomes.into_iter().filter_map(Result::ok).collect();
            if let Err(why) = usable(&path, version, &ids) {
                unusable += 1;
                failures.push(format!("{processes} processes, round {round}: the file is unusable: {why}"));
            }
        }
        eprintln!(
            "{name}: {processes} processes, {rounds} rounds: {failed_rounds} with a failed opener, {unusable} left \
             unusable ({:.1} s so far)",
            started.elapsed().as_secs_f64()
        );
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn processes_opening_a_new_journal_at_once_all_succeed_and_leave_it_whole() {
    races("processes_opening_a_new_journal_at_once_all_succeed_and_leave_it_whole", "new", 20, |_| {});
}

#[test]
fn processes_opening_an_old_journal_at_once_migrate_it_once() {
    races("processes_opening_an_old_journal_at_once_migrate_it_once", "old", 5, |path| {
        // A journal of schema version 1: baton's first tables, nothing after.
        let old = rusqlite::Connection::open(path).unwrap();
        old.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE conversations (id TEXT PRIMARY KEY, team TEXT NOT NULL, created_ms INTEGER NOT NULL);
             CREATE TABLE journal (
                conversation TEXT NOT NULL REFERENCES conversations(id),
                seq INTEGER NOT NULL,
                at_ms INTEGER NOT NULL,
                kind TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (conversation, seq)
             ) WITHOUT ROWID;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    });
}
