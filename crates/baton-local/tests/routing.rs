//! Measures routing on the support team: first messages labelled with the agent that should take
//! them (none of them among the team's examples), through the front-door router and through the
//! entry agent's handoffs.

mod support;

use baton_core::router::route_request;
use baton_core::{ChatMessage, HANDOFF_PREFIX};
use support::{complete, model, request, team};

const LABELLED: &[(&str, &str)] = &[
    ("technical", "my internet stopped working this morning"),
    ("technical", "the connection drops every few minutes"),
    ("technical", "internet super slow tonight"),
    ("technical", "router won't turn on"),
    ("technical", "the router lights are all red"),
    ("technical", "is there an outage in my street?"),
    ("technical", "I can't connect to the wifi"),
    ("technical", "no internet since yesterday, customer 42"),
    ("technical", "my intrenet is donw"),
    ("technical", "conection very slwo"),
    ("technical", "the line has no signal"),
    ("technical", "el internet no funciona"),
    ("technical", "mi router no enciende"),
    ("technical", "la conexion va muy lenta"),
    ("technical", "se cayo el wifi"),
    ("billing", "I was billed twice for October"),
    ("billing", "please refund my last payment"),
    ("billing", "there is a wrong charge on my invoice"),
    ("billing", "can I get a copy of invoice INV-2041"),
    ("billing", "my bill is higher than usual"),
    ("billing", "why did you charge me 49.99"),
    ("billing", "I want my money back"),
    ("billing", "refnud please"),
    ("billing", "the invoce amount is wrong"),
    ("billing", "quiero que me devuelvan el dinero"),
    ("billing", "mi factura es incorrecta"),
    ("billing", "me han cobrado dos veces este mes"),
    ("billing", "quiero un reembolso de la factura INV-2041"),
    ("triage", "hello"),
    ("triage", "good afternoon"),
    ("triage", "what are your opening hours"),
    ("triage", "where is the shop"),
    ("triage", "thanks"),
    ("triage", "42"),
    ("triage", "hola"),
    ("triage", "do you sell mobile phones"),
    ("triage", "I have a question"),
];

fn accuracy(name: &str, pick: impl Fn(&str) -> String) -> f64 {
    let right = LABELLED
        .iter()
        .filter(|(expected, text)| {
            let picked = pick(text);
            if picked != *expected {
                println!("{name}: {text:?} went to {picked}, not {expected}");
            }
            picked == *expected
        })
        .count();
    let accuracy = right as f64 / LABELLED.len() as f64;
    println!("{name}: {right}/{} right ({accuracy:.3})", LABELLED.len());
    accuracy
}

#[test]
fn first_messages_reach_the_right_agent() {
    let team = team();
    let model = model(&team);
    let routed = |text: &str| {
        let reply = complete(&model, &route_request(&team, "local", 1, text));
        reply.tool_calls[0].name.trim_start_matches(HANDOFF_PREFIX).to_string()
    };
    let handed_off = |text: &str| {
        let reply = complete(&model, &request(&team, "triage", vec![ChatMessage::User(text.into())], &[]));
        match reply.tool_calls.first() {
            Some(call) if call.name.starts_with(HANDOFF_PREFIX) => {
                call.name.trim_start_matches(HANDOFF_PREFIX).to_string()
            }
            _ => "triage".to_string(),
        }
    };
    assert!(accuracy("router", routed) >= 0.9);
    assert!(accuracy("handoff from triage", handed_off) >= 0.9);
}
