//! Shared helpers for the core's tests: a tiny team builder and a simulated shell.

use baton_core::{
    replay, Agent, ChatMessage, ContextPolicy, Conversation, Effect, HandoffEdge, Input, JournalEntry, ModelReply,
    ModelRequest, OnLimit, Record, Signals, Team, ToolCall, ToolDef, ToolInvocation, ToolOutput, TurnOutcome,
};
use std::sync::Arc;

/// A handoff edge: (target, context, max_uses).
pub type Edge<'a> = (&'a str, ContextPolicy, Option<u32>);

/// A team: `agents` are (name, tools, edges); "human" is a human agent.
pub fn team(entry: &str, agents: &[(&str, &[&str], &[Edge])]) -> Team {
    let mut team = Team::new("test", entry);
    team.models.insert("m".into());
    for tool in ["t1", "t2"] {
        team.tools.insert(
            tool.into(),
            ToolDef {
                name: tool.into(),
                description: format!("tool {tool}"),
                parameters: serde_json::json!({"type":"object"}),
                examples: Vec::new(),
                idempotent: true,
                approval: Default::default(),
            },
        );
    }
    for (name, tools, edges) in agents {
        let mut agent = if *name == "human" { Agent::human("human") } else { Agent::llm(*name, "m") };
        agent.description = format!("agent {name}");
        agent.instructions = format!("You are {name}.");
        agent.tools = tools.iter().map(|t| t.to_string()).collect();
        agent.handoffs = edges
            .iter()
            .map(|(to, context, max_uses)| HandoffEdge {
                context: *context,
                max_uses: *max_uses,
                ..HandoffEdge::to(*to)
            })
            .collect();
        team.agents.insert(name.to_string(), agent);
    }
    team.limits.fallback = Some("human".into());
    team.limits.on_limit = OnLimit::Escalate;
    team
}

/// A reply with text only.
pub fn text(text: &str) -> ModelReply {
    ModelReply { text: Some(text.into()), ..ModelReply::default() }
}

/// A reply with the given calls: (id, name, arguments).
pub fn calls(calls: &[(&str, &str, &str)]) -> ModelReply {
    ModelReply {
        tool_calls: calls
            .iter()
            .map(|(id, name, args)| ToolCall {
                id: id.to_string(),
                name: name.to_string(),
                arguments: args.to_string(),
            })
            .collect(),
        ..ModelReply::default()
    }
}

/// A conversation driven like the runtime drives it, keeping its journal.
pub struct Sim {
    /// The conversation.
    pub conversation: Conversation,
    /// Every input and record, in order.
    pub journal: Vec<JournalEntry>,
    /// Every model request made.
    pub requests: Vec<ModelRequest>,
    /// Every tool invocation made.
    pub invocations: Vec<ToolInvocation>,
    /// Every record emitted.
    pub records: Vec<Record>,
    /// When set, the turn's deadline passes once this many more calls are answered: the calls
    /// still open then are answered by [`Input::DeadlinePassed`], as the runtime does.
    pub deadline_after: Option<usize>,
}

/// The deadline, in seconds, that the simulated shell says passed.
pub const DEADLINE_SECONDS: u32 = 7;

impl Sim {
    pub fn new(team: Team) -> Self {
        Sim {
            conversation: Conversation::new(Arc::new(team), "c1"),
            journal: Vec::new(),
            requests: Vec::new(),
            invocations: Vec::new(),
            records: Vec::new(),
            deadline_after: None,
        }
    }

    /// Feeds one input and journals it and its records; returns the calls requested.
    pub fn feed(&mut self, input: Input) -> Vec<Effect> {
        self.journal.push(JournalEntry::Input(input.clone()));
        let effects = self.conversation.handle(input).expect("the simulated shell only sends expected inputs");
        let first_call = effects.iter().position(|e| !matches!(e, Effect::Record(_))).unwrap_or(effects.len());
        assert!(
            effects[first_call..].iter().all(|e| !matches!(e, Effect::Record(_))),
            "every record comes before the calls, as the runtime journals them: {effects:?}"
        );
        let mut calls = Vec::new();
        for effect in effects {
            match effect {
                Effect::Record(record) => {
                    self.journal.push(JournalEntry::Record(record.clone()));
                    self.records.push(record);
                }
                Effect::CallModel(request) => {
                    check_tool_pairing(&request);
                    self.requests.push(request.clone());
                    calls.push(Effect::CallModel(request));
                }
                Effect::CallTool(invocation) => {
                    self.invocations.push(invocation.clone());
                    calls.push(Effect::CallTool(invocation));
                }
            }
        }
        calls
    }

    /// Runs one user turn to its end; `model` answers model calls, `tool` answers tool calls
    /// (answered in reverse order, to show order does not matter). Panics after `max_steps`.
    pub fn turn(
        &mut self,
        message: &str,
        model: &mut dyn FnMut(&ModelRequest) -> Input,
        tool: &mut dyn FnMut(&ToolInvocation) -> ToolOutput,
        max_steps: usize,
    ) -> TurnOutcome {
        self.turn_with(message, Signals::default(), model, tool, max_steps)
    }

