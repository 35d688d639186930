//! Journal throughput: turns of a scripted team (no model time) journaled to SQLite FULL,
//! SQLite NORMAL or Postgres, one or many conversations at a time; and the time to resume many
//! interrupted conversations; and how a turn's time grows with its conversation's length, in one
//! conversation of TURNS turns: `long` runs the support example on the offline model, whose
//! reading of the whole conversation grows too, and `long-script` a scripted agent that answers
//! at once, so only the runtime's and the journal's costs are left; `long-cold` runs each of
//! those turns in a runtime of its own, as `baton run` does in a process of its own, so that
//! nothing is kept warm and each turn loads the conversation from its snapshot. Prints one JSON
//! object per run; `bench/journal.sh` runs every configuration under `strace` to count the disk syncs.
//!
//! ```text
//! cargo bench -p baton --bench journal -- turns sqlite-full 64 640
//! cargo bench -p baton --bench journal -- resume sqlite-full 10000
//! cargo bench -p baton --bench journal -- long sqlite-full 3000
//! cargo bench -p baton --bench journal -- long-script sqlite-full 3000
//! cargo bench -p baton --bench journal -- long-cold sqlite-full 3000
//! ```
//! Postgres is `BATON_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`); each
//! run works in a fresh schema.

#![allow(clippy::unwrap_used, missing_docs)]

use baton::config::load_team;
use baton::core::{Input, JournalEntry};
use baton::store::{open, ConversationInfo, Durability, Store, StoreLocation};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGE: &str = "My line is down and I was charged twice (customer 42)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let usage = "usage: journal (turns STORE CONCURRENCY TURNS | resume STORE CONVERSATIONS | long STORE TURNS | long-script STORE TURNS | long-cold STORE TURNS); STORE is sqlite-full, sqlite-normal or postgres";
    let [mode, store, numbers @ ..] = args.as_slice() else { panic!("{usage}") };
    let numbers: Vec<usize> = numbers.iter().map(|n| n.parse().expect(usage)).collect();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (location, durability) = location(store);
    let result = tokio.block_on(async {
        let journal = open(&location, durability).await.unwrap();
        match (mode.as_str(), numbers.as_slice()) {
            ("turns", [concurrency, turns]) => turns_bench(journal, &location, *concurrency, *turns).await,
            ("resume", [conversations]) => resume_bench(journal, *conversations).await,
            ("long", [turns]) => long_bench(journal, *turns, &support_file(), false).await,
            ("long-script", [turns]) => long_bench(journal, *turns, &long_file(), false).await,
            ("long-cold", [turns]) => long_bench(journal, *turns, &long_file(), true).await,
            _ => panic!("{usage}"),
        }
    });
    let mut line = serde_json::Map::new();
    line.insert("mode".into(), json!(mode));
    line.insert("store".into(), json!(store));
    line.extend(result.as_object().cloned().unwrap_or_default());
    println!("{}", serde_json::Value::Object(line));
}

/// A fresh journal of the kind named.
fn location(store: &str) -> (StoreLocation, Durability) {
    let file = || {
        let dir = std::env::temp_dir().join(format!("baton-journal-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StoreLocation::Sqlite(dir.join("journal.db"))
    };
    match store {
        "sqlite-full" => (file(), Durability::Full),
        "sqlite-normal" => (file(), Durability::Normal),
        "postgres" => (StoreLocation::Postgres(fresh_schema()), Durability::Full),
        other => panic!("unknown store {other}"),
    }
}

fn postgres_base() -> String {
    std::env::var("BATON_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A URL to a fresh schema of the Postgres database.
fn fresh_schema() -> String {
    let schema = format!("journal_bench_{}", std::process::id());
    let base = postgres_base();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            tokio.block_on(async {
                let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
                    .await
                    .unwrap();
            })
        });
    });
    format!("{base}?options=-csearch_path%3D{schema}")
}

fn team_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/journal/team.toml")
}

async fn runtime(store: Arc<dyn Store>) -> baton::Runtime {
    let config = load_team(&team_file()).unwrap().config;
    baton::assemble::runtime(&config, store).await.unwrap()
}

