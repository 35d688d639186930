//! The store for many machines: Postgres.
//!
//! Every write is one statement, so one transaction: an append renews its lease, checking the
//! epoch (the fencing token), in the same statement that inserts the entries, and
//! `(conversation, seq)` is the primary key. Lease times are the database's clock, so the
//! machines' clocks need not agree. A small pool of connections lets concurrent conversations
//! commit together (Postgres flushes its WAL once for commits that wait together). The schema is
//! versioned in `baton_schema` and migrated on connect under an advisory lock, the version read
//! under it; a newer schema is refused. The URL's `sslmode` and `sslrootcert` choose TLS
//! (`tls`); a failed connection says why (`failure`).
//!
//! Nothing waits forever: connecting gives up after `connect_timeout` (the URL's, as in libpq,
//! or 10 s), each statement after the server's `statement_timeout` (`options=-c
//! statement_timeout=…` in the URL, or 30 s), and each call after that and 5 s more, for a
//! server or network that stopped answering without closing the connection (which is then
//! dropped). TCP keep-alive probes find a vanished peer of an idle connection in about a minute.

mod failure;
mod tls;

use crate::postgres_url::{redact, split, Tls};
use crate::{ConversationInfo, Lease, Snapshot, Store, StoreError, StoredEntry};
use async_trait::async_trait;
use baton_core::JournalEntry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The migrations, in order: migration `n` takes a database from version `n` to `n + 1`. Each
/// may run again on a schema that has it (`IF NOT EXISTS`).
const MIGRATIONS: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS baton_conversations (
        id TEXT PRIMARY KEY,
        team TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        team_file TEXT
    );
    CREATE TABLE IF NOT EXISTS baton_journal (
        conversation TEXT NOT NULL REFERENCES baton_conversations(id),
        seq BIGINT NOT NULL,
        epoch BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (conversation, seq)
    );
    CREATE TABLE IF NOT EXISTS baton_leases (
        conversation TEXT PRIMARY KEY REFERENCES baton_conversations(id),
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );",
    "CREATE INDEX IF NOT EXISTS baton_journal_kind ON baton_journal (kind, conversation, seq);",
    "ALTER TABLE baton_conversations ADD COLUMN IF NOT EXISTS owner TEXT;",
    "CREATE TABLE IF NOT EXISTS baton_snapshots (
        conversation TEXT PRIMARY KEY REFERENCES baton_conversations(id),
        seq BIGINT NOT NULL,
        body TEXT NOT NULL
    );",
];

/// A key for `pg_advisory_xact_lock`, so two processes starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6261_746f_6e00;

/// How many connections one store keeps.
const CONNECTIONS: usize = 8;

/// How long connecting (TCP, TLS, start-up and authentication) may take, unless the URL's
/// `connect_timeout` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server lets a statement run, unless the URL's `options` set `statement_timeout`.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than the statement timeout a call waits for the server's answer.
const GRACE: Duration = Duration::from_secs(5);
/// TCP keep-alive: the first probe after this long idle, unless the URL's `keepalives_idle` says…
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// … then one every so often (`keepalives_interval`) …
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// … and the connection is dropped after this many unanswered (`keepalives_retries`).
const KEEPALIVE_RETRIES: u32 = 3;
/// tokio-postgres's keep-alive idle time when the URL sets none.
const DEFAULT_KEEPALIVE_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// An open connection of the pool, and its task (aborted to drop a connection that stopped
/// answering).
struct Connected {
    client: Arc<Client>,
    task: tokio::task::AbortHandle,
}

