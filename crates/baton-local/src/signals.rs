//! The signals the core's triggers read off a user message, computed only for the triggers the
//! team declares.

use crate::{human, language};
use baton_core::{Signals, Team, Trigger};

/// What the team's triggers need to know about `text`: its language when the team has a language
/// trigger, whether it asks for a person when the team has an `asks_for_human` trigger.
pub fn read_signals(team: &Team, text: &str) -> Signals {
    let has = |wanted: fn(&Trigger) -> bool| team.triggers.iter().any(wanted);
    Signals {
        language: has(|t| matches!(t, Trigger::Language)).then(|| language::detect(text)).flatten().map(str::to_string),
        asks_for_human: has(|t| matches!(t, Trigger::AsksForHuman { .. })) && human::asks_for_human(text),
    }
}
