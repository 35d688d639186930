//! The front-door router and the triggers: control that moves before any agent's model is
//! called, recorded in the journal, at no model cost for triggers.

use crate::support::{calls, team, text, Sim};
use baton_core::ContextPolicy::{Full, None as NoContext};
use baton_core::{
    Input, ModelRequest, Purpose, Record, ReturnTo, Router, Signals, Team, ToolInvocation, ToolOutput, Trigger,
    TriggerKind, TurnStatus,
};

fn team_with_spanish() -> Team {
    let mut team = team(
        "triage",
        &[
            ("triage", &["t1"], &[("billing", Full, None), ("spanish", Full, None), ("human", Full, None)]),
            ("billing", &[], &[("triage", Full, None), ("human", NoContext, None)]),
            ("spanish", &[], &[("triage", Full, None), ("human", Full, None)]),
            ("human", &[], &[]),
        ],
    );
    team.agents.get_mut("spanish").unwrap().languages = vec!["es".into()];
    team.triggers = vec![
        Trigger::AsksForHuman { to: "human".into() },
        Trigger::Language,
        Trigger::UnresolvedTurns { turns: 2, to: "human".into() },
    ];
    team
}

fn answer(request: &ModelRequest) -> Input {
    Input::ModelReplied { reply: text(&format!("{} answers", request.agent)) }
}

fn tools_ok(_: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok("ok")
}

fn es() -> Signals {
    Signals { language: Some("es".into()), asks_for_human: false }
}

fn en() -> Signals {
    Signals { language: Some("en".into()), asks_for_human: false }
}

