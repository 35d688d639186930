//! The embedded default store: one SQLite file in WAL mode, written by one thread that commits
//! concurrent appends together.
//!
//! `synchronous = FULL` (the default) makes every committed append survive a power cut;
//! `NORMAL` keeps every commit across a crash of the process but may lose the last ones to a
//! power cut, for speed. Group commit: every write is a job for the writer thread, which runs
//! all the jobs waiting for it in one transaction (each in its own savepoint, so one job's
//! failure undoes only that job) and answers them after one commit, so one disk sync serves many
//! conversations. `(conversation, seq)` is the primary key, so two writers can never both
//! append the same position. The schema is versioned (`PRAGMA user_version`) and migrated on
//! open, under the write lock, so any number of processes may open a file at once. A new journal
//! is made whole beside its path and linked into place, so a file found empty, not SQLite or
//! holding other tables is refused, never taken for a new journal; so is a newer schema.
//! Commands that only read open the file read-only, and as immutable where its directory is
//! read-only (the `-shm` file cannot be made there).

use crate::lease::now_ms;
use crate::{ConversationInfo, Durability, Lease, Snapshot, Store, StoreError, StoredEntry};
use async_trait::async_trait;
use baton_core::JournalEntry;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// One step of a migration. Each may run again on a schema that has it already, so a file whose
/// recorded version fell behind its schema (as a race of processes opening it at once could leave
/// it before migrations took the write lock) is brought level by running them again.
enum Step {
    /// SQL that does nothing once done (`IF NOT EXISTS`).
    Sql(&'static str),
    /// A column added to a table unless the table has it.
    Column { table: &'static str, column: &'static str, definition: &'static str },
}

impl Step {
    fn apply(&self, connection: &Connection) -> rusqlite::Result<()> {
        match self {
            Step::Sql(sql) => connection.execute_batch(sql),
            Step::Column { table, column, definition } => {
                let exists = connection
                    .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
                    .exists(params![table, column])?;
                if !exists {
                    connection.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))?;
                }
                Ok(())
            }
        }
    }
}

/// The migrations, in order: migration `n` takes a database from version `n` to `n + 1`.
/// Version 0 is an empty database, or one written before versions were kept (it has the tables
/// of migration 0).
const MIGRATIONS: [&[Step]; 6] = [
    &[Step::Sql(
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
    )],
    &[Step::Column { table: "conversations", column: "team_file", definition: "TEXT" }],
    &[
        Step::Column { table: "journal", column: "epoch", definition: "INTEGER NOT NULL DEFAULT 0" },
        Step::Sql(
            "CREATE TABLE IF NOT EXISTS leases (
                conversation TEXT PRIMARY KEY REFERENCES conversations(id),
                holder TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                expires_ms INTEGER NOT NULL
            ) WITHOUT ROWID;",
        ),
    ],
    &[Step::Sql("CREATE INDEX IF NOT EXISTS journal_kind ON journal (kind, conversation, seq);")],
    &[Step::Column { table: "conversations", column: "owner", definition: "TEXT" }],
    &[Step::Sql(
        "CREATE TABLE IF NOT EXISTS snapshots (
            conversation TEXT PRIMARY KEY REFERENCES conversations(id),
            seq INTEGER NOT NULL,
            body TEXT NOT NULL
        );",
    )],
];

/// The schema version this baton writes, and the newest it reads.
const VERSION: u32 = MIGRATIONS.len() as u32;

/// The tables every journal has, whatever its version.
const TABLES: [&str; 2] = ["conversations", "journal"];

/// How long a statement waits for another process's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The bytes of a path written percent-encoded in a SQLite URI.
const URI_ESCAPED: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#');

/// The most jobs one transaction takes, so a flood of appends still gets answers steadily.
const MAX_BATCH: usize = 512;
/// How many prepared statements each connection keeps (more than the store has).
const STATEMENT_CACHE: usize = 32;

/// A write for the writer thread: given the open transaction (or why none could be begun), it
/// does its work and returns what to do once the transaction's fate is known.
type Job = Box<dyn FnOnce(Result<&Connection, &StoreError>) -> Finish + Send>;
/// Answers a job with the commit's outcome.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A journal in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    reader: Mutex<Connection>,
    /// The writer thread's queue and the thread; none for a journal opened to read only.
    writer: Option<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)>,
    commits: Arc<AtomicU64>,
}

