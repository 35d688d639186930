//! Postgres that stops answering, and journals the store must not use, against the test
//! database (`BATON_TEST_POSTGRES`, by default `postgres://postgres@127.0.0.1:5432/test`), each
//! test in a schema of its own. A call through a TCP proxy on 127.0.0.1 that freezes (it stops
//! forwarding but keeps the connections open) fails within its deadline, as does connecting
//! through it; the server's statement timeout from the URL ends a statement stuck on a lock; a
//! schema newer than this baton's is refused; processes connecting at once migrate once.
//!
//! External tier only (`cargo xtask test`).
#![cfg(feature = "external-tests")]
#![allow(clippy::unwrap_used)]

use baton_store::{ConversationInfo, PostgresStore, Store, StoreError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

/// How long a test waits before it calls the store hung.
const HUNG: Duration = Duration::from_secs(30);

fn base_url() -> String {
    std::env::var("BATON_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn admin() -> Client {
    let base = base_url();
    let (client, connection) = tokio_postgres::connect(&base, NoTls).await.unwrap_or_else(|e| {
        panic!(
            "the Postgres tests need a database at {base} (BATON_TEST_POSTGRES): {e}; run them with \
             `cargo xtask test`, which checks the database first and says how to get one"
        )
    });
    tokio::spawn(connection);
    client
}

/// A fresh, empty schema of the test database, by name.
async fn schema(admin: &Client) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let schema = format!("deadlines_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    schema
}

/// The test database's URL, through `address` instead when given, working in `schema` with
/// `options` added and the URL's other `parameters`.
fn url(address: Option<SocketAddr>, schema: &str, options: &str, parameters: &str) -> String {
    let config: tokio_postgres::Config = base_url().parse().unwrap();
    let user = config.get_user().unwrap_or("postgres").to_string();
    let database = config.get_dbname().unwrap_or("test").to_string();
    let host = match address {
        Some(address) => address.to_string(),
        None => {
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                _ => "127.0.0.1".into(),
            };
            format!("{host}:{port}")
        }
    };
    let password = config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
    format!(
        "postgres://{user}{password}@{host}/{database}?sslmode=disable{parameters}&options=-c%20search_path%3D{schema}{}",
        options.replace(' ', "%20").replace('=', "%3D")
    )
}

fn conversation(id: &str) -> ConversationInfo {
    ConversationInfo { id: id.into(), team: "t".into(), created_ms: 1, team_file: None, owner: None }
}

/// A TCP proxy on 127.0.0.1 to the test database that forwards until it is frozen, and then
/// forwards nothing more, keeping every connection open.
struct Proxy {
    address: SocketAddr,
    frozen: watch::Sender<bool>,
}

impl Proxy {
    async fn start() -> Proxy {
        let config: tokio_postgres::Config = base_url().parse().unwrap();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".into(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (frozen, watching) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watching = watching.clone();
                let target = (host.clone(), port);
                tokio::spawn(async move {
                    if *watching.borrow() {
                        // Accepted by the kernel, answered by nobody: the connection stays open.
                        std::future::pending::<()>().await;
                    }
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(forward(client_read, server_write, watching.clone()));
                    forward(server_read, client_write, watching).await;
                });
            }
        });
        Proxy { address, frozen }
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }
}

/// Copies `from` to `to` until either closes; once frozen, holds what it read and both ends.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if *frozen.borrow() {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Runs `call`, failing the test if it has not ended after [`HUNG`]; returns its result and
/// how long it took.
async fn timed<T>(call: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(HUNG, call).await.expect("the call still hung after 30 s");
    (result, started.elapsed())
}

#[tokio::test]
async fn a_call_to_a_postgres_that_stopped_answering_fails_within_its_deadline() {
    let admin = admin().await;
    let schema = schema(&admin).await;
    let proxy = Proxy::start().await;
    let through_proxy = url(Some(proxy.address), &schema, " -c statement_timeout=1s", "&connect_timeout=2");
    let store = PostgresStore::connect(&through_proxy).await.unwrap();
    store.create(&conversation("before")).await.unwrap();
    // Every connection of the pool is open before the proxy freezes.
    for _ in 0..8 {
        store.conversation("before").await.unwrap();
    }
    proxy.freeze();
    let (read, took) = timed(store.conversation("before")).await;
    let error = read.expect_err("a frozen Postgres answered").to_string();
    assert!(took >= Duration::from_secs(5), "gave up after {took:?}, before the statement timeout and grace");
    assert!(took < Duration::from_secs(10), "gave up only after {took:?}: 1 s statement timeout + 5 s");
    assert!(error.contains("Postgres did not answer within 6 s"), "{error}");
    assert!(error.contains("stopped answering"), "{error}");
    let (connected, took) = timed(PostgresStore::connect(&through_proxy)).await;
    let error = connected.err().expect("connected through a frozen proxy").to_string();
    assert!(took < Duration::from_secs(5), "gave up on connecting only after {took:?}");
    assert!(error.contains("cannot connect: no answer within 2 s (connect_timeout in the URL)"), "{error}");
}

#[tokio::test]
async fn the_statement_timeout_in_the_url_ends_a_statement_stuck_on_a_lock() {
    let admin = admin().await;
    let schema = schema(&admin).await;
    let store = PostgresStore::connect(&url(None, &schema, " -c statement_timeout=500ms", "")).await.unwrap();
    admin
        .batch_execute(&format!("BEGIN; LOCK TABLE {schema}.baton_conversations IN ACCESS EXCLUSIVE MODE"))
        .await
        .unwrap();
    let (created, took) = timed(store.create(&conversation("blocked"))).await;
    admin.batch_execute("ROLLBACK").await.unwrap();
    let error = created.expect_err("it was created past the lock").to_string();
    assert!(error.contains("statement timeout"), "{error}");
    assert!(took < Duration::from_secs(5), "the server gave up only after {took:?}");
    store.create(&conversation("free")).await.unwrap();
}

#[tokio::test]
async fn a_journal_written_by_a_newer_baton_is_refused() {
    let admin = admin().await;
    let schema = schema(&admin).await;
    let url = url(None, &schema, "", "");
    let known = PostgresStore::connect(&url).await.unwrap().schema_version().await.unwrap();
    admin
        .execute(&format!("INSERT INTO {schema}.baton_schema (version) VALUES ($1)"), &[&(known as i32 + 1)])
        .await
        .unwrap();
    let refused = PostgresStore::connect(&url).await.err().expect("a newer journal was opened");
    assert!(matches!(refused, StoreError::NewerSchema { .. }), "{refused:?}");
    let expected =
        format!("was written by a newer baton (schema {}, this one knows {known}): upgrade baton", known + 1);
    assert!(refused.to_string().contains(&expected), "{refused}");
    let rows = admin.query(&format!("SELECT version FROM {schema}.baton_schema"), &[]).await.unwrap();
    assert_eq!(rows.len() as u32, known + 1, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_connecting_at_once_migrate_once() {
    let admin = admin().await;
    let schema = schema(&admin).await;
    let url = Arc::new(url(None, &schema, "", ""));
    let connecting: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await.map(drop) })
        })
        .collect();
    for connected in connecting {
        connected.await.unwrap().unwrap();
    }
    let rows = admin.query(&format!("SELECT version FROM {schema}.baton_schema ORDER BY version"), &[]).await.unwrap();
    let versions: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(versions, (1..=versions.len() as i32).collect::<Vec<_>>(), "each version once");
}