/// `turns` one-turn conversations, `concurrency` at a time.
async fn turns_bench(
    store: Arc<dyn Store>,
    location: &StoreLocation,
    concurrency: usize,
    turns: usize,
) -> serde_json::Value {
    let runtime = Arc::new(runtime(store.clone()).await);
    let wal_before = wal_syncs(location).await;
    let commits_before = store.commits();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let runtime = runtime.clone();
        let share = turns / concurrency + usize::from(worker < turns % concurrency);
        tasks.spawn(async move {
            let mut entries = 0;
            for n in 0..share {
                let id = format!("w{worker}-{n}");
                let report = runtime.send(Some(&id), MESSAGE).await.unwrap();
                assert_eq!(report.outcome.agent, "billing");
                entries += runtime.store().journal(&id).await.unwrap().len();
            }
            entries
        });
    }
    let mut entries = 0;
    while let Some(done) = tasks.join_next().await {
        entries += done.unwrap();
    }
    let wall = started.elapsed();
    let commits = store.commits() - commits_before;
    let wal_syncs = match (wal_before, wal_syncs(location).await) {
        (Some(before), Some(after)) => json!(after - before),
        _ => serde_json::Value::Null,
    };
    // Appends: one per input and one per batch of records; the journal's entries are counted.
    let sample = store.journal("w0-0").await.unwrap();
    let json_bytes: usize = sample.iter().map(|entry| serde_json::to_string(&entry.entry).unwrap().len()).sum();
    json!({
        "concurrency": concurrency,
        "turns": turns,
        "entries": entries,
        "entries_per_turn": entries as f64 / turns as f64,
        "wall_s": wall.as_secs_f64(),
        "turns_per_s": turns as f64 / wall.as_secs_f64(),
        "entries_per_s": entries as f64 / wall.as_secs_f64(),
        "commits": commits,
        "commits_per_turn": commits as f64 / turns as f64,
        "postgres_wal_syncs": wal_syncs,
        "json_bytes_per_conversation": json_bytes,
        "stored_bytes_per_conversation": stored_bytes(location).await.map(|bytes| bytes / turns as u64),
    })
}

