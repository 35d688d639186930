//! Journal stores: where a conversation's journal lives between turns and across crashes.
//!
//! A store appends journal entries under `(conversation, seq)` and reads them back in order;
//! of an entry it reads nothing but its kind, whose names come from the core (interpreting
//! entries is the core's replay). One process at a time advances a
//! conversation: it holds the conversation's [`Lease`], and every append checks the lease's
//! epoch (its fencing token) in the same transaction, so a process that lost its lease (it was
//! paused, partitioned, presumed dead) can never write again. Only this crate writes SQL.
//!
//! The in-memory store is always there; [`SqliteStore`] and [`PostgresStore`] are the cargo
//! features `sqlite` and `postgres` (both on by default). Every [`StoreLocation`] parses in every
//! build, and [`open`]ing one whose store a build leaves out is [`StoreError::NotBuiltIn`].

use async_trait::async_trait;
use baton_core::JournalEntry;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

mod lease;
mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
mod postgres_url;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use lease::{holder_id, holder_is_gone, Lease};
pub use memory::MemoryStore;
pub use open::{open, open_read_only, InvalidLocation, StoreLocation, LOCATION_FORMS};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

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
    /// Who created it: the name of the API key that did, for a conversation created through
    /// `baton serve` with keys; `None` otherwise.
    #[serde(default)]
    pub owner: Option<String>,
}

/// One stored journal entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Position in the conversation's journal, from 0, without gaps.
    pub seq: u64,
    /// When it was appended, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The epoch of the lease it was appended under: it never decreases along a journal, and it
    /// grows where another process took the conversation over.
    #[serde(default)]
    pub epoch: u64,
    /// The entry.
    pub entry: JournalEntry,
}

/// A conversation's state between turns as of its first `seq` journal entries, written out by
/// the runtime: loading the conversation then folds only the entries from `seq` on. The store
/// keeps the latest per conversation and does not read `body`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// How many journal entries it folds: it is the state after entry `seq - 1`.
    pub seq: u64,
    /// The state, as the runtime wrote it.
    pub body: String,
}

/// How hard each commit to a SQLite journal holds on to the disk (the team file's `[store]
/// sync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every commit survives a power cut (`PRAGMA synchronous = FULL`).
    #[default]
    Full,
    /// Every commit survives a crash of the process; a power cut may lose the last ones.
    Normal,
}

/// A store failed; the message says what to do.
#[derive(Clone, Debug, thiserror::Error)]
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
    /// Another process holds the conversation's lease and is advancing it.
    #[error(
        "conversation '{conversation}' is being advanced by another process ({holder}); its lease runs for \
         {expires_in_ms} ms more: try again then"
    )]
    Leased {
        /// The conversation.
        conversation: String,
        /// Who holds the lease.
        holder: String,
        /// How long the lease runs unless renewed.
        expires_in_ms: u64,
    },
    /// The lease was lost: another process took the conversation over, so this one must stop
    /// advancing it (nothing it tried to write was written).
    #[error(
        "conversation '{conversation}' was taken over by another process (lease epoch {epoch} is no longer \
         current): this process stopped advancing it"
    )]
    Fenced {
        /// The conversation.
        conversation: String,
        /// The stale epoch.
        epoch: u64,
    },
    /// The database failed.
    #[error("journal database {path}: {message}")]
    Database {
        /// The database file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The file where the journal should be is no baton journal: it is empty, not a SQLite
    /// database, or another program's. It is left as it is.
    #[error(
        "{path} is not a baton journal: {why} (pass the --db of a baton journal, or move this file away \
         to start a new one there)"
    )]
    NotAJournal {
        /// The file.
        path: String,
        /// What it is instead.
        why: String,
    },
    /// The journal's schema is newer than this baton knows: it was written by a newer baton, and
    /// this one neither reads nor writes it.
    #[error("journal {path} was written by a newer baton (schema {found}, this one knows {known}): upgrade baton")]
    NewerSchema {
        /// The journal.
        path: String,
        /// Its schema version.
        found: u32,
        /// The newest schema version this baton knows.
        known: u32,
    },
    /// The journal is of a kind this build of baton leaves out: the cargo feature that adds it
    /// was off.
    #[error(
        "the journal {location}: this baton was built without {kind} support: build it with the `{feature}` feature"
    )]
    NotBuiltIn {
        /// The journal's location (a Postgres URL without its password).
        location: String,
        /// The kind of journal: `SQLite` or `Postgres`.
        kind: &'static str,
        /// The cargo feature that adds it, of `baton` and `baton-store` alike.
        feature: &'static str,
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

pub use baton_core::event::{TURN_ENDED, TURN_OPENERS};

/// One entry as a database row: `(seq, at_ms, kind, body)`, the body as JSON.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type Row = (i64, i64, &'static str, String);

/// The rows that store `entries` of `conversation` at positions `first_seq..`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn rows(
    conversation: &str,
    first_seq: u64,
    entries: &[(u64, JournalEntry)],
) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::with_capacity(entries.len());
    for (offset, (at_ms, entry)) in entries.iter().enumerate() {
        let seq = first_seq + offset as u64;
        let body = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt {
            conversation: conversation.into(),
            seq,
            message: e.to_string(),
        })?;
        rows.push((seq as i64, *at_ms as i64, entry.kind(), body));
    }
    Ok(rows)
}

