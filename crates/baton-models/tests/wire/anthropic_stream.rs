//! Anthropic's Messages API, streamed: text heard as it arrives, tool input reassembled from
//! partial JSON, the same reply as the same answer unstreamed, and broken or failing streams.

use crate::anthropic::message;
use crate::anthropic_render::assert_valid_anthropic;
use crate::server::{event, Answer, Server};
use crate::{anthropic, bounded, call, hello, Heard};
use baton_core::{ModelReply, StopReason, Usage};
use baton_models::Model;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Notify;

/// The text of the streamed answer, piece by piece.
const PIECES: [&str; 3] = ["Let me ", "check ", "your line."];

/// The tool input as streamed: a key and a value split mid-string.
const PARTIAL_JSON: [&str; 5] = ["", r#"{"custo"#, r#"mer_id": "4"#, r#"2", "urg"#, r#"ent": true}"#];

fn message_start() -> String {
    event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 300,
                      "output_tokens": 1},
        }}),
    )
}

fn ping() -> String {
    event("ping", &json!({"type": "ping"}))
}

fn block_start(index: u64, block: Value) -> String {
    event("content_block_start", &json!({"type": "content_block_start", "index": index, "content_block": block}))
}

fn block_delta(index: u64, delta: Value) -> String {
    event("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}))
}

fn block_stop(index: u64) -> String {
    event("content_block_stop", &json!({"type": "content_block_stop", "index": index}))
}

fn text_block(index: u64, pieces: &[&str]) -> Vec<String> {
    let mut frames = vec![block_start(index, json!({"type": "text", "text": ""}))];
    frames.extend(pieces.iter().map(|text| block_delta(index, json!({"type": "text_delta", "text": text}))));
    frames.push(block_stop(index));
    frames
}

fn message_end(stop_reason: &str, output_tokens: u64) -> Vec<String> {
    vec![
        event(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                    "usage": {"output_tokens": output_tokens}}),
        ),
        event("message_stop", &json!({"type": "message_stop"})),
    ]
}

/// A complete stream: text, then a `check_line` call.
fn tool_stream() -> Vec<String> {
    let mut frames = vec![message_start(), block_start(0, json!({"type": "text", "text": ""})), ping()];
    frames.extend(PIECES.iter().map(|text| block_delta(0, json!({"type": "text_delta", "text": text}))));
    frames.push(block_stop(0));
    frames.push(block_start(1, json!({"type": "tool_use", "id": "toolu_01A", "name": "check_line", "input": {}})));
    frames.extend(
        PARTIAL_JSON.iter().map(|json| block_delta(1, json!({"type": "input_json_delta", "partial_json": json}))),
    );
    frames.push(block_stop(1));
    frames.extend(message_end("tool_use", 45));
    frames
}