impl Drop for SqliteStore {
    /// Ends the writer thread and waits for it to close its connection, so that the last
    /// connection to close (the reader, next) folds the `-wal` file into the journal and removes
    /// it: a journal baton has closed is one file, which can be copied alone and read anywhere.
    fn drop(&mut self) {
        if let Some((jobs, thread)) = self.writer.take() {
            drop(jobs);
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent folder, with
    /// `synchronous = FULL`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens the database at `path` with the given durability: creates it where there is no file,
    /// refuses a file that is no journal ([`StoreError::NotAJournal`]) or is newer
    /// ([`StoreError::NewerSchema`]), and brings an older one up to date.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let db_error = |message: String| StoreError::Database { path: name.clone(), message };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| db_error(format!("cannot create {}: {e}", parent.display())))?;
        }
        match std::fs::metadata(path) {
            Ok(metadata) => refuse_if_empty(&name, &metadata)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                create(path).map_err(|e| db_error(format!("cannot create the journal: {e}")))?;
            }
            Err(error) => return Err(db_error(error.to_string())),
        }
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        let read_write = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opening = |failure: Opening| database_error(&name, failure.error);
        let mut writer = connect(path, read_write).map_err(opening)?;
        migrate(&mut writer, &name)?;
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
            ))
            .map_err(|e| database_error(&name, e))?;
        let reader = connect(path, read_write).map_err(opening)?;
        reader.execute_batch("PRAGMA query_only = ON;").map_err(|e| database_error(&name, e))?;
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let thread = std::thread::Builder::new()
            .name("baton-sqlite-writer".into())
            .spawn({
                let name = name.clone();
                move || write_loop(&writer, &queue, &counter, &name)
            })
            .map_err(|e| db_error(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore { path: path.to_path_buf(), reader: Mutex::new(reader), writer: Some((jobs, thread)), commits })
    }

    /// Opens the journal at `path` to read it only, writing nothing. Where its directory is
    /// read-only (a copy on a read-only medium), SQLite cannot make the `-shm` file a read needs
    /// in WAL mode, so the file is read as immutable: that sees every entry of a journal closed
    /// cleanly, and a journal whose `-wal` file still holds entries is refused there (copy it
    /// with that file to a writable directory). A journal of an older schema is refused too (a
    /// command that writes to it brings it up to date), as is one that is no journal or newer.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let db_error = |message: String| StoreError::Database { path: name.clone(), message };
        let metadata = std::fs::metadata(path).map_err(|e| db_error(e.to_string()))?;
        refuse_if_empty(&name, &metadata)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened = connect(path, flags).and_then(|reader| Ok((inspect(&reader)?, reader)));
        let (found, reader) = match opened {
            Err(Opening { cannot_make_files: true, .. }) => immutable(path, &name, flags)?,
            opened => opened.map_err(|failure| database_error(&name, failure.error))?,
        };
        match check(&found, &name)? {
            VERSION => {}
            older => {
                return Err(db_error(format!(
                    "its schema (version {older}) is older than this baton's ({VERSION}), and a journal opened to \
                     read only is not brought up to date: run a command that writes to it once (baton resume does)"
                )))
            }
        }
        Ok(SqliteStore { path: path.to_path_buf(), reader: Mutex::new(reader), writer: None, commits: Arc::default() })
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
        let failed = |message: &str| StoreError::Database { path: path.clone(), message: message.into() };
        let Some((writer, _)) = &self.writer else {
            return Err(failed("the journal was opened to read only, by a command that only reads"));
        };
        let gone = failed("the writer thread stopped");
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
        writer.send(job).map_err(|_| gone.clone())?;
        answered.await.map_err(|_| gone)?
    }
}

/// A connection that failed to open or to read its file, and whether that was because SQLite
/// could not make the files beside it (a read-only directory).
struct Opening {
    error: rusqlite::Error,
    cannot_make_files: bool,
}

impl From<rusqlite::Error> for Opening {
    fn from(error: rusqlite::Error) -> Self {
        let cannot_make_files = matches!(error.sqlite_error_code(), Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen));
        Opening { error, cannot_make_files }
    }
}

