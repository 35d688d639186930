//! `POST /v1/chat/completions`: answered and streamed, continued by `X-Baton-Conversation`, its
//! errors, and the official `openai` Python client against it (the external tier).

#[cfg(feature = "external-tests")]
use crate::server::root;
use crate::server::{get, support, TestServer};
use baton::assemble;
use baton::config::load_team;
use baton::store::{MemoryStore, Store};
use baton_server::keys::{new_key, Role};
use baton_server::Options;
use serde_json::{json, Value};
use std::sync::Arc;

const HEADER: &str = "x-baton-conversation";
const FIRST: &str = "Hi, my internet has been down since this morning. My customer number is 7.";
const FOLLOW_UP: &str = "It is still down after a restart.";

/// An answer: status, the conversation header, the raw body.
struct Answer {
    status: u16,
    conversation: Option<String>,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// POSTs `body` to the endpoint with an optional key and conversation header.
async fn chat(server: &TestServer, key: Option<&str>, conversation: Option<&str>, body: &Value) -> Answer {
    let mut request = reqwest::Client::new().post(server.url("/v1/chat/completions")).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(conversation) = conversation {
        request = request.header(HEADER, conversation);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).map(|value| value.to_str().unwrap().to_string());
    let conversation = header(HEADER);
    let content_type = header("content-type").unwrap_or_default();
    Answer { status, conversation, content_type, body: response.text().await.unwrap() }
}

fn user(text: &str) -> Value {
    json!({ "model": "support", "messages": [{ "role": "user", "content": text }] })
}

/// The `data:` payloads of an SSE body, in order; comments (keep-alives) skipped.
fn data_lines(body: &str) -> Vec<String> {
    let mut events = Vec::new();
    for block in body.split("\n\n").filter(|block| !block.trim().is_empty()) {
        let data: Vec<&str> = block.lines().filter_map(|line| line.strip_prefix("data: ")).collect();
        let others: Vec<&str> =
            block.lines().filter(|line| !line.starts_with("data: ") && !line.starts_with(':')).collect();
        assert!(others.is_empty(), "only data lines are sent, not {others:?}: {body}");
        if !data.is_empty() {
            events.push(data.join("\n"));
        }
    }
    events
}

#[tokio::test]
async fn a_message_is_answered_and_the_header_continues_the_conversation() {
    let server = TestServer::start().await;
    let first = chat(&server, None, None, &user(FIRST)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let id = first.conversation.clone().expect("the conversation header");
    let out = first.json();
    assert_eq!(out["object"], "chat.completion", "{out}");
    assert_eq!(out["id"], format!("chatcmpl-{id}-1"), "{out}");
    assert_eq!(out["model"], "support", "{out}");
    assert!(out["created"].as_u64().unwrap() > 1_700_000_000, "{out}");
    let choice = &out["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant", "{out}");
    assert!(choice["message"]["content"].as_str().unwrap().contains("NET-1187"), "{out}");
    assert_eq!(choice["message"]["refusal"], Value::Null, "{out}");
    assert_eq!((choice["index"].as_u64(), choice["finish_reason"].as_str()), (Some(0), Some("stop")), "{out}");
    assert_eq!(out["choices"].as_array().unwrap().len(), 1, "{out}");
    let usage = &out["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap(),
        "{out}"
    );
    assert_eq!((out["baton"]["agent"].as_str(), out["baton"]["turn"].as_u64()), (Some("technical"), Some(1)));
    assert_eq!(out["baton"]["conversation"], id.as_str(), "{out}");
    assert_eq!(out["baton"]["reply"], choice["message"]["content"], "{out}");

    // The whole history comes along, as clients send it; with the header only the last user
    // message is the turn's text.
    let history = json!({ "model": "support", "messages": [
        { "role": "system", "content": "You are helpful." },
        { "role": "user", "content": FIRST },
        { "role": "assistant", "content": choice["message"]["content"] },
        { "role": "user", "content": [{ "type": "text", "text": FOLLOW_UP }] },
    ]});
    let second = chat(&server, None, Some(&id), &history).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.conversation.as_deref(), Some(id.as_str()));
    let out = second.json();
    assert_eq!((out["baton"]["turn"].as_u64(), out["baton"]["conversation"].as_str()), (Some(2), Some(id.as_str())));
    assert_eq!(out["id"], format!("chatcmpl-{id}-2"), "{out}");

    let (status, view) = get(&server.url(&format!("/v1/conversations/{id}")), None).await;
    assert_eq!((status, view["turns"].as_u64()), (200, Some(2)), "{view}");
    let said = user_messages(&server, &id).await;
    assert_eq!(said, vec![FIRST.to_string(), FOLLOW_UP.to_string()]);
}

/// The user messages of conversation `id`'s journal.
async fn user_messages(server: &TestServer, id: &str) -> Vec<String> {
    let (status, trace) = get(&server.url(&format!("/v1/conversations/{id}/trace")), None).await;
    assert_eq!(status, 200, "{trace}");
    let entries = trace["entries"].as_array().unwrap();
    let users = entries.iter().filter(|entry| entry.to_string().contains("user_message"));
    users.map(|entry| find_text(entry).unwrap_or_else(|| panic!("no text in {entry}"))).collect()
}

/// The first `text` string in `value`.
fn find_text(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => match map.get("text") {
            Some(Value::String(text)) => Some(text.clone()),
            _ => map.values().find_map(find_text),
        },
        Value::Array(items) => items.iter().find_map(find_text),
        _ => None,
    }
}

