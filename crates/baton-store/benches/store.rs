//! Micro-benchmarks of the journal stores, with criterion.
//!
//! * `append/{one_entry,turn_one_append,turn_as_runtime}/STORE`: appending under a lease to the
//!   in-memory store and to a SQLite file (in a fresh folder of the temp dir) with
//!   `synchronous = FULL` and `NORMAL`: one entry (the user's message), a typical turn's 19
//!   entries in one append (one transaction), and the same turn in the 16 appends the runtime
//!   makes (each input alone, before the core sees it; then the records it returns, before the
//!   calls that follow them). The turn is the one of `crates/baton/benches/journal`: a user
//!   message, 2 handoffs, 2 tool calls, 5 model calls, produced by `Conversation::handle`.
//!   Each conversation takes at most 1,000 rounds of appends, then the bench goes on in a fresh
//!   one (for the in-memory store, in a fresh store), so journals stay short; only appends are
//!   timed.
//! * `replay/read/STORE/N`: reading back a conversation's journal of N = 20, 200 and 2,000
//!   entries (whole turns like the one above, the last one cut off where N falls);
//!   `replay/fold/N`: folding such a journal, already in memory, through
//!   `baton_core::replay`; `replay/read_and_fold/STORE/N`: both, what loading a conversation
//!   costs. Throughput is entries per second.
//!
//! Postgres is measured too when `BATON_BENCH_POSTGRES` is a URL (for instance
//! `postgres://postgres@127.0.0.1:5432/test`), in a fresh schema; otherwise it is skipped with a
//! note on stderr.
//!
//! ```text
//! cargo bench -p baton-store --bench store
//! BATON_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/test cargo bench -p baton-store --bench store
//! ```

#![allow(missing_docs, clippy::unwrap_used)] // criterion's macros make undocumented functions

