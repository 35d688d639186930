//! The team model: agents, handoff edges, tools offered to models, and limits.
//!
//! A `Team` is plain data. It is built by the config loader (from `team.toml`) or by Rust code,
//! and checked by [`crate::validate`]. Nothing here knows how a model or a tool is reached: a
//! model is only a name the shell maps to a provider, a tool only a name with a JSON schema.

use crate::approval::Approval;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The prefix of every handoff tool: `transfer_to_<agent>`.
pub const HANDOFF_PREFIX: &str = "transfer_to_";

/// The built-in offline model: always defined, and the model of agents that name none.
pub const LOCAL_MODEL: &str = "local";

/// The language an agent speaks when it declares none (ISO 639-1).
pub const DEFAULT_LANGUAGE: &str = "en";

/// A validated or not-yet-validated team of agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// The team's name (`name` in the team file).
    pub name: String,
    /// The agent that takes the first turn.
    pub entry: String,
    /// Per-turn limits and what happens when one trips.
    pub limits: Limits,
    /// Names of the models agents may use; the shell maps each to a provider.
    pub models: BTreeSet<String>,
    /// The agents, by name.
    pub agents: BTreeMap<String, Agent>,
    /// The ordinary (non-handoff) tools, by name.
    pub tools: BTreeMap<String, ToolDef>,
    /// The front-door router that picks the first agent of a conversation, if any.
    pub router: Option<Router>,
    /// Declarative signals that move control before a model call, in declaration order.
    pub triggers: Vec<Trigger>,
}

/// The front-door router: one model call on a conversation's first message picks the agent that
/// starts it instead of `entry`. Routing is not a handoff: it happens once, before any work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Router {
    /// The model that classifies the message.
    pub model: String,
}

/// A signal the core evaluates at the start of a turn, before any model call; when it fires,
/// control moves at no model cost and the move is journaled as a handoff whose reason says
/// `trigger: ...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum Trigger {
    /// The user writes in a language the active agent does not speak: control moves to an agent
    /// that speaks it (one the active agent has an edge to first, then the entry agent, then the
    /// first by name).
    Language,
    /// The user asks for a person.
    AsksForHuman {
        /// Who takes over.
        to: String,
    },
    /// The same specialist (a model-driven agent other than the entry agent) kept control at the
    /// end of `turns` user turns in a row; with `return_to = "entry"` too, where each turn starts
    /// at the entry agent again.
    UnresolvedTurns {
        /// How many turns in a row.
        turns: u32,
        /// Who takes over.
        to: String,
    },
}

impl Trigger {
    /// The trigger's kind.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Language => TriggerKind::Language,
            Trigger::AsksForHuman { .. } => TriggerKind::AsksForHuman,
            Trigger::UnresolvedTurns { .. } => TriggerKind::UnresolvedTurns,
        }
    }
}

/// The kinds of [`Trigger`], as written in `when = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// See [`Trigger::Language`].
    Language,
    /// See [`Trigger::AsksForHuman`].
    AsksForHuman,
    /// See [`Trigger::UnresolvedTurns`].
    UnresolvedTurns,
}

impl TriggerKind {
    /// The name written in `when = "..."`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Language => "language",
            TriggerKind::AsksForHuman => "asks_for_human",
            TriggerKind::UnresolvedTurns => "unresolved_turns",
        }
    }
}

/// One member of a team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// The agent's name; also the suffix of its handoff tool.
    pub name: String,
    /// What the agent is for; offered to other agents as the handoff tool's description.
    pub description: String,
    /// The system instructions given to the agent's model.
    pub instructions: String,
    /// A model-driven agent or a queue of human operators.
    pub kind: AgentKind,
    /// The model name (see [`Team::models`]); `None` for humans.
    pub model: Option<String>,
    /// Names of the ordinary tools the agent may call.
    pub tools: Vec<String>,
    /// The declared outgoing handoff edges, in declaration order.
    pub handoffs: Vec<HandoffEdge>,
    /// The languages the agent speaks (ISO 639-1 codes), for the language trigger.
    pub languages: Vec<String>,
    /// Utterances the agent handles, which sharpen its scope for routing.
    pub examples: Vec<String>,
    /// Reply templates for the local model, by occasion: a tool name, `greeting`, `thanks`,
    /// `fallback`, `ask` or `handoff`.
    pub replies: BTreeMap<String, String>,
}

