//! The team file as written: serde structs that keep the byte span of every value a diagnostic
//! may need to point at.
//!
//! Nothing here is checked beyond TOML types; unknown keys are caught by [`super::keys`] before
//! these structs are filled, and meaning is checked by [`super::build`] and `baton_core::validate`.

use baton_core::{AgentKind, ContextPolicy, OnLimit, ReturnTo};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// A name-keyed section (`[agents.<name>]`, `[models.<name>]`, `[tools.<name>]`), keeping the span
/// of each name.
pub(crate) type Named<T> = BTreeMap<Spanned<String>, Spanned<T>>;

/// A table of strings (`headers`, `env`), each value with its position.
pub(crate) type Strings = BTreeMap<String, Spanned<String>>;

/// The whole team file.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTeam {
    /// `name`.
    pub name: Spanned<String>,
    /// `entry`.
    pub entry: Spanned<String>,
    /// `[limits]`.
    pub limits: Option<Spanned<RawLimits>>,
    /// `[models.<name>]`.
    #[serde(default)]
    pub models: Named<RawModel>,
    /// `[agents.<name>]`.
    #[serde(default)]
    pub agents: Named<RawAgent>,
    /// `[tools.<name>]`.
    #[serde(default)]
    pub tools: Named<RawTool>,
    /// `[router]`.
    pub router: Option<Spanned<RawRouter>>,
    /// `[store]`.
    pub store: Option<Spanned<RawStore>>,
    /// `[telemetry]`.
    pub telemetry: Option<Spanned<RawTelemetry>>,
    /// `[[trigger]]`.
    #[serde(default)]
    pub trigger: Vec<Spanned<RawTrigger>>,
}

/// `[store]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawStore {
    /// `"full"` (the default) or `"normal"`.
    pub sync: Option<Spanned<String>>,
    /// How long a conversation's lease runs unless renewed, in seconds.
    pub lease_seconds: Option<Spanned<i64>>,
}

/// `[telemetry]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTelemetry {
    /// The collector's base address.
    pub endpoint: Spanned<String>,
    /// `"http/protobuf"` (the default) or `"grpc"`.
    pub protocol: Option<Spanned<String>>,
    /// `service.name`.
    pub service_name: Option<Spanned<String>>,
}

/// `[router]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRouter {
    /// The model that picks the first agent.
    pub model: Spanned<String>,
}

/// `[[trigger]]`: every key of every trigger; which apply is checked per `when`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTrigger {
    /// `"language"`, `"asks_for_human"` or `"unresolved_turns"`.
    pub when: Spanned<String>,
    /// Who takes over.
    pub to: Option<Spanned<String>>,
    /// Turns in a row (unresolved_turns).
    pub turns: Option<Spanned<u32>>,
}

/// `[limits]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawLimits {
    /// The longest user message, in bytes.
    pub max_message_bytes: Option<Spanned<u32>>,
    /// Handoffs per user turn.
    pub max_handoffs: Option<Spanned<u32>>,
    /// Model calls per user turn.
    pub max_model_calls: Option<Spanned<u32>>,
    /// How long a turn may run, in seconds.
    pub turn_seconds: Option<Spanned<i64>>,
    /// What happens when a limit trips.
    pub on_limit: Option<Spanned<OnLimit>>,
    /// Who takes over on escalation.
    pub fallback: Option<Spanned<String>>,
    /// Who takes the next user turn.
    pub return_to: Option<Spanned<ReturnTo>>,
}

/// `[models.<name>]`: every key of every provider; which apply is checked per provider.
#[derive(Debug, Deserialize)]
pub(crate) struct RawModel {
    /// `"openai"`, `"anthropic"`, `"script"` or `"local"`.
    pub provider: Option<Spanned<String>>,
    /// The provider's model id (openai, anthropic).
    pub model: Option<Spanned<String>>,
    /// The API base URL (openai, anthropic).
    pub base_url: Option<Spanned<String>>,
    /// The environment variable holding the API key (openai, anthropic).
    pub api_key_env: Option<Spanned<String>>,
    /// Seconds the server may stay silent (openai, anthropic).
    pub timeout_secs: Option<Spanned<u64>>,
    /// Seconds connecting may take (openai, anthropic).
    pub connect_timeout_secs: Option<Spanned<u64>>,
    /// Retries of a transient failure (openai, anthropic).
    pub retries: Option<Spanned<u32>>,
    /// Whether answers are streamed (openai, anthropic).
    pub stream: Option<Spanned<bool>>,
    /// Sampling temperature (openai, anthropic).
    pub temperature: Option<Spanned<f64>>,
    /// Nucleus sampling (openai, anthropic).
    pub top_p: Option<Spanned<f64>>,
    /// The most tokens of one reply (openai, anthropic).
    pub max_tokens: Option<Spanned<u32>>,
    /// A sampling seed (openai).
    pub seed: Option<Spanned<i64>>,
    /// Whether one reply may make several tool calls (openai, anthropic).
    pub parallel_tool_calls: Option<Spanned<bool>>,
    /// Extra request headers (openai, anthropic).
    pub headers: Option<Spanned<Strings>>,
    /// Extra members of the request body (openai, anthropic).
    pub extra_body: Option<Spanned<toml::Table>>,
    /// Prices, for the cost of a turn (openai, anthropic).
    pub price: Option<Spanned<RawPrice>>,
    /// The scripted replies file (script).
    pub script: Option<Spanned<String>>,
}

