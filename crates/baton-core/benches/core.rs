//! Micro-benchmarks of the sans-IO core, with criterion.
//!
//! * `handle/*`: the cost of one `Conversation::handle` call for each kind of input in a
//!   realistic first turn of a support team (triage hands off to technical, technical calls a
//!   tool, reads its result and answers the user), each measured on a conversation prepared to
//!   the point just before that input; `handle/whole_turn` feeds all five inputs of the turn
//!   to a new conversation (its throughput is in events/s).
//! * `context/package/{full,summary}/N`: building what the model is sent
//!   (`baton_core::context::package`) for the agent that just received control, on a
//!   conversation whose transcript has about N entries (100, 1,000, 10,000), the handoff into
//!   it with `context = "full"` or `"summary"`. Throughput is transcript entries per second, so
//!   linear packaging shows as a constant rate.
//! * `context/handoff_reply/{full,summary}/N`: the same point reached through the core: the
//!   `handle` of the model reply that hands off, which journals the handoff and packages the
//!   receiver's model request.
//! * `context/answer_reply/N`: the `handle` of the final text answer at the same lengths: no
//!   model call follows it, so what grows with N there is not packaging.
//!
//! The long conversations are built (unmeasured) by feeding whole turns through `handle`.
//! Replay (the fold of a journal through the core) is measured in baton-store's bench, after
//! reading the journal back from each store.
//!
//! ```text
//! cargo bench -p baton-core --bench core
//! cargo bench -p baton-core --bench core -- context/package   # one group (a filter)
//! ```

#![allow(missing_docs, clippy::unwrap_used)] // criterion's macros make undocumented functions