/// Whether an agent is driven by a model or by people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    /// A model-driven agent.
    Llm,
    /// A queue of human operators: handing off to it suspends the conversation.
    Human,
}

/// A declared handoff edge `from → to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoffEdge {
    /// The receiving agent.
    pub to: String,
    /// When to use this edge; defaults to the target's description.
    pub description: Option<String>,
    /// How much of the conversation the receiver sees.
    pub context: ContextPolicy,
    /// How often this edge may be taken in one conversation.
    pub max_uses: Option<u32>,
    /// Whether a handoff along this edge must give a `reason` (the default). When not, a call
    /// with no reason is taken all the same, as model-driven handoffs in other frameworks are.
    #[serde(default = "reason_required_by_default")]
    pub require_reason: bool,
}

fn reason_required_by_default() -> bool {
    true
}

impl HandoffEdge {
    /// An edge to `to` with the default context policy and no budget.
    pub fn to(to: impl Into<String>) -> Self {
        HandoffEdge {
            to: to.into(),
            description: None,
            context: ContextPolicy::Full,
            max_uses: None,
            require_reason: true,
        }
    }

    /// Says when to use this edge (the target's description by default).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets how much of the conversation the receiver sees ([`ContextPolicy::Full`] by default).
    pub fn context(mut self, context: ContextPolicy) -> Self {
        self.context = context;
        self
    }

    /// Lets this edge be taken at most `uses` times in one conversation.
    pub fn max_uses(mut self, uses: u32) -> Self {
        self.max_uses = Some(uses);
        self
    }

    /// Sets whether a handoff along this edge must give a reason (it must by default).
    pub fn require_reason(mut self, required: bool) -> Self {
        self.require_reason = required;
        self
    }
}

impl From<&str> for HandoffEdge {
    fn from(to: &str) -> Self {
        HandoffEdge::to(to)
    }
}

impl From<String> for HandoffEdge {
    fn from(to: String) -> Self {
        HandoffEdge::to(to)
    }
}

/// What the receiving agent of a handoff sees of the conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextPolicy {
    /// The whole transcript (other agents' tool traffic rewritten as text) plus the handoff note.
    #[default]
    Full,
    /// The handoff note (reason, summary, facts, the user's request) and what follows it.
    Summary,
    /// Only who handed off, why, and the user's request: no summary, no facts, no history.
    None,
}

impl ContextPolicy {
    /// The policy's name as written in team files.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextPolicy::Full => "full",
            ContextPolicy::Summary => "summary",
            ContextPolicy::None => "none",
        }
    }
}

/// The longest user message a team takes by default, in bytes (64 KiB): far beyond what anyone
/// types, room for a pasted log or e-mail (about 16,000 tokens), and under the server's default
/// body limit, so the server can say which limit a message is over. A message is journaled and
/// sent again in every later model request of its conversation, so its size is paid many times.
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 64 * 1024;

/// How long a turn may run by default, in seconds (5 minutes): room for the default 16 model
/// calls at several seconds each and their tools, and longer than a person waits for an answer.
/// Time a turn spends waiting for a person's approval is not counted.
pub const DEFAULT_TURN_SECONDS: u32 = 300;

