//! Fuzzing of journal rows with proptest: every kind of journal entry, with any contents, reads
//! back as it was written, through JSON and through a SQLite journal; any other JSON (mutated
//! entries, arbitrary values, text) is an entry or an error, never a panic, and a row whose body
//! is not an entry makes reading the journal fail naming the conversation and the entry. Also the
//! journal's location as users write it (`--db`): any text is a location or a refusal, and a
//! Postgres URL is shown without its password. The inputs come from a fixed seed (see
//! [`config`]), so every run tries the same cases; the minimal inputs of failures found are kept
//! as plain tests at the end.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton_core::{
    ContextPolicy, HandoffStep, Input, JournalEntry, LimitKind, ModelReply, ModelUsage, Payload, PendingApproval,
    Record, Refusal, Signals, StopReason, ToolCall, ToolOutput, TriggerKind, TurnOutcome, TurnStatus, Usage,
};
use baton_store::{ConversationInfo, Durability, SqliteStore, Store, StoreError, StoreLocation};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The seed every property starts from, unless `PROPTEST_RNG_SEED` gives another.
const SEED: u64 = 0xba70_0019;

/// `cases` cases from [`SEED`], without failure files: a failure's minimal input becomes a plain
/// test here. `PROPTEST_CASES` and `PROPTEST_RNG_SEED` explore more or other cases.
fn config(cases: u32) -> Config {
    let mut config = Config { cases, failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config.cases = Config::default().cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config
}

/// Runs `test` on `cases` inputs of `strategy`; a failure panics with its minimal input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: Debug,
{
    if let Err(failure) = TestRunner::new(config(cases)).run(&strategy, test) {
        panic!("{failure}");
    }
}

// ---------------------------------------------------------------------------------------------
// JSON, and changes to it.

/// Short text of any characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..10).prop_map(String::from_iter),
        1 => prop::sample::select(vec!["", " ", "type", "entry", "body", "input", "record", "\u{0}", "é✓"])
            .prop_map(str::to_string),
    ]
}

/// Member names: the ones journal entries use, and any.
fn key() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &[
        "entry",
        "body",
        "type",
        "text",
        "signals",
        "reply",
        "error",
        "call_id",
        "output",
        "content",
        "is_error",
        "seconds",
        "approved",
        "reason",
        "by",
        "operator",
        "to",
        "note",
        "turn",
        "agent",
        "model",
        "from",
        "index",
        "tool",
        "arguments",
        "idempotency_key",
        "payload",
        "context",
        "escalation",
        "trigger",
        "refusal",
        "kind",
        "limit",
        "detail",
        "status",
        "handoffs",
        "model_calls",
        "tool_calls",
        "usage",
        "pending",
        "routed",
    ];
    prop_oneof![3 => prop::sample::select(NAMES).prop_map(str::to_string), 1 => text()]
}

/// Any JSON value, a few levels deep, with numbers at the edges.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![-1i128, 0, 1, u32::MAX as i128 + 1, u64::MAX as i128])
            .prop_map(|n| serde_json::from_str(&n.to_string()).unwrap()),
        text().prop_map(Value::String),
        key().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A change to one value of a JSON document: replaced by another, or removed from its object
/// or array.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(Index, Value),
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        any::<Index>().prop_map(Mutation::Remove),
    ]
}

/// Every value of `value` (itself first), as JSON pointers.
fn pointers(value: &Value, here: String, all: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                pointers(member, format!("{here}/{}", name.replace('~', "~0").replace('/', "~1")), all);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                pointers(item, format!("{here}/{index}"), all);
            }
        }
        _ => {}
    }
    all.push(here);
}

/// `value` with `mutation` applied.
fn mutate(mut value: Value, mutation: &Mutation) -> Value {
    let mut all = Vec::new();
    pointers(&value, String::new(), &mut all);
    match mutation {
        Mutation::Replace(at, new) => {
            if let Some(target) = value.pointer_mut(&all[at.index(all.len())]) {
                *target = new.clone();
            }
        }
        Mutation::Remove(at) => {
            let pointer = &all[at.index(all.len())];
            if let Some((parent, last)) = pointer.rsplit_once('/') {
                let last = last.replace("~1", "/").replace("~0", "~");
                match value.pointer_mut(parent) {
                    Some(Value::Object(members)) => {
                        members.shift_remove(&last);
                    }
                    Some(Value::Array(items)) => {
                        items.remove(last.parse::<usize>().unwrap());
                    }
                    _ => {}
                }
            }
        }
    }
    value
}

