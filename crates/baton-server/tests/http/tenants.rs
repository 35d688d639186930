//! One tenant cannot starve the others: each API key has a rate, a number of requests in flight
//! and a number of event streams it may hold, and over a limit it is told 429 with
//! `Retry-After` while other keys go on being served. Event streams sleep until woken, by this
//! server's turns or by one poller for what other processes journal.

use crate::api::SseReader;
use crate::server::{client, post, support, team, TestServer};
use async_trait::async_trait;
use baton::core::JournalEntry;
use baton::store::{ConversationInfo, Lease, MemoryStore, Snapshot, Store, StoreError, StoredEntry};
use baton_server::keys::{new_key, Keys, Role};
use baton_server::{KeyLimits, Options};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Two client keys, `anna` and `ben`, with `limits`; the server and their secrets.
async fn two_tenants(limits: KeyLimits, options: Options) -> (TestServer, String, String) {
    let (anna, anna_table) = new_key("anna", Role::Client).unwrap();
    let (ben, ben_table) = new_key("ben", Role::Client).unwrap();
    let keys = Keys::parse(&format!("{anna_table}\n{ben_table}"), "keys.toml").unwrap();
    let server = TestServer::with(Options { keys: Some(keys), key_limits: limits, ..options }).await;
    (server, anna, ben)
}

/// A key's GET of `path`: the response.
async fn get_as(server: &TestServer, key: &str, path: &str) -> reqwest::Response {
    client().get(server.url(path)).bearer_auth(key).send().await.unwrap()
}