/// A connection to `path` with `flags`, which waits for other processes' locks.
fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, Opening> {
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Every statement of the hot path is prepared once and kept: parsing SQL each time cost more
    // CPU than running it.
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// `path` opened as immutable: read without locks, the `-wal` and `-shm` files, or any file
/// beside it. Refused when a `-wal` file holds entries, which that would not see.
fn immutable(path: &Path, name: &str, flags: OpenFlags) -> Result<((u32, Vec<String>), Connection), StoreError> {
    let wal = std::fs::metadata(beside(path, "-wal")).map_or(0, |metadata| metadata.len());
    if wal > 0 {
        return Err(StoreError::Database {
            path: name.to_string(),
            message: format!(
                "its -wal file holds entries, which SQLite reads only with a -shm file beside it, and none can be \
                 made in this read-only directory: copy the journal with its -wal file to a writable directory \
                 ({wal} bytes of -wal)"
            ),
        });
    }
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| StoreError::Database { path: name.to_string(), message: e.to_string() })?;
    let uri = format!("file:{}?immutable=1", utf8_percent_encode(&absolute.to_string_lossy(), URI_ESCAPED));
    let connection = connect(Path::new(&uri), flags | OpenFlags::SQLITE_OPEN_URI)
        .map_err(|failure| database_error(name, failure.error))?;
    let found = inspect(&connection).map_err(|e| database_error(name, e))?;
    Ok((found, connection))
}

/// `path` with `suffix` after its file name (`-wal`, `-shm`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Refuses a file of 0 bytes: a journal never is empty (a new one is placed whole), so it was
/// truncated or made by something else.
fn refuse_if_empty(path: &str, metadata: &std::fs::Metadata) -> Result<(), StoreError> {
    match metadata.len() {
        0 => Err(StoreError::NotAJournal {
            path: path.to_string(),
            why: "it is empty (0 bytes), which a journal never is: it was truncated, or made by something else".into(),
        }),
        _ => Ok(()),
    }
}

/// Makes a new journal at `path`, where there was no file: its schema is written into a file of
/// its own beside it, which is then linked into place unless another process placed its own
/// first (that one is then everybody's journal). So no process ever finds at `path` a file that
/// is empty or half made, and one found empty is no journal.
fn create(path: &Path) -> Result<(), String> {
    static DRAFTS: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().ok_or("the path names no file")?.to_string_lossy();
    let draft = path.with_file_name(format!(
        ".{file_name}.new-{}-{}",
        std::process::id(),
        DRAFTS.fetch_add(1, Ordering::Relaxed)
    ));
    let made = write_schema(&draft).and_then(|()| place(&draft, path));
    let _ = std::fs::remove_file(&draft);
    made
}

/// Writes a new journal's schema into `draft`, in WAL mode, and closes it (which folds the
/// `-wal` file into it).
fn write_schema(draft: &Path) -> Result<(), String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(draft, flags).map_err(|e| e.to_string())?;
    migrate(&mut connection, &draft.display().to_string()).map_err(|e| e.to_string())?;
    connection.execute_batch("PRAGMA journal_mode = WAL;").map_err(|e| e.to_string())?;
    connection.close().map_err(|(_, e)| e.to_string())
}

/// Puts the finished `draft` at `path`, unless a file is there already.
fn place(draft: &Path, path: &Path) -> Result<(), String> {
    match std::fs::hard_link(draft, path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        // A file system without hard links: the draft is copied into a file only this process
        // created. A process opening the journal meanwhile may find it incomplete and refuse
        // it; nothing is lost.
        Err(_) => match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut file) => {
                let copied = std::fs::File::open(draft)
                    .and_then(|mut from| io::copy(&mut from, &mut file))
                    .and_then(|_| file.sync_all());
                if let Err(error) = copied {
                    let _ = std::fs::remove_file(path);
                    return Err(error.to_string());
                }
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(error) => return Err(error.to_string()),
        },
    }
    // The new name is on disk before anything is journaled under it.
    #[cfg(unix)]
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        let _ = std::fs::File::open(parent).and_then(|directory| directory.sync_all());
    }
    Ok(())
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