/// `conversations` interrupted right after their first message, then resumed 16 at a time.
async fn resume_bench(store: Arc<dyn Store>, conversations: usize) -> serde_json::Value {
    let prepared = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            for n in (chunk..conversations).step_by(16) {
                let id = format!("r{n}");
                let info = ConversationInfo {
                    id: id.clone(),
                    team: "journal-bench".into(),
                    created_ms: n as u64,
                    team_file: Some(team_file().display().to_string()),
                    owner: None,
                };
                store.create(&info).await.unwrap();
                let lease = store.acquire(&id, "crashed", Duration::from_secs(60)).await.unwrap();
                let message = JournalEntry::Input(Input::user(MESSAGE));
                store.append(&lease, 0, &[(0, message)]).await.unwrap();
                store.release(&lease).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let prepare_s = prepared.elapsed().as_secs_f64();
    let runtime = Arc::new(runtime(store.clone()).await);
    let started = Instant::now();
    let interrupted = store.interrupted().await.unwrap();
    assert_eq!(interrupted.len(), conversations);
    let listed_s = started.elapsed().as_secs_f64();
    let queue = Arc::new(std::sync::Mutex::new(interrupted));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (runtime, queue) = (runtime.clone(), queue.clone());
        tasks.spawn(async move {
            loop {
                let Some(info) = queue.lock().unwrap().pop() else { break };
                runtime.resume(&info.id).await.unwrap().unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    assert!(store.interrupted().await.unwrap().is_empty());
    json!({
        "conversations": conversations,
        "prepare_s": prepare_s,
        "list_s": listed_s,
        "resume_s": wall,
        "resumed_per_s": conversations as f64 / wall,
    })
}

fn support_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml")
}

fn long_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/journal/long.toml")
}

/// One conversation of `turns` turns with the team of `team_file`: the time of each turn, as
/// the median of ten turns around turn 10, 100, 1,000 … and of the last ten; and what loading
/// the conversation at its end costs, from its whole journal and from its latest snapshot. With
/// `cold`, each turn runs in a runtime of its own (made before the turn's time starts).
async fn long_bench(store: Arc<dyn Store>, turns: usize, team_file: &Path, cold: bool) -> serde_json::Value {
    const QUESTIONS: [&str; 3] = ["when are you open", "how much is fibre 500 a month", "where is your nearest shop"];
    let config = load_team(team_file).unwrap().config;
    let mut runtime = baton::assemble::runtime(&config, store.clone()).await.unwrap();
    let conversation = runtime.start(Some("long"), None).await.unwrap().id;
    let mut times = Vec::with_capacity(turns);
    let started = Instant::now();
    for turn in 0..turns {
        if cold {
            runtime = baton::assemble::runtime(&config, store.clone()).await.unwrap();
        }
        let before = Instant::now();
        runtime.send(Some(&conversation), QUESTIONS[turn % QUESTIONS.len()]).await.unwrap();
        times.push(before.elapsed().as_secs_f64() * 1000.0);
        if (turn + 1) % 500 == 0 {
            eprintln!("long: {} of {turns} turns", turn + 1);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let median = |window: &[f64]| {
        let mut window = window.to_vec();
        window.sort_by(f64::total_cmp);
        window[window.len() / 2]
    };
    let mut ms = serde_json::Map::new();
    let mut at = 10;
    while at + 5 <= turns {
        ms.insert(format!("turn_{at}"), json!(median(&times[at - 5..at + 5])));
        at *= 10;
    }
    ms.insert(format!("turn_{turns}"), json!(median(&times[turns.saturating_sub(10)..])));
    // What loading the conversation costs at its end: reading its journal, and folding it.
    let read = Instant::now();
    let journal = store.journal(&conversation).await.unwrap();
    let read_ms = read.elapsed().as_secs_f64() * 1000.0;
    let entries: Vec<JournalEntry> = journal.iter().map(|stored| stored.entry.clone()).collect();
    let fold = Instant::now();
    baton::core::replay(Arc::new(runtime.team().clone()), &conversation, &entries).unwrap();
    let replay_ms = fold.elapsed().as_secs_f64() * 1000.0;
    let read = Instant::now();
    let snapshot = store.latest_snapshot(&conversation).await.unwrap();
    let snapshot_read_ms = read.elapsed().as_secs_f64() * 1000.0;
    json!({
        "turns": turns,
        "entries": journal.len(),
        "wall_s": wall,
        "turn_ms": ms,
        "journal_read_ms": read_ms,
        "replay_ms": replay_ms,
        "snapshot_seq": snapshot.as_ref().map(|snapshot| snapshot.seq),
        "snapshot_bytes": snapshot.as_ref().map(|snapshot| snapshot.body.len()),
        "snapshot_read_ms": snapshot_read_ms,
    })
}

/// Postgres's count of WAL syncs so far (`pg_stat_wal.wal_sync`), for Postgres journals.
async fn wal_syncs(location: &StoreLocation) -> Option<i64> {
    let StoreLocation::Postgres(_) = location else { return None };
    let (client, connection) = tokio_postgres::connect(&postgres_base(), tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(connection);
    client.query_one("SELECT wal_sync FROM pg_stat_wal", &[]).await.ok().map(|row| row.get(0))
}

/// The journal's size on disk: the SQLite file with its WAL, or the Postgres tables.
async fn stored_bytes(location: &StoreLocation) -> Option<u64> {
    match location {
        StoreLocation::Sqlite(path) => {
            let size = |path: PathBuf| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            Some(size(path.clone()) + size(path.with_extension("db-wal")))
        }
        StoreLocation::Postgres(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.ok()?;
            tokio::spawn(connection);
            let row = client
                .query_one("SELECT pg_total_relation_size('baton_journal') + pg_total_relation_size('baton_conversations') + pg_total_relation_size('baton_leases')", &[])
                .await
                .ok()?;
            Some(row.get::<_, i64>(0) as u64)
        }
        StoreLocation::Memory => None,
    }
}
