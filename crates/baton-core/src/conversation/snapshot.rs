//! Snapshots: a conversation at rest (between turns) written out, so that loading it folds only
//! the journal entries after its latest snapshot instead of the whole journal.
//!
//! A snapshot holds everything [`Conversation::handle`] reads that outlives a turn. It is taken
//! only between turns: the turn in progress, the request being built and what replay follows
//! are never in one. The shell stores it beside the journal and decides when it may be trusted
//! (the same team, the same journal); the records journaled after it then check it as they
//! check every replayed input, because each must be what the restored state decides again.

use super::approvals::Denial;
use super::queue::{HandBack, Ticket};
use super::Conversation;
use crate::team::Team;
use crate::transcript::Entry;
use crate::trigger::Streak;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The layout of [`Conversation::snapshot`]'s JSON; a snapshot of another layout is not restored.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Why a snapshot cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// It is no snapshot this baton reads: not JSON, or not of the expected shape.
    Unreadable(String),
    /// It was written in another layout.
    Layout(u32),
    /// Its agent in control is not in the team.
    UnknownAgent(String),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Unreadable(why) => write!(f, "unreadable snapshot: {why}"),
            RestoreError::Layout(found) => write!(f, "snapshot layout {found} (this baton writes {SNAPSHOT_FORMAT})"),
            RestoreError::UnknownAgent(agent) => {
                write!(f, "the snapshot's agent in control, '{agent}', is not in the team")
            }
        }
    }
}

impl std::error::Error for RestoreError {}

/// A conversation's state between turns, as it is written out.
#[derive(Serialize, Deserialize)]
struct AtRest {
    format: u32,
    active: String,
    transcript: Vec<Entry>,
    facts: BTreeMap<String, String>,
    /// Edge uses as a list: a JSON object cannot have pairs as keys.
    edge_uses: Vec<(String, String, u32)>,
    agent_model_calls: BTreeMap<String, u32>,
    streak: Streak,
    turns: u32,
    ticket: Option<Ticket>,
    denied: Vec<Denial>,
    handed_back: bool,
    last_hand_back: Option<HandBack>,
}

impl Conversation {
    /// The conversation written out as JSON, or `None` while a turn is in progress (a turn
    /// suspended for approval included). Take it once every record the core returned is
    /// journaled: the journal entries after it must be those that followed this state.
    pub fn snapshot(&self) -> Option<String> {
        if self.turn.is_some() {
            return None;
        }
        let at_rest = AtRest {
            format: SNAPSHOT_FORMAT,
            active: self.active.clone(),
            transcript: self.transcript.clone(),
            facts: self.facts.clone(),
            edge_uses: self.edge_uses.iter().map(|((from, to), uses)| (from.clone(), to.clone(), *uses)).collect(),
            agent_model_calls: self.agent_model_calls.clone(),
            streak: self.streak.clone(),
            turns: self.turns,
            ticket: self.ticket.clone(),
            denied: self.denied.clone(),
            handed_back: self.handed_back,
            last_hand_back: self.last_hand_back.clone(),
        };
        serde_json::to_string(&at_rest).ok()
    }

    /// Conversation `id` of `team` as `snapshot` (from [`Conversation::snapshot`]) wrote it out;
    /// fails with what is wrong when the snapshot is unreadable, of another layout, or names an
    /// agent the team does not have.
    pub fn restore(team: Arc<Team>, id: &str, snapshot: &str) -> Result<Conversation, RestoreError> {
        let at_rest: AtRest = serde_json::from_str(snapshot).map_err(|e| RestoreError::Unreadable(e.to_string()))?;
        if at_rest.format != SNAPSHOT_FORMAT {
            return Err(RestoreError::Layout(at_rest.format));
        }
        if team.agent(&at_rest.active).is_none() {
            return Err(RestoreError::UnknownAgent(at_rest.active));
        }
        let call_ids = at_rest
            .transcript
            .iter()
            .flat_map(|entry| match entry {
                Entry::Assistant { tool_calls, .. } => tool_calls.iter().map(|call| call.id.clone()).collect(),
                _ => Vec::new(),
            })
            .collect::<BTreeSet<String>>();
        let mut conversation = Conversation::new(team, id);
        conversation.active = at_rest.active;
        conversation.transcript = at_rest.transcript;
        conversation.facts = at_rest.facts;
        conversation.edge_uses = at_rest.edge_uses.into_iter().map(|(from, to, uses)| ((from, to), uses)).collect();
        conversation.agent_model_calls = at_rest.agent_model_calls;
        conversation.streak = at_rest.streak;
        conversation.turns = at_rest.turns;
        conversation.ticket = at_rest.ticket;
        conversation.denied = at_rest.denied;
        conversation.handed_back = at_rest.handed_back;
        conversation.last_hand_back = at_rest.last_hand_back;
        conversation.call_ids = call_ids;
        Ok(conversation)
    }
}
