//! The local model: the team's indexes, built once, and the [`Model`] implementation that answers
//! a request by its purpose.

use crate::facts::Extractors;
use crate::index::{Space, Vector};
use crate::knowledge::Knowledge;
use crate::scope::{self, Scope};
use crate::{policy, route};
use async_trait::async_trait;
use baton_core::{Agent, ModelReply, ModelRequest, Purpose, Team, ToolDef};
use baton_models::{Listener, Model, ModelError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The offline, deterministic `provider = "local"` model: a small policy model over the team's
/// own descriptions, examples, tool schemas and instructions.
pub struct LocalModel {
    pub(crate) team: Arc<Team>,
    /// The TF-IDF space of everything the team wrote: scope documents and instruction passages.
    pub(crate) space: Space,
    pub(crate) agents: BTreeMap<String, AgentIndex>,
    pub(crate) tools: BTreeMap<String, Scope>,
    pub(crate) facts: Extractors,
}

/// What the model knows of one agent.
pub(crate) struct AgentIndex {
    /// Its description and examples, and its tools' (and, to score with, what it knows).
    pub scope: Scope,
    /// The passages of its instructions that answer questions.
    pub knowledge: Knowledge,
}

impl LocalModel {
    /// The model for `team`, with its indexes built.
    pub fn new(team: Arc<Team>) -> LocalModel {
        let names: Vec<&str> = team.agents.keys().chain(team.tools.keys()).map(String::as_str).collect();
        let agent_texts: Vec<(&Agent, Vec<String>, Vec<String>)> = team
            .agents
            .values()
            .map(|agent| {
                let passages = Knowledge::passages(&agent.instructions, &names);
                (agent, scope::agent_texts(&team, agent), passages)
            })
            .collect();
        let tool_texts: Vec<(&String, Vec<String>)> =
            team.tools.iter().map(|(name, tool)| (name, scope::tool_texts(tool))).collect();
        let edge_texts =
            team.agents.values().flat_map(|agent| &agent.handoffs).filter_map(|edge| edge.description.as_ref());
        let written = agent_texts.iter().flat_map(|(_, texts, passages)| texts.iter().chain(passages));
        let written = written.chain(tool_texts.iter().flat_map(|(_, texts)| texts)).chain(edge_texts);
        let space = Space::new(written.map(String::as_str));
        let agents = agent_texts
            .into_iter()
            .map(|(agent, texts, passages)| {
                let index = AgentIndex {
                    scope: Scope::new(&space, &texts, &passages),
                    knowledge: Knowledge::new(&space, passages),
                };
                (agent.name.clone(), index)
            })
            .collect();
        let tools = tool_texts.iter().map(|(name, texts)| (name.to_string(), Scope::new(&space, texts, &[]))).collect();
        let facts = Extractors::new(&team);
        LocalModel { space, agents, tools, facts, team }
    }

    /// How well `vector` fits the scope of a tool as offered in a request (the team's tool, or
    /// one only the offer describes).
    pub(crate) fn tool_score(&self, tool: &ToolDef, vector: &Vector) -> f64 {
        match self.tools.get(&tool.name) {
            Some(scope) => scope.score(vector),
            None => Scope::new(&self.space, &scope::tool_texts(tool), &[]).score(vector),
        }
    }
}

#[async_trait]
impl Model for LocalModel {
    async fn complete(&self, request: &ModelRequest, _listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        Ok(match request.purpose {
            Purpose::Act => policy::act(self, request),
            Purpose::Route => route::route(self, request),
        })
    }

    fn provider_name(&self) -> &str {
        "baton.local"
    }
}
