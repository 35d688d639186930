//! A lease this process left behind (its release failed) does not lock the process out of its
//! own conversation until the lease runs out; a lease another task of the process works under is
//! never broken.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use async_trait::async_trait;
use baton::config::load_team;
use baton::core::{JournalEntry, TurnStatus};
use baton::store::{ConversationInfo, Lease, MemoryStore, Snapshot, Store, StoreError, StoredEntry};
use baton::RuntimeError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A memory store whose releases fail while `failing` is set, and whose appends wait for
/// `gate` while `gated` is set.
#[derive(Default)]
struct Unreliable {
    inner: MemoryStore,
    failing: AtomicBool,
    gated: AtomicBool,
    gate: Notify,
    waiting: Notify,
}

#[async_trait]
impl Store for Unreliable {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        self.inner.create(info).await
    }
    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        self.inner.conversation(id).await
    }
    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        self.inner.acquire(conversation, holder, ttl).await
    }
    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.renew(lease).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Database { path: "unreliable".into(), message: "busy".into() });
        }
        self.inner.release(lease).await
    }
    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.break_lease(conversation, holder).await
    }
    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        if self.gated.load(Ordering::SeqCst) {
            self.waiting.notify_one();
            self.gate.notified().await;
        }
        self.inner.append(lease, first_seq, entries).await
    }
    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(lease, snapshot).await
    }
    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.latest_snapshot(conversation).await
    }
    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.inner.journal(conversation).await
    }
    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        self.inner.journal_from(conversation, from).await
    }
    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        self.inner.journal_ends(conversations).await
    }
    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        self.inner.interrupted().await
    }
    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        self.inner.latest_of_kinds(kinds).await
    }
    fn commits(&self) -> u64 {
        self.inner.commits()
    }
}

async fn runtime(store: Arc<Unreliable>) -> baton::Runtime {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    baton::assemble::runtime(&load_team(&path).unwrap().config, store).await.unwrap()
}

#[tokio::test]
async fn a_lease_whose_release_failed_does_not_lock_this_process_out() {
    let store = Arc::new(Unreliable::default());
    let runtime = runtime(store.clone()).await;
    store.failing.store(true, Ordering::SeqCst);
    let first = runtime.send(Some("left"), "when are you open").await.unwrap();
    assert_eq!(first.outcome.status, TurnStatus::Answered);
    store.failing.store(false, Ordering::SeqCst);
    // The lease runs 30 s more; the next turn does not wait for it.
    let second = runtime.send(Some("left"), "when are you open").await.unwrap();
    assert_eq!((second.outcome.status, second.outcome.turn), (TurnStatus::Answered, 2));
}

#[tokio::test]
async fn a_lease_another_task_works_under_is_not_broken() {
    let store = Arc::new(Unreliable::default());
    let runtime = Arc::new(runtime(store.clone()).await);
    runtime.send(Some("busy"), "when are you open").await.unwrap();
    store.gated.store(true, Ordering::SeqCst);
    let working = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.send(Some("busy"), "how much is fibre 500 a month").await }
    });
    store.waiting.notified().await;
    let refused = runtime.send(Some("busy"), "where is your nearest shop").await;
    assert!(matches!(refused, Err(RuntimeError::Store(StoreError::Leased { .. }))), "{refused:?}");
    store.gated.store(false, Ordering::SeqCst);
    store.gate.notify_waiters();
    let worked = working.await.unwrap().unwrap();
    assert_eq!((worked.outcome.status, worked.outcome.turn), (TurnStatus::Answered, 2));
}
