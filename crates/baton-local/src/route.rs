//! Routing: which agent's scope a request fits best, for a handoff (`Purpose::Act`) and for the
//! front-door router (`Purpose::Route`), and the reason that names what matched.

use crate::index::Vector;
use crate::language;
use crate::model::LocalModel;
use crate::scope::Scope;
use crate::text;
use baton_core::{Agent, ChatMessage, ModelReply, ModelRequest, ToolCall, ToolDef, Trigger, HANDOFF_PREFIX};
use serde_json::json;

/// The least score the winning agent needs.
pub const FLOOR: f64 = 0.12;
/// How far the winner must be ahead of the agent that has the request (the active agent, or the
/// entry agent for the router). The winner must also have a word of the request the holder has
/// not: words both share ("customer") are no reason to move.
const MARGIN: f64 = 0.05;

/// An agent picked for a request, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// The agent.
    pub agent: String,
    /// What matched, in words.
    pub reason: String,
}

/// An offered agent, with its scope and how well a request fits it.
struct Candidate {
    agent: String,
    scope: Scope,
    score: f64,
}

/// The target of the offered `transfer_to_<agent>` tools that `query` fits clearly better than it
/// fits `holder` (the agent that has it), if any.
pub fn better_agent(model: &LocalModel, query: &str, holder: &str, offers: &[&ToolDef]) -> Option<Choice> {
    let vector = model.space.vector(query);
    let best = best(model, query, &vector, offers, true)?;
    let holder = model.agents.get(holder).map(|index| &index.scope);
    clearly_better(model, query, &vector, &best, holder)
        .then(|| Choice { reason: reason(model, &best.scope, query, &best.agent), agent: best.agent })
}

/// Whether `candidate` clearly beats the holder's scope: above the floor, ahead by the margin,
/// with a word of the request the holder does not have.
fn clearly_better(
    model: &LocalModel,
    query: &str,
    vector: &Vector,
    candidate: &Candidate,
    holder: Option<&Scope>,
) -> bool {
    let held = holder.map_or(0.0, |holder| holder.score(vector));
    let beyond = holder.is_none_or(|holder| candidate.scope.has_words_beyond(holder, &model.space, query));
    candidate.score >= FLOOR && candidate.score >= held + MARGIN && beyond
}

/// The offered agent whose scope fits `query` best (the first on a tie); with `described`, the
/// offer's description is part of the scope. When the team has a language trigger, agents that
/// do not speak the query's language are passed over.
fn best(model: &LocalModel, query: &str, vector: &Vector, offers: &[&ToolDef], described: bool) -> Option<Candidate> {
    if vector.is_empty() {
        return None;
    }
    let by_language = model.team.triggers.iter().any(|trigger| matches!(trigger, Trigger::Language));
    let language = language::detect(query).filter(|_| by_language);
    let mut best: Option<Candidate> = None;
    for offer in offers {
        let Some(agent) = offer.name.strip_prefix(HANDOFF_PREFIX) else { continue };
        let speaks = |agent: &Agent| language.is_none_or(|language| agent.speaks(language));
        if model.team.agent(agent).is_some_and(|agent| !speaks(agent)) {
            continue;
        }
        let scope = match (model.agents.get(agent), described) {
            (Some(index), true) => index.scope.with(&model.space, &offer.description),
            (Some(index), false) => index.scope.clone(),
            (None, _) => Scope::new(&model.space, std::slice::from_ref(&offer.description), &[]),
        };
        let score = scope.score(vector);
        if best.as_ref().is_none_or(|best| score > best.score) {
            best = Some(Candidate { agent: agent.to_string(), scope, score });
        }
    }
    best
}

/// How many of the phrases that matched a reason quotes, and how many characters of each: a
/// reason says why in a line; the message itself is in the journal already.
const QUOTED_PHRASES: usize = 3;
const QUOTED_CHARS: usize = 60;

/// "the request mentions 'charged twice', 'refund' — billing's scope".
fn reason(model: &LocalModel, scope: &Scope, query: &str, agent: &str) -> String {
    let mentions = scope.mentions(&model.space, query);
    if mentions.is_empty() {
        format!("the request fits {agent}'s scope")
    } else {
        let quoted: Vec<String> = mentions
            .iter()
            .take(QUOTED_PHRASES)
            .map(|phrase| format!("'{}'", text::excerpt(phrase, QUOTED_CHARS)))
            .collect();
        format!("the request mentions {} — {agent}'s scope", quoted.join(", "))
    }
}

/// The front-door router's answer: one `transfer_to_<agent>` call for the candidate the first
/// message fits best if it clearly beats the entry agent (the first candidate), else for the
/// entry agent.
pub fn route(model: &LocalModel, request: &ModelRequest) -> ModelReply {
    let message = request
        .messages
        .iter()
        .find_map(|message| match message {
            ChatMessage::User(text) => Some(text.as_str()),
            _ => None,
        })
        .unwrap_or_default();
    let offers: Vec<&ToolDef> = request.tools.iter().filter(|tool| tool.name.starts_with(HANDOFF_PREFIX)).collect();
    let Some(entry) = offers.first() else {
        return ModelReply { text: Some("No agent is offered to route to.".to_string()), ..ModelReply::default() };
    };
    let entry_agent = entry.name[HANDOFF_PREFIX.len()..].to_string();
    let vector = model.space.vector(message);
    let held = model.agents.get(&entry_agent).map(|index| &index.scope);
    let picked = best(model, message, &vector, &offers, false)
        .filter(|best| best.agent != entry_agent && clearly_better(model, message, &vector, best, held));
    let (agent, reason) = match (picked, held) {
        (Some(best), _) => {
            let reason = reason(model, &best.scope, message, &best.agent);
            (best.agent, reason)
        }
        (None, Some(scope)) if !scope.mentions(&model.space, message).is_empty() => {
            let reason = reason(model, scope, message, &entry_agent);
            (entry_agent, reason)
        }
        (None, _) => {
            let reason = format!("no other agent fits the message better than the entry agent, {entry_agent}");
            (entry_agent, reason)
        }
    };
    let call = ToolCall {
        id: "local_1".to_string(),
        name: format!("{HANDOFF_PREFIX}{agent}"),
        arguments: json!({ "reason": reason }).to_string(),
    };
    ModelReply { text: None, tool_calls: vec![call], ..ModelReply::default() }
}
