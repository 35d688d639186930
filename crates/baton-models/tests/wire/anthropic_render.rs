//! How a provider-neutral conversation is rendered for Anthropic's Messages API, checked on the
//! body the server received against the rules the API enforces.

use crate::anthropic::text_message;
use crate::server::{Answer, Server};
use crate::{anthropic, bounded, call, request, Heard};
use baton_core::{ChatMessage, ToolCall, ToolOutput};
use baton_models::Model;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Fails unless `body` is a Messages request the API accepts (see [`anthropic_problem`]).
pub fn assert_valid_anthropic(body: &Value) {
    if let Err(problem) = anthropic_problem(body) {
        panic!("{problem}\nin the request body: {body:#}");
    }
}

/// `Err` with the first rule of the Messages API that `body` breaks: it needs a model and a
/// positive `max_tokens`; a non-empty `system` string if any; messages that start and end with a
/// user turn and alternate roles strictly, each with a non-empty content list; no blank text
/// blocks; `tool_use` blocks only from the assistant, with unique ids of `[A-Za-z0-9_-]` and an
/// object `input`; and each assistant turn's tool uses answered, each exactly once, by
/// `tool_result` blocks at the start of the next (user) turn, which answers nothing else.
pub fn anthropic_problem(body: &Value) -> Result<(), String> {
    let non_blank = |value: Option<&Value>| value.and_then(Value::as_str).is_some_and(|text| !text.trim().is_empty());
    ensure(non_blank(body.get("model")), || "\"model\" must be a non-empty string".into())?;
    ensure(body.get("max_tokens").and_then(Value::as_u64).is_some_and(|max| max > 0), || {
        "\"max_tokens\" is required and must be a positive integer".into()
    })?;
    if let Some(system) = body.get("system") {
        ensure(non_blank(Some(system)), || "\"system\", when present, must be a non-empty string".into())?;
    }
    let messages = body.get("messages").and_then(Value::as_array).filter(|messages| !messages.is_empty());
    let Some(messages) = messages else { return Err("\"messages\" must be a non-empty list".into()) };
    let mut all_ids = HashSet::new();
    let mut previous_uses: Vec<&str> = Vec::new();
    for (at, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or_default();
        let due = if at % 2 == 0 { "user" } else { "assistant" };
        ensure(role == due, || {
            format!("messages[{at}] has role '{role}' where '{due}' is due (user first, then alternating)")
        })?;
        let blocks = message.get("content").and_then(Value::as_array).filter(|blocks| !blocks.is_empty());
        let Some(blocks) = blocks else { return Err(format!("messages[{at}] must have a non-empty content list")) };
        let mut uses = Vec::new();
        let mut results = Vec::new();
        for (position, block) in blocks.iter().enumerate() {
            let here = format!("messages[{at}].content[{position}]");
            match block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    ensure(non_blank(block.get("text")), || format!("{here}: a text block must have non-blank text"))?
                }
                Some("tool_use") => {
                    ensure(role == "assistant", || format!("{here}: tool_use only in assistant turns"))?;
                    let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                    let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    ensure(valid, || format!("{here}: tool_use id '{id}' must match ^[a-zA-Z0-9_-]+$"))?;
                    ensure(all_ids.insert(id), || format!("{here}: tool_use id '{id}' is not unique"))?;
                    ensure(non_blank(block.get("name")), || format!("{here}: tool_use needs a name"))?;
                    ensure(block.get("input").is_some_and(Value::is_object), || {
                        format!("{here}: tool_use input must be an object")
                    })?;
                    uses.push(id);
                }
                Some("tool_result") => {
                    ensure(role == "user", || format!("{here}: tool_result only in user turns"))?;
                    ensure(position == results.len(), || {
                        format!("{here}: tool_result blocks must come first in their turn")
                    })?;
                    let id = block.get("tool_use_id").and_then(Value::as_str);
                    let Some(id) = id else { return Err(format!("{here}: tool_result needs a tool_use_id")) };
                    let content_ok = match block.get("content") {
                        None | Some(Value::Array(_)) => true,
                        Some(Value::String(text)) => !text.is_empty(),
                        Some(_) => false,
                    };
                    ensure(content_ok, || format!("{here}: tool_result content must be a non-empty string or a list"))?;
                    let flag_ok = block.get("is_error").is_none_or(Value::is_boolean);
                    ensure(flag_ok, || format!("{here}: is_error must be a boolean"))?;
                    results.push(id);
                }
                other => return Err(format!("{here}: unexpected block type {other:?}")),
            }
        }
        if role == "user" {
            let (mut answered, mut asked) = (results, previous_uses.clone());
            answered.sort_unstable();
            asked.sort_unstable();
            ensure(answered == asked, || {
                format!(
                    "messages[{at}] must answer the previous turn's tool uses {asked:?} exactly once each, \
                     and nothing else; it answers {answered:?}"
                )
            })?;
        }
        previous_uses = uses;
    }
    ensure(messages.len() % 2 == 1, || {
        "the last message must be a user turn (a trailing assistant turn is taken as a prefill)".into()
    })
}

