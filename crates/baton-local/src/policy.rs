//! The decision for `Purpose::Act`. After the agent's own tool calls, it reads their results out.
//! Otherwise, from the user's latest message and the facts known: hand off to an agent whose scope
//! clearly fits better, call the tool the request is about (or ask for its missing argument),
//! answer from the agent's instructions, return a greeting or thanks, call the agent's main tool
//! when the request is in its line of work, or say what the agent can help with.

use crate::human::asks_for_human;
use crate::model::{AgentIndex, LocalModel};
use crate::reply;
use crate::route::{self, Choice};
use crate::smalltalk::{beyond_small_talk, small_talk, SmallTalk};
use crate::text;
use crate::view::{Call, Reading};
use baton_core::{Agent, AgentKind, ModelReply, ModelRequest, ToolCall, ToolDef, ToolOutput, HANDOFF_PREFIX};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The least score a tool's own scope needs for the request to be about that tool.
const TOOL_FLOOR: f64 = 0.25;

/// How many characters of a user's message a handoff summary quotes.
const QUOTED_CHARS: usize = 300;

/// The agent's answer to `request`.
pub fn act(model: &LocalModel, request: &ModelRequest) -> ModelReply {
    let reading = Reading::of(&request.messages);
    let mut turn = Turn { model, request, agent: model.team.agent(&request.agent), reading, facts: BTreeMap::new() };
    let given = turn.gather_facts();
    if !turn.reading.results.is_empty() {
        return turn.read_out();
    }
    match turn.reading.user() {
        Some(user) => turn.decide(user, &given),
        None => turn.greet(),
    }
}

/// One decision in the making.
struct Turn<'a> {
    model: &'a LocalModel,
    request: &'a ModelRequest,
    agent: Option<&'a Agent>,
    reading: Reading<'a>,
    facts: BTreeMap<String, String>,
}