#[tokio::test]
async fn a_new_conversation_gets_the_earlier_messages_as_a_transcript() {
    let server = TestServer::start().await;
    let body = json!({ "model": "support", "temperature": 0.2, "max_tokens": 200, "user": "u-1", "n": 1,
    "messages": [
        { "role": "developer", "content": "Be brief." },
        { "role": "user", "content": "Hello" },
        { "role": "assistant", "content": "Hi, how can I help?" },
        { "role": "assistant", "content": null },
        { "role": "user", "content": FIRST },
    ]});
    let answer = chat(&server, None, None, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let id = answer.conversation.unwrap();
    let expected = format!("Earlier in this conversation:\nuser: Hello\nassistant: Hi, how can I help?\n\n{FIRST}");
    assert_eq!(user_messages(&server, &id).await, vec![expected]);
}

#[tokio::test]
async fn a_streamed_answer_is_chunks_then_done() {
    let server = TestServer::start().await;
    let mut body = user(FIRST);
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let answer = chat(&server, None, None, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.content_type.starts_with("text/event-stream"), "{}", answer.content_type);
    let id = answer.conversation.clone().expect("the conversation header on the stream");
    let events = data_lines(&answer.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{}", answer.body);
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(event).unwrap_or_else(|error| panic!("{error}: {event}")))
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(chunk["id"], format!("chatcmpl-{id}-1"), "{chunk}");
        assert_eq!(chunk["model"], "support", "{chunk}");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"], json!({ "role": "assistant", "content": "" }), "{}", answer.body);

    let (usage, rest) = chunks.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]), "the usage chunk comes last: {usage}");
    assert!(usage["usage"]["total_tokens"].is_u64(), "{usage}");
    let (last, middle) = rest.split_last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({}), "{last}");
    assert_eq!(last["choices"][0]["finish_reason"], "stop", "{last}");
    let report = &last["baton"];
    assert_eq!((report["agent"].as_str(), report["turn"].as_u64()), (Some("technical"), Some(1)), "{last}");

    let mut content = String::new();
    for chunk in &middle[1..] {
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null, "{chunk}");
        content.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap());
    }
    assert!(!content.is_empty(), "{}", answer.body);
    assert_eq!(Some(content.as_str()), report["reply"].as_str(), "{}", answer.body);
    assert!(content.contains("NET-1187"), "{content}");
}

#[tokio::test]
async fn requests_baton_cannot_answer_are_refused_with_the_json_error_shape() {
    let server = TestServer::start().await;
    let mut unknown = user(FIRST);
    unknown["model"] = json!("gpt-4o");
    let answer = chat(&server, None, None, &unknown).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let error = &answer.json()["error"];
    assert_eq!(error["code"], "unknown_team", "{error}");
    assert!(error["message"].as_str().unwrap().contains("support"), "the message names the teams served: {error}");
    assert_eq!(answer.conversation, None, "no conversation was started");

    let cases = [
        (json!({ "model": "support", "messages": [{ "role": "system", "content": "hi" }] }), "role `user`"),
        (json!({ "model": "support", "messages": [] }), "role `user`"),
        (json!({ "model": "support", "messages": [{ "role": "user", "content": "  " }] }), "empty"),
        (
            json!({ "model": "support", "messages": [{ "role": "user", "content": [
                { "type": "text", "text": "look" },
                { "type": "image_url", "image_url": { "url": "https://example.com/a.png" } },
            ]}]}),
            "only text is supported",
        ),
        (json!({ "model": "support", "n": 2, "messages": [{ "role": "user", "content": "hi" }] }), "`n`"),
        (
            json!({ "model": "support", "tools": [{ "type": "function", "function": { "name": "f" } }],
                "messages": [{ "role": "user", "content": "hi" }] }),
            "bring their own tools",
        ),
    ];
    for (body, says) in cases {
        let answer = chat(&server, None, None, &body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "bad_request", "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{body}: {error}");
        assert_eq!(answer.conversation, None, "{body}: no conversation was started");
    }
}

