//! The conversation transcript: what was said, called and handed over, tagged with who did it.
//!
//! The transcript is provider-neutral. [`crate::context`] turns it into the view one agent gets.

use crate::handoff::HandoffNote;
use serde::{Deserialize, Serialize};

/// A tool call made by a model: `arguments` is the raw JSON text the model produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id; unique within the conversation (the core renames duplicates).
    pub id: String,
    /// The tool's name (`transfer_to_<agent>` for a handoff).
    pub name: String,
    /// The arguments as JSON text; may be malformed.
    pub arguments: String,
}

/// Token counts reported by a provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens sent to the model.
    pub input_tokens: u64,
    /// Tokens the model produced.
    pub output_tokens: u64,
}

/// One model response, provider-neutral.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelReply {
    /// Text for the user, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Tool calls, in the order the model made them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Token counts, when the provider reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why the model stopped, when it was not the natural end of its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopReason>,
}

/// Why a model stopped before the natural end of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It reached its output token limit (`max_tokens`): the text or the tool arguments are cut off.
    Length,
    /// It declined to answer; the text, if any, is its refusal.
    Refusal,
    /// The provider's content filter withheld part of the answer.
    ContentFilter,
}

/// The result of one tool call, as the model will see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// The result text (JSON for structured results).
    pub content: String,
    /// Whether the call failed; the content then says why.
    #[serde(default)]
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful result.
    pub fn ok(content: impl Into<String>) -> Self {
        ToolOutput { content: content.into(), is_error: false }
    }

    /// A failed result whose content says what went wrong.
    pub fn error(content: impl Into<String>) -> Self {
        ToolOutput { content: content.into(), is_error: true }
    }
}

/// One entry of the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// The user's message that opened a turn.
    User {
        /// The turn it opened.
        turn: u32,
        /// What the user wrote.
        text: String,
    },
    /// A model response of `agent`.
    Assistant {
        /// The agent whose model answered.
        agent: String,
        /// Its text, if any.
        text: Option<String>,
        /// Its tool calls.
        tool_calls: Vec<ToolCall>,
    },
    /// The one result of a tool call made by `agent`.
    ToolResult {
        /// The agent that made the call.
        agent: String,
        /// The call answered.
        call_id: String,
        /// The tool called.
        name: String,
        /// The result.
        output: ToolOutput,
    },
    /// Control passed to another agent.
    Handoff(HandoffNote),
}
