//! Teams defined in Rust: agents, handoff edges, models, tools and limits declared in code, and
//! checked all at once by [`TeamBuilder::build`] as `baton check` checks a team file.
//!
//! Each model and tool is registered once, by name, with its provider or implementation, so the
//! team and what runs it cannot disagree; every tool runs under [`Guarded`] (a time limit and a
//! result cap): the defaults with [`TeamBuilder::tool`], settings of its own with
//! [`TeamBuilder::tool_with`].

use crate::built_team::BuiltTeam;
use baton_core::{Agent, InvalidTeam, Limits, Problem, Router, Severity, Site, Team, Trigger};
use baton_models::Model;
use baton_tools::guard::{Guarded, ToolSettings};
use baton_tools::Tool;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Declares a team in code; [`TeamBuilder::build`] validates it.
///
/// ```
/// use baton::{Agent, ContextPolicy, HandoffEdge, Limits, TeamBuilder};
///
/// let team = TeamBuilder::new("desk", "triage")
///     .limits(Limits::default().fail_on_limit())
///     .agent(Agent::local("triage").description("Front desk").handoff("billing"))
///     .agent(
///         Agent::local("billing")
///             .description("Invoices and refunds")
///             .handoff(HandoffEdge::to("triage").context(ContextPolicy::Summary)),
///     )
///     .build()
///     .expect("a valid team");
/// assert_eq!(team.team().agents.len(), 2);
///
/// // Every problem at once: no agent 'nobody' to enter at, no 'billing' to hand off to, and
/// // no human agent for the default `on_limit = "escalate"` to fall back to.
/// let broken = TeamBuilder::new("desk", "nobody").agent(Agent::local("triage").handoff("billing")).build();
/// assert_eq!(broken.err().map(|invalid| invalid.errors().count()), Some(3));
/// ```
pub struct TeamBuilder {
    team: Team,
    models: BTreeMap<String, Arc<dyn Model>>,
    tools: BTreeMap<String, Arc<dyn Tool>>,
    /// What the declarations alone show is wrong (a name declared twice).
    problems: Vec<Problem>,
}

impl TeamBuilder {
    /// A team called `name` whose first turns go to `entry`, with default limits and the
    /// built-in offline model ([`baton_core::LOCAL_MODEL`]) available.
    pub fn new(name: impl Into<String>, entry: impl Into<String>) -> Self {
        TeamBuilder {
            team: Team::new(name, entry),
            models: BTreeMap::new(),
            tools: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// Adds an agent ([`Agent::local`], [`Agent::llm`] or [`Agent::human`]).
    pub fn agent(mut self, agent: Agent) -> Self {
        if self.team.agents.contains_key(&agent.name) {
            self.twice(Site::Agent(agent.name.clone()), format!("agent '{}' is declared twice", agent.name));
        }
        self.team.agents.insert(agent.name.clone(), agent);
        self
    }

    /// Registers the provider of the model agents name `name` (registering
    /// [`baton_core::LOCAL_MODEL`] replaces the built-in offline model).
    pub fn model(mut self, name: impl Into<String>, model: impl Model + 'static) -> Self {
        let name = name.into();
        if self.models.contains_key(&name) {
            self.twice(Site::Team, format!("model '{name}' is registered twice"));
        }
        self.team.models.insert(name.clone());
        self.models.insert(name, Arc::new(model));
        self
    }

    /// Registers a tool under the name its definition gives, run with the default time limit and
    /// result cap.
    pub fn tool(self, tool: impl Tool + 'static) -> Self {
        self.tool_with(tool, ToolSettings::default())
    }

    /// Registers a tool run under `settings`.
    pub fn tool_with(mut self, tool: impl Tool + 'static, settings: ToolSettings) -> Self {
        let definition = tool.definition().clone();
        if self.tools.contains_key(&definition.name) {
            self.twice(Site::Tool(definition.name.clone()), format!("tool '{}' is registered twice", definition.name));
        }
        self.tools.insert(definition.name.clone(), Arc::new(Guarded::new(Arc::new(tool), settings)));
        self.team.tools.insert(definition.name.clone(), definition);
        self
    }

    /// Sets the per-turn limits and what happens when one trips.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.team.limits = limits;
        self
    }

    /// Lets a front-door router on `model` pick the first agent of each conversation.
    pub fn router(mut self, model: impl Into<String>) -> Self {
        self.team.router = Some(Router { model: model.into() });
        self
    }

    /// Adds a trigger, checked in the order added at the start of every turn.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.team.triggers.push(trigger);
        self
    }

    /// The team as declared so far.
    pub fn team(&self) -> &Team {
        &self.team
    }

    /// Checks the team and returns it ready to run, or every problem found.
    pub fn build(self) -> Result<BuiltTeam, InvalidTeam> {
        let TeamBuilder { team, models, tools, problems } = self;
        match BuiltTeam::new(team, models, tools) {
            Ok(built) if problems.is_empty() => Ok(built),
            Ok(built) => {
                let problems = problems.into_iter().chain(built.team().warnings().iter().cloned()).collect();
                Err(InvalidTeam { team: built.team().name.clone(), problems })
            }
            Err(mut invalid) => {
                invalid.problems.splice(0..0, problems);
                Err(invalid)
            }
        }
    }

    fn twice(&mut self, site: Site, message: String) {
        let help = Some("give each a name of its own".to_string());
        self.problems.push(Problem { severity: Severity::Error, site, message, help });
    }
}
