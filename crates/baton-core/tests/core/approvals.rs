//! Approvals: a call that needs a person's decision suspends the turn durably.

use crate::support::{calls, team, text, Sim};
use baton_core::ContextPolicy::Full;
use baton_core::{
    Approval, Entry, Input, ModelRequest, Record, Rule, Team, ToolInvocation, ToolOutput, TurnOutcome, TurnStatus,
    Unfit,
};
use serde_json::json;

/// `t1` needs approval when `amount > 100`; `t2` never does.
fn refund_team() -> Team {
    let mut team = team("billing", &[("billing", &["t1", "t2"], &[("human", Full, None)]), ("human", &[], &[])]);
    let rule = Rule::parse("amount > 100").unwrap();
    team.tools.get_mut("t1").unwrap().approval = Approval::When(vec![rule]);
    team
}

/// A model that answers with `replies` in order, then "Done." forever.
fn replies(replies: Vec<baton_core::ModelReply>) -> impl FnMut(&ModelRequest) -> Input {
    let mut replies = replies.into_iter();
    move |_| Input::ModelReplied { reply: replies.next().unwrap_or_else(|| text("Done.")) }
}

fn ok(invocation: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok(format!("{} ran", invocation.tool))
}

fn decision(call_id: &str, approved: bool, reason: Option<&str>) -> Input {
    Input::ApprovalDecided {
        call_id: call_id.into(),
        approved,
        reason: reason.map(String::from),
        by: Some("anna".into()),
    }
}