/// The Retry-After of a 429, in seconds, and the error code.
async fn refusal(response: reqwest::Response) -> (u64, String) {
    assert_eq!(response.status().as_u16(), 429);
    let retry_after = response.headers().get("retry-after").expect("a 429 says when to retry").to_str().unwrap();
    let retry_after = retry_after.parse().unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    (retry_after, body["error"]["code"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn five_hundred_streams_from_one_key_are_capped_and_another_key_is_served() {
    let limits = KeyLimits { streams: 64, ..KeyLimits::default() };
    // A rate high enough that only the stream cap is tested.
    let limits = KeyLimits { rate: 10_000, burst: 10_000, ..limits };
    let (server, anna, ben) = two_tenants(limits, Options::default()).await;
    for (key, id) in [(&anna, "anna:1"), (&ben, "ben:1")] {
        let (status, _) =
            post(&server.url("/v1/conversations"), Some(key), &json!({ "team": "support", "id": id })).await;
        assert_eq!(status, 201);
    }
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..500 {
        let response = get_as(&server, &anna, "/v1/conversations/anna:1/events").await;
        match response.status().as_u16() {
            200 => open.push(response),
            _ => {
                let (retry_after, code) = refusal(response).await;
                assert_eq!((retry_after, code.as_str()), (10, "too_many_streams"));
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (64, 436), "64 streams open, the rest refused");

    // Ben opens a stream and has a turn answered while anna's streams are open.
    let mut ben_stream = SseReader::new(get_as(&server, &ben, "/v1/conversations/ben:1/events").await);
    let (status, answer) = post(
        &server.url("/v1/conversations/ben:1/messages"),
        Some(&ben),
        &json!({ "content": "Hi, the app crashes when I upload a photo." }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let events = ben_stream.until("turn_ended").await;
    assert!(events.len() > 2, "ben's stream carries his turn: {events:?}");

    // A stream closed frees its place.
    open.truncate(63);
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let response = get_as(&server, &anna, "/v1/conversations/anna:1/events").await;
            if response.status() == 200 {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(reopened.is_ok(), "a closed stream's place was not given back");

    let metrics = client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|line| line == r#"baton_http_refused_total{reason="too_many_streams"} 436"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not() {
    let limits = KeyLimits { rate: 1, burst: 3, ..KeyLimits::default() };
    let (server, anna, ben) = two_tenants(limits, Options::default()).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get_as(&server, &anna, "/v1/conversations/nothing").await.status().as_u16());
    }
    assert_eq!(statuses, [404, 404, 404, 429, 429], "a burst of 3, then refused");
    let (retry_after, code) = refusal(get_as(&server, &anna, "/v1/conversations/nothing").await).await;
    assert_eq!(code, "rate_limited");
    assert!((1..=2).contains(&retry_after), "one request a second: retry in about 1 s, not {retry_after}");
    assert_eq!(get_as(&server, &ben, "/v1/conversations/nothing").await.status(), 404, "ben has his own rate");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        get_as(&server, &anna, "/v1/conversations/nothing").await.status(),
        404,
        "after the wait anna is served"
    );
}

/// Sends a keyed POST whose body never finishes.
async fn body_never_finishes(server: &TestServer, key: &str) -> TcpStream {
    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/conversations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"team\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn requests_in_flight_are_capped_per_key_and_a_stalled_body_times_out() {
    let limits = KeyLimits { in_flight: 2, ..KeyLimits::default() };
    let connections = baton_server::ConnectionLimits {
        header_timeout: Duration::from_secs(2),
        ..baton_server::ConnectionLimits::default()
    };
    let (server, anna, ben) = two_tenants(limits, Options { connections, ..Options::default() }).await;
    let stalled = [body_never_finishes(&server, &anna).await, body_never_finishes(&server, &anna).await];
    // The stalled requests hold anna's two slots.
    let held = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let response = get_as(&server, &anna, "/v1/conversations/nothing").await;
            if response.status() == 429 {
                return refusal(response).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("anna's third request in flight is refused");
    assert_eq!(held, (1, "too_many_requests".to_string()));
    assert_eq!(get_as(&server, &ben, "/v1/conversations/nothing").await.status(), 404, "ben is served");
    // A body that stops coming for the header timeout ends its request, and frees the slot.
    let freed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if get_as(&server, &anna, "/v1/conversations/nothing").await.status() == 404 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "the stalled bodies held anna's slots past the timeout");
    drop(stalled);
}

/// A store that counts the reads of journals.
struct CountingStore {
    inner: MemoryStore,
    reads: AtomicU64,
}

#[async_trait]
impl Store for CountingStore {
    async fn create(&self, info: &ConversationInfo) -> Result<(), StoreError> {
        self.inner.create(info).await
    }
    async fn conversation(&self, id: &str) -> Result<Option<ConversationInfo>, StoreError> {
        self.inner.conversation(id).await
    }
    async fn acquire(&self, conversation: &str, holder: &str, ttl: Duration) -> Result<Lease, StoreError> {
        self.inner.acquire(conversation, holder, ttl).await
    }
    async fn renew(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.renew(lease).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(lease).await
    }
    async fn break_lease(&self, conversation: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.break_lease(conversation, holder).await
    }
    async fn append(&self, lease: &Lease, first_seq: u64, entries: &[(u64, JournalEntry)]) -> Result<(), StoreError> {
        self.inner.append(lease, first_seq, entries).await
    }
    async fn save_snapshot(&self, lease: &Lease, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(lease, snapshot).await
    }
    async fn latest_snapshot(&self, conversation: &str) -> Result<Option<Snapshot>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.latest_snapshot(conversation).await
    }
    async fn journal(&self, conversation: &str) -> Result<Vec<StoredEntry>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.journal(conversation).await
    }
    async fn journal_from(&self, conversation: &str, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.journal_from(conversation, from).await
    }
    async fn journal_ends(&self, conversations: &[String]) -> Result<HashMap<String, u64>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.journal_ends(conversations).await
    }
    async fn interrupted(&self) -> Result<Vec<ConversationInfo>, StoreError> {
        self.inner.interrupted().await
    }
    async fn latest_of_kinds(&self, kinds: &[&str]) -> Result<Vec<(ConversationInfo, String)>, StoreError> {
        self.inner.latest_of_kinds(kinds).await
    }
    fn commits(&self) -> u64 {
        self.inner.commits()
    }
}

#[tokio::test]
async fn idle_streams_do_not_read_the_journal_and_wake_for_another_process() {
    let counting = Arc::new(CountingStore { inner: MemoryStore::new(), reads: AtomicU64::new(0) });
    let store: Arc<dyn Store> = counting.clone();
    let server =
        TestServer::serving(vec![team(&support(), store.clone()).await], store.clone(), Options::default()).await;
    let (status, _) = post(&server.url("/v1/conversations"), None, &json!({ "team": "support", "id": "quiet" })).await;
    assert_eq!(status, 201);
    let mut streams = Vec::new();
    for _ in 0..40 {
        streams.push(client().get(server.url("/v1/conversations/quiet/events")).send().await.unwrap());
    }
    // Let every stream read what is there, then count the reads of three quiet seconds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = counting.reads.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let quiet = counting.reads.load(Ordering::Relaxed) - before;
    assert!(quiet <= 4, "40 idle streams read the journal {quiet} times in 3 s: one poller should read it 3 times");

    // Another process on the same journal (a runtime of its own) answers a message: a stream
    // of this server sends its entries, woken by the poller.
    let mut stream = SseReader::new(streams.pop().unwrap());
    let other = team(&support(), store.clone()).await;
    other.send(Some("quiet"), "Hi, the app crashes when I upload a photo.").await.unwrap();
    let events = tokio::time::timeout(Duration::from_secs(10), stream.until("turn_ended")).await;
    assert!(events.is_ok(), "the other process's turn did not reach the stream");
}
