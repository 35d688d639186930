//! Triggers: declarative signals evaluated at the start of a turn, before any model call (the
//! router's included), that move control at no model cost: a language the active agent does not
//! speak, a request for a person, a specialist that has kept the conversation for N turns in a
//! row without resolving it.

use crate::event::Signals;
use crate::team::{AgentKind, Team, Trigger, TriggerKind};

/// A trigger that fired: who takes control and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firing {
    /// Which trigger.
    pub kind: TriggerKind,
    /// The agent that takes control.
    pub to: String,
    /// The handoff reason, starting with `trigger: `.
    pub reason: String,
}

/// The agent that kept control at the end of the latest user turns, and for how many in a row.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Streak {
    /// The agent.
    pub agent: String,
    /// Turns in a row.
    pub turns: u32,
}

/// The first of the team's triggers (in declaration order) that fires for `active`, if any.
pub fn evaluate(team: &Team, active: &str, signals: &Signals, streak: &Streak) -> Option<Firing> {
    team.triggers.iter().find_map(|trigger| fires(team, trigger, active, signals, streak))
}

fn fires(team: &Team, trigger: &Trigger, active: &str, signals: &Signals, streak: &Streak) -> Option<Firing> {
    let kind = trigger.kind();
    let (to, why) = match trigger {
        Trigger::Language => {
            let language = signals.language.as_deref()?;
            if team.agent(active)?.speaks(language) {
                return None;
            }
            let to = speaker_of(team, active, language)?;
            (to, format!("the user writes '{language}', which {active} does not speak"))
        }
        Trigger::AsksForHuman { to } => {
            if !signals.asks_for_human {
                return None;
            }
            (to.clone(), "the user asked for a person".to_string())
        }
        Trigger::UnresolvedTurns { turns, to } => {
            // A specialist: not the entry agent (the front desk answers many a question), not a person.
            let specialist =
                streak.agent != team.entry && team.agent(&streak.agent).is_some_and(|a| a.kind == AgentKind::Llm);
            if !specialist || streak.turns < *turns {
                return None;
            }
            let who = &streak.agent;
            (
                to.clone(),
                format!("{who} has kept the conversation for {} turns in a row without resolving it", streak.turns),
            )
        }
    };
    if to == active || team.agent(&to).is_none() {
        return None;
    }
    Some(Firing { kind, reason: format!("trigger: {}: {why}", kind.as_str()), to })
}

/// A model-driven agent that speaks `language`: one `active` has an edge to (in declaration
/// order), else the entry agent, else the first by name.
fn speaker_of(team: &Team, active: &str, language: &str) -> Option<String> {
    let speaks =
        |name: &str| name != active && team.agent(name).is_some_and(|a| a.kind == AgentKind::Llm && a.speaks(language));
    let by_edge = team.agent(active)?.handoffs.iter().map(|edge| edge.to.as_str());
    let by_entry = std::iter::once(team.entry.as_str());
    let by_name = team.agents.keys().map(String::as_str);
    by_edge.chain(by_entry).chain(by_name).find(|name| speaks(name)).map(str::to_string)
}