fn trigger_of(sim: &Sim) -> Vec<(String, String, TriggerKind, String)> {
    sim.records
        .iter()
        .filter_map(|record| match record {
            Record::HandoffTaken { from, to, trigger: Some(kind), payload, .. } => {
                Some((from.clone(), to.clone(), *kind, payload.reason.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn asking_for_a_person_escalates_without_a_model_call() {
    let mut sim = Sim::new(team_with_spanish());
    let signals = Signals { language: Some("en".into()), asks_for_human: true };
    let outcome = sim.turn_with("I want to talk to a person", signals, &mut answer, &mut tools_ok, 20);
    assert_eq!(outcome.status, TurnStatus::Escalated);
    assert_eq!(outcome.agent, "human");
    assert_eq!(outcome.model_calls, 0);
    assert!(sim.requests.is_empty());
    assert_eq!(outcome.handoffs.len(), 1);
    assert!(outcome.handoffs[0].reason.starts_with("trigger: asks_for_human"));
    let fired = trigger_of(&sim);
    assert_eq!(fired.len(), 1);
    assert_eq!((fired[0].0.as_str(), fired[0].1.as_str(), fired[0].2), ("triage", "human", TriggerKind::AsksForHuman));
    sim.check_replay();
}

#[test]
fn a_language_the_agent_does_not_speak_moves_control_to_one_that_does_and_back() {
    let mut sim = Sim::new(team_with_spanish());
    let outcome = sim.turn_with("hola, no tengo internet", es(), &mut answer, &mut tools_ok, 20);
    assert_eq!(outcome.agent, "spanish");
    assert_eq!(outcome.reply.as_deref(), Some("spanish answers"));
    assert_eq!(outcome.model_calls, 1, "the trigger costs no model call; spanish answers with one");
    assert_eq!(sim.requests[0].agent, "spanish");
    assert!(sim.requests[0].system.contains("trigger: language"), "the receiver reads why in its handoff note");
    let fired = trigger_of(&sim);
    assert_eq!(fired[0].2, TriggerKind::Language);
    assert!(fired[0].3.contains("'es'"), "{}", fired[0].3);

    // The user switches to English: spanish does not speak it; triage (its edge) does.
    let outcome = sim.turn_with("my bill is wrong", en(), &mut answer, &mut tools_ok, 20);
    assert_eq!(outcome.agent, "triage");
    assert_eq!(trigger_of(&sim).len(), 2);
    sim.check_replay();
}

#[test]
fn no_trigger_fires_without_its_signal_or_when_the_agent_already_speaks_the_language() {
    let mut sim = Sim::new(team_with_spanish());
    let outcome = sim.turn_with("my bill is wrong", en(), &mut answer, &mut tools_ok, 20);
    assert_eq!((outcome.agent.as_str(), outcome.handoffs.len()), ("triage", 0));
    let outcome = sim.turn("42", &mut answer, &mut tools_ok, 20);
    assert_eq!((outcome.agent.as_str(), outcome.handoffs.len()), ("triage", 0));
    // A language nobody speaks leaves control where it is.
    let fr = Signals { language: Some("fr".into()), asks_for_human: false };
    let mut sim = Sim::new(team_with_spanish());
    let outcome = sim.turn_with("bonjour", fr, &mut answer, &mut tools_ok, 20);
    assert_eq!((outcome.agent.as_str(), outcome.handoffs.len()), ("triage", 0));
}

/// triage hands every request to billing; billing answers.
fn to_billing(request: &ModelRequest) -> Input {
    match request.agent.as_str() {
        "triage" => Input::ModelReplied { reply: calls(&[("h", "transfer_to_billing", r#"{"reason":"money"}"#)]) },
        _ => answer(request),
    }
}

#[test]
fn a_specialist_that_kept_the_conversation_for_n_turns_hands_it_to_a_person() {
    let mut sim = Sim::new(team_with_spanish());
    for message in ["my bill", "still wrong"] {
        let outcome = sim.turn(message, &mut to_billing, &mut tools_ok, 20);
        assert_eq!(outcome.agent, "billing");
    }
    let outcome = sim.turn("third", &mut to_billing, &mut tools_ok, 20);
    assert_eq!((outcome.agent.as_str(), outcome.status), ("human", TurnStatus::Escalated));
    assert_eq!(outcome.model_calls, 0);
    let fired = trigger_of(&sim);
    assert_eq!(fired[0].2, TriggerKind::UnresolvedTurns);
    assert!(fired[0].3.contains("billing has kept the conversation for 2 turns in a row"), "{}", fired[0].3);
    sim.check_replay();
}

#[test]
fn the_front_desk_answering_many_questions_is_not_unresolved() {
    let mut sim = Sim::new(team_with_spanish());
    for message in ["when are you open", "how much is fibre", "where is the shop", "thanks"] {
        assert_eq!(sim.turn(message, &mut answer, &mut tools_ok, 20).agent, "triage");
    }
    assert!(trigger_of(&sim).is_empty());
}

#[test]
fn unresolved_turns_count_when_each_turn_returns_to_the_entry_agent() {
    let mut team = team_with_spanish();
    team.limits.return_to = ReturnTo::Entry;
    let mut sim = Sim::new(team);
    for message in ["my bill", "still wrong"] {
        assert_eq!(sim.turn(message, &mut to_billing, &mut tools_ok, 20).agent, "billing");
    }
    let outcome = sim.turn("third", &mut to_billing, &mut tools_ok, 20);
    assert_eq!(outcome.agent, "human");
    assert_eq!(trigger_of(&sim)[0].0, "triage", "the turn started at the entry agent");
}

#[test]
fn a_change_of_agent_restarts_the_unresolved_count() {
    let mut team = team_with_spanish();
    team.agents.get_mut("billing").unwrap().handoffs.insert(0, baton_core::HandoffEdge::to("spanish"));
    let mut sim = Sim::new(team);
    assert_eq!(sim.turn("my bill", &mut to_billing, &mut tools_ok, 20).agent, "billing");
    let to_spanish = |request: &ModelRequest| match request.agent.as_str() {
        "billing" => Input::ModelReplied { reply: calls(&[("s", "transfer_to_spanish", r#"{"reason":"x"}"#)]) },
        _ => answer(request),
    };
    assert_eq!(sim.turn("en español", &mut { to_spanish }, &mut tools_ok, 20).agent, "spanish");
    assert_eq!(sim.turn("sigue mal", &mut answer, &mut tools_ok, 20).agent, "spanish");
    assert_eq!(sim.turn("todavia", &mut answer, &mut tools_ok, 20).agent, "human");
}

fn routed_team() -> Team {
    let mut team = team_with_spanish();
    team.router = Some(Router { model: "m".into() });
    team
}

#[test]
fn the_router_picks_the_first_agent_once_and_it_is_not_a_handoff() {
    let mut sim = Sim::new(routed_team());
    let mut model = |request: &ModelRequest| match request.purpose {
        Purpose::Route => {
            Input::ModelReplied { reply: calls(&[("r", "transfer_to_billing", r#"{"reason":"mentions an invoice"}"#)]) }
        }
        Purpose::Act => answer(request),
    };
    let outcome = sim.turn("invoice INV-1001 is wrong", &mut model, &mut tools_ok, 20);
    assert_eq!(outcome.agent, "billing");
    assert!(outcome.handoffs.is_empty(), "routing is not a handoff");
    let routed = outcome.routed.clone().unwrap();
    assert_eq!(
        (routed.from.as_str(), routed.to.as_str(), routed.reason.as_str()),
        ("triage", "billing", "mentions an invoice")
    );
    assert_eq!(outcome.model_calls, 2);
    let route = &sim.requests[0];
    assert_eq!((route.purpose, route.agent.as_str()), (Purpose::Route, "router"));
    let offered: Vec<&str> = route.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(offered, ["transfer_to_triage", "transfer_to_billing", "transfer_to_spanish"], "entry first, no humans");
    assert!(sim.conversation.transcript().iter().all(|e| !matches!(e, baton_core::Entry::Handoff(_))));
    assert!(matches!(sim.records[1], Record::RouterCallStarted { .. }));

    // Later turns are not routed.
    let outcome = sim.turn("thanks", &mut model, &mut tools_ok, 20);
    assert_eq!((outcome.agent.as_str(), outcome.routed.is_none(), outcome.model_calls), ("billing", true, 1));
    sim.check_replay();
}

#[test]
fn a_router_that_fails_or_picks_nonsense_leaves_the_entry_agent_in_control() {
    for reply in [
        Input::ModelFailed { error: "HTTP 503".into() },
        Input::ModelReplied { reply: text("billing, I think") },
        Input::ModelReplied { reply: calls(&[("r", "transfer_to_human", "{}")]) },
        Input::ModelReplied { reply: calls(&[("r", "transfer_to_nobody", "{}")]) },
    ] {
        let mut sim = Sim::new(routed_team());
        let mut model = |request: &ModelRequest| match request.purpose {
            Purpose::Route => reply.clone(),
            Purpose::Act => answer(request),
        };
        let outcome = sim.turn("hello", &mut model, &mut tools_ok, 20);
        assert_eq!((outcome.agent.as_str(), outcome.status), ("triage", TurnStatus::Answered));
        let routed = outcome.routed.unwrap();
        assert_eq!(routed.to, "triage");
        assert!(routed.reason.starts_with("staying with the entry agent"), "{}", routed.reason);
        sim.check_replay();
    }
}

#[test]
fn a_trigger_on_the_first_message_saves_the_router_call() {
    let mut sim = Sim::new(routed_team());
    let mut model = |request: &ModelRequest| answer(request);
    let signals = Signals { language: None, asks_for_human: true };
    let outcome = sim.turn_with("a person please", signals, &mut model, &mut tools_ok, 20);
    assert_eq!((outcome.agent.as_str(), outcome.model_calls, outcome.routed.is_none()), ("human", 0, true));
    assert!(sim.requests.is_empty());
}

#[test]
fn triggers_act_after_routing() {
    let mut team = routed_team();
    team.agents.get_mut("triage").unwrap().languages = vec!["en".into(), "es".into()];
    let mut sim = Sim::new(team);
    let mut model = |request: &ModelRequest| match request.purpose {
        Purpose::Route => Input::ModelReplied { reply: calls(&[("r", "transfer_to_billing", r#"{"reason":"x"}"#)]) },
        Purpose::Act => answer(request),
    };
    let outcome = sim.turn_with("mi factura esta mal", es(), &mut model, &mut tools_ok, 20);
    assert_eq!(outcome.routed.unwrap().to, "billing");
    assert_eq!(outcome.agent, "triage", "billing does not speak Spanish; its edge to triage, which does, is taken");
}

#[test]
fn facts_from_a_handoff_reach_the_next_agent_in_its_request() {
    let mut sim = Sim::new(team_with_spanish());
    let to_billing = calls(&[("h", "transfer_to_billing", r#"{"reason":"money","facts":{"customer_id":"42"}}"#)]);
    let mut model = |request: &ModelRequest| match request.agent.as_str() {
        "triage" => Input::ModelReplied { reply: to_billing.clone() },
        _ => answer(request),
    };
    sim.turn("customer 42, my bill", &mut model, &mut tools_ok, 20);
    let billing = sim.requests.iter().find(|r| r.agent == "billing").unwrap();
    assert_eq!(billing.facts.get("customer_id").map(String::as_str), Some("42"));
}