/// Per-turn limits; on by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// The longest user message, in bytes of UTF-8; a longer one is refused before anything is
    /// journaled.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u32,
    /// Handoffs a model may make in one user turn.
    pub max_handoffs: u32,
    /// Model calls in one user turn.
    pub max_model_calls: u32,
    /// How long a turn may run, in seconds of wall-clock time (waits for a person's approval not
    /// counted); the shell measures it and tells the core when it has passed.
    #[serde(default = "default_turn_seconds")]
    pub turn_seconds: u32,
    /// What happens when a limit trips.
    pub on_limit: OnLimit,
    /// The agent that takes over when a limit trips and `on_limit` is `Escalate`.
    pub fallback: Option<String>,
    /// Which agent takes the next user turn.
    pub return_to: ReturnTo,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_handoffs: 5,
            max_model_calls: 16,
            turn_seconds: DEFAULT_TURN_SECONDS,
            on_limit: OnLimit::Escalate,
            fallback: None,
            return_to: ReturnTo::Active,
        }
    }
}

impl Limits {
    /// Sets the longest user message, in bytes.
    pub fn max_message_bytes(mut self, bytes: u32) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets how many handoffs a model may make in one user turn.
    pub fn max_handoffs(mut self, handoffs: u32) -> Self {
        self.max_handoffs = handoffs;
        self
    }

    /// Sets how many model calls one user turn may make.
    pub fn max_model_calls(mut self, calls: u32) -> Self {
        self.max_model_calls = calls;
        self
    }

    /// Sets how long a turn may run, in seconds.
    pub fn turn_seconds(mut self, seconds: u32) -> Self {
        self.turn_seconds = seconds;
        self
    }

    /// On a limit, hands the conversation to `fallback` with its context.
    pub fn escalate_to(mut self, fallback: impl Into<String>) -> Self {
        self.on_limit = OnLimit::Escalate;
        self.fallback = Some(fallback.into());
        self
    }

    /// On a limit, ends the turn with an error.
    pub fn fail_on_limit(mut self) -> Self {
        self.on_limit = OnLimit::Fail;
        self.fallback = None;
        self
    }

    /// Sets which agent takes the next user turn.
    pub fn return_to(mut self, return_to: ReturnTo) -> Self {
        self.return_to = return_to;
        self
    }
}

fn default_max_message_bytes() -> u32 {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn default_turn_seconds() -> u32 {
    DEFAULT_TURN_SECONDS
}

/// What happens when a limit trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLimit {
    /// Hand the conversation, with its context, to the fallback agent.
    Escalate,
    /// End the turn with a clear error.
    Fail,
}

/// Which agent takes the next user turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReturnTo {
    /// The agent in control at the end of the last turn (sticky control).
    Active,
    /// The team's entry agent.
    Entry,
}

/// An ordinary tool as a model sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// The name the model calls.
    pub name: String,
    /// What the tool does.
    pub description: String,
    /// JSON schema of the arguments object.
    pub parameters: serde_json::Value,
    /// Utterances for which the tool is the right call; they sharpen its scope for routing and
    /// are not sent to providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Whether running a call twice is safe (with the same idempotency key). A call of a tool
    /// that is not idempotent is never run again after a crash: the turn is escalated instead.
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// Whether a call waits for a person's approval before it runs.
    #[serde(default, skip_serializing_if = "is_never")]
    pub approval: Approval,
}

fn is_never(approval: &Approval) -> bool {
    *approval == Approval::Never
}

impl ToolDef {
    /// A tool called `name` taking arguments that match the JSON schema `parameters`: idempotent,
    /// needing no approval, with no examples.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: serde_json::Value) -> Self {
        ToolDef {
            name: name.into(),
            description: description.into(),
            parameters,
            examples: Vec::new(),
            idempotent: true,
            approval: Approval::Never,
        }
    }

    /// Adds utterances for which the tool is the right call (they sharpen its scope for routing).
    pub fn examples<S: Into<String>>(mut self, examples: impl IntoIterator<Item = S>) -> Self {
        self.examples.extend(examples.into_iter().map(Into::into));
        self
    }

    /// Sets whether running a call twice with the same idempotency key is safe (it is by
    /// default).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Sets when a call waits for a person's approval (never, by default).
    pub fn approval(mut self, approval: Approval) -> Self {
        self.approval = approval;
        self
    }
}

