//! From the team file as written to the core `Team` and the shell-side settings, reporting the
//! shell-side problems (providers, tool kinds, referenced files) on the way.

use super::diagnostic::Report;
use super::model::ModelConfig;
use super::raw::{RawAgent, RawHandoff, RawLimits, RawTeam};
use super::tool::ToolConfig;
use baton_core::{Agent, AgentKind, HandoffEdge, Limits, Team};
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// The team and the settings of the models and tools that are fine; a model or tool with a
/// problem is missing from its map, and the problem is in the report.
pub(crate) struct Built {
    /// The core team, ready for `baton_core::validate`.
    pub team: Team,
    /// The models' settings, by name.
    pub models: BTreeMap<String, ModelConfig>,
    /// The tools' settings, by name.
    pub tools: BTreeMap<String, ToolConfig>,
}

/// Builds the team described by `raw`; `dir` is the team file's directory.
pub(crate) fn build(raw: &RawTeam, dir: &Path, report: &mut Report<'_>) -> Built {
    let mut team = Team::new(raw.name.get_ref().clone(), raw.entry.get_ref().clone());
    if let Some(limits) = &raw.limits {
        team.limits = limits_from(limits.get_ref());
    }
    let mut models = BTreeMap::new();
    for (name, model) in &raw.models {
        // Every declared model counts as defined, so that agents naming a broken one are not reported too.
        team.models.insert(name.get_ref().clone());
        if let Some(config) = ModelConfig::from_raw(name, model.get_ref(), dir, report) {
            models.insert(name.get_ref().clone(), config);
        }
    }
    let mut tools = BTreeMap::new();
    for (name, tool) in &raw.tools {
        let (config, definition) = ToolConfig::from_raw(name, tool.get_ref(), dir, report);
        team.tools.insert(name.get_ref().clone(), definition);
        if let Some(config) = config {
            tools.insert(name.get_ref().clone(), config);
        }
    }
    for (name, agent) in &raw.agents {
        team.agents.insert(name.get_ref().clone(), agent_from(name, agent.get_ref()));
    }
    Built { team, models, tools }
}

/// `[limits]` with the defaults filled in.
fn limits_from(raw: &RawLimits) -> Limits {
    let defaults = Limits::default();
    Limits {
        max_handoffs: value_or(&raw.max_handoffs, defaults.max_handoffs),
        max_model_calls: value_or(&raw.max_model_calls, defaults.max_model_calls),
        on_limit: value_or(&raw.on_limit, defaults.on_limit),
        fallback: raw.fallback.as_ref().map(|fallback| fallback.get_ref().clone()),
        return_to: value_or(&raw.return_to, defaults.return_to),
    }
}

/// The agent `[agents.<name>]` describes.
fn agent_from(name: &Spanned<String>, raw: &RawAgent) -> Agent {
    Agent {
        name: name.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        instructions: raw.instructions.clone().unwrap_or_default(),
        kind: value_or(&raw.kind, AgentKind::Llm),
        model: raw.model.as_ref().map(|model| model.get_ref().clone()),
        tools: raw.tools.iter().map(|tool| tool.get_ref().clone()).collect(),
        handoffs: raw.handoffs.iter().map(|item| edge_from(item.get_ref())).collect(),
    }
}

/// The edge an item of `handoffs` declares.
fn edge_from(raw: &RawHandoff) -> HandoffEdge {
    match raw {
        RawHandoff::Name(to) => HandoffEdge::to(to.clone()),
        RawHandoff::Table(table) => HandoffEdge {
            to: table.to.get_ref().clone(),
            description: table.description.clone(),
            context: table.context.unwrap_or_default(),
            max_uses: table.max_uses,
        },
    }
}

/// The value written, or `default`.
fn value_or<T: Copy>(value: &Option<Spanned<T>>, default: T) -> T {
    value.as_ref().map_or(default, |value| *value.get_ref())
}
