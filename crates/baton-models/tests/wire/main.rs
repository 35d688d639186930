#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

//! Wire tests of the HTTP model providers against a scripted local server: what each provider
//! sends (path, headers, body, Anthropic's message rules), how it reads plain and streamed
//! answers (the same answer gives the same reply either way), and how it retries and reports
//! failures.

mod anthropic;
mod anthropic_render;
mod anthropic_stream;
mod errors;
mod fuzz;
mod openai_stream;
mod server;

use baton_core::{ChatMessage, ModelRequest, ToolCall, ToolDef};
use baton_models::{AnthropicModel, Endpoint, Listener, OpenAiModel};
use serde_json::Value;
use server::Server;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// A request from the `triage` agent with these messages and tools.
pub fn request(system: &str, messages: Vec<ChatMessage>, tools: Vec<ToolDef>) -> ModelRequest {
    ModelRequest {
        turn: 1,
        agent: "triage".into(),
        model: "fast".into(),
        agent_call_index: 0,
        purpose: Default::default(),
        system: system.into(),
        messages,
        tools,
        facts: Default::default(),
    }
}

/// The simplest request: a system prompt and one user message.
pub fn hello() -> ModelRequest {
    request("You triage.", vec![ChatMessage::User("hello".into())], Vec::new())
}

/// A tool offered to the model.
pub fn tool(name: &str, parameters: Value) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: format!("Does {name}."),
        parameters,
        examples: vec!["an example utterance, never sent".into()],
        idempotent: true,
        approval: Default::default(),
    }
}

/// A tool call.
pub fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
}

/// A listener that keeps every piece of text it hears, and opens its gate (if any) at each.
#[derive(Default)]
pub struct Heard {
    pieces: Mutex<Vec<String>>,
    gate: Option<Arc<Notify>>,
}

impl Heard {
    /// A listener that opens `gate` whenever it hears text.
    pub fn opening(gate: Arc<Notify>) -> Heard {
        Heard { pieces: Mutex::default(), gate: Some(gate) }
    }

    /// The pieces heard, in order.
    pub fn pieces(&self) -> Vec<String> {
        self.pieces.lock().unwrap().clone()
    }
}

impl Listener for Heard {
    fn text(&self, delta: &str) {
        self.pieces.lock().unwrap().push(delta.to_string());
        if let Some(gate) = &self.gate {
            gate.notify_one();
        }
    }
}

/// An OpenAI-compatible model at `server` (base URL `.../v1`), after `change` to its endpoint.
pub fn openai(server: &Server, change: impl FnOnce(&mut Endpoint)) -> OpenAiModel {
    openai_at(&server.base, change)
}

/// An OpenAI-compatible model at `base` (`http://HOST:PORT`; the base URL is `base/v1`).
pub fn openai_at(base: &str, change: impl FnOnce(&mut Endpoint)) -> OpenAiModel {
    let mut endpoint = Endpoint::new("gpt-4o-mini", format!("{base}/v1"), None);
    change(&mut endpoint);
    OpenAiModel::new(endpoint).unwrap()
}

/// An Anthropic model at `server` (base URL without `/v1`), after `change` to its endpoint.
pub fn anthropic(server: &Server, change: impl FnOnce(&mut Endpoint)) -> AnthropicModel {
    anthropic_at(&server.base, change)
}

/// An Anthropic model at `base` (`http://HOST:PORT`, the documented form without `/v1`).
pub fn anthropic_at(base: &str, change: impl FnOnce(&mut Endpoint)) -> AnthropicModel {
    let mut endpoint = Endpoint::new("claude-sonnet-4-5", base, None);
    change(&mut endpoint);
    AnthropicModel::new(endpoint).unwrap()
}

/// `future`'s output; a generous bound turns a hang into a failure.
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future).await.expect("the call did not finish within 30 s")
}
