//! Assembly: from a loaded team file to a [`Runtime`] with real providers, tools and a journal.
//!
//! Every tool is wrapped in its time limit and result cap. An MCP entry's server is started
//! here, once, and asked for its tools: agents that list the entry get each of them, under the
//! server's own names. Tools of `kind = "rust"` are supplied by the program embedding baton.

use crate::config::Api;
use crate::config::{ModelConfig, TeamConfig, ToolConfig, ToolKind};
use crate::{BuiltTeam, Runtime};
use baton_core::{Problem, Team, ToolDef, HANDOFF_PREFIX};
use baton_local::LocalModel;
use baton_models::{AnthropicModel, Model, OpenAiModel, ScriptModel};
use baton_store::{open, Store, StoreError, StoreLocation};
use baton_tools::command::CommandTool;
use baton_tools::guard::Guarded;
use baton_tools::http::HttpTool;
use baton_tools::mcp::{McpConfig, McpError, McpServer};
use baton_tools::{LookupTool, Tool};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A part of the team could not be built; the message names it and says why.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The journal could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An MCP server did not start.
    #[error(transparent)]
    Mcp(#[from] McpError),
    /// A tool could not be built.
    #[error("tool '{name}': {message}")]
    Tool {
        /// The tool, as the team file names it.
        name: String,
        /// Why.
        message: String,
    },
    /// A model could not be built.
    #[error("model '{name}': {message}")]
    Model {
        /// The model, as the team file names it.
        name: String,
        /// Why.
        message: String,
    },
    /// The program supplied a tool the team file does not declare as `kind = "rust"`.
    #[error("tool '{0}' was supplied, but the team file declares no [tools.{0}] kind = \"rust\" for it")]
    Undeclared(String),
    /// With the tools its MCP servers offer, the team is not valid.
    #[error("the team with its MCP tools is not valid: {}", messages(.0))]
    Invalid(Vec<Problem>),
}

impl AssembleError {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            AssembleError::Store(_) => "store",
            AssembleError::Mcp(_) => "mcp",
            AssembleError::Tool { .. } => "tool",
            AssembleError::Model { .. } => "model",
            AssembleError::Undeclared(_) => "undeclared_tool",
            AssembleError::Invalid(_) => "invalid_team",
        }
    }
}

fn messages(problems: &[Problem]) -> String {
    problems.iter().map(|problem| problem.message.as_str()).collect::<Vec<_>>().join("; ")
}

/// A runtime for `config` journaling at `location` (a SQLite file with the team's `[store]
/// sync`, a Postgres database, or memory).
pub async fn open_runtime(config: &TeamConfig, location: &StoreLocation) -> Result<Runtime, AssembleError> {
    let store = open(location, config.durability).await?;
    runtime(config, store).await
}

/// A runtime for `config` journaling to `store`.
pub async fn runtime(config: &TeamConfig, store: Arc<dyn Store>) -> Result<Runtime, AssembleError> {
    runtime_with_tools(config, store, Vec::new()).await
}