    /// [`Sim::turn`] for a message the shell read `signals` off.
    pub fn turn_with(
        &mut self,
        message: &str,
        signals: Signals,
        model: &mut dyn FnMut(&ModelRequest) -> Input,
        tool: &mut dyn FnMut(&ToolInvocation) -> ToolOutput,
        max_steps: usize,
    ) -> TurnOutcome {
        let queue = self.feed(Input::UserMessage { text: message.into(), signals });
        self.until_turn_ends(queue, model, tool, max_steps)
    }

    /// Feeds a person's decision on a call waiting for approval, then carries the turn on to its
    /// next end, like [`Sim::turn`].
    pub fn decide(
        &mut self,
        decision: Input,
        model: &mut dyn FnMut(&ModelRequest) -> Input,
        tool: &mut dyn FnMut(&ToolInvocation) -> ToolOutput,
        max_steps: usize,
    ) -> TurnOutcome {
        self.conversation.check(&decision).expect("the decision fits");
        let queue = self.feed(decision);
        self.until_turn_ends(queue, model, tool, max_steps)
    }

    fn until_turn_ends(
        &mut self,
        mut queue: Vec<Effect>,
        model: &mut dyn FnMut(&ModelRequest) -> Input,
        tool: &mut dyn FnMut(&ToolInvocation) -> ToolOutput,
        max_steps: usize,
    ) -> TurnOutcome {
        let records_before =
            self.records.len() - self.journal.iter().rev().take_while(|e| matches!(e, JournalEntry::Record(_))).count();
        for _ in 0..max_steps {
            if let Some(Record::TurnEnded(outcome)) = self.records[records_before..].last() {
                assert!(queue.is_empty(), "no call may be pending when a turn ends: {queue:?}");
                return outcome.clone();
            }
            let mut next = Vec::new();
            let model_calls: Vec<_> = queue.iter().filter(|e| matches!(e, Effect::CallModel(_))).collect();
            assert!(model_calls.len() <= 1, "one model call at a time");
            let tools_and_model = std::mem::take(&mut queue);
            let (mut tools, models): (Vec<_>, Vec<_>) =
                tools_and_model.into_iter().partition(|e| matches!(e, Effect::CallTool(_)));
            assert!(tools.is_empty() || models.is_empty(), "tool and model calls are never requested together");
            tools.reverse();
            for effect in tools.into_iter().chain(models) {
                match &mut self.deadline_after {
                    Some(0) => {
                        self.deadline_after = None;
                        next.extend(self.feed(Input::DeadlinePassed { seconds: DEADLINE_SECONDS }));
                        break;
                    }
                    Some(left) => *left -= 1,
                    None => {}
                }
                let input = match &effect {
                    Effect::CallModel(request) => model(request),
                    Effect::CallTool(invocation) => {
                        Input::ToolReturned { call_id: invocation.call_id.clone(), output: tool(invocation) }
                    }
                    Effect::Record(_) => unreachable!("records are journaled by feed"),
                };
                next.extend(self.feed(input));
            }
            if next.is_empty() && !matches!(self.records[records_before..].last(), Some(Record::TurnEnded(_))) {
                panic!("the turn stopped without ending: {:?}", &self.records[records_before..]);
            }
            queue = next;
        }
        panic!("the turn did not end within {max_steps} steps");
    }

    /// Replays the journal and checks it rebuilds the same conversation with nothing unfinished.
    pub fn check_replay(&self) {
        let replayed = replay(Arc::new(self.conversation.team().clone()), "c1", &self.journal).expect("replay");
        assert_eq!(replayed.conversation, self.conversation);
        assert!(replayed.unfinished.is_empty(), "{:?}", replayed.unfinished);
    }
}

/// Checks what providers check: every assistant tool call is answered by exactly one tool
/// message right after it, and no tool message answers anything else.
pub fn check_tool_pairing(request: &ModelRequest) {
    let messages = &request.messages;
    let mut index = 0;
    while index < messages.len() {
        match &messages[index] {
            ChatMessage::Assistant { tool_calls, .. } if !tool_calls.is_empty() => {
                let mut expected: Vec<&str> = tool_calls.iter().map(|c| c.id.as_str()).collect();
                let mut answered: Vec<&str> = Vec::new();
                for message in &messages[index + 1..] {
                    match message {
                        ChatMessage::Tool { call_id, .. } => answered.push(call_id),
                        _ => break,
                    }
                }
                index += answered.len();
                expected.sort();
                answered.sort();
                assert_eq!(expected, answered, "tool calls and results do not pair up in {messages:#?}");
            }
            ChatMessage::Tool { call_id, .. } => panic!("tool message {call_id} answers no call just before it"),
            _ => {}
        }
        index += 1;
    }
}
