//! The escalation queue: tickets, exclusive claims, operator replies, handback and close.

use crate::support::{calls, team, text, Sim};
use baton_core::ContextPolicy::Full;
use baton_core::{Entry, Input, ModelRequest, Record, Team, ToolInvocation, ToolOutput, TurnStatus};

fn desk() -> Team {
    team(
        "triage",
        &[
            ("triage", &["t1"], &[("billing", Full, None), ("human", Full, None)]),
            ("billing", &[], &[("human", Full, None)]),
            ("human", &[], &[("billing", Full, None)]),
        ],
    )
}

fn ok(invocation: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok(format!("{} ran", invocation.tool))
}

/// Triage hands to the human queue on the first turn, answers with text after.
fn model(request: &ModelRequest) -> Input {
    let reply = match request.agent.as_str() {
        "triage" => calls(&[("h", "transfer_to_human", r#"{"reason":"wants a person","facts":{"name":"Ada"}}"#)]),
        agent => text(&format!("{agent} here, I have your case.")),
    };
    Input::ModelReplied { reply }
}

fn act(sim: &mut Sim, input: Input) -> Result<(), String> {
    sim.conversation.check(&input).map_err(|unfit| unfit.to_string())?;
    assert!(sim.feed(input).is_empty(), "operator actions call no model or tool");
    Ok(())
}

fn claim(operator: &str) -> Input {
    Input::TicketClaimed { operator: operator.into() }
}

#[test]
fn a_ticket_is_claimed_by_one_operator_who_replies_and_hands_back() {
    let mut sim = Sim::new(desk());
    let outcome = sim.turn("I want to talk to someone", &mut model, &mut ok, 20);
    assert_eq!((outcome.status, outcome.agent.as_str()), (TurnStatus::Escalated, "human"));
    let ticket = sim.conversation.ticket().unwrap().clone();
    assert_eq!(
        (ticket.agent.as_str(), ticket.reason.as_str(), ticket.operator, ticket.closed),
        ("human", "wants a person", None, false)
    );
    assert!(sim.records.iter().any(|r| matches!(r, Record::TicketOpened { agent, .. } if agent == "human")));

    let reply = |operator: &str, text: &str| Input::OperatorReplied { operator: operator.into(), text: text.into() };
    assert!(act(&mut sim, reply("anna", "hi")).unwrap_err().contains("not claimed: claim it first"));
    act(&mut sim, claim("anna")).unwrap();
    assert!(act(&mut sim, claim("bob")).unwrap_err().contains("claimed by anna, not bob"));
    assert!(act(&mut sim, reply("bob", "hi")).unwrap_err().contains("claimed by anna, not bob"));
    act(&mut sim, claim("anna")).unwrap();
    act(&mut sim, reply("anna", "Hello Ada, I refunded the fee.")).unwrap();
    let last = sim.conversation.transcript().last().unwrap().clone();
    assert_eq!(
        last,
        Entry::Assistant {
            agent: "human".into(),
            text: Some("Hello Ada, I refunded the fee.".into()),
            tool_calls: vec![]
        }
    );

    let back = |to: &str| Input::TicketHandedBack {
        operator: "anna".into(),
        to: to.into(),
        note: Some("fee refunded; check the next bill".into()),
    };
    let refused = act(&mut sim, back("triage")).unwrap_err();
    assert!(refused.contains("no handoff edge to 'triage'; it can hand back to 'billing'"), "{refused}");
    act(&mut sim, back("billing")).unwrap();
    assert_eq!(sim.conversation.active_agent(), "billing");
    assert_eq!(sim.conversation.ticket(), None);
    let handback = sim.records.last().unwrap().clone();
    assert!(
        matches!(&handback, Record::HandoffTaken { from, to, operator: Some(op), payload, .. }
        if from == "human" && to == "billing" && op == "anna" && payload.summary.as_deref() == Some("fee refunded; check the next bill")),
        "{handback:?}"
    );
    // Acting again says what happened instead of asking for a claim.
    let again = act(&mut sim, back("billing")).unwrap_err();
    assert_eq!(
        again,
        "the ticket of conversation 'c1' was already handed back to 'billing' by anna: nothing to do ('billing' has \
         the conversation)"
    );
    assert_eq!(act(&mut sim, claim("bob")).unwrap_err(), again);
    sim.check_replay();

    // The next turn goes to billing, which sees the operator's note and the facts gathered.
    let outcome = sim.turn("thanks, and my next bill?", &mut model, &mut ok, 20);
    assert_eq!((outcome.status, outcome.agent.as_str()), (TurnStatus::Answered, "billing"));
    let request = sim.requests.last().unwrap();
    assert!(request.system.contains("fee refunded; check the next bill"), "{}", request.system);
    assert!(request.system.contains("Ada"), "{}", request.system);
    sim.check_replay();
}

#[test]
fn a_closed_ticket_opens_again_when_the_user_writes() {
    let mut sim = Sim::new(desk());
    sim.turn("a person please", &mut model, &mut ok, 20);
    act(&mut sim, claim("anna")).unwrap();
    act(&mut sim, Input::TicketClosed { operator: "anna".into() }).unwrap();
    assert!(sim.conversation.ticket().unwrap().closed);
    let closed = act(&mut sim, claim("bob")).unwrap_err();
    assert!(closed.contains("is closed: nothing to do; it opens again when the user writes"), "{closed}");
    let outcome = sim.turn("one more thing", &mut model, &mut ok, 20);
    assert_eq!((outcome.status, outcome.model_calls), (TurnStatus::Escalated, 0));
    let ticket = sim.conversation.ticket().unwrap();
    assert!(!ticket.closed && ticket.operator.is_none() && ticket.opened_turn == 2, "{ticket:?}");
    assert!(ticket.reason.contains("wrote again"), "{ticket:?}");
    sim.check_replay();
    // While the ticket stays open, more messages join it without opening another.
    sim.turn("hello?", &mut model, &mut ok, 20);
    let opened = sim.records.iter().filter(|r| matches!(r, Record::TicketOpened { .. })).count();
    assert_eq!(opened, 2);
}

#[test]
fn a_tripped_limit_escalates_into_the_queue() {
    let mut team = desk();
    team.limits.max_model_calls = 2;
    let mut sim = Sim::new(team);
    let mut busy = |_: &ModelRequest| Input::ModelReplied { reply: calls(&[("x", "t1", "{}")]) };
    let outcome = sim.turn("loop", &mut busy, &mut ok, 20);
    assert_eq!((outcome.status, outcome.agent.as_str()), (TurnStatus::Escalated, "human"));
    assert!(sim.conversation.ticket().unwrap().reason.contains("max_model_calls"));
    sim.check_replay();
}

#[test]
fn a_handback_holds_for_the_next_turn_even_when_turns_return_to_the_entry_agent() {
    let mut team = desk();
    team.limits.return_to = baton_core::ReturnTo::Entry;
    let mut sim = Sim::new(team);
    sim.turn("a person please", &mut model, &mut ok, 20);
    act(&mut sim, claim("anna")).unwrap();
    let back = Input::TicketHandedBack { operator: "anna".into(), to: "billing".into(), note: None };
    act(&mut sim, back).unwrap();
    let outcome = sim.turn("so, my bill?", &mut model, &mut ok, 20);
    assert_eq!(outcome.agent, "billing", "the operator's choice holds for the next turn");
    sim.check_replay();
    let mut triage_answers = |_: &ModelRequest| Input::ModelReplied { reply: text("triage here") };
    let outcome = sim.turn("thanks", &mut triage_answers, &mut ok, 20);
    assert_eq!(outcome.agent, "triage", "then turns return to the entry agent again");
}