/// `Err` with the message unless `condition` holds.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

/// The body a one-reply Anthropic server receives for `messages`.
async fn rendered(messages: Vec<ChatMessage>) -> Value {
    let server = Server::start(vec![Answer::json(200, text_message("ok"))]).await;
    bounded(anthropic(&server, |_| {}).complete(&request("You fix lines.", messages, Vec::new()), &Heard::default()))
        .await
        .unwrap();
    server.only().json()
}

#[tokio::test]
async fn a_handoff_view_is_rendered_by_the_api_rules() {
    let messages = vec![
        ChatMessage::User("my internet is down".into()),
        // Another agent's words, rewritten as text.
        ChatMessage::Assistant { text: Some("[billing] The customer paid on the 3rd.".into()), tool_calls: Vec::new() },
        ChatMessage::Assistant {
            text: None,
            tool_calls: vec![
                call("toolu.a/1", "check_line", r#"{"customer_id":"42"}"#),
                call("call b", "open_ticket", "{not json"),
            ],
        },
        ChatMessage::Tool { call_id: "toolu.a/1".into(), output: ToolOutput::ok("line up") },
        ChatMessage::Tool { call_id: "call b".into(), output: ToolOutput::error("the arguments are not valid JSON") },
        ChatMessage::User("still down".into()),
        ChatMessage::Assistant { text: Some(String::new()), tool_calls: Vec::new() },
        // The view ends with the words of the agent that handed over.
        ChatMessage::Assistant { text: Some("[support] Try restarting the router.".into()), tool_calls: Vec::new() },
    ];
    let body = rendered(messages).await;
    assert_valid_anthropic(&body);
    assert_eq!(body["system"], json!("You fix lines."));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5, "{body:#}");
    assert_eq!(messages[0], json!({"role": "user", "content": [{"type": "text", "text": "my internet is down"}]}));
    // Ids outside [A-Za-z0-9_-] are rewritten: cleaned, with a hash of the original so two never meet.
    let ids: Vec<String> =
        messages[1]["content"].as_array().unwrap()[1..].iter().map(|b| b["id"].as_str().unwrap().to_string()).collect();
    assert!(ids[0].starts_with("toolu_a_1_") && ids[1].starts_with("call_b_"), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": "[billing] The customer paid on the 3rd."},
            {"type": "tool_use", "id": ids[0], "name": "check_line", "input": {"customer_id": "42"}},
            {"type": "tool_use", "id": ids[1], "name": "open_ticket", "input": {}},
        ]}),
        "consecutive assistant messages form one turn; malformed arguments become {{}}"
    );
    let results = &messages[2]["content"];
    assert_eq!(results[0]["type"], "tool_result");
    assert_eq!(results[0]["tool_use_id"], ids[0].as_str());
    assert_eq!(results[0]["content"], "line up");
    assert_ne!(results[0].get("is_error"), Some(&json!(true)));
    assert_eq!(results[1]["type"], "tool_result");
    assert_eq!(results[1]["tool_use_id"], ids[1].as_str());
    assert_eq!(results[1]["is_error"], json!(true));
    assert_eq!(results[2], json!({"type": "text", "text": "still down"}), "the user's words follow the results");
    assert_eq!(results.as_array().unwrap().len(), 3);
    assert_eq!(
        messages[3],
        json!({"role": "assistant", "content": [{"type": "text", "text": "[support] Try restarting the router."}]}),
        "the empty assistant message is dropped"
    );
    assert_eq!(messages[4]["role"], "user", "the agent that took over is asked to continue");
}

