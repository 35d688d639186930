//! The embedded default store: one SQLite file in WAL mode.
//!
//! `synchronous = FULL` (the default) makes every committed append survive a power cut;
//! `NORMAL` keeps every commit across a crash of the process but may lose the last ones to a
//! power cut, for speed. `(conversation, seq)` is the primary key, so two writers can never both
//! append the same position. The schema is versioned (`PRAGMA user_version`) and migrated on open.

use crate::{ConversationInfo, Store, StoreError, StoredEntry};
use baton_core::JournalEntry;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The migrations, in order: migration `n` takes a database from version `n` to `n + 1`.
/// Version 0 is an empty file, or one written before versions were kept (it has the tables of
/// migration 0, hence `IF NOT EXISTS`).
const MIGRATIONS: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS conversations (
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
    ) WITHOUT ROWID;",
    "ALTER TABLE conversations ADD COLUMN team_file TEXT;",
];

/// How hard each commit holds on to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every commit survives a power cut (`PRAGMA synchronous = FULL`).
    #[default]
    Full,
    /// Every commit survives a crash of the process; a power cut may lose the last ones.
    Normal,
}

/// A journal in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent folder, with
    /// `synchronous = FULL`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens the database at `path` with the given durability.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let db_error = |message: String| StoreError::Database { path: path.display().to_string(), message };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| db_error(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut connection = Connection::open(path).map_err(|e| db_error(e.to_string()))?;
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .and_then(|()| {
                connection.execute_batch(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
                ))
            })
            .map_err(|e| db_error(e.to_string()))?;
        migrate(&mut connection).map_err(|e| db_error(format!("cannot bring the schema up to date: {e}")))?;
        Ok(SqliteStore { path: path.to_path_buf(), connection: Mutex::new(connection) })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.lock().query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|e| self.db_error(e))
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
                "INSERT INTO conversations (id, team, created_ms, team_file) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                params![info.id, info.team, info.created_ms as i64, info.team_file],
            )
            .map_err(|e| self.db_error(e))?;
        if inserted == 0 {
            return Err(StoreError::DuplicateConversation(info.id.clone()));
        }
        Ok(())
    }

    fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        self.lock()
            .query_row("SELECT id, team, created_ms, team_file FROM conversations WHERE id = ?1", params![id], info)
            .optional()
            .map_err(|e| self.db_error(e))
    }

    fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT c.id, c.team, c.created_ms, c.team_file FROM conversations c
                 JOIN journal j ON j.conversation = c.id
                 WHERE j.seq = (SELECT MAX(seq) FROM journal WHERE conversation = c.id) AND j.kind != 'turn_ended'
                 ORDER BY c.created_ms, c.id",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = statement.query_map([], info).map_err(|e| self.db_error(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db_error(e))
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

/// A conversation's row: `id, team, created_ms, team_file`.
fn info(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationInfo> {
    Ok(ConversationInfo {
        id: row.get(0)?,
        team: row.get(1)?,
        created_ms: row.get::<_, i64>(2)? as u64,
        team_file: row.get(3)?,
    })
}

/// Brings the schema to the latest version, one migration per transaction.
fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let version: u32 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.execute_batch(&format!("PRAGMA user_version = {}", from + 1))?;
        transaction.commit()?;
    }
    Ok(())
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
        let info = ConversationInfo {
            id: "c1".into(),
            team: "support".into(),
            created_ms: 7,
            team_file: Some("/teams/support.toml".into()),
        };
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

        // c1 ends with a user message: interrupted. c2 ends its turn; c3 has no entry yet.
        let ended = JournalEntry::Record(baton_core::Record::TurnEnded(baton_core::TurnOutcome {
            turn: 1,
            status: baton_core::TurnStatus::Answered,
            agent: "a".into(),
            reply: None,
            handoffs: Vec::new(),
            limit: None,
            model_calls: 0,
            tool_calls: 0,
            error: None,
            routed: None,
        }));
        for id in ["c2", "c3"] {
            store
                .create(&ConversationInfo { id: id.into(), team: "t".into(), created_ms: 8, team_file: None })
                .unwrap();
        }
        store.append("c2", 0, &[(1, user("hi")), (2, ended)]).unwrap();
        let interrupted: Vec<String> = store.interrupted().unwrap().into_iter().map(|info| info.id).collect();
        assert_eq!(interrupted, ["c1"]);
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
    fn a_database_of_the_first_version_is_migrated_and_keeps_its_journal() {
        let path = temp_db("migrate");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(MIGRATIONS[0]).unwrap();
            old.execute("INSERT INTO conversations VALUES ('old', 'support', 1)", []).unwrap();
            let body = serde_json::to_string(&user("hello")).unwrap();
            old.execute("INSERT INTO journal VALUES ('old', 0, 2, 'user_message', ?1)", params![body]).unwrap();
        }
        let store = SqliteStore::open_with(&path, Durability::Normal).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let old = store.conversation("old").unwrap().unwrap();
        assert_eq!((old.team.as_str(), old.team_file), ("support", None));
        assert_eq!(store.journal("old").unwrap()[0].entry, user("hello"));
        let synchronous: i64 = store.lock().query_row("PRAGMA synchronous", [], |row| row.get(0)).unwrap();
        assert_eq!(synchronous, 1, "NORMAL");
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.schema_version().unwrap(), MIGRATIONS.len() as u32, "opening again migrates nothing");
        let synchronous: i64 = reopened.lock().query_row("PRAGMA synchronous", [], |row| row.get(0)).unwrap();
        assert_eq!(synchronous, 2, "FULL by default");
    }

    #[test]
    fn a_failed_append_writes_nothing() {
        let store = SqliteStore::open(&temp_db("atomic")).unwrap();
        store.create(&ConversationInfo { id: "c".into(), team: "t".into(), created_ms: 0, team_file: None }).unwrap();
        store.append("c", 0, &[(0, user("a"))]).unwrap();
        assert!(store.append("c", 0, &[(0, user("b")), (0, user("c"))]).is_err());
        assert_eq!(store.journal("c").unwrap().len(), 1);
    }
}
