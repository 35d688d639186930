//! Anthropic's Messages API, unstreamed: where the request goes, its headers and body, and how
//! the answer is read.

use crate::anthropic_render::assert_valid_anthropic;
use crate::server::{Answer, Server};
use crate::{anthropic, anthropic_at, bounded, call, hello, request, tool, Heard};
use baton_core::{ChatMessage, ModelReply, StopReason, Usage};
use baton_models::{Model, Sampling};
use serde_json::{json, Value};

/// An answer with these content blocks, stop reason and usage.
pub fn message(content: Value, stop_reason: &str, usage: Value) -> String {
    json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage,
    })
    .to_string()
}

/// A plain text answer.
pub fn text_message(text: &str) -> String {
    message(json!([{"type": "text", "text": text}]), "end_turn", json!({"input_tokens": 10, "output_tokens": 3}))
}

/// The schema of the `check_line` tool.
fn check_line_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"customer_id": {"type": "string"}, "urgent": {"type": "boolean"}},
        "required": ["customer_id"],
    })
}

#[tokio::test]
async fn requests_go_to_v1_messages_with_the_key_and_the_api_version() {
    let var = "BATON_WIRE_ANTHROPIC_KEY_5d1e";
    std::env::set_var(var, "sk-ant-wire-test");
    let server = Server::start(vec![Answer::json(200, text_message("hi"))]).await;
    let bases = [server.base.clone(), format!("{}/v1", server.base), format!("{}/v1/", server.base)];
    for base in &bases {
        let model = anthropic_at(base, |endpoint| endpoint.api_key_env = Some(var.into()));
        assert_eq!(model.url(), format!("{}/v1/messages", server.base), "base_url {base}");
        bounded(model.complete(&hello(), &Heard::default())).await.unwrap();
    }
    let requests = server.requests();
    assert_eq!(requests.len(), bases.len());
    for (seen, base) in requests.iter().zip(&bases) {
        assert_eq!(seen.request_line, "POST /v1/messages HTTP/1.1", "base_url {base}");
        assert_eq!(seen.header("x-api-key"), Some("sk-ant-wire-test"));
        assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.header("authorization"), None, "Anthropic takes the key in x-api-key only");
    }
}

#[tokio::test]
async fn configured_headers_are_sent_and_can_replace_the_api_version() {
    let server = Server::start(vec![Answer::json(200, text_message("hi"))]).await;
    let model = anthropic(&server, |endpoint| {
        endpoint.headers = vec![
            ("anthropic-version".into(), "2099-01-01".into()),
            ("anthropic-beta".into(), "prompt-caching-2024-07-31".into()),
        ];
    });
    bounded(model.complete(&hello(), &Heard::default())).await.unwrap();
    let seen = server.only();
    assert_eq!(seen.header("anthropic-version"), Some("2099-01-01"));
    assert_eq!(seen.header("anthropic-beta"), Some("prompt-caching-2024-07-31"));
    assert_eq!(seen.headers.iter().filter(|(name, _)| name == "anthropic-version").count(), 1);
    assert_eq!(seen.header("x-api-key"), None, "no key is configured");
}

#[tokio::test]
async fn the_body_has_the_messages_shape_and_default_max_tokens() {
    let server = Server::start(vec![Answer::json(200, text_message("hi"))]).await;
    let messages = vec![ChatMessage::User("my internet is down".into())];
    let request = request("You triage.", messages, vec![tool("check_line", check_line_schema())]);
    bounded(anthropic(&server, |_| {}).complete(&request, &Heard::default())).await.unwrap();
    let body = server.only().json();
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "You triage.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "my internet is down"}]}],
            "tools": [{"name": "check_line", "description": "Does check_line.", "input_schema": check_line_schema()}],
        })
    );
    assert_valid_anthropic(&body);
}