fn yes() -> bool {
    true
}

impl Team {
    /// A team with the given name and entry agent, default limits, the built-in `local` model and
    /// nothing else yet.
    pub fn new(name: impl Into<String>, entry: impl Into<String>) -> Self {
        Team {
            name: name.into(),
            entry: entry.into(),
            limits: Limits::default(),
            models: BTreeSet::from([LOCAL_MODEL.to_string()]),
            agents: BTreeMap::new(),
            tools: BTreeMap::new(),
            router: None,
            triggers: Vec::new(),
        }
    }

    /// The agent called `name`, if the team has one.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.get(name)
    }

    /// Whether `name` is a human agent.
    pub fn is_human(&self, name: &str) -> bool {
        self.agent(name).is_some_and(|agent| agent.kind == AgentKind::Human)
    }

    /// The declared edge `from → to`, if there is one.
    pub fn edge(&self, from: &str, to: &str) -> Option<&HandoffEdge> {
        self.agent(from)?.handoffs.iter().find(|edge| edge.to == to)
    }
}

impl Agent {
    /// A model-driven agent using `model`, with no tools and no handoffs yet.
    pub fn llm(name: impl Into<String>, model: impl Into<String>) -> Self {
        Agent {
            name: name.into(),
            description: String::new(),
            instructions: String::new(),
            kind: AgentKind::Llm,
            model: Some(model.into()),
            tools: Vec::new(),
            handoffs: Vec::new(),
            languages: vec![DEFAULT_LANGUAGE.to_string()],
            examples: Vec::new(),
            replies: BTreeMap::new(),
        }
    }

    /// A model-driven agent on the built-in offline model ([`LOCAL_MODEL`]).
    pub fn local(name: impl Into<String>) -> Self {
        Agent::llm(name, LOCAL_MODEL)
    }

    /// Says what the agent is for (other agents read it as its handoff tool's description).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the system instructions given to the agent's model.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Lets the agent call the ordinary tool `name`.
    pub fn tool(mut self, name: impl Into<String>) -> Self {
        self.tools.push(name.into());
        self
    }

    /// Declares a handoff edge from this agent (`HandoffEdge::to("billing")`, or just `"billing"`
    /// for the defaults).
    pub fn handoff(mut self, edge: impl Into<HandoffEdge>) -> Self {
        self.handoffs.push(edge.into());
        self
    }

    /// Sets the languages the agent speaks (ISO 639-1 codes; English by default).
    pub fn languages<S: Into<String>>(mut self, languages: impl IntoIterator<Item = S>) -> Self {
        self.languages = languages.into_iter().map(Into::into).collect();
        self
    }

    /// Adds utterances the agent handles, which sharpen its scope for routing.
    pub fn examples<S: Into<String>>(mut self, examples: impl IntoIterator<Item = S>) -> Self {
        self.examples.extend(examples.into_iter().map(Into::into));
        self
    }

    /// Sets the local model's reply template for an occasion: a tool's name, `greeting`,
    /// `thanks`, `fallback`, `ask` or `handoff`.
    pub fn reply(mut self, occasion: impl Into<String>, template: impl Into<String>) -> Self {
        self.replies.insert(occasion.into(), template.into());
        self
    }

    /// Whether the agent speaks `language` (an ISO 639-1 code).
    pub fn speaks(&self, language: &str) -> bool {
        self.languages.iter().any(|spoken| spoken == language)
    }

    /// A queue of human operators.
    pub fn human(name: impl Into<String>) -> Self {
        Agent { kind: AgentKind::Human, model: None, ..Agent::llm(name, "") }
    }

    /// The name of the tool that hands control to this agent.
    pub fn handoff_tool_name(&self) -> String {
        format!("{HANDOFF_PREFIX}{}", self.name)
    }
}
