//! The contract every store keeps, checked on each: in memory, SQLite and Postgres. The Postgres
//! tests are in the external tier (the `external-tests` feature, which `cargo xtask test` turns on):
//! they use `BATON_TEST_POSTGRES`, by default `postgres://postgres@127.0.0.1:5432/test`, fail,
//! never skip, when it cannot be reached, and each works in a schema of its own.
#![allow(clippy::unwrap_used)]

use baton_core::{Input, JournalEntry, Record, TurnOutcome, TurnStatus};
use baton_store::{ConversationInfo, Lease, MemoryStore, Snapshot, SqliteStore, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn user(text: &str) -> JournalEntry {
    JournalEntry::Input(Input::user(text))
}

fn ended() -> JournalEntry {
    JournalEntry::Record(Record::TurnEnded(TurnOutcome {
        turn: 1,
        status: TurnStatus::Answered,
        agent: "a".into(),
        reply: None,
        handoffs: Vec::new(),
        limit: None,
        model_calls: 0,
        tool_calls: 0,
        error: None,
        routed: None,
        malformed_calls: Some(0),
        usage: Some(Vec::new()),
        pending: None,
    }))
}

fn claimed() -> JournalEntry {
    JournalEntry::Input(Input::TicketClaimed { operator: "anna".into() })
}

fn conversation(id: &str) -> ConversationInfo {
    ConversationInfo { id: id.into(), team: "t".into(), created_ms: 8, team_file: None, owner: None }
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-contract-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("nested").join("baton.db")
}

/// A URL to a fresh, empty schema of the test database.
#[cfg(feature = "external-tests")]
async fn postgres_url() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base =
        std::env::var("BATON_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        panic!(
            "the Postgres tests need a database at {base} (BATON_TEST_POSTGRES): {e}; run them with \
             `cargo xtask test`, which checks the database first and says how to get one"
        )
    });
    tokio::spawn(connection);
    let schema = format!("contract_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

#[cfg(feature = "external-tests")]
async fn postgres() -> baton_store::PostgresStore {
    baton_store::PostgresStore::connect(&postgres_url().await).await.unwrap()
}

/// Identity, appends, conflicts, reading back, interrupted turns.
async fn keeps_the_journal(store: &dyn Store) {
    let info = ConversationInfo {
        id: "c1".into(),
        team: "support".into(),
        created_ms: 7,
        team_file: Some("/teams/support.toml".into()),
        owner: Some("anna".into()),
    };
    store.create(&info).await.unwrap();
    assert!(matches!(store.create(&info).await, Err(StoreError::DuplicateConversation(_))));
    assert_eq!(store.conversation("c1").await.unwrap(), Some(info));
    assert_eq!(store.conversation("nope").await.unwrap(), None);
    let lease = store.acquire("c1", "me", LONG).await.unwrap();
    store.append(&lease, 0, &[(10, user("a")), (11, user("b"))]).await.unwrap();
    let conflict = store.append(&lease, 1, &[(12, user("x"))]).await;
    assert!(matches!(conflict, Err(StoreError::Conflict { seq: 1, .. })), "{conflict:?}");
    let partly_taken = store.append(&lease, 1, &[(12, user("x")), (13, user("y"))]).await;
    assert!(matches!(partly_taken, Err(StoreError::Conflict { .. })), "{partly_taken:?}");
    store.append(&lease, 2, &[(13, user("c"))]).await.unwrap();
    let journal = store.journal("c1").await.unwrap();
    let read: Vec<_> = journal.iter().map(|e| (e.seq, e.at_ms, e.epoch, e.entry.clone())).collect();
    assert_eq!(read, vec![(0, 10, 1, user("a")), (1, 11, 1, user("b")), (2, 13, 1, user("c"))]);
    assert!(matches!(store.journal("nope").await, Err(StoreError::UnknownConversation(_))));
    assert!(matches!(store.acquire("nope", "me", LONG).await, Err(StoreError::UnknownConversation(_))));

    // c1 ends with a user message: interrupted. c2 ends its turn; c3 has no entry yet.
    for id in ["c2", "c3"] {
        store.create(&conversation(id)).await.unwrap();
    }
    let lease = store.acquire("c2", "me", LONG).await.unwrap();
    store.append(&lease, 0, &[(1, user("hi")), (2, ended())]).await.unwrap();
    let interrupted: Vec<String> = store.interrupted().await.unwrap().into_iter().map(|info| info.id).collect();
    assert_eq!(interrupted, ["c1"]);

    // The latest entry of some kinds, per conversation that has one: c2's turn end came after
    // its claim; c3 has only a claim; c1 has neither.
    let c3 = store.acquire("c3", "me", LONG).await.unwrap();
    store.append(&c3, 0, &[(3, claimed())]).await.unwrap();
    store.append(&lease, 2, &[(4, claimed()), (5, user("again")), (6, ended())]).await.unwrap();
    let latest = |found: Vec<(ConversationInfo, String)>| -> Vec<(String, String)> {
        found.into_iter().map(|(info, kind)| (info.id, kind)).collect()
    };
    let both = store.latest_of_kinds(&["ticket_claimed", "turn_ended"]).await.unwrap();
    assert_eq!(latest(both), [("c2".into(), "turn_ended".into()), ("c3".into(), "ticket_claimed".into())]);
    let claims = store.latest_of_kinds(&["ticket_claimed"]).await.unwrap();
    assert_eq!(latest(claims), [("c2".into(), "ticket_claimed".into()), ("c3".into(), "ticket_claimed".into())]);
    assert!(store.latest_of_kinds(&[]).await.unwrap().is_empty());
    // An operator's action between turns is no turn in progress.
    let interrupted: Vec<String> = store.interrupted().await.unwrap().into_iter().map(|info| info.id).collect();
    assert_eq!(interrupted, ["c1"]);

    // What a stream has not sent yet, and where each journal ends (c3 has one entry, c4 none).
    let from: Vec<u64> = store.journal_from("c1", 1).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(from, [1, 2]);
    assert!(store.journal_from("c1", 3).await.unwrap().is_empty());
    assert!(matches!(store.journal_from("nope", 0).await, Err(StoreError::UnknownConversation(_))));
    store.create(&conversation("c4")).await.unwrap();
    let watched: Vec<String> = ["c1", "c2", "c3", "c4", "nope"].map(String::from).to_vec();
    let mut ends: Vec<(String, u64)> = store.journal_ends(&watched).await.unwrap().into_iter().collect();
    ends.sort();
    assert_eq!(ends, [("c1".into(), 3), ("c2".into(), 5), ("c3".into(), 1)]);
}

/// One holder at a time; an expired lease is taken over and its old holder fenced off.
async fn fences_off_an_old_holder(store: &dyn Store) {
    store.create(&conversation("f")).await.unwrap();
    let short = Duration::from_millis(300);
    let old = store.acquire("f", "old", short).await.unwrap();
    store.append(&old, 0, &[(1, user("from old"))]).await.unwrap();
    match store.acquire("f", "new", LONG).await {
        Err(StoreError::Leased { holder, expires_in_ms, .. }) => {
            assert_eq!(holder, "old");
            assert!(expires_in_ms <= 300, "{expires_in_ms}");
        }
        other => panic!("the lease is held: {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = store.acquire("f", "new", LONG).await.unwrap();
    assert_eq!(new.epoch, old.epoch + 1);
    let fenced = store.append(&old, 1, &[(2, user("from old, too late"))]).await;
    assert!(matches!(fenced, Err(StoreError::Fenced { epoch, .. }) if epoch == old.epoch), "{fenced:?}");
    assert!(matches!(store.renew(&old).await, Err(StoreError::Fenced { .. })));
    store.release(&old).await.unwrap();
    assert!(matches!(store.acquire("f", "third", LONG).await, Err(StoreError::Leased { .. })), "old's release is void");
    store.append(&new, 1, &[(3, user("from new"))]).await.unwrap();
    store.renew(&new).await.unwrap();
    store.release(&new).await.unwrap();
    let third = store.acquire("f", "third", LONG).await.unwrap();
    assert_eq!(third.epoch, new.epoch + 1);
    let epochs: Vec<u64> = store.journal("f").await.unwrap().iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [old.epoch, new.epoch], "the late write left nothing");
    let gone = Lease { conversation: "gone".into(), holder: "x".into(), epoch: 1, ttl: LONG };
    assert!(matches!(store.append(&gone, 0, &[(1, user("a"))]).await, Err(StoreError::UnknownConversation(_))));
}

/// The latest snapshot is kept, an older one never replaces it, and a holder fenced off keeps none.
async fn keeps_the_latest_snapshot(store: &dyn Store) {
    store.create(&conversation("s")).await.unwrap();
    assert_eq!(store.latest_snapshot("s").await.unwrap(), None);
    assert_eq!(store.latest_snapshot("nobody").await.unwrap(), None);
    let short = Duration::from_millis(300);
    let old = store.acquire("s", "old", short).await.unwrap();
    let at = |seq: u64| Snapshot { seq, body: format!("{{\"state at\":{seq}}}") };
    store.save_snapshot(&old, &at(256)).await.unwrap();
    assert_eq!(store.latest_snapshot("s").await.unwrap(), Some(at(256)));
    store.save_snapshot(&old, &at(512)).await.unwrap();
    store.save_snapshot(&old, &at(300)).await.unwrap();
    assert_eq!(store.latest_snapshot("s").await.unwrap(), Some(at(512)), "an older snapshot does not replace it");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = store.acquire("s", "new", LONG).await.unwrap();
    let fenced = store.save_snapshot(&old, &at(900)).await;
    assert!(matches!(fenced, Err(StoreError::Fenced { .. })), "{fenced:?}");
    assert_eq!(store.latest_snapshot("s").await.unwrap(), Some(at(512)), "the fenced holder kept nothing");
    store.save_snapshot(&new, &at(768)).await.unwrap();
    assert_eq!(store.latest_snapshot("s").await.unwrap(), Some(at(768)));
}

#[tokio::test]
async fn memory_keeps_the_latest_snapshot() {
    keeps_the_latest_snapshot(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_keeps_the_latest_snapshot_across_reopening() {
    let path = temp_db("snapshot");
    keeps_the_latest_snapshot(&SqliteStore::open(&path).unwrap()).await;
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.latest_snapshot("s").await.unwrap().map(|snapshot| snapshot.seq), Some(768));
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn postgres_keeps_the_latest_snapshot() {
    keeps_the_latest_snapshot(&postgres().await).await;
}

/// 64 conversations appending at once all keep gap-free journals; returns (writes, commits).
async fn appends_concurrently(store: Arc<dyn Store>) -> (u64, u64) {
    const CONVERSATIONS: usize = 64;
    const APPENDS: u64 = 10;
    let before = store.commits();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CONVERSATIONS {
        let store = store.clone();
        tasks.spawn(async move {
            let id = format!("many-{n}");
            store.create(&conversation(&id)).await.unwrap();
            let lease = store.acquire(&id, "me", LONG).await.unwrap();
            for seq in 0..APPENDS {
                store.append(&lease, seq, &[(seq, user(&format!("{n}/{seq}")))]).await.unwrap();
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap();
    }
    for n in 0..CONVERSATIONS {
        let journal = store.journal(&format!("many-{n}")).await.unwrap();
        let seqs: Vec<u64> = journal.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (0..APPENDS).collect::<Vec<_>>());
        assert_eq!(journal[3].entry, user(&format!("{n}/3")));
    }
    let writes = CONVERSATIONS as u64 * (APPENDS + 2);
    (writes, store.commits() - before)
}

#[tokio::test]
async fn memory_keeps_the_journal() {
    keeps_the_journal(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_keeps_the_journal_across_reopening() {
    let path = temp_db("journal");
    keeps_the_journal(&SqliteStore::open(&path).unwrap()).await;
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.journal("c1").await.unwrap().len(), 3);
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn postgres_keeps_the_journal_across_reconnecting() {
    let url = postgres_url().await;
    keeps_the_journal(&baton_store::PostgresStore::connect(&url).await.unwrap()).await;
    let reconnected = baton_store::PostgresStore::connect(&url).await.unwrap();
    assert_eq!(reconnected.journal("c1").await.unwrap().len(), 3);
    assert_eq!(reconnected.schema_version().await.unwrap(), 4);
}

#[tokio::test]
async fn memory_fences_off_an_old_holder() {
    fences_off_an_old_holder(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_fences_off_an_old_holder() {
    fences_off_an_old_holder(&SqliteStore::open(&temp_db("fence")).unwrap()).await;
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn postgres_fences_off_an_old_holder() {
    fences_off_an_old_holder(&postgres().await).await;
}

#[tokio::test]
async fn two_sqlite_handles_on_one_file_share_the_leases() {
    let path = temp_db("two-handles");
    let (one, two) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
    one.create(&conversation("shared")).await.unwrap();
    let lease = one.acquire("shared", "one", LONG).await.unwrap();
    assert!(matches!(two.acquire("shared", "two", LONG).await, Err(StoreError::Leased { .. })));
    one.append(&lease, 0, &[(1, user("hi"))]).await.unwrap();
    assert_eq!(two.journal("shared").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_concurrent_appends_together() {
    let (writes, commits) = appends_concurrently(Arc::new(SqliteStore::open(&temp_db("group")).unwrap())).await;
    assert!(commits < writes, "{commits} commits for {writes} writes: no group commit");
}

#[cfg(feature = "external-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_concurrent_journals_gap_free() {
    appends_concurrently(Arc::new(postgres().await)).await;
}

#[tokio::test]
async fn memory_keeps_concurrent_journals_gap_free() {
    appends_concurrently(Arc::new(MemoryStore::new())).await;
}

/// A holder's lease can be broken by name, and only that holder's.
async fn breaks_a_gone_holders_lease(store: &dyn Store) {
    store.create(&conversation("b")).await.unwrap();
    let crashed = store.acquire("b", "crashed", LONG).await.unwrap();
    store.break_lease("b", "someone else").await.unwrap();
    assert!(matches!(store.acquire("b", "me", LONG).await, Err(StoreError::Leased { .. })));
    store.break_lease("b", "crashed").await.unwrap();
    let mine = store.acquire("b", "me", LONG).await.unwrap();
    assert!(mine.epoch > crashed.epoch);
    assert!(matches!(store.append(&crashed, 0, &[(1, user("late"))]).await, Err(StoreError::Fenced { .. })));
}

#[tokio::test]
async fn memory_breaks_a_gone_holders_lease() {
    breaks_a_gone_holders_lease(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_breaks_a_gone_holders_lease() {
    breaks_a_gone_holders_lease(&SqliteStore::open(&temp_db("break")).unwrap()).await;
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn postgres_breaks_a_gone_holders_lease() {
    breaks_a_gone_holders_lease(&postgres().await).await;
}

#[test]
fn only_a_process_of_this_machine_that_has_ended_is_gone() {
    let me = baton_store::holder_id();
    let host = me.rsplitn(3, ':').nth(2).unwrap();
    assert!(!baton_store::holder_is_gone(me), "this process is alive");
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    assert!(baton_store::holder_is_gone(&format!("{host}:{pid}:1")), "an ended process is gone");
    assert!(!baton_store::holder_is_gone(&format!("another-host:{pid}:1")), "another machine's is not known");
    assert!(!baton_store::holder_is_gone(&format!("{host}:1:1")), "pid 1 is alive");
    assert!(!baton_store::holder_is_gone("crashed"), "a name that is not a holder id");
}