fn result_of(sim: &Sim, call_id: &str) -> ToolOutput {
    sim.conversation
        .transcript()
        .iter()
        .find_map(|entry| match entry {
            Entry::ToolResult { call_id: id, output, .. } if id == call_id => Some(output.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no result for {call_id}"))
}

fn suspended(outcome: &TurnOutcome, call_id: &str) {
    assert_eq!(outcome.status, TurnStatus::AwaitingApproval, "{outcome:?}");
    assert_eq!(outcome.pending.as_ref().map(|p| p.call_id.as_str()), Some(call_id), "{outcome:?}");
}

#[test]
fn the_other_calls_run_first_then_the_turn_waits_and_goes_on_once_approved() {
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![calls(&[("a", "t1", r#"{"amount": 250}"#), ("b", "t2", "{}")])]);
    let outcome = sim.turn("refund me", &mut model, &mut ok, 20);
    suspended(&outcome, "a");
    let pending = outcome.pending.clone().unwrap();
    assert_eq!((pending.tool.as_str(), pending.args), ("t1", json!({"amount": 250})));
    let run: Vec<&str> = sim.invocations.iter().map(|i| i.tool.as_str()).collect();
    assert_eq!(run, ["t2"], "only the call needing no approval ran");
    assert!(sim.records.iter().any(|r| matches!(r, Record::ApprovalRequested { call_id, .. } if call_id == "a")));
    sim.check_replay();
    let refused = sim.conversation.check(&Input::user("hello?")).unwrap_err();
    assert_eq!(refused.kind(), "awaiting_approval");
    assert!(refused.to_string().contains("waiting for approval of 't1' (call a)"), "{refused}");
    let refused = sim.conversation.check(&decision("b", true, None)).unwrap_err();
    assert!(
        matches!(&refused, Unfit::NotAwaitingApproval { call_id, waiting, .. } if call_id == "b" && waiting == &["a"])
    );
    assert!(refused.to_string().contains("waiting: a"));

    let outcome = sim.decide(decision("a", true, None), &mut model, &mut ok, 20);
    assert_eq!(outcome.status, TurnStatus::Answered);
    assert_eq!(outcome.reply.as_deref(), Some("Done."));
    assert_eq!((outcome.tool_calls, outcome.model_calls, outcome.pending), (2, 2, None));
    assert_eq!(sim.invocations.last().map(|i| i.idempotency_key.as_str()), Some("c1:1:a"));
    assert_eq!(result_of(&sim, "a"), ToolOutput::ok("t1 ran"));
    sim.check_replay();
}

#[test]
fn a_call_the_rule_does_not_match_runs_at_once() {
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![calls(&[("a", "t1", r#"{"amount": 40}"#)])]);
    let outcome = sim.turn("refund me", &mut model, &mut ok, 20);
    assert_eq!(outcome.status, TurnStatus::Answered);
    assert_eq!(result_of(&sim, "a"), ToolOutput::ok("t1 ran"));
}

#[test]
fn a_denial_is_a_result_the_model_reads_and_the_same_call_is_not_asked_again() {
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![
        calls(&[("a", "t1", r#"{"amount": 250}"#)]),
        calls(&[("b", "t1", r#"{ "amount" : 250 }"#)]),
        text("I could not refund it."),
    ]);
    suspended(&sim.turn("refund me", &mut model, &mut ok, 20), "a");
    let outcome = sim.decide(decision("a", false, Some("over the monthly limit")), &mut model, &mut ok, 20);
    assert_eq!(outcome.status, TurnStatus::Answered, "{outcome:?}");
    let denied = result_of(&sim, "a");
    assert!(denied.is_error && denied.content.contains("over the monthly limit"), "{denied:?}");
    assert!(denied.content.contains("Do not try it again"), "{denied:?}");
    let again = result_of(&sim, "b");
    assert!(again.is_error && again.content.contains("denied earlier"), "{again:?}");
    assert!(sim.invocations.is_empty(), "a denied call never runs");
    let asked = sim.records.iter().filter(|r| matches!(r, Record::ApprovalRequested { .. })).count();
    assert_eq!(asked, 1, "the repeated call is refused without asking again");
    sim.check_replay();

    // Other arguments are another call: a person is asked again.
    let mut model = replies(vec![calls(&[("c", "t1", r#"{"amount": 300}"#)])]);
    suspended(&sim.turn("then refund 300", &mut model, &mut ok, 20), "c");
}

#[test]
fn two_calls_waiting_are_decided_one_at_a_time() {
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![calls(&[("a", "t1", r#"{"amount": 250}"#), ("b", "t1", r#"{"amount": 900}"#)])]);
    suspended(&sim.turn("refund both", &mut model, &mut ok, 20), "a");
    suspended(&sim.decide(decision("a", true, None), &mut model, &mut ok, 20), "b");
    sim.check_replay();
    let outcome = sim.decide(decision("b", false, None), &mut model, &mut ok, 20);
    assert_eq!(outcome.status, TurnStatus::Answered);
    assert_eq!(result_of(&sim, "a"), ToolOutput::ok("t1 ran"));
    assert!(result_of(&sim, "b").content.contains("no reason given"));
    let ends = sim.records.iter().filter(|r| matches!(r, Record::TurnEnded(o) if o.turn == 1)).count();
    assert_eq!(ends, 3, "the turn paused twice, then ended");
    sim.check_replay();
}

#[test]
fn a_decision_nobody_waits_for_is_refused() {
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![]);
    sim.turn("hello", &mut model, &mut ok, 20);
    let refused = sim.conversation.check(&decision("a", true, None)).unwrap_err();
    assert_eq!(refused, Unfit::NothingAwaitsApproval { conversation: "c1".into() });
    assert!(refused.to_string().contains("no tool call of conversation 'c1' is waiting for approval"), "{refused}");
    assert!(sim.conversation.handle(decision("a", true, None)).is_err());
}

#[test]
fn records_of_a_reply_come_before_its_calls_whatever_the_order_of_the_calls() {
    // An ordinary call before one that waits, and before one that is rejected: the shell
    // journals every record of the reply before it runs the ordinary call.
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![calls(&[("b", "t2", "{}"), ("a", "t1", r#"{"amount": 250}"#), ("c", "nope", "{}")])]);
    suspended(&sim.turn("refund me", &mut model, &mut ok, 20), "a");
    sim.check_replay();
    assert!(sim.decide(decision("a", true, None), &mut model, &mut ok, 20).status == TurnStatus::Answered);
    sim.check_replay();
}

#[test]
fn a_result_for_a_call_still_waiting_is_refused() {
    let mut sim = Sim::new(refund_team());
    let mut model = replies(vec![calls(&[("a", "t1", r#"{"amount": 250}"#)])]);
    suspended(&sim.turn("refund me", &mut model, &mut ok, 20), "a");
    let early = Input::ToolReturned { call_id: "a".into(), output: ToolOutput::ok("ran anyway") };
    assert!(sim.conversation.handle(early).is_err());
    assert!(sim.conversation.handle(Input::ToolOutcomeUnknown { call_id: "a".into() }).is_err());
}

#[test]
fn a_call_whose_arguments_do_not_fit_is_never_sent_for_approval() {
    let mut team = refund_team();
    let schema = json!({"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]});
    team.tools.get_mut("t1").unwrap().parameters = schema;
    team.tools.get_mut("t2").unwrap().approval = Approval::Required;
    team.tools.get_mut("t2").unwrap().parameters = json!({"type": "object", "required": ["reason"]});
    let mut sim = Sim::new(team);
    // "lots" cannot be compared with 100, which by itself would ask a person.
    let mut model = replies(vec![
        calls(&[("a", "t1", r#"{"amount": "lots"}"#), ("b", "t2", "{}")]),
        calls(&[("c", "t1", r#"{"amount": 250}"#)]),
    ]);
    let outcome = sim.turn("refund me", &mut model, &mut ok, 20);
    suspended(&outcome, "c");
    assert_eq!(outcome.malformed_calls, Some(2));
    let asked: Vec<&str> = sim
        .records
        .iter()
        .filter_map(|r| match r {
            Record::ApprovalRequested { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(asked, ["c"], "only the corrected call waits for a person");
    assert!(result_of(&sim, "a").content.contains("amount: \"lots\" is not of type \"number\""));
    assert!(result_of(&sim, "b").content.contains("\"reason\" is a required property"));
    assert!(sim.conversation.check(&decision("a", true, None)).unwrap_err().to_string().contains("waiting: c"));
    sim.check_replay();

    let outcome = sim.decide(decision("c", true, None), &mut model, &mut ok, 20);
    assert_eq!(outcome.status, TurnStatus::Answered);
    let run: Vec<_> = sim.invocations.iter().map(|i| (i.call_id.as_str(), i.arguments.clone())).collect();
    assert_eq!(run, [("c", json!({"amount": 250}))]);
    sim.check_replay();
}
