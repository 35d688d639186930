//! Team validation: every problem at once, each pointing at a [`Site`] and saying what to do.
//!
//! Sites are semantic ("agent 'triage', handoff 2"); the config loader maps them to a file,
//! line and column, and a Rust builder user reads them as they are.

use crate::names::{closest, is_valid_name, list, shown, MAX_TEAM_NAME_CHARS};
use crate::team::{Agent, AgentKind, OnLimit, Team, Trigger, HANDOFF_PREFIX};
use std::collections::{BTreeSet, VecDeque};
use std::fmt;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The team cannot run.
    Error,
    /// The team runs, but probably not as intended.
    Warning,
}

/// Where in a team a problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Site {
    /// The team as a whole.
    Team,
    /// The `entry` setting.
    Entry,
    /// The `on_limit` setting (or the limits as a whole).
    OnLimit,
    /// The `fallback` setting.
    Fallback,
    /// A numeric limit, by its key.
    Limit(&'static str),
    /// An agent's definition as a whole.
    Agent(String),
    /// An agent's `model` setting.
    AgentModel(String),
    /// The `index`-th item of an agent's `tools` list.
    AgentTool(String, usize),
    /// The `index`-th item of an agent's `handoffs` list.
    Handoff(String, usize),
    /// A tool's definition.
    Tool(String),
    /// An agent's `languages` setting.
    AgentLanguages(String),
    /// The `[router]` section.
    Router,
    /// The `index`-th `[[trigger]]`.
    Trigger(usize),
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Team => write!(f, "team"),
            Site::Entry => write!(f, "entry"),
            Site::OnLimit => write!(f, "limits.on_limit"),
            Site::Fallback => write!(f, "limits.fallback"),
            Site::Limit(key) => write!(f, "limits.{key}"),
            Site::Agent(agent) => write!(f, "agent '{agent}'"),
            Site::AgentModel(agent) => write!(f, "agent '{agent}', model"),
            Site::AgentTool(agent, index) => write!(f, "agent '{agent}', tools item {}", index + 1),
            Site::Handoff(agent, index) => write!(f, "agent '{agent}', handoffs item {}", index + 1),
            Site::Tool(tool) => write!(f, "tool '{tool}'"),
            Site::AgentLanguages(agent) => write!(f, "agent '{agent}', languages"),
            Site::Router => write!(f, "router"),
            Site::Trigger(index) => write!(f, "trigger {}", index + 1),
        }
    }
}

/// One thing wrong with a team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// Where it is.
    pub site: Site,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.site, self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Checks a team and returns every problem found, errors and warnings, in a stable order.
pub fn validate(team: &Team) -> Vec<Problem> {
    let mut checker = Checker { team, problems: Vec::new() };
    checker.check_entry_and_limits();
    for agent in team.agents.values() {
        checker.check_agent(&agent.name);
    }
    for (name, tool) in &team.tools {
        if !is_valid_name(name) || name.starts_with(HANDOFF_PREFIX) {
            checker.error(
                Site::Tool(name.clone()),
                format!("'{name}' is not a usable tool name"),
                format!("use 1 to 52 letters, digits, '_' or '-', not starting with '{HANDOFF_PREFIX}'"),
            );
        }
        if let Err(error) = crate::conversation::check_schema(&tool.parameters) {
            checker.error(
                Site::Tool(name.clone()),
                format!("the arguments' schema of '{name}' does not compile: {error}"),
                "write args as the JSON schema of an object, e.g. args = { properties = { amount = { type = \"number\" } } }; \
                 a $ref may point only inside the schema"
                    .to_string(),
            );
        }
    }
    checker.check_router_and_triggers();
    checker.check_reachability();
    checker.problems
}

/// Whether any of `problems` is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.severity == Severity::Error)
}

