//! The store as one simulated process sees it: the real store (memory or SQLite) behind a
//! wrapper that names the process as lease holder, crashes it after a planned append, and
//! injects write failures, lost acknowledgements and failed reads. It tells the world what the
//! store accepted and what the writer was told, so nothing journaled can go missing unseen.

use crate::world::{CrashMode, Planted, Process, World};
use async_trait::async_trait;
use baton::core::JournalEntry;
use baton::store::{ConversationInfo, Lease, Snapshot, Store, StoreError, StoredEntry};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A process's view of the store.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    world: Arc<World>,
    process: Arc<Process>,
    planted: Option<Planted>,
}

impl FaultyStore {
    /// The store `inner` as `process` reaches it, with a bug planted in it, if any.
    pub fn new(
        inner: Arc<dyn Store>,
        world: Arc<World>,
        process: Arc<Process>,
        planted: Option<Planted>,
    ) -> FaultyStore {
        FaultyStore { inner, world, process, planted }
    }

    /// The append as the planted bug, if any, makes it.
    async fn planted_append(
        &self,
        lease: &Lease,
        first_seq: u64,
        entries: &[(u64, JournalEntry)],
    ) -> Result<(), StoreError> {
        match self.planted {
            Some(Planted::ForgetfulStore(n)) if self.world.appends() + 1 == n => Ok(()),
            Some(Planted::UnfencedStore) => match self.inner.append(lease, first_seq, entries).await {
                Err(StoreError::Fenced { .. }) => {
                    let stolen = self.inner.acquire(&lease.conversation, &lease.holder, lease.ttl).await?;
                    self.inner.append(&stolen, first_seq, entries).await
                }
                other => other,
            },
            _ => self.inner.append(lease, first_seq, entries).await,
        }
    }

    /// Fails if the process is dead (or dies now, at its next store operation).
    fn alive(&self) -> Result<(), StoreError> {
        if self.process.check_alive() {
            return Ok(());
        }
        Err(failure(format!("simulated crash: process {} is dead", self.process.number)))
    }

    /// Fails a read with the plan's probability.
    fn read_fault(&self, what: &str) -> Result<(), StoreError> {
        if self.process.roll(self.world.faults.store_read) {
            self.world.fault("store_read_error", format!("process {}: {what} failed", self.process.number));
            return Err(failure(format!("simulated failure: {what} failed")));
        }
        Ok(())
    }
}

fn failure(message: String) -> StoreError {
    StoreError::Database { path: "simulated".into(), message }
}

#[async_trait]
impl Store for FaultyStore {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        self.alive()?;
        let number = self.process.number;
        if self.process.roll(self.world.faults.store_write) {
            self.world.fault("store_write_error", format!("process {number}: the conversation was not created"));
            return Err(failure("simulated failure: the conversation was not created".into()));
        }
        self.inner.create(info).await?;
        if self.process.roll(self.world.faults.ack_lost) {
            self.world.fault("ack_lost", format!("process {number}: the conversation was created, not acknowledged"));
            return Err(failure("simulated failure: the connection dropped before the commit was confirmed".into()));
        }
        Ok(())
    }

    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        self.alive()?;
        self.inner.conversation(id).await
    }

    async fn acquire(&self, conversation: &str, _holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        self.alive()?;
        self.read_fault("taking the lease")?;
        self.inner.acquire(conversation, &self.process.holder, ttl).await
    }

    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.renew(lease).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.release(lease).await
    }

    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.break_lease(conversation, holder).await
    }

    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        self.alive()?;
        let number = self.process.number;
        if self.process.roll(self.world.faults.store_write) {
            self.world.fault("store_write_error", format!("process {number}: append at {first_seq} not written"));
            return Err(failure("simulated failure: the append was not written".into()));
        }
        self.planted_append(lease, first_seq, entries).await?;
        let appends = self.world.written(first_seq, entries);
        let kinds: Vec<&str> = entries.iter().map(|(_, entry)| entry.kind()).collect();
        self.world.note(format!("    append #{appends} at {first_seq} (process {number}): {}", kinds.join(", ")));
        match self.process.appended() {
            Some(CrashMode::AtOnce) => {
                self.world.fault("crash", format!("process {number} dies right after append #{appends}"));
                return Ok(());
            }
            Some(CrashMode::AtNextWrite) => {
                self.world.fault("crash", format!("process {number} dies at its next store operation"));
            }
            None => {}
        }
        if self.process.roll(self.world.faults.ack_lost) {
            self.world.fault("ack_lost", format!("process {number}: append at {first_seq} written, not acknowledged"));
            return Err(failure("simulated failure: the connection dropped before the commit was confirmed".into()));
        }
        self.world.acknowledged(first_seq, entries);
        Ok(())
    }

    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.alive()?;
        if self.process.roll(self.world.faults.store_write) {
            let number = self.process.number;
            self.world
                .fault("store_write_error", format!("process {number}: snapshot at {} not written", snapshot.seq));
            return Err(failure("simulated failure: the snapshot was not written".into()));
        }
        self.inner.save_snapshot(lease, snapshot).await
    }

    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError> {
        self.alive()?;
        self.read_fault("reading the snapshot")?;
        self.inner.latest_snapshot(conversation).await
    }

    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.alive()?;
        self.read_fault("reading the journal")?;
        self.inner.journal(conversation).await
    }

    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        self.alive()?;
        self.read_fault("reading the journal")?;
        self.inner.journal_from(conversation, from).await
    }

    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        self.alive()?;
        self.inner.journal_ends(conversations).await
    }

    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        self.alive()?;
        self.inner.interrupted().await
    }

    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        self.alive()?;
        self.inner.latest_of_kinds(kinds).await
    }

    fn commits(&self) -> u64 {
        self.inner.commits()
    }
}
