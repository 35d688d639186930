//! The handoff semantics of DESIGN.md §3, one case at a time.

use crate::support::{calls, team, text, Sim};
use baton_core::ContextPolicy::{Full, None as NoContext, Summary};
use baton_core::{
    ChatMessage, Input, LimitKind, ModelRequest, OnLimit, Record, Refusal, ReturnTo, Team, ToolInvocation, ToolOutput,
    TurnStatus,
};
use std::collections::VecDeque;

/// A model that answers each agent from its own queue, repeating the last reply.
fn scripted(replies: &[(&str, baton_core::ModelReply)]) -> impl FnMut(&ModelRequest) -> Input {
    let mut queues: std::collections::BTreeMap<String, VecDeque<baton_core::ModelReply>> = Default::default();
    for (agent, reply) in replies {
        queues.entry(agent.to_string()).or_default().push_back(reply.clone());
    }
    move |request: &ModelRequest| {
        let queue = queues.get_mut(&request.agent).unwrap_or_else(|| panic!("no reply for {}", request.agent));
        let reply = if queue.len() > 1 { queue.pop_front().unwrap() } else { queue[0].clone() };
        Input::ModelReplied { reply }
    }
}

fn tools_ok(invocation: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok(format!("{} ok", invocation.tool))
}

fn support_team() -> Team {
    team(
        "triage",
        &[
            ("triage", &["t1"], &[("technical", Full, None), ("billing", Summary, Some(1)), ("human", Full, None)]),
            ("technical", &["t2"], &[("triage", Full, None), ("billing", NoContext, None), ("human", Full, None)]),
            ("billing", &[], &[("triage", Full, None), ("human", Full, None)]),
            ("human", &[], &[]),
        ],
    )
}

