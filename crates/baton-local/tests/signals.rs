//! `read_signals` reads only what the team's triggers need.

use baton_core::{Signals, Team, Trigger};
use baton_local::read_signals;

#[test]
fn signals_are_read_for_the_declared_triggers_only() {
    let mut team = Team::new("t", "a");
    assert_eq!(read_signals(&team, "quiero hablar con una persona"), Signals::default());
    team.triggers.push(Trigger::Language);
    let read = read_signals(&team, "quiero hablar con una persona");
    assert_eq!((read.language.as_deref(), read.asks_for_human), (Some("es"), false));
    assert_eq!(read_signals(&team, "INV-2041").language, None);
    team.triggers.push(Trigger::AsksForHuman { to: "human".into() });
    let read = read_signals(&team, "quiero hablar con una persona");
    assert_eq!((read.language.as_deref(), read.asks_for_human), (Some("es"), true));
    assert_eq!(
        read_signals(&team, "my internet is down"),
        Signals { language: Some("en".into()), asks_for_human: false }
    );
}
