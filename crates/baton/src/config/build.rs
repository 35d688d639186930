//! From the team file as written to the core `Team` and the shell-side settings, reporting the
//! shell-side problems (providers, tool kinds, referenced files) on the way.

use super::defaulted::{self, Defaulted};
use super::diagnostic::Report;
use super::model::ModelConfig;
use super::raw::{RawAgent, RawHandoff, RawLimits, RawTeam, RawTrigger};
use super::tool::ToolConfig;
use baton_core::names::closest;
use baton_core::{
    Agent, AgentKind, HandoffEdge, Limits, Router, Severity, Team, Trigger, DEFAULT_LANGUAGE, LOCAL_MODEL,
};
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
    /// For each of `team.triggers`, the index of the `[[trigger]]` it came from (a trigger with a
    /// problem is left out, so the two may differ).
    pub trigger_rows: Vec<usize>,
    /// The settings the file leaves out that were given a value other than the usual default.
    pub defaulted: Vec<Defaulted>,
}

/// Builds the team described by `raw`; `dir` is the team file's directory.
pub(crate) fn build(raw: &RawTeam, dir: &Path, report: &mut Report<'_>) -> Built {
    let mut team = Team::new(raw.name.get_ref().clone(), raw.entry.get_ref().clone());
    if let Some(limits) = &raw.limits {
        team.limits = limits_from(limits.get_ref(), report);
    }
    let mut models = BTreeMap::from([(LOCAL_MODEL.to_string(), ModelConfig::Local)]);
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
        team.agents.insert(name.get_ref().clone(), agent_from(name, agent.get_ref(), report));
    }
    team.router = raw.router.as_ref().map(|router| Router { model: router.get_ref().model.get_ref().clone() });
    let mut trigger_rows = Vec::new();
    for (row, trigger) in raw.trigger.iter().enumerate() {
        if let Some(trigger) = trigger_from(trigger.get_ref(), report) {
            team.triggers.push(trigger);
            trigger_rows.push(row);
        }
    }
    let defaulted = defaulted::on_limit(raw, &mut team).into_iter().collect();
    Built { team, models, tools, trigger_rows, defaulted }
}

/// The names `when` may take.
const TRIGGERS: [&str; 3] = ["language", "asks_for_human", "unresolved_turns"];

/// The trigger a `[[trigger]]` declares, or `None` after reporting what is wrong with it.
fn trigger_from(raw: &RawTrigger, report: &mut Report<'_>) -> Option<Trigger> {
    let when = raw.when.get_ref().as_str();
    let needs = |key: &str, example: &str, report: &mut Report<'_>| {
        report.error(
            raw.when.span().start,
            format!("trigger '{when}' needs '{key}'"),
            format!("add {key} = {example} to this [[trigger]]"),
        );
    };
    let refuse = |key: &str, at: usize, report: &mut Report<'_>| {
        report.error(at, format!("'{key}' does not apply to trigger '{when}'"), format!("remove the '{key}' line"));
    };
    match when {
        "language" => {
            if let Some(to) = &raw.to {
                report.error(
                    to.span().start,
                    "the language trigger picks its target itself: an agent that speaks the user's language",
                    "remove the 'to' line, and list each agent's languages = [...] instead",
                );
            }
            if let Some(turns) = &raw.turns {
                refuse("turns", turns.span().start, report);
            }
            Some(Trigger::Language)
        }
        "asks_for_human" => {
            if let Some(turns) = &raw.turns {
                refuse("turns", turns.span().start, report);
            }
            let Some(to) = &raw.to else {
                needs("to", "\"<a human agent>\"", report);
                return None;
            };
            Some(Trigger::AsksForHuman { to: to.get_ref().clone() })
        }
        "unresolved_turns" => {
            let (Some(to), Some(turns)) = (&raw.to, &raw.turns) else {
                if raw.to.is_none() {
                    needs("to", "\"<a human agent>\"", report);
                }
                if raw.turns.is_none() {
                    needs("turns", "4", report);
                }
                return None;
            };
            Some(Trigger::UnresolvedTurns { turns: *turns.get_ref(), to: to.get_ref().clone() })
        }
        unknown => {
            let known = "the triggers are 'language', 'asks_for_human' and 'unresolved_turns'";
            let help = match closest(unknown, TRIGGERS) {
                Some(suggestion) => format!("did you mean '{suggestion}'? {known}"),
                None => known.to_string(),
            };
            report.error(raw.when.span().start, format!("unknown trigger '{unknown}'"), help);
            None
        }
    }
}

