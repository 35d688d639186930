//! The Chat Completions wire shapes the mock answers with: a `chat.completion` object, or the two
//! `chat.completion.chunk` events and `[DONE]` of a streamed answer, as mockllm.py writes them.

use crate::decide::Decision;
use serde_json::{json, Value};

/// The model name, id number and creation time shared by every shape of one answer.
#[derive(Clone, Debug)]
pub struct Meta {
    /// The request's `model` (`"mock"` if it has none).
    pub model: Value,
    /// The answer's number: the id is `chatcmpl-N`, a tool call's `call_N`.
    pub n: u64,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

/// The unstreamed answer.
pub fn completion(meta: &Meta, decision: &Decision) -> Value {
    let (message, finish) = match decision {
        Decision::Tool { name, arguments } => (
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": format!("call_{}", meta.n), "type": "function",
                "function": {"name": name, "arguments": arguments}}]}),
            "tool_calls",
        ),
        Decision::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
    };
    json!({
        "id": format!("chatcmpl-{}", meta.n), "object": "chat.completion", "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
}

/// The streamed answer: the whole delta in one chunk, then the finish reason in another.
pub fn chunks(meta: &Meta, decision: &Decision) -> [Value; 2] {
    let (delta, finish) = match decision {
        Decision::Tool { name, arguments } => (
            json!({"role": "assistant", "tool_calls": [{
                "index": 0, "id": format!("call_{}", meta.n), "type": "function",
                "function": {"name": name, "arguments": arguments}}]}),
            "tool_calls",
        ),
        Decision::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
    };
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": format!("chatcmpl-{}", meta.n), "object": "chat.completion.chunk", "created": meta.created,
            "model": meta.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    [chunk(delta, Value::Null), chunk(json!({}), json!(finish))]
}

/// The server-sent-events body of a streamed answer, `data: [DONE]` last.
pub fn event_stream(chunks: &[Value]) -> String {
    let mut body = String::new();
    for chunk in chunks {
        body.push_str("data: ");
        body.push_str(&chunk.to_string());
        body.push_str("\n\n");
    }
    body.push_str("data: [DONE]\n\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta { model: json!("mock"), n: 7, created: 1_700_000_000 }
    }

    #[test]
    fn a_tool_call_answer_has_the_call_and_finishes_with_tool_calls() {
        let decision = Decision::Tool { name: "check_line_status".into(), arguments: "{}".into() };
        let answer = completion(&meta(), &decision);
        assert_eq!(answer["id"], "chatcmpl-7");
        assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(answer["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(answer["choices"][0]["message"]["tool_calls"][0]["id"], "call_7");
        assert_eq!(answer["usage"]["total_tokens"], 15);
    }

    #[test]
    fn a_streamed_text_answer_is_two_chunks_and_done() {
        let decision = Decision::Text("hi".into());
        let body = event_stream(&chunks(&meta(), &decision));
        let events: Vec<&str> = body.split("\n\n").filter(|event| !event.is_empty()).collect();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2], "data: [DONE]");
        let first: Value = serde_json::from_str(&events[0]["data: ".len()..]).expect("JSON");
        let second: Value = serde_json::from_str(&events[1]["data: ".len()..]).expect("JSON");
        assert_eq!(first["choices"][0]["delta"]["content"], "hi");
        assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(second["choices"][0]["delta"], json!({}));
        assert_eq!(second["choices"][0]["finish_reason"], "stop");
    }
}