#[tokio::test]
async fn a_view_that_starts_with_another_agents_words_starts_with_a_user_turn() {
    let messages = vec![
        ChatMessage::Assistant { text: Some("[billing] Earlier note.".into()), tool_calls: Vec::new() },
        ChatMessage::User("and now?".into()),
    ];
    let body = rendered(messages).await;
    assert_valid_anthropic(&body);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{body:#}");
    assert_eq!(messages[1]["content"], json!([{"type": "text", "text": "[billing] Earlier note."}]));
    assert_eq!(messages[2]["content"], json!([{"type": "text", "text": "and now?"}]));
}

#[tokio::test]
async fn an_empty_or_blank_view_still_has_a_user_turn() {
    for messages in [
        Vec::new(),
        vec![
            ChatMessage::User("  ".into()),
            ChatMessage::Assistant { text: Some("\n".into()), tool_calls: Vec::new() },
        ],
    ] {
        let body = rendered(messages.clone()).await;
        assert_valid_anthropic(&body);
        assert_eq!(body["messages"].as_array().unwrap().len(), 1, "{messages:?} gave {body:#}");
    }
}

/// A small deterministic random source (xorshift).
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// Texts the generated conversations use (the blank ones must not reach the wire).
const USER_TEXTS: [&str; 5] = ["hi", "", "  ", "still down\n", "it says error 651"];
const ASSISTANT_TEXTS: [Option<&str>; 5] =
    [Some("[billing] The invoice is paid."), Some(""), Some(" \n"), None, Some("Try the router.  ")];

/// A conversation as the runtime builds them: users, assistants (this agent or others' words),
/// and each tool call answered right after its assistant message.
fn conversation(random: &mut Random, next_id: &mut usize) -> Vec<ChatMessage> {
    let mut messages = Vec::new();
    for _ in 0..random.below(9) {
        match random.below(4) {
            0 => messages.push(ChatMessage::User(random.pick(&USER_TEXTS).to_string())),
            1 => messages.push(ChatMessage::Assistant {
                text: random.pick(&ASSISTANT_TEXTS).map(String::from),
                tool_calls: Vec::new(),
            }),
            _ => {
                let calls: Vec<ToolCall> = (0..1 + random.below(3))
                    .map(|_| {
                        *next_id += 1;
                        let n = *next_id;
                        let id = random.pick(&[
                            format!("call_{n}"),
                            format!("toolu.{n}"),
                            format!("functions.check_line:{n}"),
                            format!("{n} id/x"),
                        ]);
                        let arguments =
                            random.pick(&[r#"{"a":1}"#, "{bad", "", "[1,2]", "null", r#"{"nested":{"x":[1]}}"#]);
                        call(&id, "check_line", arguments)
                    })
                    .collect();
                let text = random.pick(&[None, Some(""), Some("Checking.")]).map(String::from);
                messages.push(ChatMessage::Assistant { text, tool_calls: calls.clone() });
                for call in calls {
                    let content = random.pick(&["done", "", r#"{"ok":true}"#]);
                    let output =
                        if random.below(3) == 0 { ToolOutput::error(content) } else { ToolOutput::ok(content) };
                    messages.push(ChatMessage::Tool { call_id: call.id, output });
                }
            }
        }
    }
    messages
}

/// The blocks of `kind` in a rendered body.
fn blocks<'a>(body: &'a Value, kind: &str) -> Vec<&'a Value> {
    let messages = body["messages"].as_array().unwrap();
    messages
        .iter()
        .flat_map(|message| message["content"].as_array().unwrap())
        .filter(|block| block["type"] == kind)
        .collect()
}

#[tokio::test]
async fn generated_conversations_always_render_valid_and_complete() {
    let server = Server::start(vec![Answer::json(200, text_message("ok"))]).await;
    let model = anthropic(&server, |_| {});
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let mut next_id = 0;
    let mut conversations = Vec::new();
    for _ in 0..300 {
        let messages = conversation(&mut random, &mut next_id);
        bounded(model.complete(&request("", messages.clone(), Vec::new()), &Heard::default())).await.unwrap();
        conversations.push(messages);
    }
    let requests = server.requests();
    assert_eq!(requests.len(), conversations.len());
    for (messages, seen) in conversations.iter().zip(&requests) {
        let body = seen.json();
        let context = format!("for {messages:#?}\nsent as {body:#}");
        if let Err(problem) = anthropic_problem(&body) {
            panic!("{problem}\n{context}");
        }

        // Nothing is lost: every call, every result and every non-blank text arrives, in order.
        let calls: Vec<&ToolCall> = messages
            .iter()
            .flat_map(|message| match message {
                ChatMessage::Assistant { tool_calls, .. } => tool_calls.iter().collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(blocks(&body, "tool_use").len(), calls.len(), "{context}");
        assert_eq!(blocks(&body, "tool_result").len(), calls.len(), "{context}");
        let texts: Vec<&str> = messages
            .iter()
            .filter_map(|message| match message {
                ChatMessage::User(text) => Some(text.as_str()),
                ChatMessage::Assistant { text, .. } => text.as_deref(),
                ChatMessage::Tool { .. } => None,
            })
            .filter(|text| !text.trim().is_empty())
            .map(str::trim_end)
            .collect();
        let ours: Vec<&str> = USER_TEXTS
            .iter()
            .copied()
            .chain(ASSISTANT_TEXTS.iter().flatten().copied())
            .chain(["Checking."])
            .map(str::trim_end)
            .collect();
        let sent: Vec<&str> = blocks(&body, "text").into_iter().filter_map(|block| block["text"].as_str()).collect();
        let (kept, added): (Vec<&str>, Vec<&str>) = sent.into_iter().partition(|text| ours.contains(text));
        assert_eq!(kept, texts, "{context}");
        assert!(added.len() <= 2, "at most a lead-in and a closing user turn are added: {added:?} {context}");
    }
}