use baton_core::{
    replay, Agent, ContextPolicy, Conversation, Effect, HandoffEdge, Input, JournalEntry, ModelReply, OnLimit, Record,
    ReturnTo, Team, ToolCall, ToolDef, ToolOutput, TurnStatus,
};
use baton_store::{ConversationInfo, Durability, Lease, MemoryStore, PostgresStore, SqliteStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Journal lengths of the replay benches.
const LENGTHS: [usize; 3] = [20, 200, 2_000];
/// The time stamp of every appended entry.
const AT_MS: u64 = 1_700_000_000_000;
/// Long enough for any run of the benches: appends renew it anyway.
const TTL: Duration = Duration::from_secs(3_600);

/// The team of `crates/baton/benches/journal/team.toml`, built in Rust: `triage` hands off to
/// `technical`, which checks the line and hands off to `billing`, which looks up the invoice
/// and answers. Every turn starts at `triage` again, so every turn journals the same 19 entries.
fn team() -> Team {
    let mut team = Team::new("journal-bench", "triage");
    team.models.insert("desk".into());
    for (name, description, key) in [
        ("check_line_status", "Line status by customer id.", "customer_id"),
        ("lookup_invoice", "An invoice by number.", "invoice_number"),
    ] {
        let parameters = json!({"type": "object", "properties": {key: {"type": "string"}}, "required": [key]});
        team.tools.insert(name.into(), ToolDef::new(name, description, parameters));
    }
    let agent = |name: &str, tools: &[&str], handoffs: &[&str]| {
        let mut agent = Agent::llm(name, "desk");
        agent.description = format!("The {name} desk.");
        agent.instructions = format!("You are the {name} agent of a support desk.");
        agent.tools = tools.iter().map(|tool| tool.to_string()).collect();
        agent.handoffs =
            handoffs.iter().map(|to| HandoffEdge { context: ContextPolicy::Full, ..HandoffEdge::to(*to) }).collect();
        (name.to_string(), agent)
    };
    team.agents.extend([
        agent("triage", &[], &["technical"]),
        agent("technical", &["check_line_status"], &["billing", "human"]),
        agent("billing", &["lookup_invoice"], &["technical", "human"]),
        ("human".to_string(), Agent::human("human")),
    ]);
    team.limits.fallback = Some("human".into());
    team.limits.on_limit = OnLimit::Escalate;
    team.limits.return_to = ReturnTo::Entry;
    team
}

fn call(id: String, name: &str, arguments: serde_json::Value) -> ModelReply {
    ModelReply {
        tool_calls: vec![ToolCall { id, name: name.into(), arguments: arguments.to_string() }],
        ..ModelReply::default()
    }
}

/// The scripted model (the replies of `crates/baton/benches/journal/replies.toml`).
fn model(agent: &str, turn: u32, index: u32) -> ModelReply {
    match (agent, index) {
        ("triage", 0) => call(
            format!("call_{turn}_1"),
            "transfer_to_technical",
            json!({"reason": "the line is down", "facts": {"customer_id": "42"}}),
        ),
        ("technical", 0) => call(format!("call_{turn}_2"), "check_line_status", json!({"customer_id": "42"})),
        ("technical", 1) => call(
            format!("call_{turn}_3"),
            "transfer_to_billing",
            json!({"reason": "a double charge", "summary": "Line is up; the customer was charged twice."}),
        ),
        ("billing", 0) => call(format!("call_{turn}_4"), "lookup_invoice", json!({"invoice_number": "INV-2042"})),
        ("billing", _) => ModelReply {
            text: Some("INV-2042 was charged twice; the refund is on its way.".into()),
            ..ModelReply::default()
        },
        _ => panic!("the script has no reply for call {index} of {agent}"),
    }
}

fn tool_output(tool: &str) -> ToolOutput {
    ToolOutput::ok(
        match tool {
            "check_line_status" => json!({"customer_id": "42", "status": "up", "since": "2024-05-01T09:40:00Z"}),
            _ => json!({"invoice_number": "INV-2042", "amount": 59.9, "charged": 2, "status": "refund pending"}),
        }
        .to_string(),
    )
}

/// Runs one user turn through the core and returns its journal as the runtime appends it:
/// each input alone, then the records it led to.
fn turn(conversation: &mut Conversation) -> Vec<Vec<JournalEntry>> {
    let number = conversation.turns() + 1;
    let message = format!("My line is down and I was charged twice (customer 42, message {number})");
    let mut queue = VecDeque::from([Input::user(message)]);
    let mut calls_of: BTreeMap<String, u32> = BTreeMap::new();
    let mut appends = Vec::new();
    let mut status = None;
    while let Some(input) = queue.pop_front() {
        let effects = conversation.handle(input.clone()).unwrap();
        appends.push(vec![JournalEntry::Input(input)]);
        let mut records = Vec::new();
        for effect in effects {
            match effect {
                Effect::Record(record) => {
                    if let Record::TurnEnded(outcome) = &record {
                        status = Some(outcome.status);
                    }
                    records.push(JournalEntry::Record(record));
                }
                Effect::CallModel(request) => {
                    let index = calls_of.entry(request.agent.clone()).or_default();
                    queue.push_back(Input::ModelReplied { reply: model(&request.agent, number, *index) });
                    *index += 1;
                }
                Effect::CallTool(invocation) => queue.push_back(Input::ToolReturned {
                    output: tool_output(&invocation.tool),
                    call_id: invocation.call_id,
                }),
            }
        }
        if !records.is_empty() {
            appends.push(records);
        }
    }
    assert_eq!(status, Some(TurnStatus::Answered), "the scripted turn is answered");
    appends
}

/// The journal of conversation `id` of `length` entries: whole turns, the last cut off where
/// `length` falls.
fn journal(team: &Arc<Team>, id: &str, length: usize) -> Vec<JournalEntry> {
    let mut conversation = Conversation::new(team.clone(), id);
    let mut entries = Vec::new();
    while entries.len() < length {
        entries.extend(turn(&mut conversation).into_iter().flatten());
    }
    entries.truncate(length);
    entries
}

fn stamped(entries: &[JournalEntry]) -> Vec<(u64, JournalEntry)> {
    entries.iter().map(|entry| (AT_MS, entry.clone())).collect()
}

/// Creates conversation `id` and takes its lease.
async fn open_conversation(store: &dyn Store, id: &str) -> Lease {
    let info = ConversationInfo {
        id: id.into(),
        team: "journal-bench".into(),
        created_ms: AT_MS,
        team_file: None,
        owner: None,
    };
    store.create(&info).await.unwrap();
    store.acquire(id, "bench", TTL).await.unwrap()
}

/// Where one bench's stores keep their data: a fresh folder of the temp dir for the SQLite
/// files and, when Postgres is measured, a fresh schema; [`Scratch::clean`] removes both.
struct Scratch {
    folder: PathBuf,
    /// The database's URL and the schema.
    postgres: Option<(String, String)>,
}

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("baton_bench_store_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let folder = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        let postgres = match std::env::var("BATON_BENCH_POSTGRES") {
            Ok(url) => Some((url, name)),
            Err(_) => {
                eprintln!(
                    "note: Postgres is not measured; set BATON_BENCH_POSTGRES to a URL such as \
                     postgres://postgres@127.0.0.1:5432/test to measure it (in a fresh schema)"
                );
                None
            }
        };
        Scratch { folder, postgres }
    }

    /// The stores measured: name and store.
    fn stores(&self, runtime: &Runtime) -> Vec<(&'static str, Arc<dyn Store>)> {
        let sqlite = |file: &str, durability| SqliteStore::open_with(&self.folder.join(file), durability).unwrap();
        let mut stores: Vec<(&'static str, Arc<dyn Store>)> = vec![
            ("memory", Arc::new(MemoryStore::new())),
            ("sqlite_full", Arc::new(sqlite("full.db", Durability::Full))),
            ("sqlite_normal", Arc::new(sqlite("normal.db", Durability::Normal))),
        ];
        if let Some((url, schema)) = &self.postgres {
            let store = runtime.block_on(async {
                admin(url).await.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
                let separator = if url.contains('?') { '&' } else { '?' };
                PostgresStore::connect(&format!("{url}{separator}options=-csearch_path%3D{schema}")).await.unwrap()
            });
            stores.push(("postgres", Arc::new(store)));
        }
        stores
    }

    /// Removes the SQLite files and the Postgres schema (once the stores are dropped).
    fn clean(self, runtime: &Runtime) {
        let _ = std::fs::remove_dir_all(&self.folder);
        if let Some((url, schema)) = &self.postgres {
            runtime.block_on(async {
                admin(url).await.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
            });
        }
    }
}