/// A journal in a Postgres database.
pub struct PostgresStore {
    config: Config,
    /// The URL's TLS settings, and the connector they make.
    tls: Tls,
    connector: MakeRustlsConnect,
    /// Where the database is, without the password, for messages.
    display: String,
    slots: Vec<Mutex<Option<Connected>>>,
    next: AtomicUsize,
    commits: AtomicU64,
    /// How long connecting may take.
    connect_timeout: Duration,
    /// How long a call waits for the server's answers.
    deadline: Duration,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and brings its
    /// schema up to date. `sslmode` (`disable`, `prefer` (the default), `require`, `verify-ca`,
    /// `verify-full`) and `sslrootcert` (a CA file, or `system`) in the URL mean what they mean
    /// to libpq.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let refused = |message: String| StoreError::Database { path: redact(url), message };
        let (rest, tls) = split(url).map_err(refused)?;
        let mut config: Config = rest.parse().map_err(|e| {
            refused(format!("not a Postgres URL ({}); write postgres://USER@HOST:PORT/DATABASE", failure::describe(&e)))
        })?;
        tls::apply(&tls, &mut config);
        let deadlines = deadlines(&mut config);
        let connector = tls::connector(&tls).map_err(|e| refused(format!("cannot set up TLS: {e}")))?;
        let store = PostgresStore {
            config,
            tls,
            connector,
            display: redact(url),
            slots: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            connect_timeout: deadlines.connect,
            deadline: deadlines.call,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let row =
                client.query_one("SELECT max(version) FROM baton_schema", &[]).await.map_err(|e| self.error(e))?;
            Ok(row.get::<_, Option<i32>>(0).unwrap_or(0) as u32)
        })
        .await
    }

    /// Brings the schema up to date in one transaction, under an advisory lock taken before the
    /// version is read, so that of many processes connecting at once one migrates and the
    /// others find it done; refuses a newer schema. Waiting for the lock counts against the
    /// statement timeout, so the whole may take twice a call's time.
    async fn migrate(&self) -> Result<(), StoreError> {
        let (slot, client) = self.client().await?;
        let failed = |error: tokio_postgres::Error| StoreError::Database {
            path: self.display.clone(),
            message: format!("cannot bring the schema up to date: {}", failure::describe(&error)),
        };
        let migrate = async {
            client.batch_execute("BEGIN").await.map_err(failed)?;
            client.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(failed)?;
            client
                .batch_execute("CREATE TABLE IF NOT EXISTS baton_schema (version INTEGER NOT NULL)")
                .await
                .map_err(failed)?;
            let row = client.query_one("SELECT max(version) FROM baton_schema", &[]).await.map_err(failed)?;
            let version = row.get::<_, Option<i32>>(0).unwrap_or(0).max(0) as u32;
            if version > MIGRATIONS.len() as u32 {
                return Err(StoreError::NewerSchema {
                    path: self.display.clone(),
                    found: version,
                    known: MIGRATIONS.len() as u32,
                });
            }
            for (from, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                client.batch_execute(migration).await.map_err(failed)?;
                client
                    .execute("INSERT INTO baton_schema (version) VALUES ($1)", &[&(from as i32 + 1)])
                    .await
                    .map_err(failed)?;
            }
            client.batch_execute("COMMIT").await.map_err(failed)
        };
        let migrated = match tokio::time::timeout(2 * self.deadline, migrate).await {
            Ok(migrated) => migrated,
            Err(_) => return Err(self.stopped_answering(slot, &client, 2 * self.deadline).await),
        };
        if migrated.is_err() {
            let _ = tokio::time::timeout(self.deadline, client.batch_execute("ROLLBACK")).await;
        }
        migrated
    }

    /// A connection, round-robin over the pool, and its slot; a closed one is replaced, within
    /// the connect timeout.
    async fn client(&self) -> Result<(usize, Arc<Client>), StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[index].lock().await;
        if let Some(connected) = slot.as_ref().filter(|connected| !connected.client.is_closed()) {
            return Ok((index, connected.client.clone()));
        }
        let failed = |message: String| StoreError::Database { path: self.display.clone(), message };
        let connecting = self.config.connect(self.connector.clone());
        let (client, connection) = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(connected) => connected.map_err(|e| failed(failure::explain(&e, &self.tls)))?,
            Err(_) => {
                return Err(failed(format!(
                    "cannot connect: no answer within {} (connect_timeout in the URL): is Postgres, or the \
                     network to it, stopped?",
                    shown(self.connect_timeout)
                )))
            }
        };
        let task = tokio::spawn(connection).abort_handle();
        let client = Arc::new(client);
        *slot = Some(Connected { client: client.clone(), task });
        Ok((index, client))
    }

    /// `call`, made on `client` of `slot`, or an error once it has waited the deadline for an
    /// answer (the connection is then dropped).
    async fn bounded<T>(
        &self,
        slot: usize,
        client: &Arc<Client>,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(self.stopped_answering(slot, client, self.deadline).await),
        }
    }

    /// Drops `client` of `slot`, which gave no answer for `waited`, and says so.
    async fn stopped_answering(&self, slot: usize, client: &Arc<Client>, waited: Duration) -> StoreError {
        let mut slot = self.slots[slot].lock().await;
        if slot.as_ref().is_some_and(|connected| Arc::ptr_eq(&connected.client, client)) {
            if let Some(connected) = slot.take() {
                connected.task.abort();
            }
        }
        StoreError::Database {
            path: self.display.clone(),
            message: format!(
                "Postgres did not answer within {}: it, or the network to it, stopped answering (the connection \
                 was dropped; what was asked may or may not have been done)",
                shown(waited)
            ),
        }
    }

    fn error(&self, error: tokio_postgres::Error) -> StoreError {
        StoreError::Database { path: self.display.clone(), message: failure::describe(&error) }
    }

    /// The error for a lease that matched no row: the conversation is gone, or it was taken over.
    async fn fenced_or_unknown(&self, client: &Client, lease: &Lease) -> StoreError {
        match client.query_opt("SELECT 1 FROM baton_conversations WHERE id = $1", &[&lease.conversation]).await {
            Ok(None) => StoreError::UnknownConversation(lease.conversation.clone()),
            Ok(Some(_)) => StoreError::Fenced { conversation: lease.conversation.clone(), epoch: lease.epoch },
            Err(error) => self.error(error),
        }
    }

    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// How long a store waits for Postgres.
