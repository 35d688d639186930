//! Context packaging: the view of the conversation one agent gets for a model call.
//!
//! The view starts at the latest handoff into the agent. With `full` context it is the whole
//! transcript; other agents' tool traffic is rewritten as text so any provider accepts it (a
//! provider only accepts tool calls answered by tool results, for tools it was told about).
//! With `summary` or `none` it is the user's request and what followed the handoff. Either way
//! the handoff note is appended to the agent's instructions.

use crate::event::ChatMessage;
use crate::handoff::handoff_tool;
use crate::team::{Agent, ContextPolicy, Team, ToolDef};
use crate::transcript::Entry;
use std::collections::BTreeMap;

/// What the context packager needs besides the transcript.
pub struct ViewInput<'a> {
    /// The team.
    pub team: &'a Team,
    /// The agent in control.
    pub agent: &'a Agent,
    /// The whole transcript.
    pub transcript: &'a [Entry],
    /// Uses of each edge so far, to leave out spent ones.
    pub edge_uses: &'a BTreeMap<(String, String), u32>,
    /// The facts the team has gathered.
    pub facts: &'a BTreeMap<String, String>,
}

/// What one agent sees for its next model call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// The agent's instructions, with the handoff note.
    pub system: String,
    /// The agent's view of the transcript.
    pub messages: Vec<ChatMessage>,
    /// The tools offered.
    pub tools: Vec<ToolDef>,
    /// The facts the agent may see: none when it received control with `context = "none"`.
    pub facts: BTreeMap<String, String>,
}

/// The view of the conversation the agent in control gets for its next model call.
pub fn package(input: &ViewInput<'_>) -> View {
    let agent = input.agent;
    let latest_handoff = input.transcript.iter().enumerate().rev().find_map(|(index, entry)| match entry {
        Entry::Handoff(note) if note.to == agent.name => Some((index, note)),
        _ => None,
    });
    let mut system = agent.instructions.clone();
    let facts = match latest_handoff {
        Some((_, note)) if note.context == ContextPolicy::None => BTreeMap::new(),
        _ => input.facts.clone(),
    };
    let mut messages = Vec::new();
    let visible = match latest_handoff {
        Some((index, note)) => {
            if !system.is_empty() {
                system.push_str("\n\n");
            }
            system.push_str(&note.render());
            if note.context == ContextPolicy::Full {
                input.transcript
            } else {
                messages.push(ChatMessage::User(note.request.clone()));
                &input.transcript[index + 1..]
            }
        }
        None => input.transcript,
    };
    for entry in visible {
        render(entry, &agent.name, &mut messages);
    }
    View { system, messages, tools: offered_tools(input), facts }
}

/// The agent's own tools, then one handoff tool per declared edge whose budget is not spent.
fn offered_tools(input: &ViewInput<'_>) -> Vec<ToolDef> {
    let agent = input.agent;
    let own = agent.tools.iter().filter_map(|name| input.team.tools.get(name).cloned());
    let handoffs = agent.handoffs.iter().filter_map(|edge| {
        let target = input.team.agent(&edge.to)?;
        let used = input.edge_uses.get(&(agent.name.clone(), edge.to.clone())).copied().unwrap_or(0);
        let spent = edge.max_uses.is_some_and(|max| used >= max);
        (!spent).then(|| handoff_tool(edge, target))
    });
    own.chain(handoffs).collect()
}

/// Adds one transcript entry to `viewer`'s messages.
fn render(entry: &Entry, viewer: &str, messages: &mut Vec<ChatMessage>) {
    match entry {
        Entry::User { text, .. } => messages.push(ChatMessage::User(text.clone())),
        Entry::Assistant { agent, text, tool_calls } if agent == viewer => {
            messages.push(ChatMessage::Assistant { text: text.clone(), tool_calls: tool_calls.clone() });
        }
        Entry::Assistant { agent, text, tool_calls } => {
            if let Some(text) = text {
                push_note(messages, format!("[{agent}] {text}"));
            }
            for call in tool_calls {
                push_note(messages, format!("[{agent} called {}({})]", call.name, call.arguments));
            }
        }
        Entry::ToolResult { agent, call_id, output, .. } if agent == viewer => {
            messages.push(ChatMessage::Tool { call_id: call_id.clone(), output: output.clone() });
        }
        Entry::ToolResult { agent, name, output, .. } => {
            push_note(messages, format!("[{name} answered {agent}: {}]", output.content));
        }
        Entry::Handoff(note) => {
            push_note(messages, format!("[control passed from {} to {}: {}]", note.from, note.to, note.reason))
        }
    }
}

/// Adds another agent's words or tool traffic as assistant text.
fn push_note(messages: &mut Vec<ChatMessage>, line: String) {
    messages.push(ChatMessage::Assistant { text: Some(line), tool_calls: Vec::new() });
}
