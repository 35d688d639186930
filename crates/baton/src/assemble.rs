//! Assembly: from a loaded team file to a [`Runtime`] with real providers, tools and a journal.

use crate::config::Api;
use crate::config::{ModelConfig, TeamConfig, ToolConfig};
use crate::Runtime;
use baton_core::{Team, ToolDef};
use baton_local::LocalModel;
use baton_models::{AnthropicModel, Model, OpenAiModel, ScriptModel};
use baton_store::{open, Store, StoreLocation};
use baton_tools::{LookupTool, Tool};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A part of the team could not be built; the message names it and says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AssembleError(String);

/// A runtime for `config` journaling at `location` (a SQLite file with the team's `[store]
/// sync`, a Postgres database, or memory).
pub async fn open_runtime(config: &TeamConfig, location: &StoreLocation) -> Result<Runtime, AssembleError> {
    let store = open(location, config.durability).await.map_err(|e| AssembleError(e.to_string()))?;
    runtime(config, store)
}

/// A runtime for `config` journaling to `store`.
pub fn runtime(config: &TeamConfig, store: Arc<dyn Store>) -> Result<Runtime, AssembleError> {
    let team = Arc::new(config.team.clone());
    let mut models: BTreeMap<String, Arc<dyn Model>> = BTreeMap::new();
    for (name, model) in &config.models {
        let model = build_model(model, &team).map_err(|e| AssembleError(format!("model '{name}': {e}")))?;
        models.insert(name.clone(), model);
    }
    let mut tools: BTreeMap<String, Arc<dyn Tool>> = BTreeMap::new();
    for (name, tool) in &config.tools {
        let definition = &config.team.tools[name];
        let tool = build_tool(definition, tool).map_err(|e| AssembleError(format!("tool '{name}': {e}")))?;
        tools.insert(name.clone(), tool);
    }
    let prices = config.models.iter().filter_map(|(name, model)| Some((name.clone(), model.price()?))).collect();
    let runtime = Runtime::new(team, models, tools, store).with_lease(config.lease).with_prices(prices);
    Ok(match std::path::absolute(&config.path) {
        Ok(path) => runtime.with_team_file(path.display().to_string()),
        Err(_) => runtime,
    })
}

fn build_model(model: &ModelConfig, team: &Arc<Team>) -> Result<Arc<dyn Model>, String> {
    Ok(match model {
        ModelConfig::Http { api: Api::OpenAi, endpoint, .. } => {
            Arc::new(OpenAiModel::new(endpoint.as_ref().clone()).map_err(|e| e.to_string())?)
        }
        ModelConfig::Http { api: Api::Anthropic, endpoint, .. } => {
            Arc::new(AnthropicModel::new(endpoint.as_ref().clone()).map_err(|e| e.to_string())?)
        }
        ModelConfig::Script { script } => Arc::new(ScriptModel::load(script).map_err(|e| e.to_string())?),
        ModelConfig::Local => Arc::new(LocalModel::new(team.clone())),
    })
}

fn build_tool(definition: &ToolDef, tool: &ToolConfig) -> Result<Arc<dyn Tool>, String> {
    Ok(match tool {
        ToolConfig::Lookup { data, key, .. } => {
            Arc::new(LookupTool::load(definition.clone(), key, data).map_err(|e| e.to_string())?)
        }
    })
}
