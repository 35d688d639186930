//! A team that passed validation, as a type: only [`ValidTeam::new`] makes one, and it refuses a
//! team with any error, so code that takes a `ValidTeam` never meets an entry agent that does not
//! exist, an edge to nowhere or a model nobody declared.

use crate::team::Team;
use crate::validate::{validate, Problem, Severity};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A [`Team`] with no errors (it may have warnings, kept in [`ValidTeam::warnings`]).
#[derive(Clone, Debug)]
pub struct ValidTeam {
    team: Arc<Team>,
    warnings: Vec<Problem>,
}

impl ValidTeam {
    /// Checks `team` and keeps it when it has no error; otherwise returns every problem found,
    /// warnings included, as `baton check` prints them (without file positions).
    pub fn new(team: Team) -> Result<ValidTeam, InvalidTeam> {
        let problems = validate(&team);
        match problems.iter().any(|problem| problem.severity == Severity::Error) {
            true => Err(InvalidTeam { team: team.name, problems }),
            false => Ok(ValidTeam { team: Arc::new(team), warnings: problems }),
        }
    }

    /// The team, shared.
    pub fn shared(&self) -> &Arc<Team> {
        &self.team
    }

    /// What validation warned about: the team runs, but probably not as intended.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }
}

impl Deref for ValidTeam {
    type Target = Team;

    fn deref(&self) -> &Team {
        &self.team
    }
}

/// A team with at least one error: it cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidTeam {
    /// The team's name.
    pub team: String,
    /// Every problem found, errors and warnings, in a stable order.
    pub problems: Vec<Problem>,
}

impl InvalidTeam {
    /// The problems that keep the team from running.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|problem| problem.severity == Severity::Error)
    }

    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        "invalid_team"
    }
}

impl fmt::Display for InvalidTeam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<&Problem> = self.errors().collect();
        let plural = if errors.len() == 1 { "" } else { "s" };
        write!(f, "team '{}' has {} error{plural}:", self.team, errors.len())?;
        for problem in errors {
            write!(f, "\n  error: {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidTeam {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::team::{Agent, HandoffEdge, Limits};

    #[test]
    fn a_team_with_errors_is_refused_with_every_error_listed() {
        let mut team = Team::new("desk", "front");
        team.limits = Limits::default().fail_on_limit();
        let mut back = Agent::llm("back", "local");
        back.handoffs.push(HandoffEdge::to("nobody"));
        team.agents.insert("back".into(), back);
        let invalid = ValidTeam::new(team).expect_err("the entry agent does not exist");
        assert_eq!(invalid.kind(), "invalid_team");
        let shown = invalid.to_string();
        assert!(shown.starts_with("team 'desk' has 2 errors:"), "{shown}");
        assert!(shown.contains("entry: "), "{shown}");
        assert!(shown.contains("agent 'back', handoffs item 1: "), "{shown}");
    }

    #[test]
    fn a_valid_team_keeps_its_warnings() {
        let mut team = Team::new("desk", "front");
        team.limits = Limits::default().fail_on_limit();
        team.agents.insert("front".into(), Agent::local("front"));
        let valid = ValidTeam::new(team).expect("one agent on the local model is a team");
        assert_eq!(valid.entry, "front");
        assert!(valid.warnings().iter().all(|problem| problem.severity == Severity::Warning));
    }
}
