//! Order: one conversation's messages are answered one at a time, in the order they arrived,
//! each turn seeing the ones before; while one conversation waits for a slow model, another is
//! answered. The model is a loopback Chat Completions server that echoes the user and holds an
//! answer to a message mentioning "slow" until the test releases it.

use crate::api::{say, HUNG};
use crate::server::{get, post, team, TestServer};
use baton::store::{MemoryStore, Store};
use baton_server::Options;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

/// A model server for these tests.
struct EchoModel {
    /// What the held requests asked, as they arrive.
    held: mpsc::UnboundedReceiver<String>,
    /// Lets one held request be answered.
    release: Arc<Notify>,
    /// How many requests arrived.
    requests: Arc<AtomicUsize>,
}

/// What the model server shares among its connections.
#[derive(Clone)]
struct Shared {
    held: mpsc::UnboundedSender<String>,
    release: Arc<Notify>,
    requests: Arc<AtomicUsize>,
}

/// Starts the model server; its base URL and handle.
async fn echo_model() -> (String, EchoModel) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (held, arrived) = mpsc::unbounded_channel();
    let shared = Shared { held, release: Arc::new(Notify::new()), requests: Arc::default() };
    let model = EchoModel { held: arrived, release: shared.release.clone(), requests: shared.requests.clone() };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, shared.clone()));
        }
    });
    (base_url, model)
}

/// Answers one request with a chat completion saying `You said: TEXT (N earlier)`, TEXT the
/// last user message and N the number of user messages before it; a TEXT with "slow" in it is
/// first reported as held and answered once released.
async fn answer(mut stream: TcpStream, shared: Shared) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    let head = loop {
        if let Some(end) = request.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    };
    let headers = String::from_utf8_lossy(&request[..head]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while request.len() < head + length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&request[head..head + length]).unwrap();
    let users: Vec<String> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["role"] == "user")
        .map(|message| message["content"].as_str().unwrap().to_string())
        .collect();
    let last = users.last().unwrap().clone();
    if last.contains("slow") {
        shared.held.send(last.clone()).unwrap();
        shared.release.notified().await;
    }
    let reply = format!("You said: {last} ({} earlier)", users.len() - 1);
    let completion = json!({
        "id": "chatcmpl-echo", "object": "chat.completion", "model": "echo-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    })
    .to_string();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n";
    let response = format!("{head}Content-Length: {}\r\n\r\n{completion}", completion.len());
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A fresh folder for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("baton-server-{name}-{}-{count}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A server for the team `echo`, whose one agent's model is `base_url`.
async fn echo_server(base_url: &str) -> TestServer {
    let path = temp_dir("echo").join("team.toml");
    let toml = format!(
        r#"name = "echo"
entry = "desk"

[limits]
on_limit = "fail"

[models.echo]
provider = "openai"
model = "echo-1"
base_url = "{base_url}"
timeout_secs = 600
retries = 0

[agents.desk]
model = "echo"
instructions = "Say back what you heard."
"#
    );
    std::fs::write(&path, toml).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    TestServer::serving(vec![team(&path, store.clone()).await], store, Options::default()).await
}

/// Starts conversation `id` of the team `echo`.
async fn start(server: &TestServer, id: &str) {
    let (status, body) = post(&server.url("/v1/conversations"), None, &json!({"team": "echo", "id": id})).await;
    assert_eq!(status, 201, "{body}");
}

/// Sends `content` to `id` in a task of its own; the task's answer is the status and result.
fn send(server: &Arc<TestServer>, id: &str, content: &str) -> tokio::task::JoinHandle<(u16, Value)> {
    let (server, id, content) = (server.clone(), id.to_string(), content.to_string());
    tokio::spawn(async move { say(&server, None, &id, &content).await })
}

/// Waits until the server counts `count` turns running or waiting (a bounded poll of /healthz).
async fn wait_for_turns(server: &TestServer, count: u64) {
    let deadline = tokio::time::Instant::now() + HUNG;
    loop {
        let (status, health) = get(&server.url("/healthz"), None).await;
        assert_eq!(status, 200, "{health}");
        if health["turns_in_flight"] == count {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {count} turns in flight: {health}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn one_conversations_messages_are_answered_one_at_a_time_in_arrival_order() {
    let (base_url, mut model) = echo_model().await;
    let server = Arc::new(echo_server(&base_url).await);
    start(&server, "line").await;

    // The first message holds the conversation at the model; the others arrive one by one
    // (each counted in flight before the next is sent) and wait their turn in the server.
    let first = send(&server, "line", "message 1 (slow)");
    assert_eq!(model.held.recv().await.unwrap(), "message 1 (slow)");
    let mut sent = vec![first];
    for k in 2..=5 {
        sent.push(send(&server, "line", &format!("message {k}")));
        wait_for_turns(&server, k).await;
    }
    assert_eq!(model.requests.load(Ordering::SeqCst), 1, "no other turn reached the model while one ran");
    assert!(sent.iter().all(|task| !task.is_finished()), "every message waits for the first");
    model.release.notify_one();

    for (k, task) in (1u64..).zip(sent) {
        let (status, result) = task.await.unwrap();
        assert_eq!((status, &result["status"], &result["turn"]), (200, &json!("answered"), &json!(k)), "{result}");
        let said = if k == 1 { "message 1 (slow)".to_string() } else { format!("message {k}") };
        let reply = format!("You said: {said} ({} earlier)", k - 1);
        assert_eq!(result["reply"], reply, "each turn saw the turns before it");
    }

    let (status, trace) = get(&server.url("/v1/conversations/line/trace"), None).await;
    assert_eq!(status, 200, "{trace}");
    let turns: Vec<(String, Value)> = trace["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "user_message" || entry["kind"] == "turn_ended")
        .map(|entry| (entry["kind"].as_str().unwrap().to_string(), entry["data"].clone()))
        .collect();
    let kinds: Vec<&str> = turns.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["user_message", "turn_ended"].repeat(5), "each turn ends before the next begins");
    let said: Vec<&Value> =
        turns.iter().filter(|(kind, _)| kind == "user_message").map(|(_, data)| &data["text"]).collect();
    assert_eq!(said, ["message 1 (slow)", "message 2", "message 3", "message 4", "message 5"]);
}

#[tokio::test]
async fn a_slow_conversation_does_not_hold_up_another() {
    let (base_url, mut model) = echo_model().await;
    let server = Arc::new(echo_server(&base_url).await);
    start(&server, "slow-one").await;
    start(&server, "quick-one").await;

    let slow = send(&server, "slow-one", "a slow question");
    assert_eq!(model.held.recv().await.unwrap(), "a slow question");
    let (status, quick) = say(&server, None, "quick-one", "a quick question").await;
    assert_eq!((status, &quick["status"]), (200, &json!("answered")), "{quick}");
    assert_eq!(quick["reply"], "You said: a quick question (0 earlier)");
    assert!(!slow.is_finished(), "the slow conversation is still waiting for its model");
    let (status, waiting) = get(&server.url("/v1/conversations/slow-one"), None).await;
    assert_eq!((status, &waiting["status"]), (200, &json!("in_turn")), "{waiting}");

    model.release.notify_one();
    let (status, result) = slow.await.unwrap();
    assert_eq!((status, &result["status"]), (200, &json!("answered")), "{result}");
    assert_eq!(result["reply"], "You said: a slow question (0 earlier)");
    let (_, done) = get(&server.url("/v1/conversations/slow-one"), None).await;
    assert_eq!((&done["status"], &done["turns"]), (&json!("idle"), &json!(1)), "{done}");
}
