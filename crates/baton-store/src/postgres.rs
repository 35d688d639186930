//! The store for many machines: Postgres.
//!
//! Every write is one statement, so one transaction: an append renews its lease, checking the
//! epoch (the fencing token), in the same statement that inserts the entries, and
//! `(conversation, seq)` is the primary key. Lease times are the database's clock, so the
//! machines' clocks need not agree. A small pool of connections lets concurrent conversations
//! commit together (Postgres flushes its WAL once for commits that wait together). The schema is
//! versioned in `baton_schema` and migrated on connect under an advisory lock. The URL's
//! `sslmode` and `sslrootcert` choose TLS (`tls`); a failed connection says why (`failure`).

mod failure;
mod tls;

use crate::{ConversationInfo, Lease, Store, StoreError, StoredEntry};
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

/// The migrations, in order: migration `n` takes a database from version `n` to `n + 1`.
const MIGRATIONS: [&str; 3] = [
    "CREATE TABLE baton_conversations (
        id TEXT PRIMARY KEY,
        team TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        team_file TEXT
    );
    CREATE TABLE baton_journal (
        conversation TEXT NOT NULL REFERENCES baton_conversations(id),
        seq BIGINT NOT NULL,
        epoch BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (conversation, seq)
    );
    CREATE TABLE baton_leases (
        conversation TEXT PRIMARY KEY REFERENCES baton_conversations(id),
        holder TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );",
    "CREATE INDEX baton_journal_kind ON baton_journal (kind, conversation, seq);",
    "ALTER TABLE baton_conversations ADD COLUMN owner TEXT;",
];

/// A key for `pg_advisory_xact_lock`, so two processes starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6261_746f_6e00;

/// How many connections one store keeps.
const CONNECTIONS: usize = 8;

/// A journal in a Postgres database.
pub struct PostgresStore {
    config: Config,
    /// The URL's TLS settings, and the connector they make.
    tls: tls::Tls,
    connector: MakeRustlsConnect,
    /// Where the database is, without the password, for messages.
    display: String,
    slots: Vec<Mutex<Option<Arc<Client>>>>,
    next: AtomicUsize,
    commits: AtomicU64,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and brings its
    /// schema up to date. `sslmode` (`disable`, `prefer` (the default), `require`, `verify-ca`,
    /// `verify-full`) and `sslrootcert` (a CA file, or `system`) in the URL mean what they mean
    /// to libpq.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let refused = |message: String| StoreError::Database { path: redact(url), message };
        let (rest, tls) = tls::split(url).map_err(refused)?;
        let mut config: Config = rest.parse().map_err(|e| {
            refused(format!("not a Postgres URL ({}); write postgres://USER@HOST:PORT/DATABASE", failure::describe(&e)))
        })?;
        tls::apply(&tls, &mut config);
        let connector = tls::connector(&tls).map_err(|e| refused(format!("cannot set up TLS: {e}")))?;
        let store = PostgresStore {
            config,
            tls,
            connector,
            display: redact(url),
            slots: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        let client = self.client().await?;
        let row = client.query_one("SELECT max(version) FROM baton_schema", &[]).await.map_err(|e| self.error(e))?;
        Ok(row.get::<_, Option<i32>>(0).unwrap_or(0) as u32)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        let migrate = async {
            client.batch_execute("BEGIN").await?;
            client.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
            client.batch_execute("CREATE TABLE IF NOT EXISTS baton_schema (version INTEGER NOT NULL)").await?;
            let row = client.query_one("SELECT max(version) FROM baton_schema", &[]).await?;
            let version = row.get::<_, Option<i32>>(0).unwrap_or(0) as usize;
            for (from, migration) in MIGRATIONS.iter().enumerate().skip(version) {
                client.batch_execute(migration).await?;
                client.execute("INSERT INTO baton_schema (version) VALUES ($1)", &[&(from as i32 + 1)]).await?;
            }
            client.batch_execute("COMMIT").await
        };
        match migrate.await {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = client.batch_execute("ROLLBACK").await;
                Err(StoreError::Database {
                    path: self.display.clone(),
                    message: format!("cannot bring the schema up to date: {}", failure::describe(&error)),
                })
            }
        }
    }

    /// A connection, round-robin over the pool; a closed one is replaced.
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut slot = slot.lock().await;
        if let Some(client) = slot.as_ref().filter(|client| !client.is_closed()) {
            return Ok(client.clone());
        }
        let (client, connection) = self.config.connect(self.connector.clone()).await.map_err(|e| {
            StoreError::Database { path: self.display.clone(), message: failure::explain(&e, &self.tls) }
        })?;
        tokio::spawn(connection);
        let client = Arc::new(client);
        *slot = Some(client.clone());
        Ok(client)
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

