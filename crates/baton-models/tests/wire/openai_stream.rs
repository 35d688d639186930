//! Streamed Chat Completions: text heard as it arrives, tool calls reassembled from interleaved
//! fragments, and the same reply as the same answer unstreamed; stops, refusals, broken streams
//! and errors reported inside a stream.

use crate::server::{data, done, Answer, Server};
use crate::{bounded, call, hello, openai, Heard};
use baton_core::{ModelReply, StopReason, Usage};
use baton_models::Model;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Notify;

/// One `chat.completion.chunk` frame with this delta, as OpenAI sends it when usage is asked for.
fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    data(&json!({
        "id": "chatcmpl-9xK2",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0aa8d3e20b",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        "usage": null,
    }))
}

/// The last chunk before `[DONE]`: no choices, the usage.
fn usage_chunk(prompt_tokens: u64, completion_tokens: u64) -> String {
    data(&json!({
        "id": "chatcmpl-9xK2",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
}

/// The first chunk of a real stream: the role, and empty content.
fn role_chunk() -> String {
    chunk(json!({"role": "assistant", "content": "", "refusal": null}), None)
}

/// An unstreamed answer with this message.
fn whole(message: Value, finish_reason: &str, prompt_tokens: u64, completion_tokens: u64) -> String {
    json!({
        "id": "chatcmpl-9xK2",
        "object": "chat.completion",
        "created": 1718000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
    .to_string()
}

/// The text of the streamed answer in [`text_stream`], piece by piece.
const PIECES: [&str; 4] = ["Your line", " is up", "; restart", " the router."];

/// A complete text stream of [`PIECES`].
fn text_stream() -> Vec<String> {
    let mut frames = vec![role_chunk()];
    frames.extend(PIECES.iter().map(|piece| chunk(json!({"content": piece}), None)));
    frames.extend([chunk(json!({}), Some("stop")), usage_chunk(31, 9), done()]);
    frames
}

/// The reply [`text_stream`] gives.
fn text_reply() -> ModelReply {
    ModelReply {
        text: Some(PIECES.concat()),
        tool_calls: Vec::new(),
        usage: Some(Usage { input_tokens: 31, output_tokens: 9 }),
        stop: None,
    }
}

/// The reply to `frames` streamed, with the pieces of text the listener heard.
async fn streamed(frames: &[String]) -> (ModelReply, Vec<String>) {
    let server = Server::start(vec![Answer::events(frames)]).await;
    let heard = Heard::default();
    let reply = bounded(openai(&server, |endpoint| endpoint.stream = true).complete(&hello(), &heard)).await.unwrap();
    (reply, heard.pieces())
}

/// The reply to `body` unstreamed.
async fn unstreamed(body: String) -> ModelReply {
    let server = Server::start(vec![Answer::json(200, body)]).await;
    bounded(openai(&server, |_| {}).complete(&hello(), &Heard::default())).await.unwrap()
}

#[tokio::test]
async fn streamed_text_is_heard_piece_by_piece_and_gives_the_unstreamed_reply() {
    let (reply, heard) = streamed(&text_stream()).await;
    assert_eq!(heard, PIECES, "the listener hears each delta, in order, and nothing else");
    assert_eq!(reply, text_reply());

    let message = json!({"role": "assistant", "content": PIECES.concat(), "refusal": null});
    assert_eq!(unstreamed(whole(message, "stop", 31, 9)).await, reply);
}

#[tokio::test]
async fn text_reaches_the_listener_while_the_answer_is_still_streaming() {
    // The server sends the rest only once the listener heard the first piece: a client that
    // waited for the whole answer before telling the listener would never finish.
    let gate = Arc::new(Notify::new());
    let frames = text_stream();
    let server = Server::start(vec![Answer::gated(&frames[..2], Arc::clone(&gate), &frames[2..])]).await;
    let heard = Heard::opening(gate);
    let reply = bounded(openai(&server, |endpoint| endpoint.stream = true).complete(&hello(), &heard)).await.unwrap();
    assert_eq!(heard.pieces(), PIECES);
    assert_eq!(reply, text_reply());
}

#[tokio::test]
async fn characters_split_between_two_writes_arrive_whole() {
    let pieces = ["Grüße aus Köln ", "— 日本語 ✓"];
    let mut frames = vec![role_chunk()];
    frames.extend(pieces.iter().map(|piece| chunk(json!({"content": piece}), None)));
    frames.extend([chunk(json!({}), Some("stop")), usage_chunk(12, 6), done()]);
    // Split each frame just after the first byte of its first non-ASCII character.
    let inside_a_character = |frame: &str| frame.find(|c: char| !c.is_ascii()).map_or(frame.len() / 2, |at| at + 1);
    let server = Server::start(vec![Answer::split_events(&frames, inside_a_character)]).await;
    let heard = Heard::default();
    let reply = bounded(openai(&server, |endpoint| endpoint.stream = true).complete(&hello(), &heard)).await.unwrap();
    assert_eq!(heard.pieces(), pieces);
    assert_eq!(reply.text, Some(pieces.concat()));
}

#[tokio::test]
async fn interleaved_tool_call_fragments_reassemble_into_the_unstreamed_reply() {
    let first = |index: usize, id: &str, name: &str| {
        let fragment =
            json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
        chunk(json!({"tool_calls": [fragment]}), None)
    };
    let more = |index: usize, arguments: &str| {
        chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}), None)
    };
    let check_line = [r#"{"custo"#, r#"mer_id":"4"#, r#"2"}"#];
    let open_ticket = [r#"{"summ"#, r#"ary":"no sig"#, r#"nal since 9"}"#];
    let mut frames = vec![
        chunk(json!({"role": "assistant", "content": null}), None),
        first(0, "call_a1", "check_line"),
        first(1, "call_b2", "open_ticket"),
    ];
    for (a, b) in check_line.iter().zip(&open_ticket) {
        frames.push(more(0, a));
        frames.push(more(1, b));
    }
    frames.extend([chunk(json!({}), Some("tool_calls")), usage_chunk(57, 38), done()]);

    let (reply, heard) = streamed(&frames).await;
    let expected = ModelReply {
        text: None,
        tool_calls: vec![
            call("call_a1", "check_line", r#"{"customer_id":"42"}"#),
            call("call_b2", "open_ticket", r#"{"summary":"no signal since 9"}"#),
        ],
        usage: Some(Usage { input_tokens: 57, output_tokens: 38 }),
        stop: None,
    };
    assert_eq!(reply, expected);
    assert!(heard.is_empty(), "tool calls are not text: {heard:?}");

    let message = json!({
        "role": "assistant",
        "content": null,
        "refusal": null,
        "tool_calls": [
            {"id": "call_a1", "type": "function",
             "function": {"name": "check_line", "arguments": check_line.concat()}},
            {"id": "call_b2", "type": "function",
             "function": {"name": "open_ticket", "arguments": open_ticket.concat()}},
        ],
    });
    assert_eq!(unstreamed(whole(message, "tool_calls", 57, 38)).await, expected);
}

#[tokio::test]
async fn calls_that_reuse_index_zero_or_carry_no_index_stay_apart() {
    let expected =
        vec![call("call_a", "check_line", r#"{"customer_id":"1"}"#), call("call_b", "lookup", r#"{"q":"x"}"#)];
    // Ollama: every call arrives whole, each with index 0.
    let ollama = vec![
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
            "function": {"name": "check_line", "arguments": r#"{"customer_id":"1"}"#}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_b", "type": "function",
            "function": {"name": "lookup", "arguments": r#"{"q":"x"}"#}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        done(),
    ];
    assert_eq!(streamed(&ollama).await.0.tool_calls, expected);
    // Several whole calls in one delta, with neither index nor id: ids are given by position.
    let bare = vec![
        chunk(
            json!({"tool_calls": [
            {"type": "function", "function": {"name": "check_line", "arguments": r#"{"customer_id":"1"}"#}},
            {"type": "function", "function": {"name": "lookup", "arguments": r#"{"q":"x"}"#}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        done(),
    ];
    let calls = streamed(&bare).await.0.tool_calls;
    let names: Vec<(&str, &str, &str)> =
        calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())).collect();
    assert_eq!(names, [("call_0", "check_line", r#"{"customer_id":"1"}"#), ("call_1", "lookup", r#"{"q":"x"}"#)]);
}

#[tokio::test]
async fn a_streamed_request_asks_for_the_stream_and_its_usage() {
    let server = Server::start(vec![Answer::events(&text_stream())]).await;
    bounded(openai(&server, |endpoint| endpoint.stream = true).complete(&hello(), &Heard::default())).await.unwrap();
    let seen = server.only();
    assert_eq!(seen.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let mut body = seen.json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));

    // Otherwise the body is the unstreamed one.
    let plain = Server::start(vec![Answer::json(200, whole(json!({"content": "hi"}), "stop", 1, 1))]).await;
    bounded(openai(&plain, |_| {}).complete(&hello(), &Heard::default())).await.unwrap();
    let object = body.as_object_mut().unwrap();
    object.remove("stream");
    object.remove("stream_options");
    assert_eq!(body, plain.only().json());
}

#[tokio::test]
async fn a_stream_stopped_by_the_length_limit_says_so() {
    let frames = vec![
        role_chunk(),
        chunk(json!({"content": "Dear customer, your"}), None),
        chunk(json!({"content": " bill for March"}), None),
        chunk(json!({}), Some("length")),
        usage_chunk(20, 5),
        done(),
    ];
    let (reply, heard) = streamed(&frames).await;
    assert_eq!(reply.text.as_deref(), Some("Dear customer, your bill for March"));
    assert_eq!(reply.stop, Some(StopReason::Length));
    assert_eq!(heard, ["Dear customer, your", " bill for March"]);

    let message = json!({"role": "assistant", "content": "Dear customer, your bill for March"});
    assert_eq!(unstreamed(whole(message, "length", 20, 5)).await, reply);
}

#[tokio::test]
async fn a_streamed_refusal_is_the_text_and_the_stop_reason() {
    let frames = vec![
        chunk(json!({"role": "assistant", "content": null, "refusal": ""}), None),
        chunk(json!({"refusal": "I'm sorry, "}), None),
        chunk(json!({"refusal": "I can't help with that."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(40, 8),
        done(),
    ];
    let (reply, heard) = streamed(&frames).await;
    let expected = ModelReply {
        text: Some("I'm sorry, I can't help with that.".into()),
        tool_calls: Vec::new(),
        usage: Some(Usage { input_tokens: 40, output_tokens: 8 }),
        stop: Some(StopReason::Refusal),
    };
    assert_eq!(reply, expected);
    assert_eq!(heard, ["I'm sorry, ", "I can't help with that."]);

    let message = json!({"role": "assistant", "content": null, "refusal": "I'm sorry, I can't help with that."});
    assert_eq!(unstreamed(whole(message, "stop", 40, 8)).await, expected);
}

#[tokio::test]
async fn a_stream_cut_off_before_any_text_is_retried() {
    let server = Server::start(vec![Answer::events(&[role_chunk()]).cut(), Answer::events(&text_stream())]).await;
    let model = openai(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let heard = Heard::default();
    let reply = bounded(model.complete(&hello(), &heard)).await.unwrap();
    assert_eq!(reply, text_reply());
    assert_eq!(heard.pieces(), PIECES);
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_stream_cut_off_after_text_was_heard_fails_without_a_retry() {
    let broken = Answer::events(&[role_chunk(), chunk(json!({"content": "Your line"}), None)]).cut();
    let server = Server::start(vec![broken, Answer::events(&text_stream())]).await;
    let model = openai(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let heard = Heard::default();
    let error = bounded(model.complete(&hello(), &heard)).await.unwrap_err();
    assert_eq!(error.kind(), "connection_failed", "{error}");
    let message = error.to_string();
    assert!(message.contains("broke off"), "{message}");
    assert!(message.contains(&format!("{}/v1/chat/completions", server.base)), "{message}");
    assert_eq!(heard.pieces(), ["Your line"], "the user saw the start of the answer");
    assert_eq!(server.count(), 1, "a retry would show the user the answer twice");
}

#[tokio::test]
async fn an_error_inside_a_stream_is_reported() {
    let frames = vec![
        role_chunk(),
        chunk(json!({"content": "Checking"}), None),
        data(&json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}})),
    ];
    let server = Server::start(vec![Answer::events(&frames), Answer::events(&text_stream())]).await;
    let model = openai(&server, |endpoint| {
        endpoint.stream = true;
        endpoint.retries = 1;
    });
    let error = bounded(model.complete(&hello(), &Heard::default())).await.unwrap_err();
    assert_eq!(error.kind(), "unavailable", "{error}");
    let message = error.to_string();
    assert!(message.contains("boom"), "{message}");
    assert_eq!(server.count(), 1);
}