// ---------------------------------------------------------------------------------------------
// Journal entries of every kind.

fn signals() -> impl Strategy<Value = Signals> {
    (prop::option::of(text()), any::<bool>())
        .prop_map(|(language, asks_for_human)| Signals { language, asks_for_human })
}

fn usage() -> impl Strategy<Value = Usage> {
    any::<(u64, u64)>().prop_map(|(input_tokens, output_tokens)| Usage { input_tokens, output_tokens })
}

fn reply() -> impl Strategy<Value = ModelReply> {
    let call = (text(), text(), text()).prop_map(|(id, name, arguments)| ToolCall { id, name, arguments });
    let stop = prop::sample::select(vec![StopReason::Length, StopReason::Refusal, StopReason::ContentFilter]);
    (prop::option::of(text()), prop::collection::vec(call, 0..3), prop::option::of(usage()), prop::option::of(stop))
        .prop_map(|(text, tool_calls, usage, stop)| ModelReply { text, tool_calls, usage, stop })
}

fn output() -> impl Strategy<Value = ToolOutput> {
    (text(), any::<bool>()).prop_map(|(content, is_error)| ToolOutput { content, is_error })
}

fn limit() -> impl Strategy<Value = LimitKind> {
    prop::sample::select(vec![
        LimitKind::MaxHandoffs,
        LimitKind::MaxModelCalls,
        LimitKind::PingPong,
        LimitKind::MaxUses,
        LimitKind::ToolOutcomeUnknown,
        LimitKind::TurnSeconds,
    ])
}

fn payload() -> impl Strategy<Value = Payload> {
    (text(), prop::option::of(text()), prop::collection::btree_map(text(), text(), 0..3))
        .prop_map(|(reason, summary, facts)| Payload { reason, summary, facts })
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        Just(Refusal::UnknownTarget),
        text().prop_map(|detail| Refusal::InvalidArguments { detail }),
        Just(Refusal::Ignored),
        Just(Refusal::PingPong),
        Just(Refusal::MaxUses),
        Just(Refusal::MaxHandoffs),
    ]
}

fn step() -> impl Strategy<Value = HandoffStep> {
    (text(), text(), text()).prop_map(|(from, to, reason)| HandoffStep { from, to, reason })
}

