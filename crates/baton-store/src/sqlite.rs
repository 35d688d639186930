//! The embedded default store: one SQLite file in WAL mode, written by one thread that commits
//! concurrent appends together.
//!
//! `synchronous = FULL` (the default) makes every committed append survive a power cut;
//! `NORMAL` keeps every commit across a crash of the process but may lose the last ones to a
//! power cut, for speed. Group commit: every write is a job for the writer thread, which runs
//! all the jobs waiting for it in one transaction (each in its own savepoint, so one job's
//! failure undoes only that job) and answers them after one commit, so one disk sync serves many
//! conversations. `(conversation, seq)` is the primary key, so two writers can never both
//! append the same position. The schema is versioned (`PRAGMA user_version`) and migrated on open.

use crate::lease::now_ms;
use crate::{ConversationInfo, Lease, Store, StoreError, StoredEntry};
use async_trait::async_trait;
use baton_core::JournalEntry;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The migrations, in order: migration `n` takes a database from version `n` to `n + 1`.
/// Version 0 is an empty file, or one written before versions were kept (it has the tables of
/// migration 0, hence `IF NOT EXISTS`).
const MIGRATIONS: [&str; 5] = [
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
    "ALTER TABLE journal ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE leases (
        conversation TEXT PRIMARY KEY REFERENCES conversations(id),
        holder TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    ) WITHOUT ROWID;",
    "CREATE INDEX journal_kind ON journal (kind, conversation, seq);",
    "ALTER TABLE conversations ADD COLUMN owner TEXT;",
];

/// The most jobs one transaction takes, so a flood of appends still gets answers steadily.
const MAX_BATCH: usize = 512;
/// How many prepared statements each connection keeps (more than the store has).
const STATEMENT_CACHE: usize = 32;

/// How hard each commit holds on to the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every commit survives a power cut (`PRAGMA synchronous = FULL`).
    #[default]
    Full,
    /// Every commit survives a crash of the process; a power cut may lose the last ones.
    Normal,
}