/// `[limits]` with the defaults filled in.
fn limits_from(raw: &RawLimits, report: &mut Report<'_>) -> Limits {
    let defaults = Limits::default();
    Limits {
        max_message_bytes: value_or(&raw.max_message_bytes, defaults.max_message_bytes),
        max_handoffs: value_or(&raw.max_handoffs, defaults.max_handoffs),
        max_model_calls: value_or(&raw.max_model_calls, defaults.max_model_calls),
        turn_seconds: turn_seconds(raw, report).unwrap_or(defaults.turn_seconds),
        on_limit: value_or(&raw.on_limit, defaults.on_limit),
        fallback: raw.fallback.as_ref().map(|fallback| fallback.get_ref().clone()),
        return_to: value_or(&raw.return_to, defaults.return_to),
    }
}

/// The longest deadline a team file may give a turn: a day.
const MAX_TURN_SECONDS: u32 = 86_400;

/// `[limits] turn_seconds`, a whole number of seconds from 1 to a day, if the file sets a valid
/// one. A turn always has a deadline: 0 is an error, not "none" (a turn with none is what lets a
/// hung provider hold a conversation forever).
fn turn_seconds(raw: &RawLimits, report: &mut Report<'_>) -> Option<u32> {
    let seconds = raw.turn_seconds.as_ref()?;
    match u32::try_from(*seconds.get_ref()) {
        Ok(valid @ 1..=MAX_TURN_SECONDS) => Some(valid),
        _ => {
            report.error(
                seconds.span().start,
                format!("turn_seconds must be from 1 to {MAX_TURN_SECONDS}, not {}", seconds.get_ref()),
                format!(
                    "it is how long a turn may run before its calls are cut off and the limit trips (waits for \
                     approval not counted); {} by default",
                    baton_core::team::DEFAULT_TURN_SECONDS
                ),
            );
            None
        }
    }
}

/// The occasions a reply template may be for, besides the agent's tools.
const OCCASIONS: [&str; 5] = ["greeting", "thanks", "fallback", "ask", "handoff"];

/// The agent `[agents.<name>]` describes; a model-driven agent that names no model uses `local`.
fn agent_from(name: &Spanned<String>, raw: &RawAgent, report: &mut Report<'_>) -> Agent {
    let kind = value_or(&raw.kind, AgentKind::Llm);
    let tools: Vec<String> = raw.tools.iter().map(|tool| tool.get_ref().clone()).collect();
    for (occasion, template) in &raw.replies {
        let occasion_name = occasion.get_ref().as_str();
        if !OCCASIONS.contains(&occasion_name) && !tools.iter().any(|tool| tool == occasion_name) {
            let known = OCCASIONS.iter().copied().chain(tools.iter().map(String::as_str));
            let options =
                format!("a reply is for one of the agent's tools or for {}", baton_core::names::list(OCCASIONS));
            let help = match closest(occasion_name, known) {
                Some(suggestion) => format!("did you mean '{suggestion}'? {options}"),
                None => options,
            };
            report.error(occasion.span().start, format!("unknown reply occasion '{occasion_name}'"), help);
        }
        if let Some((message, help)) = crate::built_team::unparsed_reply(occasion_name, template) {
            report.error(occasion.span().start, message, help);
        }
    }
    if let Some(languages) = &raw.languages {
        let detectable = baton_local::language::SUPPORTED;
        for language in languages.get_ref().iter().filter(|l| !detectable.contains(&l.as_str())) {
            report.push(
                Severity::Warning,
                languages.span().start,
                format!("the language trigger cannot recognise '{language}'"),
                Some(format!("it recognises {}", baton_core::names::list(detectable))),
            );
        }
    }
    Agent {
        name: name.get_ref().clone(),
        description: raw.description.clone().unwrap_or_default(),
        instructions: raw.instructions.clone().unwrap_or_default(),
        kind,
        model: match (&raw.model, kind) {
            (Some(model), _) => Some(model.get_ref().clone()),
            (None, AgentKind::Llm) => Some(LOCAL_MODEL.to_string()),
            (None, AgentKind::Human) => None,
        },
        tools,
        handoffs: raw.handoffs.iter().map(|item| edge_from(item.get_ref())).collect(),
        languages: raw
            .languages
            .as_ref()
            .map_or_else(|| vec![DEFAULT_LANGUAGE.to_string()], |languages| languages.get_ref().clone()),
        examples: raw.examples.clone(),
        replies: raw
            .replies
            .iter()
            .map(|(occasion, template)| (occasion.get_ref().clone(), template.clone()))
            .collect(),
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
            require_reason: table.require_reason.unwrap_or(true),
        },
    }
}

/// The value written, or `default`.
fn value_or<T: Copy>(value: &Option<Spanned<T>>, default: T) -> T {
    value.as_ref().map_or(default, |value| *value.get_ref())
}
