//! An in-memory store for tests: the same contract as SQLite, gone with the process.

use crate::{ConversationInfo, Store, StoreError, StoredEntry};
use baton_core::JournalEntry;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Conversations and journals in a map.
#[derive(Default)]
pub struct MemoryStore {
    conversations: Mutex<BTreeMap<String, (ConversationInfo, Vec<StoredEntry>)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (ConversationInfo, Vec<StoredEntry>)>> {
        self.conversations.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        let mut conversations = self.lock();
        if conversations.contains_key(&info.id) {
            return Err(StoreError::DuplicateConversation(info.id.clone()));
        }
        conversations.insert(info.id.clone(), (info.clone(), Vec::new()));
        Ok(())
    }

    fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        Ok(self.lock().get(id).map(|(info, _)| info.clone()))
    }

    fn append(&self, conversation: &str, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        let mut conversations = self.lock();
        let (_, journal) =
            conversations.get_mut(conversation).ok_or_else(|| StoreError::UnknownConversation(conversation.into()))?;
        if journal.len() as u64 != first_seq {
            return Err(StoreError::Conflict { conversation: conversation.into(), seq: first_seq });
        }
        for (offset, (at_ms, entry)) in entries.iter().enumerate() {
            journal.push(StoredEntry { seq: first_seq + offset as u64, at_ms: *at_ms, entry: entry.clone() });
        }
        Ok(())
    }

    fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        let conversations = self.lock();
        let (_, journal) =
            conversations.get(conversation).ok_or_else(|| StoreError::UnknownConversation(conversation.into()))?;
        Ok(journal.clone())
    }

    fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        let mut found: Vec<ConversationInfo> = self
            .lock()
            .values()
            .filter(|(_, journal)| journal.last().is_some_and(|last| last.entry.kind() != "turn_ended"))
            .map(|(info, _)| info.clone())
            .collect();
        found.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(found)
    }
}
