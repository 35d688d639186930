//! Where a core validation problem is in the team file: each semantic `Site` mapped to the byte
//! offset of the TOML value it is about, falling back to the enclosing table, then to `name`
//! (for the limits, when there is no `[limits]` table: to the human agent a fallback would name).

use super::raw::{RawHandoff, RawTeam};
use baton_core::{AgentKind, Site};
use toml::Spanned;

/// The byte offset `site` points at in the team file `raw` was read from.
pub(crate) fn offset_of(site: &Site, raw: &RawTeam) -> usize {
    let limits = raw.limits.as_ref();
    let limits_offset = || limits.map_or_else(|| first_human_agent(raw).unwrap_or_else(|| start(&raw.name)), start);
    match site {
        Site::Team => start(&raw.name),
        Site::Entry => start(&raw.entry),
        Site::OnLimit => limits.and_then(|l| l.get_ref().on_limit.as_ref()).map_or_else(limits_offset, start),
        Site::Fallback => limits.and_then(|l| l.get_ref().fallback.as_ref()).map_or_else(limits_offset, start),
        Site::Limit(key) => {
            let value = limits.and_then(|l| match *key {
                "max_handoffs" => l.get_ref().max_handoffs.as_ref(),
                "max_model_calls" => l.get_ref().max_model_calls.as_ref(),
                "max_message_bytes" => l.get_ref().max_message_bytes.as_ref(),
                _ => None,
            });
            value.map_or_else(limits_offset, start)
        }
        Site::Agent(agent) => agent_offset(raw, agent),
        Site::AgentModel(agent) => raw
            .agents
            .get(agent.as_str())
            .and_then(|a| a.get_ref().model.as_ref())
            .map_or_else(|| agent_offset(raw, agent), start),
        Site::AgentTool(agent, index) => raw
            .agents
            .get(agent.as_str())
            .and_then(|a| a.get_ref().tools.get(*index))
            .map_or_else(|| agent_offset(raw, agent), start),
        Site::Handoff(agent, index) => {
            raw.agents.get(agent.as_str()).and_then(|a| a.get_ref().handoffs.get(*index)).map_or_else(
                || agent_offset(raw, agent),
                |item| match item.get_ref() {
                    RawHandoff::Table(table) => start(&table.to),
                    RawHandoff::Name(_) => start(item),
                },
            )
        }
        Site::Tool(tool) => {
            raw.tools.get_key_value(tool.as_str()).map_or_else(|| start(&raw.name), |(name, _)| start(name))
        }
        Site::AgentLanguages(agent) => raw
            .agents
            .get(agent.as_str())
            .and_then(|a| a.get_ref().languages.as_ref())
            .map_or_else(|| agent_offset(raw, agent), start),
        Site::Router => raw.router.as_ref().map_or_else(|| start(&raw.name), |router| start(&router.get_ref().model)),
        Site::Trigger(index) => raw.trigger.get(*index).map_or_else(|| start(&raw.name), |t| start(&t.get_ref().when)),
    }
}

/// The offset of agent `agent`'s name in its table header (or key), else of `name`.
fn agent_offset(raw: &RawTeam, agent: &str) -> usize {
    raw.agents.get_key_value(agent).map_or_else(|| start(&raw.name), |(name, _)| start(name))
}

/// The offset of the first `kind = "human"` agent's name, if the team has one.
fn first_human_agent(raw: &RawTeam) -> Option<usize> {
    raw.agents
        .iter()
        .find(|(_, agent)| agent.get_ref().kind.as_ref().is_some_and(|kind| *kind.get_ref() == AgentKind::Human))
        .map(|(name, _)| start(name))
}

/// Where a spanned value starts.
fn start<T>(value: &Spanned<T>) -> usize {
    value.span().start
}