/// SQLite's error about the file at `path`: a file that is not SQLite is no journal; a damaged
/// one says so.
fn database_error(path: &str, error: rusqlite::Error) -> StoreError {
    let path = path.to_string();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            StoreError::NotAJournal { path, why: "it is not a SQLite database (or its first page is damaged)".into() }
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            StoreError::Database { path, message: format!("{error}: the file is damaged; restore it from a backup") }
        }
        _ => StoreError::Database { path, message: error.to_string() },
    }
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

    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError> {
        let (lease, snapshot) = (lease.clone(), snapshot.clone());
        self.write(move |connection| {
            renew_lease(connection, &lease)?;
            connection
                .prepare_cached(
                    "INSERT INTO snapshots (conversation, seq, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (conversation) DO UPDATE SET seq = excluded.seq, body = excluded.body
                     WHERE excluded.seq > snapshots.seq",
                )?
                .execute(params![lease.conversation, snapshot.seq as i64, snapshot.body])?;
            Ok(())
        })
        .await
    }

    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError> {
        let reader = self.read();
        let snapshot = reader.prepare_cached("SELECT seq, body FROM snapshots WHERE conversation = ?1").and_then(
            |mut statement| {
                statement
                    .query_row(params![conversation], |row| {
                        Ok(Snapshot { seq: row.get::<_, i64>(0)? as u64, body: row.get(1)? })
                    })
                    .optional()
            },
        );
        snapshot.map_err(|e| self.db_error(e))
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
                // A body that is no UTF-8 text (a damaged file, or one another program wrote) is
                // that entry's damage, like a body that is no entry.
                let body = match row.get_ref(3)? {
                    ValueRef::Text(bytes) => std::str::from_utf8(bytes).map(str::to_string).map_err(|e| e.to_string()),
                    other => Err(format!("its body is {}, not text", other.data_type())),
                };
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?, body))
            })
            .map_err(|e| self.db_error(e))?;
        let mut journal = Vec::new();
        for row in rows {
            let (seq, at_ms, epoch, body) = row.map_err(|e| self.db_error(e))?;
            let entry =
                body.and_then(|body| serde_json::from_str(&body).map_err(|e| e.to_string())).map_err(|message| {
                    StoreError::Corrupt { conversation: conversation.into(), seq: seq as u64, message }
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
                    // One index seek per conversation: with GROUP BY, MAX would read every entry.
                    "SELECT c.id, (SELECT MAX(seq) FROM journal j WHERE j.conversation = c.id) AS last
                     FROM conversations c WHERE c.id IN ({placeholders}) AND last IS NOT NULL"
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
                     > COALESCE((SELECT MAX(seq) FROM journal WHERE conversation = c.id AND kind = ?4), -1)
                 ORDER BY c.created_ms, c.id",
            )
            .map_err(|e| self.db_error(e))?;
        let [opened, started, decided] = crate::TURN_OPENERS;
        let kinds = params![opened, started, decided, crate::TURN_ENDED];
        let rows = statement.query_map(kinds, info).map_err(|e| self.db_error(e))?;
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

/// A database's schema version and its tables (SQLite's own left out), by name.
fn inspect(connection: &Connection) -> rusqlite::Result<(u32, Vec<String>)> {
    let version = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let mut statement = connection.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let tables = statement.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok((version, tables))
}

/// The schema version of a database found with `version` and `tables`, or why it is no journal
/// this baton may use: it is newer, or it is another program's (an empty database is a new
/// journal's).
fn check((version, tables): &(u32, Vec<String>), path: &str) -> Result<u32, StoreError> {
    let journal = TABLES.iter().all(|table| tables.contains(&table.to_string()));
    let foreign = |why: String| Err(StoreError::NotAJournal { path: path.to_string(), why });
    match (journal, *version) {
        (true, version) if version > VERSION => {
            Err(StoreError::NewerSchema { path: path.to_string(), found: version, known: VERSION })
        }
        (true, version) => Ok(version),
        (false, 0) if tables.is_empty() => Ok(0),
        (false, version) if tables.is_empty() => {
            foreign(format!("it is a SQLite database of schema version {version} without tables"))
        }
        (false, _) => {
            let mut names = tables.iter().take(5).map(String::as_str).collect::<Vec<_>>().join(", ");
            if tables.len() > 5 {
                names.push_str(", …");
            }
            foreign(format!("it is a SQLite database of other tables ({names}), without baton's"))
        }
    }
}

/// Brings the schema up to this baton's version, or refuses a database that is no journal or
/// is newer. A version once written never goes back, so a file found at this version needs
/// nothing and takes no lock; otherwise the migration takes the write lock before it reads the
/// version (`BEGIN IMMEDIATE`, waiting up to the busy timeout for another process's), so that of
/// many processes opening the file at once one migrates and the others find it done.
fn migrate(connection: &mut Connection, path: &str) -> Result<(), StoreError> {
    let error = |e| database_error(path, e);
    if check(&inspect(connection).map_err(error)?, path)? == VERSION {
        return Ok(());
    }
    let transaction = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(error)?;
    let version = check(&inspect(&transaction).map_err(error)?, path)?;
    let migrated = MIGRATIONS
        .iter()
        .skip(version as usize)
        .flat_map(|steps| steps.iter())
        .try_for_each(|step| step.apply(&transaction))
        .and_then(|()| transaction.pragma_update(None, "user_version", VERSION))
        .and_then(|()| transaction.commit());
    migrated.map_err(|e| StoreError::Database {
        path: path.to_string(),
        message: format!("cannot bring the schema up to date: {e}"),
    })
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
            for step in MIGRATIONS[0] {
                step.apply(&old).unwrap();
            }
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