#[derive(Debug, PartialEq)]
struct Deadlines {
    /// For a connection.
    connect: Duration,
    /// For a call's answers: the statement timeout and some more.
    call: Duration,
}

/// Sets in `config` what the URL left out of the deadlines: the connect timeout, the TCP
/// keep-alive probes and the server's statement timeout; and says how long to wait.
fn deadlines(config: &mut Config) -> Deadlines {
    let connect = config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT);
    config.connect_timeout(connect);
    if config.get_keepalives_idle() == DEFAULT_KEEPALIVE_IDLE {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    let options = config.get_options().unwrap_or_default().to_string();
    let statement = match statement_timeout(&options) {
        Some(set) => set,
        None => {
            let ours = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
            config.options(if options.is_empty() { ours } else { format!("{options} {ours}") });
            STATEMENT_TIMEOUT
        }
    };
    // With statement_timeout = 0 the server lets a statement run as long as it takes; a call
    // still waits no longer than the default for an answer.
    let statement = if statement.is_zero() { STATEMENT_TIMEOUT } else { statement };
    Deadlines { connect, call: statement + GRACE }
}

/// The `statement_timeout` that server `options` (`-c name=value …`) set, read as Postgres reads
/// it (milliseconds, or a number with a unit: us, ms, s, min, h, d); `None` when they set none.
/// One it cannot read counts as the default.
fn statement_timeout(options: &str) -> Option<Duration> {
    let (_, after) = options.rsplit_once("statement_timeout")?;
    let value = after.trim_start().strip_prefix('=')?.trim_start();
    let value: String = value.chars().take_while(|c| !c.is_whitespace()).collect();
    let digits = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let Ok(number) = number.parse::<u64>() else { return Some(STATEMENT_TIMEOUT) };
    let millis = match unit.trim() {
        "" | "ms" => Some(Duration::from_millis(number)),
        "us" => Some(Duration::from_micros(number)),
        "s" => Some(Duration::from_secs(number)),
        "min" => Some(Duration::from_secs(number * 60)),
        "h" => Some(Duration::from_secs(number * 3600)),
        "d" => Some(Duration::from_secs(number * 86_400)),
        _ => None,
    };
    Some(millis.unwrap_or(STATEMENT_TIMEOUT))
}