/// A durable (or, for tests, in-memory) journal of conversations.
#[async_trait]
pub trait Store: Send + Sync {
    /// Registers a new conversation.
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError>;

    /// The conversation's identity, if it exists.
    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError>;

    /// Takes the conversation's lease for `holder`, for `ttl`, with an epoch greater than any
    /// before; fails with [`StoreError::Leased`] while another holder's lease runs.
    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError>;

    /// Extends the lease by its `ttl` from now; fails with [`StoreError::Fenced`] if it was taken over.
    async fn renew(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Gives the lease up, so another process may take the conversation at once (a lease that was
    /// taken over already is left alone).
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Ends the lease `holder` has on the conversation, if it still has it: for a holder known
    /// to be gone (see [`holder_is_gone`]), so the conversation need not wait for it to expire.
    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError>;

    /// Appends `entries` (each with its time, in ms since the Unix epoch) at positions
    /// `first_seq..` under `lease`, atomically, renewing the lease; fails with
    /// [`StoreError::Fenced`] if the lease was taken over and with [`StoreError::Conflict`] if
    /// any of those positions is taken. Either way nothing is written.
    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError>;

    /// Keeps `snapshot` of the lease's conversation in place of an older one (one of a later
    /// `seq` is kept as it is), under `lease`, renewing it; fails with [`StoreError::Fenced`] if
    /// the lease was taken over, and then keeps nothing.
    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// The conversation's latest snapshot, if it has one.
    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError>;

    /// The conversation's whole journal, in order.
    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError>;

    /// The conversation's journal from position `from` on, in order: what an event stream has
    /// not sent yet.
    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        let mut journal = self.journal(conversation).await?;
        journal.retain(|stored| stored.seq >= from);
        Ok(journal)
    }

    /// The position after the last entry of each of `conversations` that has one, in one read:
    /// how one poller watches many conversations for what other processes write.
    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let mut ends = HashMap::new();
        for conversation in conversations {
            let journal = match self.journal(conversation).await {
                Err(StoreError::UnknownConversation(_)) => continue,
                journal => journal?,
            };
            if let Some(last) = journal.last() {
                ends.insert(conversation.clone(), last.seq + 1);
            }
        }
        Ok(ends)
    }

    /// The conversations with a turn in progress: a user message, a started turn or a decision
    /// on a suspended turn ([`TURN_OPENERS`]) journaled after their last `turn_ended` record. The
    /// turn was interrupted (by a crash, a kill, a lost connection) or is running right now.
    /// Oldest first. An operator's action between turns is no turn in progress.
    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError>;

    /// For each conversation with an entry of one of `kinds`, the kind of its latest such entry,
    /// oldest conversation first: how the shell finds, say, the conversations whose ticket is
    /// open without reading every journal.
    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError>;

    /// How many transactions the store has committed since it was opened (each costs the disk
    /// one sync on a durable store): with [`append`](Store::append)'s count, how well commits
    /// are shared.
    fn commits(&self) -> u64;
}
