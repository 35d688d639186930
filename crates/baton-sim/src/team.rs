//! Random teams: a team file written from the seed and loaded by baton's own loader, so the
//! simulator also runs the loader and the core's validation on every team it makes.
//!
//! A team has one to four model-driven agents (the first is the entry), zero to two human
//! agents, random handoff edges (context policy, `max_uses`, `require_reason`), one to two models,
//! zero to four tools (`kind = "rust"`, supplied by the simulator; idempotent or not, with an
//! approval rule or none, some with a short time limit), random limits, and sometimes a router
//! and triggers (asking for a person, unresolved turns, language).

use crate::rng::Rng;
use baton::config::{parse_team, LoadError};
use baton::core::{validate, Severity, Team};
use baton::tools::guard::ToolSettings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

/// Appends one line to the team file's text (writing to a `String` cannot fail).
macro_rules! put {
    ($text:expr, $($line:tt)*) => {{
        let _ = writeln!($text, $($line)*);
    }};
}

/// The model-driven agents' names, the entry first.
const LLM_AGENTS: [&str; 4] = ["desk", "billing", "tech", "returns"];
/// The human agents' names.
const HUMAN_AGENTS: [&str; 2] = ["people", "supervisors"];
/// The tools' names.
const TOOLS: [&str; 4] = ["find_order", "refund", "send_email", "reset_password"];
/// The models' names.
const MODELS: [&str; 2] = ["alpha", "beta"];

/// A team made from a seed, loaded.
pub struct SimTeam {
    /// The team file's text.
    pub toml: String,
    /// The team as the runtime gets it, with the tools' argument schemas filled in.
    pub team: Arc<Team>,
    /// Each tool's time limit and result cap, from the team file.
    pub settings: BTreeMap<String, ToolSettings>,
}

/// The arguments every simulated tool takes.
pub fn tool_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "amount": { "type": "integer", "minimum": 0 }
        },
        "required": ["id"],
        "additionalProperties": false
    })
}

/// A tool whose calls may hang past their time limit has a short one, so a hang costs little.
pub const SHORT_TIMEOUT_SECS: f64 = 0.05;

