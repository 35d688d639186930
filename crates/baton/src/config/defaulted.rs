//! Settings the loader chose because the team file left them out and the usual default does
//! not fit the team: what was chosen and why, for `baton check` to say so.

use super::raw::RawTeam;
use baton_core::{AgentKind, OnLimit, Team};
use std::fmt;

/// A setting the team file does not write, given a value other than the usual default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaulted {
    /// The setting, as it would be written: `limits.on_limit`.
    pub setting: String,
    /// The value chosen, as it would be written: `"fail"`.
    pub value: String,
    /// Why, and what it means for the team.
    pub reason: String,
    /// What to write to choose otherwise.
    pub help: String,
}

impl fmt::Display for Defaulted {
    /// `limits.on_limit = "fail" (not written): the team has no human agent … ; to escalate, …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {} (not written): {}; {}", self.setting, self.value, self.reason, self.help)
    }
}

/// A team with no human agent whose file names neither `on_limit` nor `fallback` has nobody to
/// escalate to, so a tripped limit ends the turn failed (`on_limit = "fail"`) instead of the
/// usual escalation. Sets it in `team` and says so; `None` for every other team, which keeps
/// the defaults (and is told to name a fallback if it needs one).
pub(crate) fn on_limit(raw: &RawTeam, team: &mut Team) -> Option<Defaulted> {
    let written = raw.limits.as_ref().map(|limits| limits.get_ref());
    if written.is_some_and(|limits| limits.on_limit.is_some() || limits.fallback.is_some()) {
        return None;
    }
    if team.agents.values().any(|agent| agent.kind == AgentKind::Human) {
        return None;
    }
    team.limits.on_limit = OnLimit::Fail;
    Some(Defaulted {
        setting: "limits.on_limit".into(),
        value: "\"fail\"".into(),
        reason: "the team has no human agent to escalate to, so a tripped limit ends the turn with an error".into(),
        help: "to escalate instead, add a kind = \"human\" agent and name it in [limits] fallback = \"<agent>\"".into(),
    })
}
