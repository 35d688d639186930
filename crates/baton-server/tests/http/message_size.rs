//! A user message over the team's `max_message_bytes` (64 KiB by default) is refused with 413
//! `message_too_large`, saying its size, the limit and how to raise it, and changes nothing: no
//! turn, no journal entry, no conversation started by the OpenAI-compatible endpoint.

use crate::server::{client, get, post, TestServer};
use serde_json::{json, Value};

/// 70,000 bytes: over the default limit, under the server's body limit.
fn too_long() -> String {
    "my internet is down. ".repeat(3_334)[..70_000].to_string()
}

fn says_what_to_do(answer: &Value) {
    assert_eq!(answer["error"]["code"], "message_too_large", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    for needle in ["70000 bytes", "at most 65536 bytes", "max_message_bytes under [limits]"] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_with_413_and_journals_nothing() {
    let server = TestServer::start().await;
    let (status, _) = post(&server.url("/v1/conversations"), None, &json!({ "team": "support", "id": "big" })).await;
    assert_eq!(status, 201);
    let (status, answer) =
        post(&server.url("/v1/conversations/big/messages"), None, &json!({ "content": too_long() })).await;
    assert_eq!(status, 413, "{answer}");
    says_what_to_do(&answer);
    let (_, conversation) = get(&server.url("/v1/conversations/big"), None).await;
    assert_eq!(conversation["turns"], Value::from(0), "no turn ran: {conversation}");
    assert!(server.store.journal("big").await.unwrap().is_empty(), "nothing was journaled");

    let (status, answer) =
        post(&server.url("/v1/conversations/big/messages"), None, &json!({ "content": too_long(), "stream": true }))
            .await;
    assert_eq!(status, 413, "a streamed message is refused before the stream starts: {answer}");
    says_what_to_do(&answer);

    let (status, answer) =
        post(&server.url("/v1/conversations/big/messages"), None, &json!({ "content": "my internet is down" })).await;
    assert_eq!(status, 200, "a message within the limit is answered: {answer}");
}

#[tokio::test]
async fn the_chat_completions_endpoint_refuses_it_before_starting_a_conversation() {
    let server = TestServer::start().await;
    for stream in [false, true] {
        let body =
            json!({ "model": "support", "stream": stream, "messages": [{ "role": "user", "content": too_long() }] });
        let response = client().post(server.url("/v1/chat/completions")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 413, "stream: {stream}");
        assert!(
            response.headers().get("x-baton-conversation").is_none(),
            "stream: {stream}: no conversation was started"
        );
        says_what_to_do(&response.json().await.unwrap());
    }
}
