//! The embedded default store: one SQLite file in WAL mode.
//!
//! `synchronous = NORMAL` in WAL mode keeps every committed append across a crash of the
//! process (a power cut may lose the last commits); `(conversation, seq)` is the primary key,
//! so two writers can never both append the same position.

use crate::{ConversationInfo, Store, StoreError, StoredEntry};
use baton_core::JournalEntry;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    conversation TEXT NOT NULL REFERENCES conversations(id),
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (conversation, seq)
) WITHOUT ROWID;
";

/// A journal in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent folder.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db_error = |message: String| StoreError::Database { path: path.display().to_string(), message };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| db_error(format!("cannot create {}: {e}", parent.display())))?;
        }
        let connection = Connection::open(path).map_err(|e| db_error(e.to_string()))?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .and_then(|()| connection.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|()| connection.execute_batch(SCHEMA))
            .map_err(|e| db_error(e.to_string()))?;
        Ok(SqliteStore { path: path.to_path_buf(), connection: Mutex::new(connection) })
    }

    fn db_error(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Database { path: self.path.display().to_string(), message: error.to_string() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for SqliteStore {
    fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        let connection = self.lock();
        let inserted = connection
            .execute(
                "INSERT INTO conversations (id, team, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![info.id, info.team, info.created_ms as i64],
            )
            .map_err(|e| self.db_error(e))?;
        if inserted == 0 {
            return Err(StoreError::DuplicateConversation(info.id.clone()));
        }
        Ok(())
    }

    fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        self.lock()
            .query_row("SELECT id, team, created_ms FROM conversations WHERE id = ?1", params![id], |row| {
                Ok(ConversationInfo { id: row.get(0)?, team: row.get(1)?, created_ms: row.get::<_, i64>(2)? as u64 })
            })
            .optional()
            .map_err(|e| self.db_error(e))
    }

    fn append(&self, conversation: &str, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(|e| self.db_error(e))?;
        let exists: Option<String> = transaction
            .query_row("SELECT id FROM conversations WHERE id = ?1", params![conversation], |row| row.get(0))
            .optional()
            .map_err(|e| self.db_error(e))?;
        if exists.is_none() {
            return Err(StoreError::UnknownConversation(conversation.into()));
        }
        for (offset, (at_ms, entry)) in entries.iter().enumerate() {
            let seq = first_seq + offset as u64;
            let body = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt {
                conversation: conversation.into(),
                seq,
                message: e.to_string(),
            })?;
            let inserted = transaction
                .execute(
                    "INSERT INTO journal (conversation, seq, at_ms, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                    params![conversation, seq as i64, *at_ms as i64, entry.kind(), body],
                )
                .map_err(|e| self.db_error(e))?;
            if inserted == 0 {
                return Err(StoreError::Conflict { conversation: conversation.into(), seq });
            }
        }
        transaction.commit().map_err(|e| self.db_error(e))
    }

    fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        if self.conversation(conversation)?.is_none() {
            return Err(StoreError::UnknownConversation(conversation.into()));
        }
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT seq, at_ms, body FROM journal WHERE conversation = ?1 ORDER BY seq")
            .map_err(|e| self.db_error(e))?;
        let rows = statement
            .query_map(params![conversation], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64, row.get::<_, String>(2)?))
            })
            .map_err(|e| self.db_error(e))?;
        let mut journal = Vec::new();
        for row in rows {
            let (seq, at_ms, body) = row.map_err(|e| self.db_error(e))?;
            let entry = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                conversation: conversation.into(),
                seq,
                message: e.to_string(),
            })?;
            journal.push(StoredEntry { seq, at_ms, entry });
        }
        Ok(journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use baton_core::{Input, JournalEntry};

    fn user(text: &str) -> JournalEntry {
        JournalEntry::Input(Input::user(text))
    }

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("baton-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("nested").join("baton.db")
    }

    /// The contract every store keeps, checked on both.
    fn check_contract(store: &dyn Store) {
        let info = ConversationInfo { id: "c1".into(), team: "support".into(), created_ms: 7 };
        store.create(&info).unwrap();
        assert!(matches!(store.create(&info), Err(StoreError::DuplicateConversation(_))));
        assert_eq!(store.conversation("c1").unwrap(), Some(info));
        assert_eq!(store.conversation("nope").unwrap(), None);
        store.append("c1", 0, &[(10, user("a")), (11, user("b"))]).unwrap();
        let conflict = store.append("c1", 1, &[(12, user("x"))]);
        assert!(matches!(conflict, Err(StoreError::Conflict { seq: 1, .. })), "{conflict:?}");
        store.append("c1", 2, &[(13, user("c"))]).unwrap();
        let journal = store.journal("c1").unwrap();
        let texts: Vec<_> = journal.iter().map(|e| (e.seq, e.at_ms, e.entry.clone())).collect();
        assert_eq!(texts, vec![(0, 10, user("a")), (1, 11, user("b")), (2, 13, user("c"))]);
        assert!(matches!(store.journal("nope"), Err(StoreError::UnknownConversation(_))));
        assert!(matches!(store.append("nope", 0, &[(1, user("a"))]), Err(StoreError::UnknownConversation(_))));
    }

    #[test]
    fn memory_store_keeps_the_contract() {
        check_contract(&MemoryStore::new());
    }

    #[test]
    fn sqlite_store_keeps_the_contract_and_survives_reopening() {
        let path = temp_db("contract");
        check_contract(&SqliteStore::open(&path).unwrap());
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.journal("c1").unwrap().len(), 3);
        let mode: String = reopened.lock().query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_failed_append_writes_nothing() {
        let store = SqliteStore::open(&temp_db("atomic")).unwrap();
        store.create(&ConversationInfo { id: "c".into(), team: "t".into(), created_ms: 0 }).unwrap();
        store.append("c", 0, &[(0, user("a"))]).unwrap();
        assert!(store.append("c", 0, &[(0, user("b")), (0, user("c"))]).is_err());
        assert_eq!(store.journal("c").unwrap().len(), 1);
    }
}
