//! Reading a model request's messages: the user's messages and what the agent asked before each,
//! the agent's own tool calls and their results (since the latest user message and before it),
//! and which agents already held control in this turn.

use baton_core::{ChatMessage, ToolCall, ToolOutput, HANDOFF_PREFIX};
use std::collections::{BTreeMap, BTreeSet};

/// One of the agent's own tool calls, with its result once it has one.
pub type Call<'a> = (&'a ToolCall, Option<&'a ToolOutput>);

/// What the messages of one request say.
#[derive(Debug, Default)]
pub struct Reading<'a> {
    /// The user's messages, oldest first, each with the agent's own last words before it since
    /// the message before (its question, if it asked one).
    pub users: Vec<(&'a str, Option<&'a str>)>,
    /// The agent's own tool calls since the latest user message.
    pub calls: Vec<Call<'a>>,
    /// The agent's own tool calls before the latest user message.
    pub earlier_calls: Vec<Call<'a>>,
    /// The results of the agent's latest calls, when they are the last messages and include
    /// ordinary (non-handoff) calls.
    pub results: Vec<(&'a ToolCall, &'a ToolOutput)>,
    /// Agents that held control since the latest user message, by the core's notes.
    pub held_control: BTreeSet<&'a str>,
}

impl<'a> Reading<'a> {
    /// Reads `messages`.
    pub fn of(messages: &'a [ChatMessage]) -> Reading<'a> {
        let latest = messages.iter().rposition(|message| matches!(message, ChatMessage::User(_)));
        let (until, after) = match latest {
            Some(index) => messages.split_at(index + 1),
            None => messages.split_at(0),
        };
        let mut reading = Reading { calls: own_calls(after), earlier_calls: own_calls(until), ..Reading::default() };
        let mut asked = None;
        for message in until {
            match message {
                ChatMessage::User(text) => reading.users.push((text, asked.take())),
                ChatMessage::Assistant { text: Some(text), tool_calls } if tool_calls.is_empty() && !is_note(text) => {
                    asked = Some(text.as_str());
                }
                _ => {}
            }
        }
        for message in after {
            if let ChatMessage::Assistant { text: Some(text), .. } = message {
                reading.held_control.extend(control_passed(text).into_iter().flat_map(|(from, to)| [from, to]));
            }
        }
        if matches!(after.last(), Some(ChatMessage::Tool { .. })) {
            let latest_batch = after.iter().rposition(
                |message| matches!(message, ChatMessage::Assistant { tool_calls, .. } if !tool_calls.is_empty()),
            );
            let results: Vec<_> = latest_batch
                .map(|index| own_calls(&after[index..]))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(call, output)| Some((call, output?)))
                .collect();
            if results.iter().any(|(call, _)| !call.name.starts_with(HANDOFF_PREFIX)) {
                reading.results = results;
            }
        }
        reading
    }

    /// The user's latest message.
    pub fn user(&self) -> Option<&'a str> {
        self.users.last().map(|(text, _)| *text)
    }

    /// Whether a handoff of the agent was refused since the latest user message.
    pub fn handoff_refused(&self) -> bool {
        self.calls
            .iter()
            .any(|(call, output)| call.name.starts_with(HANDOFF_PREFIX) && output.is_some_and(|output| output.is_error))
    }
}

/// The agent's own tool calls in `messages`, each with its result if `messages` has it.
fn own_calls(messages: &[ChatMessage]) -> Vec<Call<'_>> {
    let outputs: BTreeMap<&str, &ToolOutput> = messages
        .iter()
        .filter_map(|message| match message {
            ChatMessage::Tool { call_id, output } => Some((call_id.as_str(), output)),
            _ => None,
        })
        .collect();
    messages
        .iter()
        .flat_map(|message| match message {
            ChatMessage::Assistant { tool_calls, .. } => tool_calls.as_slice(),
            _ => &[],
        })
        .map(|call| (call, outputs.get(call.id.as_str()).copied()))
        .collect()
}

/// Whether an assistant text is the core's rendering of another agent's words or traffic
/// (`[triage] ...`, `[control passed from ...]`) rather than the agent's own words.
fn is_note(text: &str) -> bool {
    text.starts_with('[') && text.contains(']')
}

/// The agents named in a `[control passed from <from> to <to>: <reason>]` note.
fn control_passed(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("[control passed from ")?;
    let (from, rest) = rest.split_once(" to ")?;
    let (to, _) = rest.split_once(':')?;
    Some((from, to))
}