/// A duration as a person reads it: `1.5 s`, `10 s`.
fn shown(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds.fract() == 0.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{seconds:.1} s")
    }
}

fn seconds(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

#[async_trait]
impl Store for PostgresStore {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let inserted = client
                .execute(
                    "INSERT INTO baton_conversations (id, team, created_ms, team_file, owner) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING",
                    &[&info.id, &info.team, &(info.created_ms as i64), &info.team_file, &info.owner],
                )
                .await
                .map_err(|e| self.error(e))?;
            self.committed();
            match inserted {
                0 => Err(StoreError::DuplicateConversation(info.id.clone())),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let row = client
                .query_opt(
                    "SELECT id, team, created_ms, team_file, owner FROM baton_conversations WHERE id = $1",
                    &[&id],
                )
                .await
                .map_err(|e| self.error(e))?;
            Ok(row.map(|row| info(&row)))
        })
        .await
    }

    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let taken = client
                .query_opt(
                    "INSERT INTO baton_leases (conversation, holder, epoch, expires_at)
                     VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))
                     ON CONFLICT (conversation) DO UPDATE SET
                        holder = excluded.holder, epoch = baton_leases.epoch + 1, expires_at = excluded.expires_at
                     WHERE baton_leases.expires_at <= clock_timestamp()
                     RETURNING epoch",
                    &[&conversation, &holder, &seconds(ttl)],
                )
                .await;
            self.committed();
            match taken {
                Ok(Some(row)) => Ok(Lease {
                    conversation: conversation.into(),
                    holder: holder.into(),
                    epoch: row.get::<_, i64>(0) as u64,
                    ttl,
                }),
                Ok(None) => {
                    let row = client
                        .query_opt(
                            "SELECT holder, CASE WHEN expires_at > clock_timestamp()
                                THEN (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::int8 ELSE 0 END
                             FROM baton_leases WHERE conversation = $1",
                            &[&conversation],
                        )
                        .await
                        .map_err(|e| self.error(e))?;
                    let (holder, expires_in_ms) =
                        row.map(|row| (row.get(0), row.get::<_, i64>(1) as u64)).unwrap_or_default();
                    Err(StoreError::Leased { conversation: conversation.into(), holder, expires_in_ms })
                }
                Err(error) if error.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                    Err(StoreError::UnknownConversation(conversation.into()))
                }
                Err(error) => Err(self.error(error)),
            }
        })
        .await
    }

    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let renewed = client
                .execute(
                    "UPDATE baton_leases SET expires_at = clock_timestamp() + make_interval(secs => $3)
                     WHERE conversation = $1 AND epoch = $2",
                    &[&lease.conversation, &(lease.epoch as i64), &seconds(lease.ttl)],
                )
                .await
                .map_err(|e| self.error(e))?;
            self.committed();
            match renewed {
                0 => Err(self.fenced_or_unknown(&client, lease).await),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            client
                .execute(
                    "UPDATE baton_leases SET expires_at = '-infinity' WHERE conversation = $1 AND epoch = $2",
                    &[&lease.conversation, &(lease.epoch as i64)],
                )
                .await
                .map_err(|e| self.error(e))?;
            self.committed();
            Ok(())
        })
        .await
    }

    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            client
                .execute(
                    "UPDATE baton_leases SET expires_at = '-infinity' WHERE conversation = $1 AND holder = $2",
                    &[&conversation, &holder],
                )
                .await
                .map_err(|e| self.error(e))?;
            self.committed();
            Ok(())
        })
        .await
    }

    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        let (mut seqs, mut times, mut kinds, mut bodies) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (seq, at_ms, kind, body) in crate::rows(&lease.conversation, first_seq, entries)? {
            seqs.push(seq);
            times.push(at_ms);
            kinds.push(kind);
            bodies.push(body);
        }
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let appended = client
                .query_one(
                    "WITH fence AS (
                        UPDATE baton_leases SET expires_at = clock_timestamp() + make_interval(secs => $3)
                        WHERE conversation = $1 AND epoch = $2
                        RETURNING conversation
                     ), appended AS (
                        INSERT INTO baton_journal (conversation, seq, epoch, at_ms, kind, body)
                        SELECT fence.conversation, e.seq, $2, e.at_ms, e.kind, e.body
                        FROM fence, unnest($4::int8[], $5::int8[], $6::text[], $7::text[]) AS e(seq, at_ms, kind, body)
                        WHERE (SELECT coalesce(max(seq) + 1, 0) FROM baton_journal WHERE conversation = $1) = $8
                        RETURNING 1
                     )
                     SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM appended)",
                    &[
                        &lease.conversation,
                        &(lease.epoch as i64),
                        &seconds(lease.ttl),
                        &seqs,
                        &times,
                        &kinds,
                        &bodies,
                        &(first_seq as i64),
                    ],
                )
                .await;
            self.committed();
            match appended {
                Ok(row) if row.get::<_, i64>(0) == 0 => Err(self.fenced_or_unknown(&client, lease).await),
                Ok(row) if row.get::<_, i64>(1) < entries.len() as i64 => {
                    Err(StoreError::Conflict { conversation: lease.conversation.clone(), seq: first_seq })
                }
                Ok(_) => Ok(()),
                Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    Err(StoreError::Conflict { conversation: lease.conversation.clone(), seq: first_seq })
                }
                Err(error) => Err(self.error(error)),
            }
        })
        .await
    }

    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let fenced = client
                .query_one(
                    "WITH fence AS (
                        UPDATE baton_leases SET expires_at = clock_timestamp() + make_interval(secs => $3)
                        WHERE conversation = $1 AND epoch = $2
                        RETURNING conversation
                     ), kept AS (
                        INSERT INTO baton_snapshots (conversation, seq, body)
                        SELECT fence.conversation, $4, $5 FROM fence
                        ON CONFLICT (conversation) DO UPDATE SET seq = excluded.seq, body = excluded.body
                        WHERE excluded.seq > baton_snapshots.seq
                     )
                     SELECT count(*) FROM fence",
                    &[
                        &lease.conversation,
                        &(lease.epoch as i64),
                        &seconds(lease.ttl),
                        &(snapshot.seq as i64),
                        &snapshot.body,
                    ],
                )
                .await
                .map_err(|e| self.error(e))?;
            self.committed();
            match fenced.get::<_, i64>(0) {
                0 => Err(self.fenced_or_unknown(&client, lease).await),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let row = client
                .query_opt("SELECT seq, body FROM baton_snapshots WHERE conversation = $1", &[&conversation])
                .await
                .map_err(|e| self.error(e))?;
            Ok(row.map(|row| Snapshot { seq: row.get::<_, i64>(0) as u64, body: row.get(1) }))
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
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let from = i64::try_from(from).unwrap_or(i64::MAX);
            let rows = client
                .query(
                    "SELECT seq, at_ms, epoch, body FROM baton_journal WHERE conversation = $1 AND seq >= $2 ORDER BY seq",
                    &[&conversation, &from],
                )
                .await
                .map_err(|e| self.error(e))?;
            rows.iter()
                .map(|row| {
                    let seq = row.get::<_, i64>(0) as u64;
                    let entry = serde_json::from_str(row.get(3)).map_err(|e| StoreError::Corrupt {
                        conversation: conversation.into(),
                        seq,
                        message: e.to_string(),
                    })?;
                    Ok(StoredEntry { seq, at_ms: row.get::<_, i64>(1) as u64, epoch: row.get::<_, i64>(2) as u64, entry })
                })
                .collect()
        })
        .await
    }

    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let rows = client
                .query(
                    // One index probe per conversation: with GROUP BY, MAX would read every entry.
                    "SELECT c, last FROM unnest($1::text[]) AS c,
                     LATERAL (SELECT MAX(seq) AS last FROM baton_journal WHERE conversation = c) AS ends
                     WHERE last IS NOT NULL",
                    &[&conversations],
                )
                .await
                .map_err(|e| self.error(e))?;
            Ok(rows.iter().map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1) as u64 + 1)).collect())
        })
        .await
    }

    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let rows = client
                .query(
                    "SELECT c.id, c.team, c.created_ms, c.team_file, c.owner FROM baton_conversations c
                     WHERE COALESCE((SELECT MAX(seq) FROM baton_journal
                                     WHERE conversation = c.id AND kind = ANY($1)), -1)
                         > COALESCE((SELECT MAX(seq) FROM baton_journal
                                     WHERE conversation = c.id AND kind = $2), -1)
                     ORDER BY c.created_ms, c.id",
                    &[&&crate::TURN_OPENERS[..], &crate::TURN_ENDED],
                )
                .await
                .map_err(|e| self.error(e))?;
            Ok(rows.iter().map(info).collect())
        })
        .await
    }

    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        let (slot, client) = self.client().await?;
        self.bounded(slot, &client, async {
            let rows = client
                .query(
                    "SELECT c.id, c.team, c.created_ms, c.team_file, c.owner, j.kind FROM baton_conversations c
                     JOIN (SELECT conversation, MAX(seq) AS seq FROM baton_journal WHERE kind = ANY($1)
                           GROUP BY conversation) last ON last.conversation = c.id
                     JOIN baton_journal j ON j.conversation = last.conversation AND j.seq = last.seq
                     ORDER BY c.created_ms, c.id",
                    &[&kinds],
                )
                .await
                .map_err(|e| self.error(e))?;
            Ok(rows.iter().map(|row| (info(row), row.get(5))).collect())
        })
        .await
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

