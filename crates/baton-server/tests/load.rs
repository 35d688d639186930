//! A load test: 1,000 conversations at once against one server on loopback, journaling to a
//! SQLite file, lose none. Each conversation is started and sent one message by a task of its
//! own; every one must be answered, and the journal must then hold each conversation with
//! exactly one ended turn and no turn left open.
//!
//! Timing is printed for information, never asserted. The client holds one connection per
//! conversation and the server another, so the process needs about 2,100 file descriptors:
//! the test checks `ulimit -n` first (Linux) and says so if it is too low.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use baton::config::load_team;
use baton::store::{open, Durability, Store, StoreLocation};
use baton_server::{ConnectionLimits, Options, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many conversations run at once.
const CONVERSATIONS: usize = 1_000;

/// The customers of `examples/support/data/line_status.json`, taken in turn.
const CUSTOMERS: [u32; 4] = [7, 42, 1017, 2048];

/// The descriptors the test needs: two sockets per conversation, and some to spare.
const DESCRIPTORS: u64 = 2 * CONVERSATIONS as u64 + 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_conversations_lose_none() {
    check_descriptors();
    let dir = std::env::temp_dir().join(format!("baton-server-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = open(&StoreLocation::Sqlite(dir.join("journal.db")), Durability::Full).await.unwrap();
    let team = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    let loaded = load_team(&team).unwrap();
    let runtime = Arc::new(baton::assemble::runtime(&loaded.config, store.clone()).await.unwrap());
    // A header deadline no busy runtime's scheduling delay reaches: this test is about losing no
    // conversation under load, not about slow clients (tests/http/limits.rs is). A pooled
    // connection's idle time starts on the server when the response is written, and on the client
    // only when this busy runtime gets to read it, seconds later under this load: with the
    // default 10 s deadline the server closed connections the client still took for idle and
    // sent a POST on, which was lost (seen twice in CI, with a 5 s client idle timeout).
    let connections = ConnectionLimits { header_timeout: Duration::from_secs(120), ..ConnectionLimits::default() };
    let server = Server::new(vec![runtime], store.clone(), Options { connections, ..Options::default() }).unwrap();
    let listener = baton_server::listen("127.0.0.1:0".parse().unwrap(), connections.max_connections).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));

    // Connections are kept, so the test opens 1,000 at most (the listen queue holds them all, as
    // `baton serve`'s does), and dropped after 60 s idle, well before the server's deadline.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONVERSATIONS)
        .pool_idle_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CONVERSATIONS {
        let (client, base) = (client.clone(), base.clone());
        tasks.spawn(async move { (n, conversation(&client, &base, n).await) });
    }
    let mut answered = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (n, answer) = done.unwrap();
        let customer = CUSTOMERS[n % CUSTOMERS.len()];
        assert_eq!(answer["conversation"], id(n), "{answer}");
        assert_eq!(answer["status"], "answered", "{answer}");
        assert_eq!(answer["agent"], "technical", "{answer}");
        let reply = answer["reply"].as_str().unwrap_or_default();
        assert!(reply.contains(&format!("customer {customer}:")), "conversation {n} got another's answer: {answer}");
        answered.insert(n);
    }
    let wall = started.elapsed();
    assert_eq!(answered.len(), CONVERSATIONS);
    eprintln!(
        "load: {CONVERSATIONS} conversations at once, one turn each, in {:.1} s ({:.1} turns/s)",
        wall.as_secs_f64(),
        CONVERSATIONS as f64 / wall.as_secs_f64()
    );

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    check_journal(store.as_ref()).await;
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Conversation `n`'s id.
fn id(n: usize) -> String {
    format!("load-{n}")
}

/// Starts conversation `n`, sends it its message and returns the answer.
async fn conversation(client: &reqwest::Client, base: &str, n: usize) -> Value {
    let customer = CUSTOMERS[n % CUSTOMERS.len()];
    let created = client
        .post(format!("{base}/v1/conversations"))
        .json(&json!({ "team": "support", "id": id(n) }))
        .send()
        .await
        .unwrap_or_else(|error| panic!("conversation {n} not started: {error:?}"));
    assert_eq!(created.status().as_u16(), 201, "conversation {n}: {}", created.text().await.unwrap_or_default());
    let content = format!("Hi, my internet has been down since this morning. My customer number is {customer}.");
    let answered = client
        .post(format!("{base}/v1/conversations/{}/messages", id(n)))
        .json(&json!({ "content": content }))
        .send()
        .await
        .unwrap_or_else(|error| panic!("conversation {n}'s message not answered: {error:?}"));
    assert_eq!(answered.status().as_u16(), 200, "conversation {n}: {}", answered.text().await.unwrap_or_default());
    answered.json().await.unwrap()
}

/// The journal holds every conversation with one message and one ended turn, and no turn open.
async fn check_journal(store: &dyn Store) {
    let latest = store.latest_of_kinds(&["user_message", "turn_ended"]).await.unwrap();
    let ids: BTreeSet<String> = latest.iter().map(|(info, _)| info.id.clone()).collect();
    assert_eq!(ids, (0..CONVERSATIONS).map(id).collect::<BTreeSet<_>>());
    assert_eq!(latest.len(), CONVERSATIONS);
    assert!(latest.iter().all(|(_, kind)| kind == "turn_ended"), "a conversation's last entry is not its turn's end");
    for n in 0..CONVERSATIONS {
        let journal = store.journal(&id(n)).await.unwrap();
        let count = |kind: &str| journal.iter().filter(|stored| stored.entry.kind() == kind).count();
        assert_eq!((count("user_message"), count("turn_ended")), (1, 1), "conversation {n}");
    }
    assert!(store.interrupted().await.unwrap().is_empty());
}

/// Fails with a clear message when the open-file limit cannot hold the test's sockets (read from
/// `/proc/self/limits`; where that file does not exist, the limit is assumed to be enough).
fn check_descriptors() {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else { return };
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<u64>().ok());
    if let Some(soft) = soft {
        assert!(soft >= DESCRIPTORS, "this test needs {DESCRIPTORS} open files and ulimit -n is {soft}: raise it");
    }
}
