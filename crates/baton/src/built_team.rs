//! What a [`Runtime`](crate::Runtime) runs: a validated team with the providers of its models and
//! the implementations of its tools, checked to agree, so a turn never meets a model or a tool
//! that is declared and missing, nor an agent the team does not have.

use baton_core::{InvalidTeam, Problem, Severity, Site, Team, ValidTeam, LOCAL_MODEL};
use baton_local::LocalModel;
use baton_models::Model;
use baton_tools::Tool;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A team that passed validation, with a provider for every model its agents and router use
/// and an implementation for every tool it declares. Made by [`crate::TeamBuilder::build`], by
/// the team-file loader ([`crate::assemble`]) or by [`BuiltTeam::new`].
pub struct BuiltTeam {
    pub(crate) team: ValidTeam,
    pub(crate) models: BTreeMap<String, Arc<dyn Model>>,
    pub(crate) tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl BuiltTeam {
    /// Checks `team` with its providers (by model name) and tools (by name), and keeps them when
    /// the team has no error and they agree with it; otherwise returns every problem at once.
    /// The built-in offline model is supplied for [`LOCAL_MODEL`] unless `models` has one. Tools
    /// run as given: wrap them in [`baton_tools::guard::Guarded`] for a time limit and a result cap
    /// ([`crate::TeamBuilder`] does).
    pub fn new(
        team: Team,
        mut models: BTreeMap<String, Arc<dyn Model>>,
        tools: BTreeMap<String, Arc<dyn Tool>>,
    ) -> Result<BuiltTeam, InvalidTeam> {
        let mut extra = unsupplied(&team, &models, &tools);
        extra.extend(unparsed_replies(&team));
        let team = match ValidTeam::new(team) {
            Err(mut invalid) => {
                invalid.problems.extend(extra);
                return Err(invalid);
            }
            Ok(team) if extra.is_empty() => team,
            Ok(team) => {
                let problems = team.warnings().iter().cloned().chain(extra).collect();
                return Err(InvalidTeam { team: team.name.clone(), problems });
            }
        };
        if !models.contains_key(LOCAL_MODEL) {
            models.insert(LOCAL_MODEL.to_string(), Arc::new(LocalModel::new(team.shared().clone())));
        }
        Ok(BuiltTeam { team, models, tools })
    }

    /// The team.
    pub fn team(&self) -> &ValidTeam {
        &self.team
    }
}

/// A model some agent or the router uses with no provider, a declared tool with no
/// implementation, and an implementation of a tool the team does not declare.
fn unsupplied(
    team: &Team,
    models: &BTreeMap<String, Arc<dyn Model>>,
    tools: &BTreeMap<String, Arc<dyn Tool>>,
) -> Vec<Problem> {
    let error = |site: Site, message: String, help: &str| Problem {
        severity: Severity::Error,
        site,
        message,
        help: Some(help.to_string()),
    };
    let provided = |model: &str| model == LOCAL_MODEL || models.contains_key(model);
    // A model the team does not declare is the team's own error, told once by validation.
    let declared = |model: &str| team.models.contains(model);
    let mut problems = Vec::new();
    for agent in team.agents.values() {
        let Some(model) = agent.model.as_deref().filter(|model| declared(model)) else { continue };
        if !provided(model) {
            let message = format!("model '{model}' has no provider");
            problems.push(error(Site::AgentModel(agent.name.clone()), message, "register it with TeamBuilder::model"));
        }
    }
    if let Some(router) = team.router.as_ref().filter(|router| declared(&router.model) && !provided(&router.model)) {
        let message = format!("model '{}' has no provider", router.model);
        problems.push(error(Site::Router, message, "register it with TeamBuilder::model"));
    }
    for name in team.tools.keys().filter(|name| !tools.contains_key(*name)) {
        let message = format!("tool '{name}' has no implementation");
        problems.push(error(Site::Tool(name.clone()), message, "register it with TeamBuilder::tool"));
    }
    for name in tools.keys().filter(|name| !team.tools.contains_key(*name)) {
        let message = format!("tool '{name}' is supplied, but the team declares no such tool");
        problems.push(error(Site::Tool(name.clone()), message, "declare it in the team, or leave it out"));
    }
    problems
}

/// Reply templates of the local model that do not parse.
fn unparsed_replies(team: &Team) -> Vec<Problem> {
    let mut problems = Vec::new();
    for agent in team.agents.values() {
        for (occasion, template) in &agent.replies {
            if let Some((message, help)) = unparsed_reply(occasion, template) {
                let site = Site::Agent(agent.name.clone());
                problems.push(Problem { severity: Severity::Error, site, message, help: Some(help.to_string()) });
            }
        }
    }
    problems
}

/// What is wrong with the local model's reply `template` for `occasion`, and what to do, if it
/// does not parse: the one wording of the team file's check and the builder's.
pub(crate) fn unparsed_reply(occasion: &str, template: &str) -> Option<(String, &'static str)> {
    let error = baton_local::check_template(template).err()?;
    let help = "fix the template: it uses minijinja syntax, e.g. \"Your plan is {{ result.plan }}.\"";
    Some((format!("reply template '{occasion}' does not parse: {error}"), help))
}