/// A write for the writer thread: given the open transaction (or why none could be begun), it
/// does its work and returns what to do once the transaction's fate is known.
type Job = Box<dyn FnOnce(Result<&Connection, &StoreError>) -> Finish + Send>;
/// Answers a job with the commit's outcome.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A journal in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    reader: Mutex<Connection>,
    writer: mpsc::Sender<Job>,
    commits: Arc<AtomicU64>,
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
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        let connect = |pragmas: &str| -> Result<Connection, StoreError> {
            let connection = Connection::open(path).map_err(|e| db_error(e.to_string()))?;
            connection
                .busy_timeout(Duration::from_secs(5))
                .and_then(|()| connection.execute_batch(pragmas))
                .map_err(|e| db_error(e.to_string()))?;
            // Every statement of the hot path is prepared once and kept: parsing SQL each time
            // cost more CPU than running it.
            connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok(connection)
        };
        let mut writer = connect(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
        ))?;
        migrate(&mut writer).map_err(|e| db_error(format!("cannot bring the schema up to date: {e}")))?;
        let reader = connect("PRAGMA query_only = ON;")?;
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let name = path.display().to_string();
        std::thread::Builder::new()
            .name("baton-sqlite-writer".into())
            .spawn(move || write_loop(&writer, &queue, &counter, &name))
            .map_err(|e| db_error(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore { path: path.to_path_buf(), reader: Mutex::new(reader), writer: jobs, commits })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.read().query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|e| self.db_error(e))
    }

    /// The `PRAGMA synchronous` level the writer commits with (2 is FULL, 1 NORMAL).
    pub async fn synchronous(&self) -> Result<u8, StoreError> {
        self.write(|connection| connection.query_row("PRAGMA synchronous", [], |row| row.get(0)).map_err(Into::into))
            .await
    }

    fn db_error(&self, error: rusqlite::Error) -> StoreError {
        database_error(&self.path.display().to_string(), error)
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` on the writer thread, in the next group commit, and waits for the commit.
    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StoreError> {
        let path = self.path.display().to_string();
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |transaction| {
            let result = match transaction {
                Ok(connection) => in_savepoint(connection, work).map_err(|failure| failure.into_error(&path)),
                Err(error) => Err(error.clone()),
            };
            Box::new(move |committed| {
                let _ = answer.send(committed.and(result));
            })
        });
        let gone = || StoreError::Database {
            path: self.path.display().to_string(),
            message: "the writer thread stopped".into(),
        };
        self.writer.send(job).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

/// Why a job failed: a store error, or SQLite's (turned into one with the file's name).
enum Failure {
    Store(StoreError),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        Failure::Sqlite(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl Failure {
    fn into_error(self, path: &str) -> StoreError {
        match self {
            Failure::Store(error) => error,
            Failure::Sqlite(error) => database_error(path, error),
        }
    }
}

fn database_error(path: &str, error: rusqlite::Error) -> StoreError {
    StoreError::Database { path: path.to_string(), message: error.to_string() }
}

/// The writer thread: takes every job waiting, runs them in one transaction, commits once and
/// answers them all. Ends when the store is dropped.
fn write_loop(connection: &Connection, queue: &mpsc::Receiver<Job>, commits: &AtomicU64, path: &str) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut began = run(connection, "BEGIN IMMEDIATE").map_err(|e| database_error(path, e));
        let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
        for job in batch {
            finishes.push(job(began.as_ref().map(|()| connection)));
            // SQLite rolls the whole transaction back on some errors (disk full, I/O): the jobs
            // after it must not run outside it, and none of the batch is committed.
            if began.is_ok() && connection.is_autocommit() {
                began = Err(StoreError::Database {
                    path: path.to_string(),
                    message: "the transaction was rolled back by SQLite (disk full or I/O error?)".into(),
                });
            }
        }
        let committed = match began {
            Ok(()) => run(connection, "COMMIT").map_err(|e| database_error(path, e)),
            Err(error) => Err(error),
        };
        match committed {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                let _ = connection.execute_batch("ROLLBACK");
            }
        }
        for finish in finishes {
            finish(committed.clone());
        }
    }
}

/// Runs one statement that returns no rows, prepared once per connection.
fn run(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

/// Runs `work` in a savepoint, undone if it fails.
fn in_savepoint<R>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> Result<R, Failure>,
) -> Result<R, Failure> {
    run(connection, "SAVEPOINT job")?;
    match work(connection) {
        Ok(result) => {
            run(connection, "RELEASE job")?;
            Ok(result)
        }
        Err(failure) => {
            // If the undo fails, the transaction is ended so nothing of the job is committed.
            if connection.execute_batch("ROLLBACK TO job; RELEASE job").is_err() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            Err(failure)
        }
    }
}

/// Extends `lease` by its ttl if it is still the conversation's current one.
fn renew_lease(connection: &Connection, lease: &Lease) -> Result<(), Failure> {
    let expires_ms = now_ms() + lease.ttl.as_millis() as u64;
    let renewed = connection
        .prepare_cached("UPDATE leases SET expires_ms = ?1 WHERE conversation = ?2 AND epoch = ?3")?
        .execute(params![expires_ms as i64, lease.conversation, lease.epoch as i64])?;
    match renewed {
        0 => Err(fenced_or_unknown(connection, lease)?.into()),
        _ => Ok(()),
    }
}

/// The error for a lease that is not current: the conversation is gone, or it was taken over.
fn fenced_or_unknown(connection: &Connection, lease: &Lease) -> Result<StoreError, Failure> {
    let exists = connection
        .query_row("SELECT 1 FROM conversations WHERE id = ?1", params![lease.conversation], |_| Ok(()))
        .optional()?;
    Ok(match exists {
        None => StoreError::UnknownConversation(lease.conversation.clone()),
        Some(()) => StoreError::Fenced { conversation: lease.conversation.clone(), epoch: lease.epoch },
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        let info = info.clone();
        self.write(move |connection| {
            let inserted = connection
                .prepare_cached(
                    "INSERT INTO conversations (id, team, created_ms, team_file, owner) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![info.id, info.team, info.created_ms as i64, info.team_file, info.owner])?;
            match inserted {
                0 => Err(StoreError::DuplicateConversation(info.id.clone()).into()),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        self.read()
            .prepare_cached("SELECT id, team, created_ms, team_file, owner FROM conversations WHERE id = ?1")
            .and_then(|mut statement| statement.query_row(params![id], info).optional())
            .map_err(|e| self.db_error(e))
    }

    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let (conversation, holder) = (conversation.to_string(), holder.to_string());
        self.write(move |connection| {
            let exists = connection
                .prepare_cached("SELECT 1 FROM conversations WHERE id = ?1")?
                .query_row(params![conversation], |_| Ok(()))
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::UnknownConversation(conversation).into());
            }
            let current: Option<(String, i64, i64)> = connection
                .prepare_cached("SELECT holder, epoch, expires_ms FROM leases WHERE conversation = ?1")?
                .query_row(params![conversation], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()?;
            let now = now_ms() as i64;
            let epoch = match current {
                Some((other, _, expires_ms)) if expires_ms > now => {
                    return Err(StoreError::Leased {
                        conversation,
                        holder: other,
                        expires_in_ms: (expires_ms - now) as u64,
                    }
                    .into())
                }
                Some((_, epoch, _)) => epoch + 1,
                None => 1,
            };
            connection
                .prepare_cached(
                    "INSERT INTO leases (conversation, holder, epoch, expires_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (conversation) DO UPDATE SET
                        holder = excluded.holder, epoch = excluded.epoch, expires_ms = excluded.expires_ms",
                )?
                .execute(params![conversation, holder, epoch, now + ttl.as_millis() as i64])?;
            Ok(Lease { conversation, holder, epoch: epoch as u64, ttl })
        })
        .await
    }

    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.write(move |connection| renew_lease(connection, &lease)).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.write(move |connection| {
            connection
                .prepare_cached("UPDATE leases SET expires_ms = 0 WHERE conversation = ?1 AND epoch = ?2")?
                .execute(params![lease.conversation, lease.epoch as i64])?;
            Ok(())
        })
        .await
    }

    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        let (conversation, holder) = (conversation.to_string(), holder.to_string());
        self.write(move |connection| {
            connection.execute(
                "UPDATE leases SET expires_ms = 0 WHERE conversation = ?1 AND holder = ?2",
                params![conversation, holder],
            )?;
            Ok(())
        })
        .await
    }

    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        let rows = crate::rows(&lease.conversation, first_seq, entries)?;
        let lease = lease.clone();
        self.write(move |connection| {
            renew_lease(connection, &lease)?;
            let next: i64 = connection
                .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM journal WHERE conversation = ?1")?
                .query_row(params![lease.conversation], |row| row.get(0))?;
            if rows.first().is_some_and(|(seq, ..)| *seq != next) {
                return Err(StoreError::Conflict { conversation: lease.conversation.clone(), seq: first_seq }.into());
            }
            let mut insert = connection.prepare_cached(
                "INSERT INTO journal (conversation, seq, epoch, at_ms, kind, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING",
            )?;
            for (seq, at_ms, kind, body) in rows {
                let inserted =
                    insert.execute(params![lease.conversation, seq, lease.epoch as i64, at_ms, kind, body])?;
                if inserted == 0 {
                    return Err(
                        StoreError::Conflict { conversation: lease.conversation.clone(), seq: seq as u64 }.into()
                    );
                }
            }
            Ok(())
        })
        .await
    }

    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.journal_from(conversation, 0).await
    }

    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        if self.conversation(conversation).await?.is_none() {
            return Err(StoreError::UnknownConversation(conversation.into()));
        }
        let reader = self.read();
        let mut statement = reader
            .prepare_cached(
                "SELECT seq, at_ms, epoch, body FROM journal WHERE conversation = ?1 AND seq >= ?2 ORDER BY seq",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = statement
            .query_map(params![conversation, i64::try_from(from).unwrap_or(i64::MAX)], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?, row.get::<_, String>(3)?))
            })
            .map_err(|e| self.db_error(e))?;
        let mut journal = Vec::new();
        for row in rows {
            let (seq, at_ms, epoch, body) = row.map_err(|e| self.db_error(e))?;
            let entry = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                conversation: conversation.into(),
                seq: seq as u64,
                message: e.to_string(),
            })?;
            journal.push(StoredEntry { seq: seq as u64, at_ms: at_ms as u64, epoch: epoch as u64, entry });
        }
        Ok(journal)
    }

    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let reader = self.read();
        let mut ends = HashMap::new();
        for chunk in conversations.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let mut statement = reader
                .prepare(&format!(
                    "SELECT conversation, MAX(seq) FROM journal WHERE conversation IN ({placeholders}) GROUP BY conversation"
                ))
                .map_err(|e| self.db_error(e))?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(chunk), |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(|e| self.db_error(e))?;
            for row in rows {
                let (conversation, last) = row.map_err(|e| self.db_error(e))?;
                ends.insert(conversation, last as u64 + 1);
            }
        }
        Ok(ends)
    }

    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        let reader = self.read();
        let mut statement = reader
            .prepare(
                "SELECT c.id, c.team, c.created_ms, c.team_file, c.owner FROM conversations c
                 WHERE COALESCE((SELECT MAX(seq) FROM journal
                                 WHERE conversation = c.id AND kind IN (?1, ?2, ?3)), -1)
                     > COALESCE((SELECT MAX(seq) FROM journal WHERE conversation = c.id AND kind = 'turn_ended'), -1)
                 ORDER BY c.created_ms, c.id",
            )
            .map_err(|e| self.db_error(e))?;
        let rows = statement.query_map(crate::TURN_OPENERS, info).map_err(|e| self.db_error(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db_error(e))
    }

    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let reader = self.read();
        let placeholders = vec!["?"; kinds.len()].join(", ");
        let mut statement = reader
            .prepare(&format!(
                "SELECT c.id, c.team, c.created_ms, c.team_file, c.owner, j.kind FROM conversations c
                 JOIN (SELECT conversation, MAX(seq) AS seq FROM journal WHERE kind IN ({placeholders})
                       GROUP BY conversation) last ON last.conversation = c.id
                 JOIN journal j ON j.conversation = last.conversation AND j.seq = last.seq
                 ORDER BY c.created_ms, c.id"
            ))
            .map_err(|e| self.db_error(e))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(kinds), |row| Ok((info(row)?, row.get::<_, String>(5)?)))
            .map_err(|e| self.db_error(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.db_error(e))
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

/// A conversation's row: `id, team, created_ms, team_file, owner`.
fn info(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationInfo> {
    Ok(ConversationInfo {
        id: row.get(0)?,
        team: row.get(1)?,
        created_ms: row.get::<_, i64>(2)? as u64,
        team_file: row.get(3)?,
        owner: row.get(4)?,
    })
}

/// Brings the schema to the latest version, one migration per transaction.
fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let version: u32 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        transaction.execute_batch(migration)?;
        transaction.execute_batch(&format!("PRAGMA user_version = {}", from + 1))?;
        transaction.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::{Input, JournalEntry};

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("baton-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("nested").join("baton.db")
    }

    #[tokio::test]
    async fn a_database_of_the_first_version_is_migrated_and_keeps_its_journal() {
        let path = temp_db("migrate");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let hello = JournalEntry::Input(Input::user("hello"));
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(MIGRATIONS[0]).unwrap();
            old.execute("INSERT INTO conversations VALUES ('old', 'support', 1)", []).unwrap();
            let body = serde_json::to_string(&hello).unwrap();
            old.execute("INSERT INTO journal VALUES ('old', 0, 2, 'user_message', ?1)", params![body]).unwrap();
        }
        let store = SqliteStore::open_with(&path, Durability::Normal).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let old = store.conversation("old").await.unwrap().unwrap();
        assert_eq!((old.team.as_str(), old.team_file), ("support", None));
        let journal = store.journal("old").await.unwrap();
        assert_eq!((journal[0].epoch, &journal[0].entry), (0, &hello));
        assert_eq!(store.synchronous().await.unwrap(), 1, "NORMAL");
        let lease = store.acquire("old", "me", Duration::from_secs(5)).await.unwrap();
        store.append(&lease, 1, &[(3, hello.clone())]).await.unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.schema_version().unwrap(), MIGRATIONS.len() as u32, "opening again migrates nothing");
        assert_eq!(reopened.synchronous().await.unwrap(), 2, "FULL by default");
        assert_eq!(reopened.journal("old").await.unwrap().len(), 2);
        let mode: String = reopened.read().query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }
}