/// A conversation's row: `id, team, created_ms, team_file, owner`.
fn info(row: &tokio_postgres::Row) -> ConversationInfo {
    ConversationInfo {
        id: row.get(0),
        team: row.get(1),
        created_ms: row.get::<_, i64>(2) as u64,
        team_file: row.get(3),
        owner: row.get(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(url: &str) -> (Config, Deadlines) {
        let mut config: Config = url.parse().unwrap();
        let deadlines = deadlines(&mut config);
        (config, deadlines)
    }

    #[test]
    fn the_deadlines_default_to_10_s_to_connect_and_30_s_a_statement() {
        let (config, deadlines) = configured("postgres://baton@db/baton");
        assert_eq!(deadlines, Deadlines { connect: Duration::from_secs(10), call: Duration::from_secs(35) });
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(10)));
        assert_eq!(config.get_options(), Some("-c statement_timeout=30000"));
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(config.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(config.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
    }

    #[test]
    fn the_url_sets_the_deadlines_as_libpq_reads_it() {
        let url = "postgres://baton@db/baton?connect_timeout=3&keepalives_idle=90&keepalives_retries=5\
                   &options=-c%20search_path%3Dx%20-c%20statement_timeout%3D2s";
        let (config, deadlines) = configured(url);
        assert_eq!(deadlines, Deadlines { connect: Duration::from_secs(3), call: Duration::from_secs(7) });
        assert_eq!(config.get_options(), Some("-c search_path=x -c statement_timeout=2s"), "no second timeout");
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(90));
        assert_eq!(config.get_keepalives_retries(), Some(5));
        let (config, _) = configured("postgres://db/baton?options=-csearch_path%3Dx");
        assert_eq!(config.get_options(), Some("-csearch_path=x -c statement_timeout=30000"), "ours is added");
    }

    #[test]
    fn a_statement_timeout_is_read_as_postgres_reads_it() {
        let read = |options: &str| statement_timeout(options);
        assert_eq!(read("-c statement_timeout=1500"), Some(Duration::from_millis(1500)), "milliseconds");
        assert_eq!(read("-c statement_timeout=20s"), Some(Duration::from_secs(20)));
        assert_eq!(read("--statement_timeout=2min"), Some(Duration::from_secs(120)));
        assert_eq!(read("-cstatement_timeout=0"), Some(Duration::ZERO));
        assert_eq!(read("-c statement_timeout=soon"), Some(STATEMENT_TIMEOUT), "unreadable: the default");
        assert_eq!(read("-c search_path=x"), None);
        let (_, deadlines) = configured("postgres://db/baton?options=-c%20statement_timeout%3D0");
        assert_eq!(deadlines.call, STATEMENT_TIMEOUT + GRACE, "no server limit, but a call still ends");
    }
}