#[tokio::test]
async fn sampling_settings_are_sent_and_an_empty_system_prompt_is_left_out() {
    let server = Server::start(vec![Answer::json(200, text_message("hi"))]).await;
    let sampling = Sampling {
        temperature: Some(0.2),
        top_p: Some(0.9),
        max_tokens: Some(1000),
        seed: Some(7),
        parallel_tool_calls: Some(false),
    };
    let with_tools = request("", vec![ChatMessage::User("hi".into())], vec![tool("check_line", check_line_schema())]);
    let model = anthropic(&server, |endpoint| endpoint.sampling = sampling.clone());
    bounded(model.complete(&with_tools, &Heard::default())).await.unwrap();
    let body = server.requests()[0].json();
    assert_eq!(body["max_tokens"], json!(1000));
    assert_eq!(body["temperature"], json!(0.2));
    assert_eq!(body["top_p"], json!(0.9));
    assert_eq!(body["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": true}));
    assert_eq!(body.get("system"), None, "an empty system prompt is left out");
    assert_eq!(body.get("seed"), None, "the Messages API has no seed");
    assert_eq!(body.get("stream"), None);
    assert_valid_anthropic(&body);

    // Parallel calls allowed, or no tools at all: no tool_choice.
    let parallel = anthropic(&server, |endpoint| endpoint.sampling.parallel_tool_calls = Some(true));
    bounded(parallel.complete(&with_tools, &Heard::default())).await.unwrap();
    let serial_without_tools = anthropic(&server, |endpoint| endpoint.sampling = sampling.clone());
    bounded(serial_without_tools.complete(&hello(), &Heard::default())).await.unwrap();
    let requests = server.requests();
    for seen in &requests[1..] {
        let body = seen.json();
        assert_eq!(body.get("tool_choice"), None, "{body}");
        assert_valid_anthropic(&body);
    }
    assert_eq!(requests[1].json()["max_tokens"], json!(4096));
    assert_eq!(requests[1].json().get("temperature"), None);
}

#[tokio::test]
async fn text_and_tool_use_blocks_become_the_reply() {
    let content = json!([
        {"type": "thinking", "thinking": "The customer wants a line check.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "Let me check "},
        {"type": "text", "text": "your line."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "check_line",
         "input": {"customer_id": "42", "urgent": true}},
        {"type": "tool_use", "id": "toolu_01B", "name": "list_outages", "input": {}},
    ]);
    let usage = json!({
        "input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 300,
        "output_tokens": 45,
    });
    let server = Server::start(vec![Answer::json(200, message(content, "tool_use", usage))]).await;
    let reply = bounded(anthropic(&server, |_| {}).complete(&hello(), &Heard::default())).await.unwrap();
    assert_eq!(
        reply,
        ModelReply {
            text: Some("Let me check your line.".into()),
            tool_calls: vec![
                call("toolu_01A09q90qw90lq917835lq9", "check_line", r#"{"customer_id":"42","urgent":true}"#),
                call("toolu_01B", "list_outages", "{}"),
            ],
            usage: Some(Usage { input_tokens: 420, output_tokens: 45 }),
            stop: None,
        }
    );
}

#[tokio::test]
async fn stop_reasons_are_reported() {
    let cases = [
        ("end_turn", None),
        ("stop_sequence", None),
        ("tool_use", None),
        ("max_tokens", Some(StopReason::Length)),
        ("refusal", Some(StopReason::Refusal)),
    ];
    let usage = json!({"input_tokens": 10, "output_tokens": 3});
    let answers = cases.iter().map(|(reason, _)| {
        Answer::json(200, message(json!([{"type": "text", "text": "Dear"}]), reason, usage.clone()))
    });
    let server = Server::start(answers.collect()).await;
    let model = anthropic(&server, |_| {});
    for (reason, stop) in cases {
        let reply = bounded(model.complete(&hello(), &Heard::default())).await.unwrap();
        assert_eq!(reply.stop, stop, "stop_reason {reason}");
        assert_eq!(reply.text.as_deref(), Some("Dear"), "stop_reason {reason}");
    }
}