#[tokio::test]
async fn another_clients_conversation_is_not_found() {
    let (anna, anna_table) = new_key("anna", Role::Client).unwrap();
    let (bob, bob_table) = new_key("bob", Role::Client).unwrap();
    let (ops, ops_table) = new_key("ops", Role::Operator).unwrap();
    let server = TestServer::with_keys(&format!("{anna_table}\n{bob_table}\n{ops_table}")).await;

    let answer = chat(&server, None, None, &user(FIRST)).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    let answer = chat(&server, Some(&ops), None, &user(FIRST)).await;
    assert_eq!((answer.status, answer.json()["error"]["code"].as_str()), (403, Some("forbidden")), "{}", answer.body);

    let first = chat(&server, Some(&anna), None, &user(FIRST)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let id = first.conversation.unwrap();
    let (status, view) = get(&server.url(&format!("/v1/conversations/{id}")), Some(&anna)).await;
    assert_eq!((status, view["owner"].as_str()), (200, Some("anna")), "{view}");

    let stolen = chat(&server, Some(&bob), Some(&id), &user(FOLLOW_UP)).await;
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    assert_eq!(stolen.json()["error"]["code"], "not_found", "{}", stolen.body);
    let mut streamed = user(FOLLOW_UP);
    streamed["stream"] = json!(true);
    let stolen = chat(&server, Some(&bob), Some(&id), &streamed).await;
    assert_eq!(stolen.status, 404, "a stream is refused before it starts: {}", stolen.body);

    let (_, view) = get(&server.url(&format!("/v1/conversations/{id}")), Some(&anna)).await;
    assert_eq!(view["turns"], 1, "bob's messages did not reach anna's conversation: {view}");
    let mine = chat(&server, Some(&anna), Some(&id), &user(FOLLOW_UP)).await;
    assert_eq!((mine.status, mine.json()["baton"]["turn"].as_u64()), (200, Some(2)), "{}", mine.body);
}

#[tokio::test]
async fn a_conversation_continues_only_with_its_own_team() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let support_team = crate::server::team(&support(), store.clone()).await;
    let mut other = load_team(&support()).unwrap().config;
    other.team.name = "other".into();
    let other_team = Arc::new(assemble::runtime(&other, store.clone()).await.unwrap());
    let server = TestServer::serving(vec![support_team, other_team], store, Options::default()).await;

    let mut body = user("Hello");
    body["model"] = json!("other");
    let first = chat(&server, None, None, &body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["model"], "other");
    let id = first.conversation.unwrap();

    let wrong = chat(&server, None, Some(&id), &user(FOLLOW_UP)).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(wrong.conversation.as_deref(), Some(id.as_str()), "errors carry the known conversation");
    let message = wrong.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("belongs to team 'other'") && message.contains("\"model\": \"other\""), "{message}");
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn the_official_openai_python_client_works_against_the_endpoint() {
    let Ok(python) = std::env::var("BATON_TEST_HTTP_PYTHON") else {
        panic!("BATON_TEST_HTTP_PYTHON is not set: run this test with `cargo xtask test`");
    };
    let (key, table) = new_key("python", Role::Client).unwrap();
    let server = TestServer::with_keys(&table).await;
    let base = format!("{}/v1", server.base);
    let script = root().join("crates/baton-server/tests/python/openai_client.py");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .args(["--base-url", &base, "--api-key", &key, "--model", "support"])
            .current_dir(root())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {python}: {error}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "openai_client.py failed ({}):\n{stdout}\n{stderr}", output.status);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| panic!("{error}: {stdout}"));
    assert_eq!(summary["ok"], true, "{stdout}");
    assert!(summary["reply1"].as_str().unwrap().contains("NET-1187"), "{stdout}");
    server.stop().await;
}
