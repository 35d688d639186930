//! Journal stores: where a conversation's journal lives between turns and across crashes.
//!
//! A store appends journal entries under `(conversation, seq)` and reads them back in order;
//! it never interprets them (that is the core's replay). Only this crate writes SQL.

use baton_core::JournalEntry;
use serde::{Deserialize, Serialize};

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::{Durability, SqliteStore};

/// A conversation's identity in a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    /// The conversation id.
    pub id: String,
    /// The name of the team it belongs to.
    pub team: String,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The team file it was created with (an absolute path), so `baton resume` can rebuild its
    /// team without being told; `None` for a team built in Rust.
    #[serde(default)]
    pub team_file: Option<String>,
}

/// One stored journal entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Position in the conversation's journal, from 0, without gaps.
    pub seq: u64,
    /// When it was appended, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The entry.
    pub entry: JournalEntry,
}

/// A store failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The conversation does not exist.
    #[error("conversation '{0}' does not exist in this journal (check the id and the --db path)")]
    UnknownConversation(String),
    /// A conversation with that id exists already.
    #[error("conversation '{0}' exists already")]
    DuplicateConversation(String),
    /// Someone else appended at the same position: the conversation moved on elsewhere.
    #[error("conversation '{conversation}' already has an entry {seq}: another process is advancing it")]
    Conflict {
        /// The conversation.
        conversation: String,
        /// The position taken.
        seq: u64,
    },
    /// The database failed.
    #[error("journal database {path}: {message}")]
    Database {
        /// The database file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An entry could not be encoded or decoded.
    #[error("journal entry {seq} of conversation '{conversation}' is unreadable: {message}")]
    Corrupt {
        /// The conversation.
        conversation: String,
        /// The entry's position.
        seq: u64,
        /// What is wrong.
        message: String,
    },
}

/// A durable (or, for tests, in-memory) journal of conversations.
pub trait Store: Send + Sync {
    /// Registers a new conversation.
    fn create(&self, info: &ConversationInfo) -> Result<(), StoreError>;

    /// The conversation's identity, if it exists.
    fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError>;

    /// Appends `entries` at positions `first_seq..`, atomically; fails with
    /// [`StoreError::Conflict`] if any of those positions is taken.
    fn append(&self, conversation: &str, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError>;

    /// The conversation's whole journal, in order.
    fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError>;

    /// The conversations whose journal does not end with a `turn_ended` record: a turn was
    /// interrupted (by a crash, a kill, a lost connection) and is to be finished, oldest first.
    fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError>;
}