/// Why a generated team is not usable: a bug in the generator, in the loader or in validation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// The team file does not load.
    #[error("the team file does not load: {0}")]
    Load(#[source] LoadError),
    /// The team loads, and does not validate; the validation errors' messages.
    #[error("the team does not validate: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Writes a random team file for `seed` and loads it; `Err` says why it did not load (a bug in
/// the generator or in the loader).
pub fn generate(seed: u64) -> Result<SimTeam, GenerateError> {
    let toml = write(&mut Rng::stream(seed, "team"), seed);
    let path = std::env::temp_dir().join(format!("baton-sim-{seed}.toml"));
    let loaded = parse_team(&toml, Path::new(&path)).map_err(GenerateError::Load)?;
    let mut team = loaded.config.team;
    for tool in team.tools.values_mut() {
        tool.parameters = tool_schema();
    }
    let errors: Vec<String> =
        validate(&team).into_iter().filter(|p| p.severity == Severity::Error).map(|p| p.message).collect();
    if !errors.is_empty() {
        return Err(GenerateError::Invalid(errors));
    }
    let settings = loaded.config.tools.iter().map(|(name, tool)| (name.clone(), tool.settings)).collect();
    Ok(SimTeam { toml, team: Arc::new(team), settings })
}

/// The team file's text.
fn write(rng: &mut Rng, seed: u64) -> String {
    let llm: Vec<&str> = LLM_AGENTS[..rng.between(1, 4) as usize].to_vec();
    let humans: Vec<&str> = match rng.below(10) {
        0..=2 => Vec::new(),
        3..=7 => HUMAN_AGENTS[..1].to_vec(),
        _ => HUMAN_AGENTS.to_vec(),
    };
    let models: Vec<&str> = MODELS[..rng.between(1, 2) as usize].to_vec();
    let tools: Vec<&str> = TOOLS.iter().copied().filter(|_| rng.chance(0.5)).collect();
    let router = llm.len() > 1 && rng.chance(0.2);
    let mut text = format!("name = \"sim-{seed}\"\nentry = \"{}\"\n\n[limits]\n", llm[0]);
    let max_model_calls = rng.between(if router { 2 } else { 1 }, 8);
    put!(text, "max_handoffs = {}\nmax_model_calls = {max_model_calls}", rng.between(1, 4));
    match rng.pick(&humans) {
        Some(fallback) if rng.chance(0.8) => put!(text, "on_limit = \"escalate\"\nfallback = \"{fallback}\""),
        _ => put!(text, "on_limit = \"fail\""),
    };
    let return_to = if rng.chance(0.3) { "entry" } else { "active" };
    put!(text, "return_to = \"{return_to}\"");
    for model in &models {
        put!(text, "\n[models.{model}]\nprovider = \"local\"");
    }
    if router {
        put!(text, "\n[router]\nmodel = \"{}\"", models[0]);
    }
    let spanish = (llm.len() > 1 && rng.chance(0.2)).then(|| llm[rng.between(1, llm.len() as u64 - 1) as usize]);
    let everyone: Vec<&str> = llm.iter().chain(&humans).copied().collect();
    for agent in &llm {
        put!(text, "\n[agents.{agent}]\ndescription = \"Handles {agent} questions.\"");
        put!(text, "model = \"{}\"", rng.pick(&models).unwrap_or(&models[0]));
        let own: Vec<String> = tools.iter().filter(|_| rng.chance(0.6)).map(|tool| format!("\"{tool}\"")).collect();
        put!(text, "tools = [{}]", own.join(", "));
        let targets: Vec<&str> = everyone.iter().copied().filter(|to| to != agent && rng.chance(0.6)).collect();
        let edges: Vec<String> = targets.into_iter().map(|to| edge(rng, to)).collect();
        put!(text, "handoffs = [{}]", edges.join(", "));
        if Some(*agent) == spanish {
            let languages = if rng.chance(0.5) { "[\"es\"]" } else { "[\"en\", \"es\"]" };
            put!(text, "languages = {languages}");
        }
    }
    for human in &humans {
        put!(text, "\n[agents.{human}]\nkind = \"human\"\ndescription = \"People who can help.\"");
        let targets: Vec<&str> = llm.iter().copied().filter(|_| rng.chance(0.6)).collect();
        let edges: Vec<String> = targets.into_iter().map(|to| edge(rng, to)).collect();
        put!(text, "handoffs = [{}]", edges.join(", "));
    }
    for tool in &tools {
        put!(text, "\n[tools.{tool}]\nkind = \"rust\"\ndescription = \"Does {tool}.\"");
        put!(text, "idempotent = {}", rng.chance(0.6));
        match rng.below(10) {
            0..=5 => {}
            6 | 7 => put!(text, "approval = \"required\""),
            _ => put!(text, "approval = {{ when = \"amount > 100\" }}"),
        }
        let timeout = if rng.chance(0.3) { SHORT_TIMEOUT_SECS } else { 5.0 };
        put!(text, "timeout = {timeout}");
        if rng.chance(0.2) {
            put!(text, "max_result_bytes = 64");
        }
    }
    if let Some(human) = rng.pick(&humans).filter(|_| rng.chance(0.35)) {
        put!(text, "\n[[trigger]]\nwhen = \"asks_for_human\"\nto = \"{human}\"");
    }
    if rng.chance(0.2) {
        let to = rng.pick(&humans).copied().unwrap_or(llm[0]);
        put!(text, "\n[[trigger]]\nwhen = \"unresolved_turns\"\nturns = {}\nto = \"{to}\"", rng.between(1, 3));
    }
    if spanish.is_some() && rng.chance(0.7) {
        put!(text, "\n[[trigger]]\nwhen = \"language\"");
    }
    text
}

/// One handoff edge to `to`: a plain name, or a table with some of its settings.
fn edge(rng: &mut Rng, to: &str) -> String {
    if rng.chance(0.5) {
        return format!("\"{to}\"");
    }
    let mut fields = vec![format!("to = \"{to}\"")];
    if rng.chance(0.5) {
        fields.push(format!("context = \"{}\"", rng.pick(&["full", "summary", "none"]).unwrap_or(&"full")));
    }
    if rng.chance(0.4) {
        fields.push(format!("max_uses = {}", rng.between(1, 2)));
    }
    if rng.chance(0.3) {
        fields.push("require_reason = false".into());
    }
    format!("{{ {} }}", fields.join(", "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::{generate, parse_team, GenerateError, Path};

    #[test]
    fn every_team_of_the_first_seeds_loads() {
        for seed in 0..200 {
            if let Err(why) = generate(seed) {
                panic!("seed {seed}: {why}");
            }
        }
    }

    #[test]
    fn a_team_that_is_not_usable_says_why() {
        let load = parse_team("name = ", Path::new("sim.toml")).unwrap_err();
        let error = GenerateError::Load(load.clone());
        assert_eq!(error.to_string(), format!("the team file does not load: {load}"));
        let error = GenerateError::Invalid(vec!["agent 'a' has no model".into(), "tool 't' is unused".into()]);
        assert_eq!(error.to_string(), "the team does not validate: agent 'a' has no model; tool 't' is unused");
    }
}