/// A connection to the database at `url`, to make and drop schemas.
async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("BATON_BENCH_POSTGRES is {url}, but it cannot be reached: {e}"));
    tokio::spawn(connection);
    client
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Appends per conversation before the benches move on to a fresh one, so journals stay short.
const ROTATE: u64 = 1_000;

/// A store appended to, with the conversation the appends go to.
struct Target {
    name: &'static str,
    store: Arc<dyn Store>,
    conversations: u32,
}

impl Target {
    /// A fresh conversation and its lease; for the in-memory store, in a fresh store, so the
    /// memory the earlier appends took is given back.
    fn fresh(&mut self, runtime: &Runtime) -> Lease {
        if self.name == "memory" {
            self.store = Arc::new(MemoryStore::new());
        }
        self.conversations += 1;
        let id = format!("append-{}", self.conversations);
        runtime.block_on(open_conversation(self.store.as_ref(), &id))
    }

    /// The time `iters` rounds of `appends` take (each round to the end of the journal), in
    /// fresh conversations of [`ROTATE`] rounds each; only the appends are timed.
    fn time(&mut self, runtime: &Runtime, appends: &[Vec<(u64, JournalEntry)>], iters: u64) -> Duration {
        let mut elapsed = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            let rounds = (iters - done).min(ROTATE);
            let lease = self.fresh(runtime);
            let store = self.store.clone();
            let start = Instant::now();
            runtime.block_on(async {
                let mut seq = 0;
                for _ in 0..rounds {
                    for entries in appends {
                        store.append(&lease, seq, entries).await.unwrap();
                        seq += entries.len() as u64;
                    }
                }
            });
            elapsed += start.elapsed();
            done += rounds;
        }
        elapsed
    }
}

