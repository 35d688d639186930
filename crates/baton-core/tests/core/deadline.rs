//! The per-turn deadline: the shell says the turn's `turn_seconds` passed, the calls in flight
//! are cut off (each still gets exactly one result), and the limit trips like any other.

use crate::support::{calls, team, text, Sim, DEADLINE_SECONDS};
use baton_core::ContextPolicy::Full;
use baton_core::{
    Approval, ChatMessage, Entry, Input, JournalEntry, LimitKind, ModelRequest, OnLimit, Record, Router, Team,
    ToolInvocation, ToolOutput, TurnStatus,
};

fn desk() -> Team {
    team(
        "triage",
        &[
            ("triage", &["t1", "t2"], &[("technical", Full, None), ("human", Full, None)]),
            ("technical", &[], &[("human", Full, None)]),
            ("human", &[], &[]),
        ],
    )
}

/// A model that answers with `replies` in order, then "Done." forever.
fn replies(replies: Vec<baton_core::ModelReply>) -> impl FnMut(&ModelRequest) -> Input {
    let mut replies = replies.into_iter();
    move |_| Input::ModelReplied { reply: replies.next().unwrap_or_else(|| text("Done.")) }
}

fn ok(invocation: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok(format!("{} ran", invocation.tool))
}

fn result_of(sim: &Sim, call_id: &str) -> ToolOutput {
    let results: Vec<&ToolOutput> = sim
        .conversation
        .transcript()
        .iter()
        .filter_map(|entry| match entry {
            Entry::ToolResult { call_id: id, output, .. } if id == call_id => Some(output),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 1, "call {call_id} has exactly one result: {results:?}");
    results[0].clone()
}

fn tripped(sim: &Sim) -> (String, String) {
    sim.records
        .iter()
        .find_map(|record| match record {
            Record::LimitTripped { limit: LimitKind::TurnSeconds, agent, detail, .. } => {
                Some((agent.clone(), detail.clone()))
            }
            _ => None,
        })
        .expect("turn_seconds tripped")
}

#[test]
fn a_deadline_during_a_model_call_escalates_to_the_fallback_with_the_limit_named() {
    let mut sim = Sim::new(desk());
    sim.deadline_after = Some(0);
    let outcome = sim.turn("My internet is down", &mut replies(vec![]), &mut ok, 10);
    assert_eq!((outcome.status, outcome.limit), (TurnStatus::Escalated, Some(LimitKind::TurnSeconds)));
    assert_eq!((outcome.agent.as_str(), outcome.model_calls), ("human", 1));
    let (agent, detail) = tripped(&sim);
    assert_eq!(agent, "triage");
    assert_eq!(detail, "the turn ran past its deadline of 7 s while the model of agent 'triage' was answering");
    let escalation = outcome.handoffs.last().unwrap();
    assert_eq!((escalation.from.as_str(), escalation.to.as_str()), ("triage", "human"));
    assert!(escalation.reason.starts_with("limit turn_seconds reached: the turn ran past"), "{}", escalation.reason);
    let journaled = JournalEntry::Input(Input::DeadlinePassed { seconds: DEADLINE_SECONDS });
    assert!(sim.journal.contains(&journaled));
    assert_eq!(journaled.kind(), "deadline_passed");
    assert_eq!(
        serde_json::to_value(&journaled).unwrap()["body"],
        serde_json::json!({"type": "deadline_passed", "seconds": 7})
    );
    sim.check_replay();
}

#[test]
fn with_on_limit_fail_the_turn_fails_saying_which_deadline_passed() {
    let mut team = desk();
    team.limits.on_limit = OnLimit::Fail;
    let mut sim = Sim::new(team);
    sim.deadline_after = Some(0);
    let outcome = sim.turn("hello", &mut replies(vec![]), &mut ok, 10);
    assert_eq!((outcome.status, outcome.limit), (TurnStatus::Failed, Some(LimitKind::TurnSeconds)));
    assert_eq!(
        outcome.error.as_deref(),
        Some("limit turn_seconds reached: the turn ran past its deadline of 7 s while the model of agent 'triage' was answering")
    );
    assert_eq!(outcome.agent, "triage");
    sim.check_replay();
}

#[test]
fn tool_calls_cut_off_get_one_result_each_and_the_next_request_pairs_them() {
    let mut team = desk();
    team.limits.on_limit = OnLimit::Fail;
    let mut sim = Sim::new(team);
    let reply = calls(&[("a", "t1", "{}"), ("b", "t2", "{}"), ("h", "transfer_to_technical", r#"{"reason":"r"}"#)]);
    // The model call is answered, then `b` (the simulated shell answers in reverse), then the
    // deadline passes while `a` runs.
    sim.deadline_after = Some(2);
    let outcome = sim.turn("fix it", &mut replies(vec![reply]), &mut ok, 10);
    assert_eq!((outcome.status, outcome.limit), (TurnStatus::Failed, Some(LimitKind::TurnSeconds)));
    assert_eq!((outcome.tool_calls, outcome.handoffs.len(), outcome.agent.as_str()), (2, 0, "triage"));
    let cut = result_of(&sim, "a");
    assert!(cut.is_error, "{cut:?}");
    assert_eq!(
        cut.content,
        "error: cut off: the turn's deadline of 7 s passed while 't1' ran; it may or may not have taken effect: \
         check before trying it again"
    );
    assert_eq!(result_of(&sim, "b"), ToolOutput::ok("t2 ran"));
    assert_eq!(result_of(&sim, "h").content, "error: not transferred to technical: the turn's deadline passed");
    let (_, detail) = tripped(&sim);
    assert_eq!(
        detail,
        "the turn ran past its deadline of 7 s while 't1' (call a) ran, cut off with its outcome unknown: check \
         whether it took effect"
    );
    assert!(!sim.records.iter().any(|record| matches!(record, Record::HandoffTaken { .. })));
    sim.check_replay();

    // The next turn's request answers every call of the cut-off reply right after it (the
    // simulated shell checks the pairing of every request, as providers do).
    let next = sim.turn("and now?", &mut replies(vec![text("Sorry, let me check.")]), &mut ok, 10);
    assert_eq!(next.status, TurnStatus::Answered);
    let messages = &sim.requests.last().unwrap().messages;
    assert!(messages.iter().any(
        |m| matches!(m, ChatMessage::Tool { call_id, output } if call_id == "a" && output.content.contains("cut off"))
    ));
    sim.check_replay();
}

#[test]
fn a_call_waiting_for_approval_when_the_deadline_passes_is_never_run() {
    let mut team = desk();
    team.tools.get_mut("t1").unwrap().approval = Approval::Required;
    let mut sim = Sim::new(team);
    sim.deadline_after = Some(1);
    let reply = calls(&[("a", "t1", "{}"), ("b", "t2", "{}")]);
    let outcome = sim.turn("refund me", &mut replies(vec![reply]), &mut ok, 10);
    assert_eq!((outcome.status, outcome.limit), (TurnStatus::Escalated, Some(LimitKind::TurnSeconds)));
    assert_eq!(result_of(&sim, "a").content, "error: not run: the turn's deadline passed before it was approved");
    assert!(result_of(&sim, "b").content.starts_with("error: cut off"));
    assert!(sim.invocations.iter().all(|call| call.call_id != "a"), "the call waiting for approval never ran");
    assert!(sim.conversation.pending_approval().is_none());
    sim.check_replay();
}

#[test]
fn no_deadline_passes_for_a_turn_waiting_for_approval_or_outside_a_turn() {
    let mut team = desk();
    team.tools.get_mut("t1").unwrap().approval = Approval::Required;
    let mut sim = Sim::new(team);
    let deadline = Input::DeadlinePassed { seconds: DEADLINE_SECONDS };
    assert!(sim.conversation.handle(deadline.clone()).is_err(), "no turn in progress");
    let outcome = sim.turn("refund me", &mut replies(vec![calls(&[("a", "t1", "{}")])]), &mut ok, 10);
    assert_eq!(outcome.status, TurnStatus::AwaitingApproval);
    let rejected = sim.conversation.handle(deadline).unwrap_err();
    assert!(rejected.0.contains("waits for approval"), "{rejected}");
    assert_eq!(sim.conversation.pending_approval().map(|p| p.call_id), Some("a".to_string()));
}

#[test]
fn a_deadline_while_the_router_chooses_trips_before_any_agent_works() {
    let mut team = desk();
    team.router = Some(Router { model: "m".into() });
    let mut sim = Sim::new(team);
    sim.deadline_after = Some(0);
    let outcome = sim.turn("hello", &mut replies(vec![]), &mut ok, 10);
    assert_eq!(
        (outcome.status, outcome.limit, outcome.routed),
        (TurnStatus::Escalated, Some(LimitKind::TurnSeconds), None)
    );
    let (agent, detail) = tripped(&sim);
    assert_eq!(agent, "triage");
    assert!(detail.ends_with("while the front-door router was choosing the first agent"), "{detail}");
    assert!(!sim.records.iter().any(|record| matches!(record, Record::ModelCallStarted { .. })));
    sim.check_replay();
}
