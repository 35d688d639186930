//! An in-memory store for tests: the same contract as SQLite and Postgres, gone with the process.

use crate::lease::now_ms;
use crate::{ConversationInfo, Lease, Snapshot, Store, StoreError, StoredEntry};
use async_trait::async_trait;
use baton_core::JournalEntry;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Conversations, their journals and leases in a map.
#[derive(Default)]
pub struct MemoryStore {
    conversations: Mutex<BTreeMap<String, Stored>>,
    commits: AtomicU64,
}

/// One conversation.
struct Stored {
    info: ConversationInfo,
    journal: Vec<StoredEntry>,
    /// `(holder, epoch, expires_ms)`; `None` before the first acquisition.
    lease: Option<(String, u64, u64)>,
    snapshot: Option<Snapshot>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stored>> {
        self.conversations.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `change` on the conversation if `lease` is still its current one.
    fn under_lease<R>(
        &self,
        lease: &Lease,
        change: impl FnOnce(&mut Stored) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut conversations = self.lock();
        let stored = conversations
            .get_mut(&lease.conversation)
            .ok_or_else(|| StoreError::UnknownConversation(lease.conversation.clone()))?;
        match &mut stored.lease {
            Some((_, epoch, expires_ms)) if *epoch == lease.epoch => {
                *expires_ms = now_ms() + lease.ttl.as_millis() as u64;
            }
            _ => return Err(StoreError::Fenced { conversation: lease.conversation.clone(), epoch: lease.epoch }),
        }
        let result = change(stored)?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(result)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        let mut conversations = self.lock();
        if conversations.contains_key(&info.id) {
            return Err(StoreError::DuplicateConversation(info.id.clone()));
        }
        conversations
            .insert(info.id.clone(), Stored { info: info.clone(), journal: Vec::new(), lease: None, snapshot: None });
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        Ok(self.lock().get(id).map(|stored| stored.info.clone()))
    }

    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let mut conversations = self.lock();
        let stored =
            conversations.get_mut(conversation).ok_or_else(|| StoreError::UnknownConversation(conversation.into()))?;
        let now = now_ms();
        let epoch = match &stored.lease {
            Some((other, _, expires_ms)) if *expires_ms > now => {
                return Err(StoreError::Leased {
                    conversation: conversation.into(),
                    holder: other.clone(),
                    expires_in_ms: expires_ms - now,
                })
            }
            Some((_, epoch, _)) => epoch + 1,
            None => 1,
        };
        stored.lease = Some((holder.to_string(), epoch, now + ttl.as_millis() as u64));
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(Lease { conversation: conversation.into(), holder: holder.into(), epoch, ttl })
    }

    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        self.under_lease(lease, |_| Ok(()))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        match self.under_lease(lease, |stored| {
            if let Some((_, _, expires_ms)) = &mut stored.lease {
                *expires_ms = 0;
            }
            Ok(())
        }) {
            Err(StoreError::Fenced { .. }) => Ok(()),
            other => other,
        }
    }

    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        if let Some(Stored { lease: Some((current, _, expires_ms)), .. }) = self.lock().get_mut(conversation) {
            if current == holder {
                *expires_ms = 0;
            }
        }
        Ok(())
    }

    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        self.under_lease(lease, |stored| {
            if stored.journal.len() as u64 != first_seq {
                return Err(StoreError::Conflict { conversation: lease.conversation.clone(), seq: first_seq });
            }
            for (offset, (at_ms, entry)) in entries.iter().enumerate() {
                let seq = first_seq + offset as u64;
                let stored_entry = StoredEntry { seq, at_ms: *at_ms, epoch: lease.epoch, entry: entry.clone() };
                stored.journal.push(stored_entry);
            }
            Ok(())
        })
    }

    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.under_lease(lease, |stored| {
            if stored.snapshot.as_ref().is_none_or(|kept| kept.seq < snapshot.seq) {
                stored.snapshot = Some(snapshot.clone());
            }
            Ok(())
        })
    }

    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.lock().get(conversation).and_then(|stored| stored.snapshot.clone()))
    }

    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        let conversations = self.lock();
        let stored =
            conversations.get(conversation).ok_or_else(|| StoreError::UnknownConversation(conversation.into()))?;
        Ok(stored.journal.clone())
    }

    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        let conversations = self.lock();
        let stored =
            conversations.get(conversation).ok_or_else(|| StoreError::UnknownConversation(conversation.into()))?;
        Ok(stored.journal.iter().filter(|entry| entry.seq >= from).cloned().collect())
    }

    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let stored = self.lock();
        Ok(conversations.iter().filter_map(|id| Some((id.clone(), stored.get(id)?.journal.last()?.seq + 1))).collect())
    }

    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        let mut found: Vec<ConversationInfo> = self
            .lock()
            .values()
            .filter(|stored| {
                let last = |kinds: &[&str]| stored.journal.iter().rposition(|e| kinds.contains(&e.entry.kind()));
                last(&crate::TURN_OPENERS) > last(&[crate::TURN_ENDED])
            })
            .map(|stored| stored.info.clone())
            .collect();
        found.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(found)
    }

    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        let mut found: Vec<(ConversationInfo, String)> = self
            .lock()
            .values()
            .filter_map(|stored| {
                let last = stored.journal.iter().rev().find(|e| kinds.contains(&e.entry.kind()))?;
                Some((stored.info.clone(), last.entry.kind().to_string()))
            })
            .collect();
        found.sort_by(|(a, _), (b, _)| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(found)
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}