use baton_core::context::{package, ViewInput};
use baton_core::{
    Agent, ContextPolicy, Conversation, Effect, HandoffEdge, Input, ModelReply, OnLimit, Record, ReturnTo, Team,
    ToolCall, ToolDef, ToolInvocation, ToolOutput, TurnStatus,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// Transcript lengths of the packaging benches.
const LENGTHS: [usize; 3] = [100, 1_000, 10_000];

/// A support team: `triage` (the entry agent, no tools) hands off to `technical` or `billing`
/// along edges with `policy`; each specialist has one lookup tool; `human` is the fallback.
/// Every turn starts at `triage` again (`return_to = "entry"`), so every turn of a long
/// conversation has the same shape: a handoff, a tool call and an answer.
fn support_team(policy: ContextPolicy) -> Team {
    let mut team = Team::new("support", "triage");
    team.models.insert("gpt".into());
    let tool = |name: &str, description: &str, key: &str| {
        let parameters = json!({
            "type": "object",
            "properties": {key: {"type": "string", "description": format!("The {key}.")}},
            "required": [key],
        });
        (name.to_string(), ToolDef::new(name, description, parameters))
    };
    team.tools.extend([
        tool("check_line_status", "The status of a customer's line, by customer id.", "customer_id"),
        tool("lookup_invoice", "An invoice, by invoice number.", "invoice_number"),
    ]);
    let edge = |to: &str, context: ContextPolicy| HandoffEdge { context, ..HandoffEdge::to(to) };
    let agent = |name: &str, description: &str, tools: &[&str], handoffs: Vec<HandoffEdge>| {
        let mut agent = Agent::llm(name, "gpt");
        agent.description = description.into();
        agent.instructions = format!(
            "You are the {name} agent of an internet provider's support desk. {description} Be brief and \
             precise, never invent facts, and hand the conversation over when another agent fits better."
        );
        agent.tools = tools.iter().map(|tool| tool.to_string()).collect();
        agent.handoffs = handoffs;
        (name.to_string(), agent)
    };
    team.agents.extend([
        agent(
            "triage",
            "Greets the customer and sends them to the right specialist.",
            &[],
            vec![edge("technical", policy), edge("billing", policy), edge("human", ContextPolicy::Full)],
        ),
        agent(
            "technical",
            "Solves connection and equipment problems.",
            &["check_line_status"],
            vec![edge("billing", ContextPolicy::Summary), edge("human", ContextPolicy::Full)],
        ),
        agent(
            "billing",
            "Answers questions about invoices and payments.",
            &["lookup_invoice"],
            vec![edge("technical", ContextPolicy::Summary), edge("human", ContextPolicy::Full)],
        ),
        ("human".to_string(), Agent::human("human")),
    ]);
    team.limits.fallback = Some("human".into());
    team.limits.on_limit = OnLimit::Escalate;
    team.limits.return_to = ReturnTo::Entry;
    team
}

fn call(id: String, name: &str, arguments: serde_json::Value) -> ModelReply {
    ModelReply {
        tool_calls: vec![ToolCall { id, name: name.into(), arguments: arguments.to_string() }],
        ..ModelReply::default()
    }
}

/// The scripted model: the reply of `agent`'s `index`-th call (from 0) in turn `turn`.
fn model(agent: &str, turn: u32, index: u32) -> ModelReply {
    match (agent, index) {
        ("triage", 0) => call(
            format!("call_{turn}_handoff"),
            "transfer_to_technical",
            json!({
                "reason": "the customer's internet connection is down",
                "summary": format!("Customer 42 reports that the line has been down since this morning (turn {turn})."),
                "facts": {"customer_id": "42"},
            }),
        ),
        ("technical", 0) => call(format!("call_{turn}_line"), "check_line_status", json!({"customer_id": "42"})),
        ("technical", _) => ModelReply {
            text: Some(format!(
                "Your line had a fault at the exchange that is now fixed (ticket T-{turn}). Please restart your \
                 router; the connection should be back within five minutes."
            )),
            ..ModelReply::default()
        },
        _ => panic!("the script has no reply for call {index} of {agent}"),
    }
}

fn tool_output(invocation: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok(
        json!({"customer_id": "42", "status": "up", "last_fault": "exchange outage, fixed 09:40", "tool": invocation.tool})
            .to_string(),
    )
}

/// Runs one user turn through `handle`, answering model calls with the script and tool calls
/// with [`tool_output`]; returns every input fed, in order. Panics unless the turn is answered.
fn run_turn(conversation: &mut Conversation) -> Vec<Input> {
    let turn = conversation.turns() + 1;
    let message = format!("Hi, my internet has been down since this morning (customer 42, message {turn}).");
    let mut queue = std::collections::VecDeque::from([Input::user(message)]);
    let mut calls_of: BTreeMap<String, u32> = BTreeMap::new();
    let mut fed = Vec::new();
    let mut status = None;
    while let Some(input) = queue.pop_front() {
        let effects = conversation.handle(input.clone()).unwrap();
        fed.push(input);
        for effect in effects {
            match effect {
                Effect::Record(Record::TurnEnded(outcome)) => status = Some(outcome.status),
                Effect::Record(_) => {}
                Effect::CallModel(request) => {
                    let index = calls_of.entry(request.agent.clone()).or_default();
                    queue.push_back(Input::ModelReplied { reply: model(&request.agent, turn, *index) });
                    *index += 1;
                }
                Effect::CallTool(invocation) => queue.push_back(Input::ToolReturned {
                    call_id: invocation.call_id.clone(),
                    output: tool_output(&invocation),
                }),
            }
        }
    }
    assert_eq!(status, Some(TurnStatus::Answered), "the scripted turn is answered");
    fed
}

/// `handle` per event of a turn, and the whole turn.
fn handle(c: &mut Criterion) {
    let team = Arc::new(support_team(ContextPolicy::Full));
    let inputs = run_turn(&mut Conversation::new(team.clone(), "bench"));
    let names = ["user_message", "reply_hands_off", "reply_calls_tool", "tool_result", "reply_answers"];
    assert_eq!(inputs.len(), names.len(), "the turn is {inputs:?}");
    let mut group = c.benchmark_group("handle");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    let mut before = Conversation::new(team.clone(), "bench");
    for (name, input) in names.iter().zip(&inputs) {
        group.throughput(Throughput::Elements(1));
        group.bench_function(*name, |b| {
            b.iter_batched_ref(
                || (before.clone(), Some(input.clone())),
                |(conversation, input)| conversation.handle(input.take().unwrap()).unwrap(),
                BatchSize::SmallInput,
            )
        });
        before.handle(input.clone()).unwrap();
    }
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function("whole_turn", |b| {
        b.iter_batched_ref(
            || (Conversation::new(team.clone(), "bench"), inputs.clone()),
            |(conversation, inputs)| {
                for input in std::mem::take(inputs) {
                    black_box(conversation.handle(input).unwrap());
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A conversation of at least `length` transcript entries in whole turns, and the inputs of
/// its next turn (the same five as in `handle`).
fn long_conversation(policy: ContextPolicy, length: usize) -> (Conversation, Vec<Input>) {
    let mut conversation = Conversation::new(Arc::new(support_team(policy)), "long");
    while conversation.transcript().len() < length {
        run_turn(&mut conversation);
    }
    let next = run_turn(&mut conversation.clone());
    (conversation, next)
}

/// `conversation` after the first `fed` inputs of `next`, and the input after them.
fn before_input(conversation: &Conversation, next: &[Input], fed: usize) -> (Conversation, Input) {
    let mut conversation = conversation.clone();
    for input in &next[..fed] {
        conversation.handle(input.clone()).unwrap();
    }
    (conversation, next[fed].clone())
}

/// Measures `handle(next[fed])` on `long` after the first `fed` (at least one) inputs of `next`.
///
/// A cloned `Vec` has no spare capacity, so the first entry pushed onto a cloned conversation's
/// transcript would copy the whole transcript into a bigger allocation: an artefact of the
/// bench (a transcript grown entry by entry, as replay grows it, has room to spare). So each
/// setup clones the conversation one input earlier and feeds that input unmeasured: its push
/// makes the room.
fn bench_input(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    long: &Conversation,
    next: &[Input],
    fed: usize,
) {
    let (earlier, previous) = before_input(long, next, fed - 1);
    group.bench_function(id, |b| {
        b.iter_batched_ref(
            || {
                let mut conversation = earlier.clone();
                conversation.handle(previous.clone()).unwrap();
                (conversation, Some(next[fed].clone()))
            },
            |(conversation, input)| conversation.handle(input.take().unwrap()).unwrap(),
            BatchSize::LargeInput,
        )
    });
}

/// What `technical` is sent, built straight from the conversation's state.
fn view_of_technical(conversation: &Conversation) -> baton_core::context::View {
    let team = conversation.team();
    package(&ViewInput {
        team,
        agent: team.agent("technical").unwrap(),
        transcript: conversation.transcript(),
        edge_uses: &BTreeMap::new(),
        facts: conversation.facts(),
    })
}

/// Context packaging for long transcripts, directly and through `handle`; and, for
/// comparison, the `handle` of a reply that needs no packaging (the final answer).
fn context(c: &mut Criterion) {
    let mut group = c.benchmark_group("context");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    for policy in [ContextPolicy::Full, ContextPolicy::Summary] {
        for length in LENGTHS {
            let (long, next) = long_conversation(policy, length);
            // Just before triage's reply that hands off to technical (the second input).
            let (before, reply) = before_input(&long, &next, 1);
            let mut after = before.clone();
            let effects = after.handle(reply.clone()).unwrap();
            let Some(Effect::CallModel(request)) = effects.last() else { panic!("a model call: {effects:?}") };
            let view = view_of_technical(&after);
            assert_eq!((request.agent.as_str(), &view.messages), ("technical", &request.messages));
            let entries = after.transcript().len() as u64;
            eprintln!(
                "context {}/{length}: {entries} transcript entries, {} messages sent",
                policy.as_str(),
                view.messages.len()
            );
            group.throughput(Throughput::Elements(entries));
            group.bench_function(BenchmarkId::new(format!("package/{}", policy.as_str()), length), |b| {
                b.iter_with_large_drop(|| view_of_technical(black_box(&after)))
            });
            let id = BenchmarkId::new(format!("handoff_reply/{}", policy.as_str()), length);
            bench_input(&mut group, id, &long, &next, 1);
            if policy == ContextPolicy::Summary {
                // Technical's final answer (the last input): no model call follows it.
                bench_input(&mut group, BenchmarkId::new("answer_reply", length), &long, &next, next.len() - 1);
            }
        }
    }
    group.finish();
}

criterion_group!(benches, handle, context);
criterion_main!(benches);