struct Checker<'a> {
    team: &'a Team,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, site: Site, message: String, help: Option<String>) {
        self.problems.push(Problem { severity, site, message, help });
    }

    fn error(&mut self, site: Site, message: String, help: String) {
        self.push(Severity::Error, site, message, Some(help));
    }

    fn agent_names(&self) -> Vec<&str> {
        self.team.agents.keys().map(String::as_str).collect()
    }

    /// "did you mean 'x'?" or the list of what exists.
    fn unknown_help(&self, wanted: &str, kind: &str, names: Vec<&str>) -> String {
        match closest(wanted, names.iter().copied()) {
            Some(name) => format!("did you mean '{name}'?"),
            None => format!("define it, or use one of the {kind}s: {}", list(names)),
        }
    }

    fn check_entry_and_limits(&mut self) {
        let team = self.team;
        let name_chars = team.name.chars().count();
        if name_chars > MAX_TEAM_NAME_CHARS {
            self.error(
                Site::Team,
                format!("the team name '{}' is {name_chars} characters long", shown(&team.name)),
                format!(
                    "use a short name, at most {MAX_TEAM_NAME_CHARS} characters: it picks the team (in the server's \
                     API, in the journal); say what the team does in its agents' descriptions"
                ),
            );
        }
        if team.limits.max_message_bytes == 0 {
            self.error(
                Site::Limit("max_message_bytes"),
                "max_message_bytes = 0 refuses every message".into(),
                format!(
                    "set it to the longest message to take, in bytes (the default is {})",
                    crate::team::DEFAULT_MAX_MESSAGE_BYTES
                ),
            );
        }
        if team.limits.turn_seconds == 0 {
            self.error(
                Site::Limit("turn_seconds"),
                "turn_seconds = 0 cuts off every turn at once".into(),
                format!(
                    "set it to the longest a turn may run, in seconds (the default is {})",
                    crate::team::DEFAULT_TURN_SECONDS
                ),
            );
        }
        if team.agent(&team.entry).is_none() {
            let help = self.unknown_help(&team.entry, "agent", self.agent_names());
            self.error(Site::Entry, format!("entry agent '{}' is not defined", team.entry), help);
        }
        if team.limits.max_model_calls == 0 {
            self.error(
                Site::Limit("max_model_calls"),
                "max_model_calls = 0 leaves no model call for any turn".into(),
                "set it to 1 or more (the default is 16)".into(),
            );
        }
        match (&team.limits.on_limit, &team.limits.fallback) {
            (OnLimit::Escalate, None) => {
                let human = team.agents.values().find(|agent| agent.kind == AgentKind::Human);
                let help = match human {
                    Some(human) => format!(
                        "add fallback = \"{}\" under [limits] (the human agent a tripped limit escalates to), or set \
                         on_limit = \"fail\"",
                        human.name
                    ),
                    None => {
                        "add fallback = \"<agent>\" under [limits] (a human agent), or set on_limit = \"fail\"".into()
                    }
                };
                self.error(Site::OnLimit, "on_limit = \"escalate\" (the default) needs a fallback agent".into(), help)
            }
            (_, Some(fallback)) => match team.agent(fallback) {
                None => {
                    let help = self.unknown_help(fallback, "agent", self.agent_names());
                    self.error(Site::Fallback, format!("fallback agent '{fallback}' is not defined"), help);
                }
                Some(agent) if agent.kind != AgentKind::Human => self.error(
                    Site::Fallback,
                    format!("fallback agent '{fallback}' is not a human agent"),
                    "a limit escalates to people: name a kind = \"human\" agent, or set on_limit = \"fail\"".into(),
                ),
                Some(_) => {}
            },
            (OnLimit::Fail, None) => {}
        }
    }

    fn check_agent(&mut self, name: &str) {
        let team = self.team;
        let Some(agent) = team.agent(name) else { return };
        if !is_valid_name(name) {
            self.error(
                Site::Agent(name.into()),
                format!("'{name}' is not a usable agent name"),
                "use 1 to 52 letters, digits, '_' or '-' (it becomes the tool name transfer_to_<agent>)".into(),
            );
        }
        match agent.kind {
            AgentKind::Human => {
                if agent.model.is_some() {
                    self.error(
                        Site::AgentModel(name.into()),
                        format!("human agent '{name}' has a model"),
                        "remove the model line: people answer for a human agent".into(),
                    );
                }
                if !agent.tools.is_empty() {
                    self.error(
                        Site::AgentTool(name.into(), 0),
                        format!("human agent '{name}' has tools"),
                        "remove the tools list: only model-driven agents call tools".into(),
                    );
                }
            }
            AgentKind::Llm => match &agent.model {
                None => self.error(
                    Site::Agent(name.into()),
                    format!("agent '{name}' has no model"),
                    format!("add model = \"<name>\" naming one of the models: {}", list(&team.models)),
                ),
                Some(model) if !team.models.contains(model) => {
                    let help = self.unknown_help(model, "model", team.models.iter().map(String::as_str).collect());
                    self.error(Site::AgentModel(name.into()), format!("model '{model}' is not defined"), help);
                }
                Some(_) => {}
            },
        }
        if agent.kind == AgentKind::Llm {
            for (index, tool) in agent.tools.iter().enumerate() {
                if !team.tools.contains_key(tool) {
                    let help = self.unknown_help(tool, "tool", team.tools.keys().map(String::as_str).collect());
                    self.error(Site::AgentTool(name.into(), index), format!("tool '{tool}' is not defined"), help);
                }
            }
        }
        if agent.kind == AgentKind::Llm && agent.languages.is_empty() {
            self.error(
                Site::AgentLanguages(name.into()),
                format!("agent '{name}' speaks no language"),
                "list at least one ISO 639-1 code, e.g. languages = [\"en\"] (the default)".into(),
            );
        }
        for language in &agent.languages {
            if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase()) {
                self.error(
                    Site::AgentLanguages(name.into()),
                    format!("'{language}' is not an ISO 639-1 language code"),
                    "use two lowercase letters, such as \"en\", \"es\" or \"fr\"".into(),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (index, edge) in agent.handoffs.iter().enumerate() {
            let site = Site::Handoff(name.into(), index);
            if edge.to == name {
                self.error(
                    site,
                    format!("agent '{name}' hands off to itself"),
                    "remove this handoff: an agent already has control of its own turn".into(),
                );
            } else if team.agent(&edge.to).is_none() {
                let help = self.unknown_help(&edge.to, "agent", self.agent_names());
                self.error(site, format!("handoff target '{}' is not defined", edge.to), help);
            } else if !seen.insert(edge.to.as_str()) {
                self.error(site, format!("handoff to '{}' is declared twice", edge.to), "keep one of the two".into());
            } else if edge.max_uses == Some(0) {
                self.error(
                    site,
                    format!("handoff to '{}' has max_uses = 0", edge.to),
                    "remove the handoff instead, or allow at least 1 use".into(),
                );
            }
        }
    }

    fn check_router_and_triggers(&mut self) {
        let team = self.team;
        if let Some(router) = &team.router {
            if !team.models.contains(&router.model) {
                let help = self.unknown_help(&router.model, "model", team.models.iter().map(String::as_str).collect());
                self.error(Site::Router, format!("router model '{}' is not defined", router.model), help);
            }
            if team.limits.max_model_calls < 2 {
                self.push(
                    Severity::Warning,
                    Site::Limit("max_model_calls"),
                    "the router uses one model call of the first turn, which leaves the agents none".into(),
                    Some("set max_model_calls to 2 or more, or remove [router]".into()),
                );
            }
            if team.agent(crate::router::ROUTER).is_some() {
                self.error(
                    Site::Agent(crate::router::ROUTER.into()),
                    "an agent named 'router' cannot be told apart from the front-door router in model requests".into(),
                    "rename the agent".into(),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (index, trigger) in team.triggers.iter().enumerate() {
            let site = Site::Trigger(index);
            let kind = trigger.kind().as_str();
            if !seen.insert(kind) {
                self.error(site.clone(), format!("trigger '{kind}' is declared twice"), "keep one of the two".into());
            }
            match trigger {
                Trigger::Language => {
                    // Control moves only to model-driven agents, and only when one lacks a language another speaks.
                    let llm: Vec<&Agent> = team.agents.values().filter(|a| a.kind == AgentKind::Llm).collect();
                    let spoken: BTreeSet<&str> =
                        llm.iter().flat_map(|a| a.languages.iter().map(String::as_str)).collect();
                    if llm.iter().all(|agent| spoken.iter().all(|language| agent.speaks(language))) {
                        self.push(
                            Severity::Warning,
                            site,
                            "the language trigger never fires: every model-driven agent speaks the same languages"
                                .into(),
                            Some(
                                "give an agent other languages, e.g. languages = [\"es\"], or remove the trigger"
                                    .into(),
                            ),
                        );
                    }
                }
                Trigger::AsksForHuman { to } | Trigger::UnresolvedTurns { to, .. } => {
                    if team.agent(to).is_none() {
                        let help = self.unknown_help(to, "agent", self.agent_names());
                        self.error(site.clone(), format!("trigger target '{to}' is not defined"), help);
                    }
                    if let Trigger::UnresolvedTurns { turns: 0, .. } = trigger {
                        self.error(
                            site,
                            "unresolved_turns with turns = 0 would fire on every turn".into(),
                            "set turns to 1 or more, e.g. turns = 4".into(),
                        );
                    }
                }
            }
        }
    }

    /// Warns about agents no conversation can reach: from `entry` by handoffs, escalation,
    /// routing or triggers.
    fn check_reachability(&mut self) {
        let team = self.team;
        let mut reached: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::new();
        queue.push_back(&team.entry);
        if let Some(fallback) = &team.limits.fallback {
            queue.push_back(fallback);
        }
        let llm_agents = team.agents.values().filter(|agent| agent.kind == AgentKind::Llm);
        if team.router.is_some() {
            queue.extend(llm_agents.clone().map(|agent| agent.name.as_str()));
        }
        for trigger in &team.triggers {
            match trigger {
                Trigger::Language => queue.extend(llm_agents.clone().map(|agent| agent.name.as_str())),
                Trigger::AsksForHuman { to } | Trigger::UnresolvedTurns { to, .. } => queue.push_back(to),
            }
        }
        while let Some(name) = queue.pop_front() {
            let Some(agent) = team.agent(name) else { continue };
            if reached.insert(name) {
                queue.extend(agent.handoffs.iter().map(|edge| edge.to.as_str()));
            }
        }
        for name in team.agents.keys() {
            if !reached.contains(name.as_str()) && team.agent(&team.entry).is_some() {
                self.push(
                    Severity::Warning,
                    Site::Agent(name.clone()),
                    format!("agent '{name}' cannot be reached from the entry agent '{}'", team.entry),
                    Some(format!("add a handoff to '{name}' from an agent that can be reached, or remove it")),
                );
            }
        }
    }
}