fn handoff(to: &str, reason: &str) -> (String, String) {
    (format!("transfer_to_{to}"), format!(r#"{{"reason":"{reason}","summary":"s","facts":{{"customer_id":"42"}}}}"#))
}

fn tool_results(sim: &Sim) -> Vec<(String, ToolOutput)> {
    sim.conversation
        .transcript()
        .iter()
        .filter_map(|e| match e {
            baton_core::Entry::ToolResult { name, output, .. } => Some((name.clone(), output.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_handoff_moves_control_and_the_receiver_answers() {
    let mut sim = Sim::new(support_team());
    let (name, args) = handoff("technical", "network problem");
    let mut model = scripted(&[("triage", calls(&[("a", &name, &args)])), ("technical", text("Restart the router."))]);
    let outcome = sim.turn("My internet is down", &mut model, &mut tools_ok, 50);
    assert_eq!(outcome.status, TurnStatus::Answered);
    assert_eq!(outcome.agent, "technical");
    assert_eq!(outcome.reply.as_deref(), Some("Restart the router."));
    assert_eq!(outcome.handoffs.len(), 1);
    assert_eq!((outcome.handoffs[0].from.as_str(), outcome.handoffs[0].reason.as_str()), ("triage", "network problem"));
    assert_eq!(outcome.model_calls, 2);
    assert_eq!(sim.conversation.facts()["customer_id"], "42");
    sim.check_replay();
}

#[test]
fn an_edge_that_does_not_require_a_reason_is_taken_by_a_call_without_arguments() {
    let mut team = support_team();
    let triage = team.agents.get_mut("triage").unwrap();
    triage.handoffs.iter_mut().find(|edge| edge.to == "technical").unwrap().require_reason = false;
    let mut sim = Sim::new(team);
    let mut seen = Vec::new();
    let mut replies = scripted(&[
        ("triage", calls(&[("a", "transfer_to_technical", "{}")])),
        ("technical", text("Restart the router.")),
    ]);
    let mut model = |request: &ModelRequest| {
        seen.push(request.clone());
        replies(request)
    };
    let outcome = sim.turn("My internet is down", &mut model, &mut tools_ok, 50);
    assert_eq!((outcome.status, outcome.agent.as_str()), (TurnStatus::Answered, "technical"));
    assert_eq!(outcome.handoffs[0].reason, baton_core::handoff::NO_REASON);
    let offered = |request: &ModelRequest, tool: &str| {
        request.tools.iter().find(|t| t.name == tool).map(|t| t.parameters["required"].clone())
    };
    assert_eq!(offered(&seen[0], "transfer_to_technical"), Some(serde_json::json!([])));
    assert_eq!(offered(&seen[0], "transfer_to_billing"), Some(serde_json::json!(["reason"])));
    assert!(seen[1].system.contains("Reason: (no reason given)"), "{}", seen[1].system);
    sim.check_replay();

    // The other edges still require one.
    let mut sim = Sim::new(support_team());
    let mut model = scripted(&[("triage", calls(&[("a", "transfer_to_technical", "{}")])), ("triage", text("ok"))]);
    let outcome = sim.turn("My internet is down", &mut model, &mut tools_ok, 50);
    assert_eq!(outcome.agent, "triage");
    assert!(tool_results(&sim)[0].1.content.contains("\"reason\" is required"));
}

#[test]
fn ordinary_calls_run_first_then_the_first_handoff_and_further_ones_are_ignored() {
    let mut sim = Sim::new(support_team());
    let (tech, tech_args) = handoff("technical", "network");
    let (human, human_args) = handoff("human", "angry");
    let mut model = scripted(&[
        ("triage", calls(&[("h1", &tech, &tech_args), ("t", "t1", "{}"), ("h2", &human, &human_args)])),
        ("technical", text("done")),
    ]);
    let calls_made = sim.feed(Input::user("hi"));
    let request = match &calls_made[..] {
        [baton_core::Effect::CallModel(request)] => request.clone(),
        other => panic!("{other:?}"),
    };
    let after_reply = sim.feed(model(&request));
    assert!(
        matches!(&after_reply[..], [baton_core::Effect::CallTool(t)] if t.tool == "t1"),
        "only the ordinary tool runs before the handoff: {after_reply:?}"
    );
    assert_eq!(sim.conversation.active_agent(), "triage", "control moves only after every call is answered");
    let after_tool = sim.feed(Input::ToolReturned { call_id: "t".into(), output: ToolOutput::ok("x") });
    assert!(matches!(&after_tool[..], [baton_core::Effect::CallModel(r)] if r.agent == "technical"));
    let results = tool_results(&sim);
    assert_eq!(results.len(), 3);
    assert!(results[0].1.content.starts_with("Transferred to technical"));
    assert_eq!(results[2].1.content, "ignored: one handoff per response");
    assert!(sim
        .records
        .iter()
        .any(|r| matches!(r, Record::HandoffRefused { refusal: Refusal::Ignored, to, .. } if to == "human")));
}

#[test]
fn unknown_self_and_malformed_handoffs_get_error_results_and_keep_control() {
    let mut sim = Sim::new(support_team());
    let mut model = scripted(&[
        (
            "triage",
            calls(&[
                ("a", "transfer_to_nobody", r#"{"reason":"x"}"#),
                ("b", "transfer_to_triage", r#"{"reason":"x"}"#),
                ("c", "transfer_to_technical", r#"{"summary":"no reason"}"#),
                ("d", "transfer_to_billing", "not json"),
                ("e", "frobnicate", "{}"),
            ]),
        ),
        ("triage", text("I will help you myself.")),
    ]);
    let outcome = sim.turn("hi", &mut model, &mut tools_ok, 50);
    assert_eq!((outcome.status, outcome.agent.as_str()), (TurnStatus::Answered, "triage"));
    let results = tool_results(&sim);
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|(_, output)| output.is_error), "{results:?}");
    assert!(results[0].1.content.contains("'nobody' is not an agent you can hand off to"));
    assert!(results[0].1.content.contains("'technical', 'billing' and 'human'"));
    assert!(results[2].1.content.contains("\"reason\" is required"));
    assert!(results[4].1.content.contains("unknown tool 'frobnicate'"));
    let refused = sim.records.iter().filter(|r| matches!(r, Record::HandoffRefused { .. })).count();
    assert_eq!(refused, 4, "every failed handoff attempt is recorded");
    sim.check_replay();
}

#[test]
fn ping_pong_is_refused_then_escalated_when_the_model_insists() {
    let mut sim = Sim::new(support_team());
    let (tech, tech_args) = handoff("technical", "network");
    let (back, back_args) = handoff("triage", "not mine");
    let mut model =
        scripted(&[("triage", calls(&[("a", &tech, &tech_args)])), ("technical", calls(&[("b", &back, &back_args)]))]);
    let outcome = sim.turn("hi", &mut model, &mut tools_ok, 50);
    assert_eq!(outcome.status, TurnStatus::Escalated);
    assert_eq!(outcome.limit, Some(LimitKind::PingPong));
    assert_eq!(outcome.agent, "human");
    assert_eq!(outcome.model_calls, 3, "one refusal is explained to the model, the second attempt trips the limit");
    let refusal = tool_results(&sim).into_iter().find(|(name, _)| name == "transfer_to_triage").unwrap().1;
    assert!(refusal.content.contains("Resolve the request yourself, or hand off to 'human'"), "{}", refusal.content);
    let last = outcome.handoffs.last().unwrap();
    assert_eq!((last.from.as_str(), last.to.as_str()), ("technical", "human"));
    assert!(last.reason.contains("ping_pong"));
    sim.check_replay();
}

#[test]
fn max_model_calls_ends_the_turn_gracefully() {
    let mut team = support_team();
    team.limits.max_model_calls = 3;
    let mut sim = Sim::new(team);
    let mut model = scripted(&[("triage", calls(&[("x", "t1", "{}")]))]);
    let outcome = sim.turn("hi", &mut model, &mut tools_ok, 50);
    assert_eq!(
        (outcome.status, outcome.limit, outcome.model_calls),
        (TurnStatus::Escalated, Some(LimitKind::MaxModelCalls), 3)
    );
    assert_eq!(outcome.agent, "human");
    sim.check_replay();
}

#[test]
fn on_limit_fail_ends_the_turn_with_an_error_and_keeps_control() {
    let mut team = support_team();
    team.limits.max_model_calls = 2;
    team.limits.on_limit = OnLimit::Fail;
    let mut sim = Sim::new(team);
    let mut model = scripted(&[("triage", calls(&[("x", "t1", "{}")]))]);
    let outcome = sim.turn("hi", &mut model, &mut tools_ok, 50);
    assert_eq!((outcome.status, outcome.agent.as_str()), (TurnStatus::Failed, "triage"));
    assert!(outcome.error.unwrap().contains("max_model_calls"));
}

#[test]
fn max_handoffs_trips_on_the_handoff_past_the_limit() {
    let mut team = team(
        "a",
        &[
            ("a", &[], &[("b", Full, None), ("human", Full, None)]),
            ("b", &[], &[("c", Full, None)]),
            ("c", &[], &[("human", Full, None)]),
            ("human", &[], &[]),
        ],
    );
    team.limits.max_handoffs = 1;
    let mut sim = Sim::new(team);
    let (b, b_args) = handoff("b", "r");
    let (c, c_args) = handoff("c", "r");
    let mut model = scripted(&[("a", calls(&[("1", &b, &b_args)])), ("b", calls(&[("2", &c, &c_args)]))]);
    let outcome = sim.turn("hi", &mut model, &mut tools_ok, 50);
    assert_eq!((outcome.status, outcome.limit), (TurnStatus::Escalated, Some(LimitKind::MaxHandoffs)));
    assert_eq!(outcome.handoffs.iter().map(|h| h.to.as_str()).collect::<Vec<_>>(), ["b", "human"]);
    sim.check_replay();
}

#[test]
fn a_spent_edge_is_no_longer_offered_and_insisting_trips_max_uses() {
    let mut team = support_team();
    team.limits.return_to = ReturnTo::Entry;
    let mut sim = Sim::new(team);
    let (billing, billing_args) = handoff("billing", "charge");
    let mut model = scripted(&[("triage", calls(&[("1", &billing, &billing_args)])), ("billing", text("Refunded."))]);
    sim.turn("refund", &mut model, &mut tools_ok, 50);
    let mut model = scripted(&[("triage", calls(&[("2", &billing, &billing_args)]))]);
    let outcome = sim.turn("another refund", &mut model, &mut tools_ok, 50);
    let triage_request = sim.requests.last().unwrap();
    assert_eq!(triage_request.agent, "triage");
    assert!(!triage_request.tools.iter().any(|t| t.name == "transfer_to_billing"), "a spent edge is not offered");
    assert!(triage_request.tools.iter().any(|t| t.name == "transfer_to_technical"));
    assert_eq!((outcome.status, outcome.limit), (TurnStatus::Escalated, Some(LimitKind::MaxUses)));
    let refusals =
        sim.records.iter().filter(|r| matches!(r, Record::HandoffRefused { refusal: Refusal::MaxUses, .. })).count();
    assert_eq!(refusals, 2);
    sim.check_replay();
}

#[test]
fn summary_context_shows_the_note_not_the_history() {
    let mut sim = Sim::new(support_team());
    let (billing, billing_args) = handoff("billing", "charge dispute");
    let mut model = scripted(&[
        ("triage", calls(&[("1", "t1", r#"{"q":"secret"}"#)])),
        ("triage", calls(&[("2", &billing, &billing_args)])),
        ("billing", text("ok")),
    ]);
    sim.turn("I was charged twice", &mut model, &mut tools_ok, 50);
    let request = sim.requests.iter().find(|r| r.agent == "billing").unwrap();
    assert!(request.system.starts_with("You are billing."));
    assert!(request.system.contains("triage handed it to you") && request.system.contains("Reason: charge dispute"));
    assert!(request.system.contains("Summary: s") && request.system.contains("- customer_id: 42"));
    assert!(request.system.contains("The user's request: I was charged twice"));
    assert_eq!(request.messages, vec![ChatMessage::User("I was charged twice".into())]);
}

#[test]
fn none_context_leaves_out_summary_and_facts() {
    let mut sim = Sim::new(support_team());
    let (tech, tech_args) = handoff("technical", "network");
    let (billing, billing_args) = handoff("billing", "invoice");
    let mut model = scripted(&[
        ("triage", calls(&[("1", &tech, &tech_args)])),
        ("technical", calls(&[("2", &billing, &billing_args)])),
        ("billing", text("ok")),
    ]);
    sim.turn("help", &mut model, &mut tools_ok, 50);
    let request = sim.requests.iter().find(|r| r.agent == "billing").unwrap();
    assert!(request.system.contains("Reason: invoice") && request.system.contains("The user's request: help"));
    assert!(!request.system.contains("Summary:") && !request.system.contains("customer_id"));
}

#[test]
fn full_context_rewrites_other_agents_tool_traffic_as_text() {
    let mut sim = Sim::new(support_team());
    let (tech, tech_args) = handoff("technical", "network");
    let mut model = scripted(&[
        ("triage", calls(&[("1", "t1", r#"{"id":"42"}"#)])),
        ("triage", calls(&[("2", &tech, &tech_args)])),
        ("technical", text("ok")),
    ]);
    sim.turn("my line", &mut model, &mut tools_ok, 50);
    let request = sim.requests.iter().find(|r| r.agent == "technical").unwrap();
    assert_eq!(request.messages[0], ChatMessage::User("my line".into()));
    let texts: Vec<String> = request.messages[1..]
        .iter()
        .map(|m| match m {
            ChatMessage::Assistant { text: Some(text), tool_calls } if tool_calls.is_empty() => text.clone(),
            other => panic!("foreign traffic must be text: {other:?}"),
        })
        .collect();
    assert!(texts.contains(&r#"[triage called t1({"id":"42"})]"#.to_string()), "{texts:?}");
    assert!(texts.contains(&"[t1 answered triage: t1 ok]".to_string()), "{texts:?}");
}

#[test]
fn control_is_sticky_unless_return_to_entry() {
    for (return_to, expected) in [(ReturnTo::Active, "technical"), (ReturnTo::Entry, "triage")] {
        let mut team = support_team();
        team.limits.return_to = return_to;
        let mut sim = Sim::new(team);
        let (tech, tech_args) = handoff("technical", "network");
        let mut model = scripted(&[
            ("triage", calls(&[("1", &tech, &tech_args)])),
            ("technical", text("ok")),
            ("triage", text("hi")),
        ]);
        sim.turn("down", &mut model, &mut tools_ok, 50);
        let outcome = sim.turn("still down", &mut model, &mut tools_ok, 50);
        assert_eq!(outcome.agent, expected);
        assert!(sim.records.iter().any(|r| matches!(r, Record::TurnStarted { turn: 2, agent } if agent == expected)));
        sim.check_replay();
    }
}

#[test]
fn handing_off_to_a_human_suspends_and_later_turns_wait_for_the_operator() {
    let mut sim = Sim::new(support_team());
    let (human, human_args) = handoff("human", "wants a person");
    let mut model = scripted(&[("triage", calls(&[("1", &human, &human_args)]))]);
    let outcome = sim.turn("a person please", &mut model, &mut tools_ok, 50);
    assert_eq!((outcome.status, outcome.agent.as_str(), outcome.reply), (TurnStatus::Escalated, "human", None));
    let calls_before = sim.requests.len();
    let outcome = sim.turn("hello?", &mut model, &mut tools_ok, 50);
    assert_eq!((outcome.status, outcome.model_calls), (TurnStatus::Escalated, 0));
    assert_eq!(sim.requests.len(), calls_before);
    sim.check_replay();
}

#[test]
fn empty_replies_and_model_failures_fail_the_turn_with_a_reason() {
    let mut sim = Sim::new(support_team());
    let outcome = sim.turn("hi", &mut |_| Input::ModelReplied { reply: text("  ") }, &mut tools_ok, 50);
    assert_eq!(outcome.status, TurnStatus::Failed);
    assert!(outcome.error.unwrap().contains("empty reply"));
    let outcome = sim.turn("hi", &mut |_| Input::ModelFailed { error: "HTTP 500".into() }, &mut tools_ok, 50);
    assert_eq!(outcome.status, TurnStatus::Failed);
    assert!(outcome.error.unwrap().contains("HTTP 500"));
    sim.check_replay();
}

#[test]
fn duplicate_and_missing_call_ids_are_made_unique() {
    let mut sim = Sim::new(support_team());
    let mut model = scripted(&[
        ("triage", calls(&[("", "t1", "{}"), ("", "t1", "{}"), ("x", "t1", "{}")])),
        ("triage", text("ok")),
    ]);
    sim.turn("hi", &mut model, &mut tools_ok, 50);
    let mut model = scripted(&[("triage", calls(&[("x", "t1", "{}")])), ("triage", text("ok"))]);
    sim.turn("again", &mut model, &mut tools_ok, 50);
    let mut keys: Vec<&str> = sim.invocations.iter().map(|i| i.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), 4);
    assert!(sim
        .invocations
        .iter()
        .all(|i| i.idempotency_key.starts_with("c1:") && i.idempotency_key.ends_with(&i.call_id)));
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "call ids and idempotency keys are unique in the conversation: {keys:?}");
}

#[test]
fn inputs_out_of_order_are_rejected_not_applied() {
    let mut sim = Sim::new(support_team());
    let before = sim.conversation.clone();
    assert!(sim.conversation.handle(Input::ModelReplied { reply: text("x") }).is_err());
    assert!(sim.conversation.handle(Input::ToolReturned { call_id: "x".into(), output: ToolOutput::ok("") }).is_err());
    assert_eq!(sim.conversation, before);
    sim.conversation.handle(Input::user("hi")).unwrap();
    assert!(sim.conversation.handle(Input::user("again")).is_err());
}

#[test]
fn a_renamed_call_id_never_collides_with_one_the_model_chose() {
    let mut sim = Sim::new(support_team());
    let mut model =
        scripted(&[("triage", calls(&[("call_1_1_1", "t1", "{}"), ("", "t1", "{}")])), ("triage", text("ok"))]);
    let outcome = sim.turn("hi", &mut model, &mut tools_ok, 50);
    assert_eq!(outcome.status, TurnStatus::Answered);
    assert_eq!(outcome.tool_calls, 2);
    sim.check_replay();
}

#[test]
fn the_note_carries_the_first_request_when_a_later_turn_hands_off() {
    let mut sim = Sim::new(support_team());
    let (billing, billing_args) = handoff("billing", "charge");
    let mut model = scripted(&[
        ("triage", text("Which invoice?")),
        ("triage", calls(&[("1", &billing, &billing_args)])),
        ("billing", text("ok")),
    ]);
    sim.turn("I was charged twice for invoice 7", &mut model, &mut tools_ok, 50);
    sim.turn("yes, that one", &mut model, &mut tools_ok, 50);
    let request = sim.requests.iter().find(|r| r.agent == "billing").unwrap();
    assert!(
        request.system.contains("first request in this conversation: I was charged twice for invoice 7"),
        "{}",
        request.system
    );
    assert!(request.system.contains("The user's request: yes, that one"));
}

#[test]
fn a_fallback_that_is_not_human_is_a_team_error() {
    let mut team = support_team();
    team.limits.fallback = Some("billing".into());
    let problems = baton_core::validate(&team);
    assert!(problems.iter().any(|p| p.site == baton_core::Site::Fallback && p.severity == baton_core::Severity::Error));
}

#[test]
fn a_journal_written_before_turns_counted_usage_still_replays() {
    let mut sim = Sim::new(support_team());
    let mut reply = calls(&[("a", "lookup_customer", "not json")]);
    reply.usage = Some(baton_core::Usage { input_tokens: 12, output_tokens: 3 });
    let mut model = scripted(&[("triage", reply), ("triage", text("Which customer?"))]);
    let outcome = sim.turn("Look me up", &mut model, &mut tools_ok, 50);
    assert_eq!(outcome.malformed_calls, Some(1));
    let usage = outcome.usage.clone().unwrap();
    assert_eq!((usage[0].agent.as_str(), usage[0].calls, usage[0].input_tokens), ("triage", 1, 12));
    sim.check_replay();
    // The earlier format had neither field on the turn's end: it replays as written.
    let mut old = sim.journal.clone();
    let Some(baton_core::JournalEntry::Record(Record::TurnEnded(ended))) = old.last_mut() else {
        panic!("no turn end")
    };
    (ended.malformed_calls, ended.usage) = (None, None);
    assert!(baton_core::replay(std::sync::Arc::new(support_team()), "c1", &old).is_ok());
    // But a turn end that does record them must match what the core decides.
    let Some(baton_core::JournalEntry::Record(Record::TurnEnded(ended))) = old.last_mut() else {
        panic!("no turn end")
    };
    ended.malformed_calls = Some(0);
    assert!(baton_core::replay(std::sync::Arc::new(support_team()), "c1", &old).is_err());
}
