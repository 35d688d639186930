//! Properties of the core under arbitrary model behaviour: any mix of text, tool calls,
//! handoffs to valid, invalid and self targets, several handoffs per reply, malformed
//! arguments, arguments that do not fit the tool's schema and failing tools; with or without a
//! router (answering anything) and triggers; with the turn's deadline passing at any call.

use crate::support::Sim;
use baton_core::{
    replay, replay_from, Agent, ContextPolicy, Conversation, Effect, Entry, HandoffEdge, Input, JournalEntry,
    LimitKind, ModelReply, ModelRequest, OnLimit, Record, ReturnTo, Router, Signals, Team, ToolCall, ToolDef,
    ToolInvocation, ToolOutput, Trigger, TriggerKind,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

const AGENTS: [&str; 4] = ["a", "b", "c", "d"];

/// What one generated tool call does.
#[derive(Clone, Debug)]
enum CallKind {
    Tool(usize),
    UnknownTool,
    Handoff(usize),
    HandoffToHuman,
    HandoffToNobody,
    HandoffBadArgs(usize),
    BadArgs(usize),
    WrongArgs(usize),
}

#[derive(Clone, Debug)]
struct GenReply {
    text: Option<String>,
    calls: Vec<(CallKind, bool)>,
    fail: bool,
}

fn call_kind() -> impl Strategy<Value = CallKind> {
    prop_oneof![
        3 => (0..2usize).prop_map(CallKind::Tool),
        1 => Just(CallKind::UnknownTool),
        4 => (0..4usize).prop_map(CallKind::Handoff),
        1 => Just(CallKind::HandoffToHuman),
        1 => Just(CallKind::HandoffToNobody),
        1 => (0..4usize).prop_map(CallKind::HandoffBadArgs),
        1 => (0..2usize).prop_map(CallKind::BadArgs),
        1 => (0..2usize).prop_map(CallKind::WrongArgs),
    ]
}

fn reply() -> impl Strategy<Value = GenReply> {
    (
        prop::option::of("[a-z ]{0,8}"),
        prop::collection::vec((call_kind(), any::<bool>()), 0..4),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(text, calls, fail)| GenReply { text, calls, fail })
}

#[derive(Clone, Debug)]
struct GenTeam {
    n_agents: usize,
    edges: Vec<Vec<(usize, u8, Option<u32>)>>,
    human_edges: Vec<bool>,
    tools: Vec<Vec<bool>>,
    max_handoffs: u32,
    max_model_calls: u32,
    escalate: bool,
    return_to_entry: bool,
    router: bool,
    spanish: Vec<bool>,
    triggers: (bool, bool, Option<u32>),
}

fn gen_team() -> impl Strategy<Value = GenTeam> {
    (2..=4usize)
        .prop_flat_map(|n| {
            (
                Just(n),
                prop::collection::vec(prop::collection::vec((0..n, 0..3u8, prop::option::of(1..3u32)), 0..4), n),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(prop::collection::vec(any::<bool>(), 2), n),
                0..4u32,
                1..10u32,
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_flat_map(
            |(n_agents, edges, human_edges, tools, max_handoffs, max_model_calls, escalate, return_to_entry)| {
                let base = GenTeam {
                    n_agents,
                    edges,
                    human_edges,
                    tools,
                    max_handoffs,
                    max_model_calls,
                    escalate,
                    return_to_entry,
                    router: false,
                    spanish: Vec::new(),
                    triggers: (false, false, None),
                };
                (
                    Just(base),
                    any::<bool>(),
                    prop::collection::vec(prop::bool::weighted(0.3), n_agents),
                    (any::<bool>(), any::<bool>(), prop::option::of(1..3u32)),
                )
            },
        )
        .prop_map(|(base, router, spanish, triggers)| GenTeam { router, spanish, triggers, ..base })
}

fn build(gen: &GenTeam) -> Team {
    let mut team = Team::new("prop", "a");
    team.models.insert("m".into());
    for tool in ["t0", "t1"] {
        team.tools.insert(
            tool.into(),
            ToolDef {
                name: tool.into(),
                description: String::new(),
                parameters: serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
                examples: Vec::new(),
                idempotent: true,
                approval: Default::default(),
            },
        );
    }
    for (index, name) in AGENTS.iter().copied().enumerate().take(gen.n_agents) {
        let mut agent = Agent::llm(name, "m");
        agent.tools = (0..2).filter(|t| gen.tools[index][*t]).map(|t| format!("t{t}")).collect();
        for (target, context, max_uses) in &gen.edges[index] {
            let to = AGENTS[*target];
            if *target == index || agent.handoffs.iter().any(|e| e.to == to) {
                continue;
            }
            let context = [ContextPolicy::Full, ContextPolicy::Summary, ContextPolicy::None][*context as usize];
            agent.handoffs.push(HandoffEdge { context, max_uses: *max_uses, ..HandoffEdge::to(to) });
        }
        if gen.human_edges[index] {
            agent.handoffs.push(HandoffEdge::to("human"));
        }
        if gen.spanish[index] {
            agent.languages = vec!["es".into()];
        }
        team.agents.insert(name.into(), agent);
    }
    team.agents.insert("human".into(), Agent::human("human"));
    team.limits.max_handoffs = gen.max_handoffs;
    team.limits.max_model_calls = gen.max_model_calls;
    team.limits.on_limit = if gen.escalate { OnLimit::Escalate } else { OnLimit::Fail };
    team.limits.fallback = gen.escalate.then(|| "human".to_string());
    team.limits.return_to = if gen.return_to_entry { ReturnTo::Entry } else { ReturnTo::Active };
    team.router = gen.router.then(|| Router { model: "m".into() });
    let (language, asks_for_human, unresolved) = gen.triggers;
    if language {
        team.triggers.push(Trigger::Language);
    }
    if asks_for_human {
        team.triggers.push(Trigger::AsksForHuman { to: "human".into() });
    }
    if let Some(turns) = unresolved {
        team.triggers.push(Trigger::UnresolvedTurns { turns, to: "human".into() });
    }
    team
}

/// What the shell read off a message.
fn signals() -> impl Strategy<Value = Signals> {
    (prop::option::of(prop::sample::select(vec!["en", "es", "fr"])), prop::bool::weighted(0.15))
        .prop_map(|(language, asks_for_human)| Signals { language: language.map(str::to_string), asks_for_human })
}

/// Turns a generated reply into a model reply (ids may repeat or be empty, on purpose).
fn materialise(reply: &GenReply, n_agents: usize) -> Input {
    if reply.fail {
        return Input::ModelFailed { error: "HTTP 503".into() };
    }
    let tool_calls = reply
        .calls
        .iter()
        .enumerate()
        .map(|(position, (kind, empty_id))| {
            let (name, arguments) = match kind {
                CallKind::Tool(t) => (format!("t{t}"), r#"{"n":1}"#.to_string()),
                CallKind::UnknownTool => ("t9".to_string(), "{}".to_string()),
                CallKind::Handoff(target) => {
                    (format!("transfer_to_{}", AGENTS[target % n_agents]), r#"{"reason":"r","facts":{"k":"v"}}"#.into())
                }
                CallKind::HandoffToHuman => ("transfer_to_human".to_string(), r#"{"reason":"r"}"#.to_string()),
                CallKind::HandoffToNobody => ("transfer_to_nobody".to_string(), r#"{"reason":"r"}"#.to_string()),
                CallKind::HandoffBadArgs(target) => (format!("transfer_to_{}", AGENTS[target % n_agents]), "{".into()),
                CallKind::BadArgs(t) => (format!("t{t}"), "[1,2]".to_string()),
                CallKind::WrongArgs(t) => (format!("t{t}"), r#"{"n":"x"}"#.to_string()),
            };
            let id = if *empty_id { String::new() } else { format!("id{position}") };
            ToolCall { id, name, arguments }
        })
        .collect();
    Input::ModelReplied { reply: ModelReply { text: reply.text.clone(), tool_calls, ..ModelReply::default() } }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_turn_ends_within_its_limits_along_declared_edges(
        gen in gen_team(),
        replies in prop::collection::vec(reply(), 1..24),
        tool_failures in prop::collection::vec(any::<bool>(), 1..8),
        turn_signals in prop::collection::vec(signals(), 1..4),
        deadlines in prop::collection::vec(prop::option::weighted(0.3, 0..6usize), 1..4),
    ) {
        let team = build(&gen);
        let mut sim = Sim::new(team.clone());
        let mut next_reply = 0usize;
        let mut next_tool = 0usize;
        for (turn, signals) in turn_signals.iter().enumerate() {
            let active_before = sim.conversation.active_agent().to_string();
            let records_before = sim.records.len();
            let requests_before = sim.requests.len();
            let journal_before = sim.journal.len();
            sim.deadline_after = deadlines[turn % deadlines.len()];
            let mut model = |_: &ModelRequest| {
                let input = materialise(&replies[next_reply % replies.len()], gen.n_agents);
                next_reply += 1;
                input
            };
            let mut tool = |invocation: &ToolInvocation| {
                next_tool += 1;
                if tool_failures[next_tool % tool_failures.len()] {
                    ToolOutput::error(format!("{} failed", invocation.tool))
                } else {
                    ToolOutput::ok("fine")
                }
            };
            // Bounded: each model call yields at most one batch of tool results.
            let max_steps = 4 * gen.max_model_calls as usize + 4;
            let outcome = sim.turn_with(&format!("message {turn}"), signals.clone(), &mut model, &mut tool, max_steps);
            sim.deadline_after = None;
            let records = &sim.records[records_before..];
            let requests = &sim.requests[requests_before..];

            // A deadline that passed ends the turn at once through the limit path.
            let deadline_passed = sim.journal[journal_before..]
                .iter()
                .any(|entry| matches!(entry, JournalEntry::Input(Input::DeadlinePassed { .. })));
            if deadline_passed {
                prop_assert_eq!(outcome.limit, Some(LimitKind::TurnSeconds));
                let last_input = sim.journal.iter().rev().find(|entry| matches!(entry, JournalEntry::Input(_)));
                let last_is_deadline = matches!(last_input, Some(JournalEntry::Input(Input::DeadlinePassed { .. })));
                prop_assert!(last_is_deadline, "nothing is fed after the deadline in the turn");
                let tripped = records.iter().any(|r| matches!(r, Record::LimitTripped { limit: LimitKind::TurnSeconds, .. }));
                prop_assert!(tripped, "turn_seconds tripped");
            }

            // Every tool call of the transcript has exactly one result, the ones cut off included.
            let mut results: BTreeMap<&str, usize> = BTreeMap::new();
            for entry in sim.conversation.transcript() {
                match entry {
                    Entry::Assistant { tool_calls, .. } => {
                        for call in tool_calls {
                            prop_assert!(results.insert(call.id.as_str(), 0).is_none(), "call id {} repeats", call.id);
                        }
                    }
                    Entry::ToolResult { call_id, .. } => *results.entry(call_id.as_str()).or_insert(0) += 1,
                    _ => {}
                }
            }
            prop_assert!(results.values().all(|n| *n == 1), "a tool call without exactly one result: {:?}", results);

            // No call whose arguments do not fit its tool's schema runs.
            prop_assert!(sim.invocations.iter().all(|call| call.arguments.get("n").is_none_or(|n| n.is_i64())));

            // Every turn ends within max_model_calls model calls.
            prop_assert!(requests.len() as u32 <= team.limits.max_model_calls);
            prop_assert_eq!(outcome.model_calls as usize, requests.len());

            // Control starts with the active agent (or the entry agent) and moves only along declared edges.
            let Some(Record::TurnStarted { agent: mut holder, .. }) = records.first().cloned() else {
                panic!("a turn starts with TurnStarted");
            };
            let expected_start = if gen.return_to_entry && active_before != "human" { "a" } else { active_before.as_str() };
            prop_assert_eq!(holder.as_str(), expected_start);
            // Routing happens once, on the first turn, before any agent's model call, to a model-driven agent.
            // Triggers fire before any agent's model call, only on their signal.
            let mut taken = 0;
            let mut agent_calls = 0;
            for record in records {
                if let Record::Routed { from, to, .. } = record {
                    prop_assert!(turn == 0 && gen.router && agent_calls == 0);
                    prop_assert_eq!(from, &holder);
                    prop_assert!(!team.is_human(to));
                    holder = to.clone();
                }
                if let Record::HandoffTaken { from, to, escalation, trigger, .. } = record {
                    prop_assert_eq!(from, &holder);
                    match (escalation, trigger) {
                        (None, None) => {
                            prop_assert!(team.edge(from, to).is_some(), "undeclared edge {} -> {}", from, to);
                            taken += 1;
                        }
                        (Some(_), None) => prop_assert_eq!(Some(to), team.limits.fallback.as_ref()),
                        (None, Some(kind)) => {
                            prop_assert_eq!(agent_calls, 0, "a trigger fires before the agent's model is called");
                            match kind {
                                TriggerKind::Language => {
                                    let language = signals.language.as_deref().unwrap_or("none");
                                    prop_assert!(!team.agents[from].speaks(language) && team.agents[to].speaks(language));
                                }
                                TriggerKind::AsksForHuman => prop_assert!(signals.asks_for_human && to == "human"),
                                TriggerKind::UnresolvedTurns => prop_assert!(gen.triggers.2.is_some() && to == "human"),
                            }
                        }
                        (Some(_), Some(_)) => prop_assert!(false, "a handoff has one cause"),
                    }
                    holder = to.clone();
                }
                if let Record::ModelCallStarted { agent, .. } = record {
                    prop_assert_eq!(agent, &holder, "only the agent in control calls its model");
                    agent_calls += 1;
                }
            }
            prop_assert_eq!(&holder, &outcome.agent);
            prop_assert_eq!(sim.conversation.active_agent(), outcome.agent.as_str());

            // The handoff count in a turn never exceeds max_handoffs.
            prop_assert!(taken <= team.limits.max_handoffs);
            prop_assert_eq!(outcome.handoffs.len(), records.iter().filter(|r| matches!(r, Record::HandoffTaken { .. })).count());
        }

        // Replaying the journal rebuilds the same state; so does every prefix, without error,
        // and a model call it leaves to make is exactly the request the live run sent.
        // From a snapshot taken at any point between turns once its records are journaled, the
        // entries after it rebuild that same state too.
        sim.check_replay();
        let team = Arc::new(team);
        let whole = replay(team.clone(), "c1", &sim.journal).expect("the whole journal replays");
        for cut in 0..sim.journal.len() {
            let replayed = replay(team.clone(), "c1", &sim.journal[..cut]);
            prop_assert!(replayed.is_ok(), "prefix {} does not replay: {:?}", cut, replayed.err());
            let settled = replayed.as_ref().ok().filter(|replayed| replayed.unfinished.is_empty());
            if let Some(snapshot) = settled.and_then(|replayed| replayed.conversation.snapshot()) {
                let restored = Conversation::restore(team.clone(), "c1", &snapshot).expect("a snapshot restores");
                let resumed = replay_from(restored, &sim.journal[cut..]).expect("the entries after a snapshot replay");
                prop_assert_eq!(&resumed.conversation, &whole.conversation, "from the snapshot at {}", cut);
                prop_assert_eq!(&resumed.unfinished, &whole.unfinished);
                prop_assert_eq!(&resumed.in_doubt, &whole.in_doubt);
            }
            for effect in replayed.map(|replayed| replayed.unfinished).unwrap_or_default() {
                if let Effect::CallModel(request) = effect {
                    prop_assert!(sim.requests.contains(&request), "prefix {} re-issues a request never sent: {:?}", cut, request);
                }
            }
        }
    }
}