/// Appends: one entry, a turn in one append, a turn as the runtime appends it.
fn append(c: &mut Criterion) {
    let runtime = runtime();
    let scratch = Scratch::new();
    let appends = turn(&mut Conversation::new(Arc::new(team()), "append"));
    let entries: Vec<JournalEntry> = appends.iter().flatten().cloned().collect();
    assert_eq!((entries.len(), appends.len()), (19, 16), "a turn is 19 entries in 16 appends");
    let bytes: usize = entries.iter().map(|entry| serde_json::to_string(entry).unwrap().len()).sum();
    eprintln!("a turn: {} entries, {bytes} bytes of JSON, {} appends", entries.len(), appends.len());
    let cases = [
        ("one_entry", vec![stamped(&entries[..1])]),
        ("turn_one_append", vec![stamped(&entries)]),
        ("turn_as_runtime", appends.iter().map(|group| stamped(group)).collect::<Vec<_>>()),
    ];

    let mut group = c.benchmark_group("append");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    for (name, store) in scratch.stores(&runtime) {
        let mut target = Target { name, store, conversations: 0 };
        for (case, appends) in &cases {
            let count: usize = appends.iter().map(Vec::len).sum();
            group.throughput(Throughput::Elements(count as u64));
            group.bench_function(BenchmarkId::new(*case, name), |b| {
                b.iter_custom(|iters| target.time(&runtime, appends, iters))
            });
        }
    }
    group.finish();
    scratch.clean(&runtime);
}

/// Reading a journal back, folding it through the core, and both.
fn replay_journal(c: &mut Criterion) {
    let runtime = runtime();
    let scratch = Scratch::new();
    let stores = scratch.stores(&runtime);
    let team = Arc::new(team());
    let mut group = c.benchmark_group("replay");
    // Flat sampling: the longest folds take tens of milliseconds.
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    group.sampling_mode(SamplingMode::Flat);
    for length in LENGTHS {
        let id = format!("replay-{length}");
        let entries = journal(&team, &id, length);
        group.throughput(Throughput::Elements(length as u64));
        for (name, store) in &stores {
            // SQLite NORMAL reads like FULL: one of the two is enough.
            if *name == "sqlite_normal" {
                continue;
            }
            runtime.block_on(async {
                let lease = open_conversation(store.as_ref(), &id).await;
                store.append(&lease, 0, &stamped(&entries)).await.unwrap();
                store.release(&lease).await.unwrap();
            });
            assert_eq!(runtime.block_on(store.journal(&id)).unwrap().len(), length);
            group.bench_function(BenchmarkId::new(format!("read/{name}"), length), |b| {
                b.iter(|| runtime.block_on(store.journal(&id)).unwrap())
            });
            if *name == "memory" {
                continue;
            }
            group.bench_function(BenchmarkId::new(format!("read_and_fold/{name}"), length), |b| {
                b.iter(|| {
                    let stored = runtime.block_on(store.journal(&id)).unwrap();
                    let journal: Vec<JournalEntry> = stored.into_iter().map(|stored| stored.entry).collect();
                    replay(team.clone(), &id, &journal).unwrap()
                })
            });
        }
        let replayed = replay(team.clone(), &id, &entries).unwrap();
        eprintln!(
            "replay {length}: {} turns, {} transcript entries, {} effects unfinished",
            replayed.conversation.turns(),
            replayed.conversation.transcript().len(),
            replayed.unfinished.len()
        );
        group.bench_function(BenchmarkId::new("fold", length), |b| {
            b.iter(|| replay(team.clone(), &id, black_box(&entries)).unwrap())
        });
    }
    group.finish();
    drop(stores);
    scratch.clean(&runtime);
}

criterion_group!(benches, append, replay_journal);
criterion_main!(benches);