fn outcome() -> impl Strategy<Value = TurnOutcome> {
    let status = prop::sample::select(vec![
        TurnStatus::Answered,
        TurnStatus::Escalated,
        TurnStatus::Failed,
        TurnStatus::AwaitingApproval,
    ]);
    let model_usage = (text(), text(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
        |(agent, model, calls, input_tokens, output_tokens)| ModelUsage {
            agent,
            model,
            calls,
            input_tokens,
            output_tokens,
        },
    );
    let pending =
        (text(), text(), json_value()).prop_map(|(call_id, tool, args)| PendingApproval { call_id, tool, args });
    (
        (any::<u32>(), status, text(), prop::option::of(text()), prop::collection::vec(step(), 0..3)),
        (prop::option::of(limit()), any::<u32>(), any::<u32>(), prop::option::of(text()), prop::option::of(step())),
        (
            prop::option::of(any::<u32>()),
            prop::option::of(prop::collection::vec(model_usage, 0..3)),
            prop::option::of(pending.prop_map(Box::new)),
        ),
    )
        .prop_map(
            |(
                (turn, status, agent, reply, handoffs),
                (limit, model_calls, tool_calls, error, routed),
                (malformed_calls, usage, pending),
            )| TurnOutcome {
                turn,
                status,
                agent,
                reply,
                handoffs,
                limit,
                model_calls,
                tool_calls,
                error,
                routed,
                malformed_calls,
                usage,
                pending,
            },
        )
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        (text(), signals()).prop_map(|(text, signals)| Input::UserMessage { text, signals }),
        reply().prop_map(|reply| Input::ModelReplied { reply }),
        text().prop_map(|error| Input::ModelFailed { error }),
        (text(), output()).prop_map(|(call_id, output)| Input::ToolReturned { call_id, output }),
        text().prop_map(|call_id| Input::ToolOutcomeUnknown { call_id }),
        any::<u32>().prop_map(|seconds| Input::DeadlinePassed { seconds }),
        (text(), any::<bool>(), prop::option::of(text()), prop::option::of(text()))
            .prop_map(|(call_id, approved, reason, by)| Input::ApprovalDecided { call_id, approved, reason, by }),
        text().prop_map(|operator| Input::TicketClaimed { operator }),
        (text(), text()).prop_map(|(operator, text)| Input::OperatorReplied { operator, text }),
        (text(), text(), prop::option::of(text())).prop_map(|(operator, to, note)| Input::TicketHandedBack {
            operator,
            to,
            note
        }),
        text().prop_map(|operator| Input::TicketClosed { operator }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let context = prop::sample::select(vec![ContextPolicy::Full, ContextPolicy::Summary, ContextPolicy::None]);
    let trigger =
        prop::sample::select(vec![TriggerKind::Language, TriggerKind::AsksForHuman, TriggerKind::UnresolvedTurns]);
    let handoff = (
        (any::<u32>(), text(), text(), payload(), context),
        (prop::option::of(text()), prop::option::of(limit()), prop::option::of(trigger), prop::option::of(text())),
    )
        .prop_map(|((turn, from, to, payload, context), (call_id, escalation, trigger, operator))| {
            Record::HandoffTaken { turn, from, to, payload, context, call_id, escalation, trigger, operator }
        });
    prop_oneof![
        (any::<u32>(), text()).prop_map(|(turn, agent)| Record::TurnStarted { turn, agent }),
        (any::<u32>(), text()).prop_map(|(turn, model)| Record::RouterCallStarted { turn, model }),
        (any::<u32>(), text(), text(), text()).prop_map(|(turn, from, to, reason)| Record::Routed {
            turn,
            from,
            to,
            reason
        }),
        (any::<u32>(), any::<u32>(), text(), text()).prop_map(|(turn, index, agent, model)| Record::ModelCallStarted {
            turn,
            index,
            agent,
            model
        }),
        (any::<u32>(), text(), text(), text(), text(), text()).prop_map(
            |(turn, call_id, agent, tool, arguments, idempotency_key)| Record::ToolCallStarted {
                turn,
                call_id,
                agent,
                tool,
                arguments,
                idempotency_key,
            }
        ),
        (any::<u32>(), text(), text(), text(), text()).prop_map(|(turn, call_id, agent, tool, error)| {
            Record::ToolCallRejected { turn, call_id, agent, tool, error }
        }),
        handoff,
        (any::<u32>(), text(), text(), text(), refusal())
            .prop_map(|(turn, call_id, from, to, refusal)| Record::HandoffRefused { turn, call_id, from, to, refusal }),
        (any::<u32>(), text(), text(), text(), json_value()).prop_map(|(turn, call_id, agent, tool, arguments)| {
            Record::ApprovalRequested { turn, call_id, agent, tool, arguments }
        }),
        (any::<u32>(), text(), text()).prop_map(|(turn, agent, reason)| Record::TicketOpened { turn, agent, reason }),
        (any::<u32>(), limit(), text(), text()).prop_map(|(turn, limit, agent, detail)| Record::LimitTripped {
            turn,
            limit,
            agent,
            detail
        }),
        outcome().prop_map(Record::TurnEnded),
    ]
}

fn entry() -> impl Strategy<Value = JournalEntry> {
    prop_oneof![input().prop_map(JournalEntry::Input), record().prop_map(JournalEntry::Record)]
}

/// JSON that may or may not be an entry: an entry mutated, any value, any text.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (entry(), prop::collection::vec(mutation(), 1..4)).prop_map(|(entry, mutations)| {
            mutations.iter().fold(serde_json::to_value(&entry).unwrap(), mutate).to_string()
        }),
        1 => json_value().prop_map(|value| value.to_string()),
        1 => text(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties.

#[test]
fn every_entry_reads_back_from_its_json_as_it_was() {
    check(512, entry(), |entry| {
        let json = serde_json::to_string(&entry).unwrap();
        let read: JournalEntry =
            serde_json::from_str(&json).map_err(|error| TestCaseError::fail(format!("{error}: {json}")))?;
        prop_assert_eq!(read.kind(), entry.kind());
        prop_assert_eq!(read, entry);
        Ok(())
    });
}

#[test]
fn any_json_is_an_entry_or_an_error_and_an_entry_read_writes_the_same() {
    check(512, body(), |body| {
        if let Ok(entry) = serde_json::from_str::<JournalEntry>(&body) {
            // What was accepted is an entry like any other: it reads back as it was.
            let json = serde_json::to_string(&entry).unwrap();
            prop_assert_eq!(serde_json::from_str::<JournalEntry>(&json).unwrap(), entry);
        }
        Ok(())
    });
}

/// A SQLite journal in a directory of its own, removed when dropped.
struct TempJournal {
    dir: std::path::PathBuf,
    store: SqliteStore,
}

impl TempJournal {
    fn new(name: &str) -> TempJournal {
        let dir = std::env::temp_dir().join(format!("baton-fuzz-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open_with(&dir.join("baton.db"), Durability::Normal).unwrap();
        TempJournal { dir, store }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.join("baton.db")
    }
}

impl Drop for TempJournal {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A body written straight into a journal row, as a damaged or foreign file may hold it.
#[derive(Clone, Debug)]
enum RowBody {
    Text(String),
    Blob(Vec<u8>),
}

#[test]
fn sqlite_rows_read_back_as_written_and_a_damaged_one_names_its_entry() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let journal = TempJournal::new("rows");
    let raw = rusqlite::Connection::open(journal.path()).unwrap();
    let next = AtomicUsize::new(0);
    let damage = prop_oneof![
        4 => body().prop_map(RowBody::Text),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(RowBody::Blob),
    ];
    let strategy = (prop::collection::vec((any::<u64>(), entry()), 1..5), any::<Index>(), damage);
    check(64, strategy, |(entries, at, damage)| {
        let id = format!("c{}", next.fetch_add(1, Ordering::SeqCst));
        let info = ConversationInfo { id: id.clone(), team: "t".into(), created_ms: 1, team_file: None, owner: None };
        let read = runtime.block_on(async {
            journal.store.create(&info).await.unwrap();
            let lease = journal.store.acquire(&id, "fuzz", Duration::from_secs(60)).await.unwrap();
            journal.store.append(&lease, 0, &entries).await.unwrap();
            journal.store.journal(&id).await.unwrap()
        });
        let written: Vec<(u64, u64, JournalEntry)> =
            entries.iter().enumerate().map(|(seq, (at_ms, entry))| (seq as u64, *at_ms, entry.clone())).collect();
        let read_back: Vec<(u64, u64, JournalEntry)> =
            read.into_iter().map(|stored| (stored.seq, stored.at_ms, stored.entry)).collect();
        prop_assert_eq!(read_back, written);

        let seq = at.index(entries.len());
        let update = "UPDATE journal SET body = ?1 WHERE conversation = ?2 AND seq = ?3";
        let changed = match &damage {
            RowBody::Text(text) => raw.execute(update, rusqlite::params![text, id, seq as i64]),
            RowBody::Blob(bytes) => raw.execute(update, rusqlite::params![bytes, id, seq as i64]),
        };
        prop_assert_eq!(changed.unwrap(), 1);
        let result = runtime.block_on(journal.store.journal(&id));
        let entry_read = match &damage {
            RowBody::Text(text) => serde_json::from_str::<JournalEntry>(text).ok(),
            RowBody::Blob(_) => None,
        };
        match (result, entry_read) {
            (Ok(read), Some(entry)) => prop_assert_eq!(&read[seq].entry, &entry),
            (Err(StoreError::Corrupt { conversation, seq: at, .. }), None) => {
                prop_assert_eq!((conversation, at), (id, seq as u64));
            }
            (other, expected) => prop_assert!(false, "read {other:?}, expected the entry {expected:?} or Corrupt"),
        }
        Ok(())
    });
}

/// A location as users write it for `--db` or `BATON_DB`: any text, or URL-like text.
fn location() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        text(),
        prop::sample::select(vec![
            "postgres://",
            "postgresql://",
            "sqlite://",
            "sqlite:",
            "memory",
            ":memory:",
            "@",
            ":",
            "/",
            "?",
            "#",
            "&",
            "=",
            "%",
            "%2F",
            "%zz",
            "sslmode=",
            "require",
            "verify-full",
            "sslrootcert=",
            "system",
            "host=",
            "password=",
            "C:",
            "./",
            "..",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(part, 0..8).prop_map(|parts| parts.concat())
}

#[test]
fn any_location_is_a_journal_or_a_refusal_that_says_what_to_write() {
    check(1024, location(), |text| {
        match StoreLocation::parse(&text) {
            Ok(location) => {
                let _ = location.to_string();
            }
            Err(refusal) => prop_assert!(!refusal.to_string().trim().is_empty(), "an empty refusal of {text:?}"),
        }
        Ok(())
    });
}

#[test]
fn a_postgres_url_is_shown_without_its_password() {
    // Passwords of capitals, '@' and ':' as written and other punctuation percent-encoded (as a URL
    // needs it); nothing else in the URL has capitals.
    let piece = prop_oneof![
        4 => prop::sample::select("ABCDEGHJKLMNPQRSTUVWXYZ".chars().collect::<Vec<char>>()).prop_map(String::from),
        1 => prop::sample::select(vec!["@", ":", "%2F", "%40", "%3F", "%23", "%26", "%25", "!"]).prop_map(str::to_string),
    ];
    let password = prop::collection::vec(piece, 4..16)
        .prop_map(|pieces| pieces.concat())
        .prop_filter("a password with letters", |password| {
            password.chars().filter(char::is_ascii_uppercase).count() >= 3
        });
    let query = prop::option::of(prop::sample::select(vec!["sslmode=require", "connect_timeout=5", "sslmode=disable"]));
    check(512, (password, query, any::<bool>()), |(password, query, in_query)| {
        let url = match (in_query, query) {
            (true, _) => format!("postgres://anna@db.example:5432/baton?password={password}"),
            (false, Some(query)) => format!("postgres://anna:{password}@db.example:5432/baton?{query}"),
            (false, None) => format!("postgres://anna:{password}@db.example:5432/baton"),
        };
        if let Ok(location) = StoreLocation::parse(&url) {
            let shown = location.to_string();
            // No run of three of the password's capitals shows.
            let letters: Vec<char> = password.chars().collect();
            for piece in letters.windows(3) {
                let piece: String = piece.iter().collect();
                if piece.chars().all(|c| c.is_ascii_uppercase()) {
                    prop_assert!(!shown.contains(&piece), "{url} is shown as {shown}");
                }
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Regressions: the minimal inputs of failures the properties found.

/// Found by `sqlite_rows_…`: a row whose body is a BLOB, or TEXT that is not UTF-8 (a damaged
/// file, or one another program wrote), failed the read with a database error that names
/// neither the conversation nor the entry ("Invalid column type Blob at index: 3, name: body"),
/// where an entry that does not decode is `Corrupt` (which the server's queue lists as
/// unreadable instead of failing for every operator).
#[test]
fn a_body_that_is_not_text_is_a_corrupt_entry() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let journal = TempJournal::new("blob");
    let raw = rusqlite::Connection::open(journal.path()).unwrap();
    let damages = [("a BLOB", "X'7B'"), ("text that is not UTF-8", "CAST(X'7BFF7D' AS TEXT)")];
    for (number, (what, body)) in damages.iter().enumerate() {
        let id = format!("c{number}");
        let info = ConversationInfo { id: id.clone(), team: "t".into(), created_ms: 1, team_file: None, owner: None };
        let result = runtime.block_on(async {
            journal.store.create(&info).await.unwrap();
            let lease = journal.store.acquire(&id, "fuzz", Duration::from_secs(60)).await.unwrap();
            let entries = [(1, JournalEntry::Input(Input::user("hi"))), (2, JournalEntry::Input(Input::user("again")))];
            journal.store.append(&lease, 0, &entries).await.unwrap();
            let update = format!("UPDATE journal SET body = {body} WHERE conversation = ?1 AND seq = 1");
            assert_eq!(raw.execute(&update, [&id]).unwrap(), 1);
            journal.store.journal(&id).await
        });
        match result {
            Err(StoreError::Corrupt { conversation, seq, .. }) => assert_eq!((conversation, seq), (id, 1), "{what}"),
            other => panic!("a body that is {what} read as {other:?}, not as entry 1 of {id} being unreadable"),
        }
    }
}