impl Turn<'_> {
    /// Gathers the facts known: the request's, then those of the user's messages (later ones
    /// win), each message's bare answer to the question before it included. Returns the facts
    /// the latest message gave.
    fn gather_facts(&mut self) -> BTreeMap<String, String> {
        self.facts = self.request.facts.clone();
        let mut given = BTreeMap::new();
        for (text, asked) in &self.reading.users {
            given = self.model.facts.extract(text);
            if let Some(argument) = asked.and_then(|asked| self.asked_argument(asked)) {
                if let Some(value) = self.model.facts.bare_value(&argument, text) {
                    given.insert(argument, value);
                }
            }
            self.facts.extend(given.clone());
        }
        given
    }

    /// The argument of the agent's tools that `asked` asks for, by its label ("customer id") or
    /// name; the longest one named.
    fn asked_argument(&self, asked: &str) -> Option<String> {
        let asked = text::normalise(asked);
        self.own_tools()
            .flat_map(|tool| properties(tool).into_iter().map(|(name, _)| name))
            .filter(|name| {
                asked.contains(&text::normalise(&reply::label(name))) || asked.contains(&name.to_lowercase())
            })
            .max_by_key(|name| (name.len(), std::cmp::Reverse(name.clone())))
    }

    fn decide(&self, user: &str, given: &BTreeMap<String, String>) -> ModelReply {
        let informative = self.model.space.knows_words_of(&without_values(user, given));
        let request = || self.model.space.knows_words_of(&beyond_small_talk(user));
        let chat = small_talk(user).filter(|_| !request());
        let earlier = if informative || chat.is_some() { None } else { self.context() };
        let query = earlier.map_or_else(|| user.to_string(), |earlier| format!("{earlier} {user}"));
        if chat.is_none() {
            if informative || !given.is_empty() {
                if let Some(reply) = self.hand_off(user, earlier, &query) {
                    return reply;
                }
            }
            if let Some(tool) = self.tool_for(&query, given, false) {
                return self.use_tool(tool);
            }
        }
        let question = match beyond_small_talk(user) {
            rest if rest.is_empty() => user.to_string(),
            rest => rest,
        };
        if let Some(passage) = self.agent_index().and_then(|index| index.knowledge.answer(&self.model.space, &question))
        {
            return say(passage.to_string());
        }
        match chat {
            Some(SmallTalk::Greeting) => return self.greet(),
            Some(SmallTalk::Thanks) => return say(self.template("thanks", json!({})).unwrap_or_else(reply::thanks)),
            None => {}
        }
        if let Some(tool) = self.tool_for(&query, given, true) {
            return self.use_tool(tool);
        }
        self.fall_back()
    }

    /// The latest earlier user message the team's scopes know words of, to read a low-information
    /// message ("42", "what about it?") with.
    fn context(&self) -> Option<&str> {
        let mut earlier = self.reading.users.iter().rev().skip(1).map(|(text, _)| *text);
        earlier.find(|text| self.model.space.knows_words_of(text))
    }

    /// A handoff to an offered agent: a human one when the user asks for a person, else the
    /// model-driven one whose scope clearly fits better. None after a refused handoff, and never
    /// back to an agent that already had control in this turn.
    fn hand_off(&self, user: &str, earlier: Option<&str>, query: &str) -> Option<ModelReply> {
        if self.reading.handoff_refused() {
            return None;
        }
        let offers: Vec<&ToolDef> = self
            .request
            .tools
            .iter()
            .filter(|tool| {
                tool.name
                    .strip_prefix(HANDOFF_PREFIX)
                    .is_some_and(|agent| agent != self.request.agent && !self.reading.held_control.contains(agent))
            })
            .collect();
        let (humans, models): (Vec<&ToolDef>, Vec<&ToolDef>) = offers.into_iter().partition(|offer| {
            let agent = &offer.name[HANDOFF_PREFIX.len()..];
            self.model.team.agent(agent).is_some_and(|agent| agent.kind == AgentKind::Human)
        });
        let choice = match humans.first() {
            Some(human) if asks_for_human(user) => Choice {
                agent: human.name[HANDOFF_PREFIX.len()..].to_string(),
                reason: "the user asks for a person".to_string(),
            },
            _ => route::better_agent(self.model, query, &self.request.agent, &models)?,
        };
        let summary = self.summary(user, earlier);
        let arguments = json!({"reason": choice.reason, "summary": summary, "facts": self.facts});
        let context = json!({"target": choice.agent, "reason": choice.reason, "summary": summary});
        let call = ToolCall {
            id: "local_1".to_string(),
            name: format!("{HANDOFF_PREFIX}{}", choice.agent),
            arguments: arguments.to_string(),
        };
        Some(ModelReply { text: self.template("handoff", context), tool_calls: vec![call], ..ModelReply::default() })
    }

    /// The request (and the earlier message it was read with) and the facts known, in a sentence
    /// or two: a long message is quoted by its start, since the receiver reads it whole in the
    /// conversation and the journal has it already.
    fn summary(&self, user: &str, earlier: Option<&str>) -> String {
        let mut summary = format!("The user wrote: \"{}\".", text::excerpt(user, QUOTED_CHARS));
        if let Some(earlier) = earlier {
            summary.push_str(&format!(" Before that: \"{}\".", text::excerpt(earlier, QUOTED_CHARS)));
        }
        if !self.facts.is_empty() {
            let facts: Vec<String> = self.facts.iter().map(|(key, value)| format!("{key} {value}")).collect();
            summary.push_str(&format!(" Known: {}.", facts.join(", ")));
        }
        summary
    }

    /// The agent's tool `query` is about: the one whose scope fits best among those that fit
    /// enough, or whose required arguments the latest message gave (when its scope fits at all),
    /// or (with `in_line`) any, when the request fits the agent's scope as well as routing asks:
    /// it is in the agent's line of work.
    fn tool_for(&self, query: &str, given: &BTreeMap<String, String>, in_line: bool) -> Option<&ToolDef> {
        let vector = self.model.space.vector(query);
        if vector.is_empty() {
            return None;
        }
        let in_line = in_line && self.agent_index().is_some_and(|index| index.scope.score(&vector) >= route::FLOOR);
        let gives = |tool: &ToolDef| {
            let required: Vec<String> =
                properties(tool).into_iter().filter(|(_, required)| *required).map(|(n, _)| n).collect();
            !required.is_empty() && required.iter().all(|name| given.contains_key(name))
        };
        let mut best: Option<(&ToolDef, f64)> = None;
        for tool in self.own_tools() {
            let score = self.model.tool_score(tool, &vector);
            let fits = score >= TOOL_FLOOR || in_line || (score > 0.0 && gives(tool));
            if fits && best.is_none_or(|(_, top)| score > top) {
                best = Some((tool, score));
            }
        }
        best.map(|(tool, _)| tool)
    }

    /// Calls `tool` with the facts known, or asks for its first missing required argument. A
    /// call already made since the user's message is not made again, nor one that changes
    /// something (a refund) already made earlier in the conversation: its result is read out.
    fn use_tool(&self, tool: &ToolDef) -> ModelReply {
        let mut arguments = Map::new();
        for (name, required) in properties(tool) {
            match self.fact_for(&name) {
                Some(value) => {
                    arguments.insert(name, value);
                }
                None if required => return self.ask(tool, &name),
                None => {}
            }
        }
        let arguments = Value::Object(arguments);
        let same = |(call, _): &&Call<'_>| {
            call.name == tool.name && serde_json::from_str::<Value>(&call.arguments).ok().as_ref() == Some(&arguments)
        };
        let earlier = || {
            let changes = reply::changes_something(&tool.name);
            self.reading.earlier_calls.iter().rev().filter(|_| changes).find(same)
        };
        match self.reading.calls.iter().find(same).or_else(earlier) {
            Some((call, Some(output))) => say(self.result_text(call, output)),
            Some((_, None)) => self.fall_back(),
            None => {
                let call =
                    ToolCall { id: "local_1".to_string(), name: tool.name.clone(), arguments: arguments.to_string() };
                ModelReply { text: None, tool_calls: vec![call], ..ModelReply::default() }
            }
        }
    }

    /// The known fact for argument `name` (by name, or by a key spelt differently), as the
    /// argument takes it.
    fn fact_for(&self, name: &str) -> Option<Value> {
        let key = |key: &str| key.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
        let value = self
            .facts
            .get(name)
            .or_else(|| self.facts.iter().find(|(fact, _)| key(fact) == key(name)).map(|(_, value)| value))?;
        let fitted = self.model.facts.fit(name, value)?;
        self.model.facts.typed(name, &fitted)
    }

    fn ask(&self, tool: &ToolDef, argument: &str) -> ModelReply {
        let context = json!({"tool": tool.name, "argument": argument, "label": reply::label(argument)});
        say(self.template("ask", context).unwrap_or_else(|| reply::ask_sentence(tool, argument)))
    }

    /// The results of the agent's latest tool calls, read out.
    fn read_out(&self) -> ModelReply {
        let texts: Vec<String> = self
            .reading
            .results
            .iter()
            .filter(|(call, _)| !call.name.starts_with(HANDOFF_PREFIX))
            .map(|(call, output)| self.result_text(call, output))
            .collect();
        say(texts.join(" "))
    }

    /// One result as the agent's template for the tool renders it, else as a plain sentence.
    fn result_text(&self, call: &ToolCall, output: &ToolOutput) -> String {
        let arguments = serde_json::from_str::<Value>(&call.arguments).unwrap_or_else(|_| json!({}));
        let context = json!({"result": reply::parse(&output.content), "args": arguments, "error": output.is_error});
        self.template(&call.name, context).unwrap_or_else(|| reply::result_sentence(&call.name, &arguments, output))
    }

    fn greet(&self) -> ModelReply {
        let plain = || reply::greeting(&self.request.agent, self.description());
        say(self.template("greeting", json!({})).unwrap_or_else(plain))
    }

    fn fall_back(&self) -> ModelReply {
        let plain = || reply::fallback(&self.request.agent, self.description());
        say(self.template("fallback", json!({})).unwrap_or_else(plain))
    }

    fn description(&self) -> &str {
        self.agent.map_or("", |agent| agent.description.as_str())
    }

    /// The agent's reply template for `occasion`, rendered with `extra` plus `agent`, `user` and
    /// `facts`.
    fn template(&self, occasion: &str, mut extra: Value) -> Option<String> {
        let template = self.agent?.replies.get(occasion)?;
        if let Value::Object(context) = &mut extra {
            context.insert("agent".into(), json!(self.request.agent));
            context.insert("user".into(), json!(self.reading.user().unwrap_or_default()));
            context.insert("facts".into(), json!(self.facts));
        }
        reply::render(template, &extra)
    }

    fn own_tools(&self) -> impl Iterator<Item = &ToolDef> {
        self.request.tools.iter().filter(|tool| !tool.name.starts_with(HANDOFF_PREFIX))
    }

    fn agent_index(&self) -> Option<&AgentIndex> {
        self.model.agents.get(&self.request.agent)
    }
}

/// A tool's arguments in schema order, each with whether it is required.
fn properties(tool: &ToolDef) -> Vec<(String, bool)> {
    let required: Vec<&str> = tool
        .parameters
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let properties = tool.parameters.get("properties").and_then(Value::as_object);
    properties.into_iter().flatten().map(|(name, _)| (name.clone(), required.contains(&name.as_str()))).collect()
}

/// `text` without the fact values it gave ("INV-2041" says nothing about what the user wants),
/// longest first.
fn without_values(text: &str, given: &BTreeMap<String, String>) -> String {
    let mut values: Vec<&String> = given.values().collect();
    values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    values.into_iter().fold(text.to_string(), |text, value| text.replace(value.as_str(), " "))
}

/// A reply that says `text`.
fn say(text: String) -> ModelReply {
    ModelReply { text: Some(text), ..ModelReply::default() }
}