/// A runtime for `config` journaling to `store`, with the tools the team file declares as
/// `kind = "rust"` taken from `rust_tools` by name (see [`baton_tools::typed::typed_tool`]). The
/// team file's `approval`, `idempotent` and `timeout` apply to them; their arguments' schema is
/// their own.
pub async fn runtime_with_tools(
    config: &TeamConfig,
    store: Arc<dyn Store>,
    rust_tools: Vec<Arc<dyn Tool>>,
) -> Result<Runtime, AssembleError> {
    let mut team = config.team.clone();
    let mut rust_tools: BTreeMap<String, Arc<dyn Tool>> =
        rust_tools.into_iter().map(|tool| (tool.definition().name.clone(), tool)).collect();
    let mut tools: BTreeMap<String, Arc<dyn Tool>> = BTreeMap::new();
    // The MCP servers start all at once: one slow to start does not hold up the others, and the
    // first that fails is reported at once.
    let mcp: Vec<(String, McpConfig)> = config
        .tools
        .iter()
        .filter_map(|(name, tool)| match &tool.kind {
            ToolKind::Mcp(mcp) => Some((name.clone(), mcp.clone())),
            _ => None,
        })
        .collect();
    let servers = McpServer::start_all(mcp.iter().map(|(_, mcp)| mcp.clone()).collect()).await?;
    let mut started: BTreeMap<String, Arc<McpServer>> = mcp.into_iter().map(|(name, _)| name).zip(servers).collect();
    for (name, tool) in &config.tools {
        let failed = |message: String| AssembleError::Tool { name: name.clone(), message };
        let definition = config.team.tools[name].clone();
        if let ToolKind::Mcp(_) = &tool.kind {
            let server = started.remove(name).ok_or_else(|| failed("its MCP server was not started".into()))?;
            let offered = offer(&mut team, name, &definition, server.definitions()).map_err(failed)?;
            for definition in offered {
                let guarded = Guarded::new(Arc::new(server.tool(definition.clone())), tool.settings);
                tools.insert(definition.name.clone(), Arc::new(guarded));
            }
            continue;
        }
        let built = match &tool.kind {
            ToolKind::Rust => {
                let supplied = rust_tools.remove(name).ok_or_else(|| {
                    failed("it is kind = \"rust\": run the team from a Rust program that supplies it".into())
                })?;
                team.tools.insert(
                    name.clone(),
                    ToolDef { parameters: supplied.definition().parameters.clone(), ..definition },
                );
                supplied
            }
            _ => build_tool(&definition, tool).map_err(failed)?,
        };
        tools.insert(name.clone(), Arc::new(Guarded::new(built, tool.settings)));
    }
    if let Some(name) = rust_tools.into_keys().next() {
        return Err(AssembleError::Undeclared(name));
    }
    let mut models: BTreeMap<String, Arc<dyn Model>> = BTreeMap::new();
    let local = Arc::new(team.clone());
    for (name, model) in &config.models {
        let model =
            build_model(model, &local).map_err(|message| AssembleError::Model { name: name.clone(), message })?;
        models.insert(name.clone(), model);
    }
    let built = BuiltTeam::new(team, models, tools)
        .map_err(|invalid| AssembleError::Invalid(invalid.errors().cloned().collect()))?;
    let prices = config.models.iter().filter_map(|(name, model)| Some((name.clone(), model.price()?))).collect();
    let runtime = Runtime::new(built, store).with_lease(config.lease).with_prices(prices);
    Ok(match std::path::absolute(&config.path) {
        Ok(path) => runtime.with_team_file(path.display().to_string()),
        Err(_) => runtime,
    })
}

/// Puts the tools an MCP server offers in the team in place of its entry `name`: each under the
/// server's own name, with the entry's approval and idempotence, in the tool list of every agent
/// that lists the entry.
fn offer(team: &mut Team, name: &str, entry: &ToolDef, offered: Vec<ToolDef>) -> Result<Vec<ToolDef>, String> {
    team.tools.remove(name);
    let mut names = Vec::new();
    let mut definitions = Vec::new();
    for offered in offered {
        if offered.name.starts_with(HANDOFF_PREFIX) {
            return Err(format!("the server offers '{}', a name reserved for handoffs: exclude it", offered.name));
        }
        if team.tools.contains_key(&offered.name) {
            return Err(format!(
                "the server offers '{}', which is also another tool of the team: exclude it or rename the other",
                offered.name
            ));
        }
        let definition = ToolDef {
            examples: entry.examples.clone(),
            idempotent: entry.idempotent,
            approval: entry.approval.clone(),
            ..offered
        };
        team.tools.insert(definition.name.clone(), definition.clone());
        names.push(definition.name.clone());
        definitions.push(definition);
    }
    for agent in team.agents.values_mut() {
        if let Some(position) = agent.tools.iter().position(|tool| tool == name) {
            agent.tools.splice(position..=position, names.iter().cloned());
        }
    }
    Ok(definitions)
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
    Ok(match &tool.kind {
        ToolKind::Lookup { data, key } => {
            Arc::new(LookupTool::load(definition.clone(), key, data).map_err(|e| e.to_string())?)
        }
        ToolKind::Http(http) => Arc::new(HttpTool::new(definition.clone(), http.clone()).map_err(|e| e.to_string())?),
        ToolKind::Command(command) => Arc::new(CommandTool::new(definition.clone(), command.clone())),
        ToolKind::Mcp(_) | ToolKind::Rust => unreachable!("built by the caller"),
    })
}
