//! Assembly: from a loaded team file to a [`Runtime`] with real providers, tools and a journal.
//!
//! Every tool is wrapped in its time limit and result cap. An MCP entry's server is started
//! here, once, and asked for its tools: agents that list the entry get each of them, under the
//! server's own names. Tools of `kind = "rust"` are supplied by the program embedding baton.
//!
//! A team file loads in every build; a model, tool or journal whose cargo feature this build
//! leaves out (`openai`, `anthropic`, `http-tool`, `mcp`, `sqlite`, `postgres`) fails here, with
//! [`AssembleError::NotBuiltIn`] or [`StoreError::NotBuiltIn`] naming the feature.

use crate::config::Api;
use crate::config::{ModelConfig, TeamConfig, ToolConfig, ToolKind};
use crate::{BuiltTeam, Runtime};
#[cfg(feature = "mcp")]
use baton_core::HANDOFF_PREFIX;
use baton_core::{Problem, Team, ToolDef};
use baton_local::LocalModel;
#[cfg(feature = "anthropic")]
use baton_models::AnthropicModel;
#[cfg(feature = "openai")]
use baton_models::OpenAiModel;
use baton_models::{Model, ScriptModel};
use baton_store::{open, Store, StoreError, StoreLocation};
use baton_tools::command::CommandTool;
use baton_tools::guard::Guarded;
#[cfg(feature = "http-tool")]
use baton_tools::http::HttpTool;
use baton_tools::mcp::McpError;
#[cfg(feature = "mcp")]
use baton_tools::mcp::{McpConfig, McpServer};
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
    /// A model or tool is of a kind this build of baton leaves out: the cargo feature that adds
    /// it was off.
    #[error("{part}: this baton was built without {support} support: build it with the `{feature}` feature")]
    NotBuiltIn {
        /// The model or tool, as `model 'NAME'` or `tool 'NAME'`.
        part: String,
        /// What it needs: `OpenAI`, `Anthropic`, `HTTP tool` or `MCP`.
        support: &'static str,
        /// The cargo feature of `baton` that adds it.
        feature: &'static str,
    },
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
            AssembleError::NotBuiltIn { .. } => "not_built_in",
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
    #[cfg(feature = "mcp")]
    let mut started = start_mcp(config).await?;
    for (name, tool) in &config.tools {
        let failed = |message: String| AssembleError::Tool { name: name.clone(), message };
        let definition = config.team.tools[name].clone();
        if let ToolKind::Mcp(_) = &tool.kind {
            #[cfg(feature = "mcp")]
            {
                let server = started.remove(name).ok_or_else(|| failed("its MCP server was not started".into()))?;
                let offered = offer(&mut team, name, &definition, server.definitions()).map_err(failed)?;
                for definition in offered {
                    let guarded = Guarded::new(Arc::new(server.tool(definition.clone())), tool.settings);
                    tools.insert(definition.name.clone(), Arc::new(guarded));
                }
                continue;
            }
            #[cfg(not(feature = "mcp"))]
            return Err(not_built_in(format!("tool '{name}'"), "MCP", "mcp"));
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
            _ => build_tool(name, &definition, tool)?,
        };
        tools.insert(name.clone(), Arc::new(Guarded::new(built, tool.settings)));
    }
    if let Some(name) = rust_tools.into_keys().next() {
        return Err(AssembleError::Undeclared(name));
    }
    let mut models: BTreeMap<String, Arc<dyn Model>> = BTreeMap::new();
    let local = Arc::new(team.clone());
    for (name, model) in &config.models {
        models.insert(name.clone(), build_model(name, model, &local)?);
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

/// Starts the team's MCP servers, all at once: one slow to start does not hold up the others, and
/// the first that fails is reported at once. Each by the name of its entry.
#[cfg(feature = "mcp")]
async fn start_mcp(config: &TeamConfig) -> Result<BTreeMap<String, Arc<McpServer>>, AssembleError> {
    let mcp: Vec<(String, McpConfig)> = config
        .tools
        .iter()
        .filter_map(|(name, tool)| match &tool.kind {
            ToolKind::Mcp(mcp) => Some((name.clone(), mcp.clone())),
            _ => None,
        })
        .collect();
    let servers = McpServer::start_all(mcp.iter().map(|(_, mcp)| mcp.clone()).collect()).await?;
    Ok(mcp.into_iter().map(|(name, _)| name).zip(servers).collect())
}

/// Puts the tools an MCP server offers in the team in place of its entry `name`: each under the
/// server's own name, with the entry's approval and idempotence, in the tool list of every agent
/// that lists the entry.
#[cfg(feature = "mcp")]
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

/// The error for `part` (`model 'NAME'`, `tool 'NAME'`), which needs `support`, a cargo feature
/// this build leaves out.
#[cfg(any(not(feature = "openai"), not(feature = "anthropic"), not(feature = "http-tool"), not(feature = "mcp")))]
fn not_built_in(part: String, support: &'static str, feature: &'static str) -> AssembleError {
    AssembleError::NotBuiltIn { part, support, feature }
}

fn build_model(name: &str, model: &ModelConfig, team: &Arc<Team>) -> Result<Arc<dyn Model>, AssembleError> {
    let failed = |message: String| AssembleError::Model { name: name.to_string(), message };
    Ok(match model {
        #[cfg(feature = "openai")]
        ModelConfig::Http { api: Api::OpenAi, endpoint, .. } => {
            Arc::new(OpenAiModel::new(endpoint.as_ref().clone()).map_err(|e| failed(e.to_string()))?)
        }
        #[cfg(not(feature = "openai"))]
        ModelConfig::Http { api: Api::OpenAi, .. } => {
            return Err(not_built_in(format!("model '{name}'"), "OpenAI", "openai"))
        }
        #[cfg(feature = "anthropic")]
        ModelConfig::Http { api: Api::Anthropic, endpoint, .. } => {
            Arc::new(AnthropicModel::new(endpoint.as_ref().clone()).map_err(|e| failed(e.to_string()))?)
        }
        #[cfg(not(feature = "anthropic"))]
        ModelConfig::Http { api: Api::Anthropic, .. } => {
            return Err(not_built_in(format!("model '{name}'"), "Anthropic", "anthropic"))
        }
        ModelConfig::Script { script } => Arc::new(ScriptModel::load(script).map_err(|e| failed(e.to_string()))?),
        ModelConfig::Local => Arc::new(LocalModel::new(team.clone())),
    })
}

fn build_tool(name: &str, definition: &ToolDef, tool: &ToolConfig) -> Result<Arc<dyn Tool>, AssembleError> {
    let failed = |message: String| AssembleError::Tool { name: name.to_string(), message };
    Ok(match &tool.kind {
        ToolKind::Lookup { data, key } => {
            Arc::new(LookupTool::load(definition.clone(), key, data).map_err(|e| failed(e.to_string()))?)
        }
        #[cfg(feature = "http-tool")]
        ToolKind::Http(http) => {
            Arc::new(HttpTool::new(definition.clone(), http.clone()).map_err(|e| failed(e.to_string()))?)
        }
        #[cfg(not(feature = "http-tool"))]
        ToolKind::Http(_) => return Err(not_built_in(format!("tool '{name}'"), "HTTP tool", "http-tool")),
        ToolKind::Command(command) => Arc::new(CommandTool::new(definition.clone(), command.clone())),
        ToolKind::Mcp(_) | ToolKind::Rust => unreachable!("built by the caller"),
    })
}

/// What assembling says in a build without some feature (the default build has none of these).
#[cfg(all(
    test,
    any(not(feature = "openai"), not(feature = "anthropic"), not(feature = "http-tool"), not(feature = "mcp"))
))]
mod tests {
    use super::*;