/// Checks a URL's TLS parameters, so that a mistake in them is refused with the rest of `--db`.
pub(crate) fn check_tls_parameters(url: &str) -> Result<(), String> {
    tls::split(url).map(drop)
}

/// The URL without its password. The credentials end at the first `@`, as tokio-postgres reads
/// them, but the part hidden runs on to the last `@` before the path, so that no piece of a
/// password holding an unencoded `@` shows; a `password=` query parameter is hidden too.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let mut shown = match rest.find('@') {
        Some(first_at) => match rest[..first_at].split_once(':') {
            Some((user, _)) => {
                let host_end = rest[first_at..].find('/').map_or(rest.len(), |at| first_at + at);
                let last_at = rest[..host_end].rfind('@').unwrap_or(first_at);
                format!("{user}:***{}", &rest[last_at..])
            }
            None => rest.to_string(),
        },
        None => rest.to_string(),
    };
    if let Some((before, query)) = shown.split_once('?') {
        let hidden = |pair: &str| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        };
        shown = format!("{before}?{}", query.split('&').map(hidden).collect::<Vec<_>>().join("&"));
    }
    format!("{scheme}://{shown}")
}

fn seconds(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

#[async_trait]
impl Store for PostgresStore {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        let client = self.client().await?;
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
    }

    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT id, team, created_ms, team_file, owner FROM baton_conversations WHERE id = $1", &[&id])
            .await
            .map_err(|e| self.error(e))?;
        Ok(row.map(|row| info(&row)))
    }

    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let client = self.client().await?;
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
    }

    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        let client = self.client().await?;
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
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE baton_leases SET expires_at = '-infinity' WHERE conversation = $1 AND epoch = $2",
                &[&lease.conversation, &(lease.epoch as i64)],
            )
            .await
            .map_err(|e| self.error(e))?;
        self.committed();
        Ok(())
    }

    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE baton_leases SET expires_at = '-infinity' WHERE conversation = $1 AND holder = $2",
                &[&conversation, &holder],
            )
            .await
            .map_err(|e| self.error(e))?;
        self.committed();
        Ok(())
    }

    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        let (mut seqs, mut times, mut kinds, mut bodies) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (seq, at_ms, kind, body) in crate::rows(&lease.conversation, first_seq, entries)? {
            seqs.push(seq);
            times.push(at_ms);
            kinds.push(kind);
            bodies.push(body);
        }
        let client = self.client().await?;
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
    }

    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.journal_from(conversation, 0).await
    }

    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        if self.conversation(conversation).await?.is_none() {
            return Err(StoreError::UnknownConversation(conversation.into()));
        }
        let client = self.client().await?;
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
    }

    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT conversation, MAX(seq) FROM baton_journal WHERE conversation = ANY($1) GROUP BY conversation",
                &[&conversations],
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(rows.iter().map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1) as u64 + 1)).collect())
    }

    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT c.id, c.team, c.created_ms, c.team_file, c.owner FROM baton_conversations c
                 WHERE COALESCE((SELECT MAX(seq) FROM baton_journal
                                 WHERE conversation = c.id AND kind = ANY($1)), -1)
                     > COALESCE((SELECT MAX(seq) FROM baton_journal
                                 WHERE conversation = c.id AND kind = 'turn_ended'), -1)
                 ORDER BY c.created_ms, c.id",
                &[&&crate::TURN_OPENERS[..]],
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(rows.iter().map(info).collect())
    }

    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        let client = self.client().await?;
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