/// `price = { input_per_mtok = ..., output_per_mtok = ... }` of a model: US dollars per million tokens.
#[derive(Debug, Deserialize)]
pub(crate) struct RawPrice {
    /// Per million input tokens.
    pub input_per_mtok: Option<Spanned<f64>>,
    /// Per million output tokens.
    pub output_per_mtok: Option<Spanned<f64>>,
}

/// `[agents.<name>]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAgent {
    /// What the agent is for.
    pub description: Option<String>,
    /// The agent's system instructions.
    pub instructions: Option<String>,
    /// `"llm"` (default) or `"human"`.
    pub kind: Option<Spanned<AgentKind>>,
    /// The model name.
    pub model: Option<Spanned<String>>,
    /// Tool names.
    #[serde(default)]
    pub tools: Vec<Spanned<String>>,
    /// Handoff edges.
    #[serde(default)]
    pub handoffs: Vec<Spanned<RawHandoff>>,
    /// ISO 639-1 codes of the languages the agent speaks.
    pub languages: Option<Spanned<Vec<String>>>,
    /// Utterances the agent handles.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Reply templates of the local model, by occasion.
    #[serde(default)]
    pub replies: BTreeMap<Spanned<String>, String>,
}

/// An item of `handoffs`: an agent name or a table.
#[derive(Debug)]
pub(crate) enum RawHandoff {
    /// `"billing"`.
    Name(String),
    /// `{ to = "billing", ... }`.
    Table(RawHandoffTable),
}

/// `{ to, description?, context?, max_uses?, require_reason? }`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawHandoffTable {
    /// The receiving agent.
    pub to: Spanned<String>,
    /// When to use this edge.
    pub description: Option<String>,
    /// How much of the conversation the receiver sees.
    pub context: Option<ContextPolicy>,
    /// How often the edge may be taken in one conversation.
    pub max_uses: Option<u32>,
    /// Whether a handoff must give a reason (default true).
    pub require_reason: Option<bool>,
}

impl<'de> Deserialize<'de> for RawHandoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HandoffVisitor;

        impl<'de> Visitor<'de> for HandoffVisitor {
            type Value = RawHandoff;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an agent name or a table { to, description, context, max_uses, require_reason }")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawHandoff, E> {
                Ok(RawHandoff::Name(name.to_string()))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawHandoff, M::Error> {
                RawHandoffTable::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawHandoff::Table)
            }
        }

        deserializer.deserialize_any(HandoffVisitor)
    }
}

/// `[tools.<name>]`: every key of every tool kind.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTool {
    /// `lookup`, `http`, `command`, `mcp` or `rust`.
    pub kind: Option<Spanned<String>>,
    /// What the tool does.
    pub description: Option<Spanned<String>>,
    /// The JSON schema of the arguments object (http, command, rust).
    pub args: Option<Spanned<serde_json::Value>>,
    /// The JSON data file (lookup).
    pub data: Option<Spanned<String>>,
    /// The one required string argument (lookup).
    pub key: Option<Spanned<String>>,
    /// The JSON-schema pattern a valid key matches (lookup).
    pub pattern: Option<Spanned<String>>,
    /// Utterances for which the tool is the right call.
    pub examples: Option<Spanned<Vec<String>>>,
    /// Whether a call may be run twice (after a crash) with the same idempotency key.
    pub idempotent: Option<Spanned<bool>>,
    /// `"never"`, `"required"`, or `{ when = "amount > 100" }`.
    pub approval: Option<Spanned<serde_json::Value>>,
    /// Seconds a call may take.
    pub timeout: Option<Spanned<f64>>,
    /// The longest result the model is shown, in bytes.
    pub max_result_bytes: Option<Spanned<i64>>,
    /// The HTTP method (http).
    pub method: Option<Spanned<String>>,
    /// The URL template (http) or the server's address (mcp).
    pub url: Option<Spanned<String>>,
    /// Request headers (http, mcp over HTTP).
    pub headers: Option<Spanned<Strings>>,
    /// Hosts reached even at internal addresses, and to which redirects are followed (http).
    pub allow_hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// The program and its arguments (command, mcp over stdio).
    pub command: Option<Spanned<Vec<String>>>,
    /// The directory the program runs in (command, mcp over stdio).
    pub cwd: Option<Spanned<String>>,
    /// Environment variables for the program (command, mcp over stdio).
    pub env: Option<Spanned<RawEnv>>,
    /// The server's tools to offer (mcp; all when absent).
    pub include: Option<Spanned<Vec<String>>>,
    /// The server's tools not to offer (mcp).
    pub exclude: Option<Spanned<Vec<String>>>,
}

/// `env` of a tool: a table of variables to set, or a list of names to pass through.
#[derive(Debug)]
pub(crate) enum RawEnv {
    /// `{ NAME = "value with ${VAR}" }`.
    Set(Strings),
    /// `["NAME", ...]`: baton's own variables the program receives.
    Pass(Vec<Spanned<String>>),
}

/// By hand rather than `#[serde(untagged)]`, which buffers the value and so loses the spans.
impl<'de> Deserialize<'de> for RawEnv {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvVisitor;

        impl<'de> Visitor<'de> for EnvVisitor {
            type Value = RawEnv;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of variables, { NAME = \"value\" }, or a list of names to pass, [\"NAME\"]")
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<RawEnv, M::Error> {
                Strings::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawEnv::Set)
            }

            fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<RawEnv, S::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(RawEnv::Pass)
            }
        }

        deserializer.deserialize_any(EnvVisitor)
    }
}