    /// The team of one agent, `triage`, on the model `[models.fast]` (whose lines are `model`)
    /// with the tool `[tools.desk]` (whose lines are `tool`), loaded from text: it loads whatever
    /// features this build has, and needs no file.
    fn loaded(model: &str, tool: &str) -> TeamConfig {
        let text = format!(
            "name = \"desk\"\nentry = \"triage\"\n\n[models.fast]\n{model}\n\n[tools.desk]\n{tool}\n\n\
             [agents.triage]\ndescription = \"Front desk.\"\nmodel = \"fast\"\ntools = [\"desk\"]\n"
        );
        match crate::config::parse_team(&text, std::path::Path::new("team.toml")) {
            Ok(loaded) => loaded.config,
            Err(error) => panic!("the team loads:\n{error}"),
        }
    }

    /// What assembling `config` fails with: its kind and its message.
    async fn failure(config: &TeamConfig) -> (&'static str, String) {
        match runtime(config, Arc::new(baton_store::MemoryStore::new())).await {
            Ok(_) => panic!("the team assembled"),
            Err(error) => (error.kind(), error.to_string()),
        }
    }

    #[cfg(any(not(feature = "openai"), not(feature = "anthropic")))]
    const COMMAND: &str = "kind = \"command\"\ndescription = \"The desk.\"\ncommand = [\"true\"]";
    #[cfg(any(not(feature = "http-tool"), not(feature = "mcp")))]
    const LOCAL: &str = "provider = \"local\"";

    #[cfg(not(feature = "openai"))]
    #[tokio::test]
    async fn an_openai_model_in_a_build_without_it_names_the_feature() {
        let config = loaded("provider = \"openai\"\nmodel = \"gpt-4.1-mini\"", COMMAND);
        let expected = "model 'fast': this baton was built without OpenAI support: build it with the `openai` feature";
        assert_eq!(failure(&config).await, ("not_built_in", expected.to_string()));
    }

    #[cfg(not(feature = "anthropic"))]
    #[tokio::test]
    async fn an_anthropic_model_in_a_build_without_it_names_the_feature() {
        let config = loaded("provider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"", COMMAND);
        let expected =
            "model 'fast': this baton was built without Anthropic support: build it with the `anthropic` feature";
        assert_eq!(failure(&config).await, ("not_built_in", expected.to_string()));
    }

    #[cfg(not(feature = "http-tool"))]
    #[tokio::test]
    async fn an_http_tool_in_a_build_without_it_names_the_feature() {
        let config =
            loaded(LOCAL, "kind = \"http\"\ndescription = \"The desk.\"\nurl = \"https://api.example.com/desk/{id}\"");
        let expected =
            "tool 'desk': this baton was built without HTTP tool support: build it with the `http-tool` feature";
        assert_eq!(failure(&config).await, ("not_built_in", expected.to_string()));
    }

    #[cfg(not(feature = "mcp"))]
    #[tokio::test]
    async fn an_mcp_server_in_a_build_without_it_names_the_feature() {
        let config = loaded(LOCAL, "kind = \"mcp\"\nurl = \"http://127.0.0.1:9/mcp\"");
        let expected = "tool 'desk': this baton was built without MCP support: build it with the `mcp` feature";
        assert_eq!(failure(&config).await, ("not_built_in", expected.to_string()));
    }
}