/// The reply [`tool_stream`] gives.
fn tool_reply() -> ModelReply {
    ModelReply {
        text: Some(PIECES.concat()),
        tool_calls: vec![call("toolu_01A", "check_line", r#"{"customer_id":"42","urgent":true}"#)],
        usage: Some(Usage { input_tokens: 420, output_tokens: 45 }),
        stop: None,
    }
}

/// A complete text stream.
fn text_stream(pieces: &[&str], stop_reason: &str) -> Vec<String> {
    let mut frames = vec![message_start()];
    frames.extend(text_block(0, pieces));
    frames.extend(message_end(stop_reason, 12));
    frames
}

#[tokio::test]
async fn a_streamed_answer_is_heard_and_gives_the_unstreamed_reply() {
    let server = Server::start(vec![Answer::events(&tool_stream())]).await;
    let heard = Heard::default();
    let reply =
        bounded(anthropic(&server, |endpoint| endpoint.stream = true).complete(&hello(), &heard)).await.unwrap();
    assert_eq!(heard.pieces(), PIECES);
    assert_eq!(reply, tool_reply());

    let content = json!([
        {"type": "text", "text": PIECES.concat()},
        {"type": "tool_use", "id": "toolu_01A", "name": "check_line", "input": {"customer_id": "42", "urgent": true}},
    ]);
    let usage = json!({"input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 300,
                       "output_tokens": 45});
    let plain = Server::start(vec![Answer::json(200, message(content, "tool_use", usage))]).await;
    let unstreamed = bounded(anthropic(&plain, |_| {}).complete(&hello(), &Heard::default())).await.unwrap();
    assert_eq!(unstreamed, reply);

    // The streamed request differs only by "stream": true.
    let mut body = server.only().json();
    assert_eq!(body["stream"], json!(true));
    assert_valid_anthropic(&body);
    body.as_object_mut().unwrap().remove("stream");
    assert_eq!(body, plain.only().json());
}

#[tokio::test]
async fn text_reaches_the_listener_while_the_answer_is_still_streaming() {
    // The server goes on only once the listener heard the first piece of text.
    let gate = Arc::new(Notify::new());
    let frames = tool_stream();
    let first_text = frames.iter().position(|frame| frame.contains("text_delta")).unwrap();
    let answer = Answer::gated(&frames[..=first_text], Arc::clone(&gate), &frames[first_text + 1..]);
    let server = Server::start(vec![answer]).await;
    let heard = Heard::opening(gate);
    let reply =
        bounded(anthropic(&server, |endpoint| endpoint.stream = true).complete(&hello(), &heard)).await.unwrap();
    assert_eq!(heard.pieces(), PIECES);
    assert_eq!(reply, tool_reply());
}

#[tokio::test]
async fn a_streamed_answer_cut_by_max_tokens_says_so() {
    let server =
        Server::start(vec![Answer::events(&text_stream(&["Dear customer, ", "your bill"], "max_tokens"))]).await;
    let heard = Heard::default();
    let reply =
        bounded(anthropic(&server, |endpoint| endpoint.stream = true).complete(&hello(), &heard)).await.unwrap();
    assert_eq!(reply.text.as_deref(), Some("Dear customer, your bill"));
    assert_eq!(reply.stop, Some(StopReason::Length));
    assert_eq!(reply.usage, Some(Usage { input_tokens: 420, output_tokens: 12 }));
    assert_eq!(heard.pieces(), ["Dear customer, ", "your bill"]);
}

#[tokio::test]
async fn cumulative_usage_repeated_in_message_delta_is_counted_once() {
    // Newer API versions repeat the cumulative input counts in message_delta.
    let mut frames = tool_stream();
    let at = frames.iter().position(|frame| frame.contains("message_delta")).unwrap();
    frames[at] = event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 300,
                          "output_tokens": 45}}),
    );
    let server = Server::start(vec![Answer::events(&frames)]).await;
    let reply = bounded(anthropic(&server, |endpoint| endpoint.stream = true).complete(&hello(), &Heard::default()))
        .await
        .unwrap();
    assert_eq!(reply, tool_reply());
}

#[tokio::test]
async fn an_overloaded_error_before_any_text_is_retried() {
    let overloaded = vec![
        message_start(),
        ping(),
        event("error", &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    ];
    let server = Server::start(vec![Answer::events(&overloaded), Answer::events(&tool_stream())]).await;
    let model = anthropic(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let heard = Heard::default();
    let reply = bounded(model.complete(&hello(), &heard)).await.unwrap();
    assert_eq!(reply, tool_reply());
    assert_eq!(heard.pieces(), PIECES);
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn an_error_after_text_is_final() {
    let mut frames = vec![message_start()];
    frames.extend(text_block(0, &["Let me "]));
    frames.push(event(
        "error",
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let server = Server::start(vec![Answer::events(&frames), Answer::events(&tool_stream())]).await;
    let model = anthropic(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let error = bounded(model.complete(&hello(), &Heard::default())).await.unwrap_err();
    assert_eq!(error.kind(), "unavailable", "{error}");
    let message = error.to_string();
    assert!(message.contains("Overloaded"), "{message}");
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_stream_that_ends_without_message_stop_after_text_broke_off() {
    let mut frames = vec![message_start(), block_start(0, json!({"type": "text", "text": ""}))];
    frames.push(block_delta(0, json!({"type": "text_delta", "text": "Let me "})));
    let server = Server::start(vec![Answer::events(&frames), Answer::events(&tool_stream())]).await;
    let model = anthropic(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let heard = Heard::default();
    let error = bounded(model.complete(&hello(), &heard)).await.unwrap_err();
    assert_eq!(error.kind(), "connection_failed", "{error}");
    let message = error.to_string();
    assert!(message.contains("broke off"), "{message}");
    assert_eq!(heard.pieces(), ["Let me "]);
    assert_eq!(server.count(), 1, "a retry would show the user the answer twice");
}

#[tokio::test]
async fn a_stream_cut_off_before_any_text_is_retried() {
    let server =
        Server::start(vec![Answer::events(&[message_start(), ping()]).cut(), Answer::events(&tool_stream())]).await;
    let model = anthropic(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let reply = bounded(model.complete(&hello(), &Heard::default())).await.unwrap();
    assert_eq!(reply, tool_reply());
    assert_eq!(server.count(), 2);
}
