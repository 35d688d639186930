//! The conversation state machine: `handle(input) -> effects`, deterministic and free of I/O.
//!
//! One user turn runs as a loop the shell drives: the core asks for a model call, reads the
//! reply, asks for the ordinary tool calls, and once every call is answered takes the first
//! valid handoff (or answers the user, or calls the model again). Limits are checked before
//! every model call and every handoff, so every turn ends. A call whose arguments do not fit its
//! tool's schema is answered with an error (`arguments`); a call that needs a person's approval
//! suspends the turn (`approvals`); a human agent in control holds the conversation in the
//! escalation queue, where operators act on its ticket (`queue`).
//!
//! The turn's phases each have a file: `start` (a user message, routing, triggers), `model` (the
//! next model call), `reply` (acting on a model reply), `tools` and `handoffs` (the reply's
//! calls, and moving control), `limits` (the deadline and limits that trip), `end` (ending the
//! turn); `replaying` holds what replay asks of a conversation. This file keeps the state, the
//! accessors, and `handle`'s dispatch of each input to its phase.

mod approvals;
mod arguments;
mod end;
mod handoffs;
mod limits;
mod model;
mod queue;
mod replaying;
mod reply;
mod snapshot;
mod start;
mod tools;
mod unfit;

pub(crate) use arguments::Journaled;
pub use arguments::{check_schema, InvalidSchema};
pub use queue::Ticket;
pub use snapshot::{RestoreError, SNAPSHOT_FORMAT};
pub use unfit::Unfit;

use crate::event::{Effect, HandoffStep, Input, LimitKind, ModelUsage, Signals, ToolInvocation, TurnStatus};
use crate::handoff::Payload;
use crate::router::read_route;
use crate::team::{Team, TriggerKind};
use crate::transcript::{Entry, ToolCall, ToolOutput};
use crate::trigger::Streak;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// A conversation: who is in control, what was said, and the turn in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    team: Arc<Team>,
    id: String,
    active: String,
    transcript: Vec<Entry>,
    facts: BTreeMap<String, String>,
    edge_uses: BTreeMap<(String, String), u32>,
    agent_model_calls: BTreeMap<String, u32>,
    streak: Streak,
    turns: u32,
    turn: Option<Turn>,
    ticket: Option<Ticket>,
    denied: Vec<approvals::Denial>,
    /// An operator handed control back since the last turn: the next turn stays with that agent
    /// even when turns return to the entry agent.
    handed_back: bool,
    /// The latest hand-back of a ticket, until another ticket opens: what an operator acting on
    /// it again is told.
    last_hand_back: Option<queue::HandBack>,
    /// Every tool-call id in the transcript, so a reply's ids are made unique without a scan.
    call_ids: BTreeSet<String>,
    /// Set while replay folds a journal: model requests are left empty, because replay throws
    /// away every one the journal answers (building them made replay quadratic).
    replaying: bool,
    /// While replay feeds a model reply: what the journal shows each of its calls came to, which
    /// the arguments check follows (see [`Conversation::follow_journal`]).
    journaled: BTreeMap<String, Journaled>,
}

/// The state of the turn in progress.
#[derive(Clone, Debug, PartialEq)]
struct Turn {
    number: u32,
    request: String,
    signals: Signals,
    routed: Option<HandoffStep>,
    model_calls: u32,
    tool_calls: u32,
    handoffs: Vec<HandoffStep>,
    handoffs_taken: u32,
    held_control: Vec<String>,
    refusals: u32,
    malformed_calls: u32,
    usage: Vec<ModelUsage>,
    waiting: Waiting,
}

/// What the turn waits for.
#[derive(Clone, Debug, PartialEq)]
enum Waiting {
    Router,
    Model,
    Tools(Box<PendingReply>),
}

/// Why control moves.
#[derive(Clone, Debug, PartialEq)]
enum Cause {
    /// The model of the agent in control called the handoff tool with this call id.
    Model(String),
    /// A limit tripped and the runtime escalated.
    Escalation(LimitKind),
    /// A trigger fired.
    Trigger(TriggerKind),
    /// An operator handed the conversation back.
    Operator(String),
}

/// A model reply whose ordinary tool calls are still running.
#[derive(Clone, Debug, PartialEq)]
struct PendingReply {
    text: Option<String>,
    calls: Vec<ToolCall>,
    answers: BTreeMap<String, ToolOutput>,
    outstanding: BTreeSet<String>,
    handoff: Option<(String, String, Payload)>,
    /// Calls whose outcome is unknown (the process stopped while they ran): `(call id, tool)`.
    unknown: Vec<(String, String)>,
    /// Calls waiting for a person's decision, in the order they were made (also outstanding).
    awaiting: Vec<ToolInvocation>,
}

/// An input that does not fit the conversation's state; the shell has a bug or a stale journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected(pub String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

impl Conversation {
    /// A new conversation with the team's entry agent in control.
    pub fn new(team: Arc<Team>, id: impl Into<String>) -> Self {
        let active = team.entry.clone();
        Conversation {
            team,
            id: id.into(),
            active,
            transcript: Vec::new(),
            facts: BTreeMap::new(),
            edge_uses: BTreeMap::new(),
            agent_model_calls: BTreeMap::new(),
            streak: Streak::default(),
            turns: 0,
            turn: None,
            ticket: None,
            denied: Vec::new(),
            handed_back: false,
            last_hand_back: None,
            call_ids: BTreeSet::new(),
            replaying: false,
            journaled: BTreeMap::new(),
        }
    }

    /// The conversation id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The team.
    pub fn team(&self) -> &Team {
        &self.team
    }

    /// The agent in control.
    pub fn active_agent(&self) -> &str {
        &self.active
    }

    /// The transcript so far.
    pub fn transcript(&self) -> &[Entry] {
        &self.transcript
    }

    /// Facts gathered from handoff payloads.
    pub fn facts(&self) -> &BTreeMap<String, String> {
        &self.facts
    }

    /// The user's first message in the conversation.
    fn first_request(&self) -> Option<&str> {
        self.transcript.iter().find_map(|entry| match entry {
            Entry::User { text, .. } => Some(text.as_str()),
            _ => None,
        })
    }

    /// The user's latest message in the conversation.
    pub fn last_request(&self) -> Option<&str> {
        self.transcript.iter().rev().find_map(|entry| match entry {
            Entry::User { text, .. } => Some(text.as_str()),
            _ => None,
        })
    }

    /// Turns started so far.
    pub fn turns(&self) -> u32 {
        self.turns
    }

    /// Whether a turn is in progress.
    pub fn in_turn(&self) -> bool {
        self.turn.is_some()
    }

    /// Feeds one input to the conversation and returns what the shell must do next.
    pub fn handle(&mut self, input: Input) -> Result<Vec<Effect>, Rejected> {
        let mut out = Vec::new();
        match input {
            Input::UserMessage { text, signals } => self.start_turn(text, signals, &mut out)?,
            Input::ModelReplied { reply } if self.routing() => {
                let model = self.team.router.as_ref().map(|router| router.model.clone()).unwrap_or_default();
                self.count_usage("router", &model, reply.usage);
                let route = read_route(&self.team, &reply)
                    .unwrap_or_else(|why| (self.team.entry.clone(), format!("staying with the entry agent: {why}")));
                self.on_route(route, &mut out);
            }
            Input::ModelFailed { error } if self.routing() => {
                let why = format!("staying with the entry agent: the router failed: {error}");
                self.on_route((self.team.entry.clone(), why), &mut out);
            }
            Input::ModelReplied { reply } => {
                self.expect_model()?;
                self.on_reply(reply, &mut out);
            }
            Input::ModelFailed { error } => {
                self.expect_model()?;
                let agent = self.active.clone();
                self.end_turn(
                    TurnStatus::Failed,
                    None,
                    None,
                    Some(format!("model call of agent '{agent}' failed: {error}")),
                    &mut out,
                );
            }
            Input::ToolReturned { call_id, output } => self.on_tool_result(call_id, Some(output), &mut out)?,
            Input::ToolOutcomeUnknown { call_id } => self.on_tool_result(call_id, None, &mut out)?,
            Input::DeadlinePassed { seconds } => self.on_deadline(seconds, &mut out)?,
            Input::ApprovalDecided { call_id, approved, reason, by } => {
                self.decide(call_id, approved, reason, by, &mut out)?
            }
            operator @ (Input::TicketClaimed { .. }
            | Input::OperatorReplied { .. }
            | Input::TicketHandedBack { .. }
            | Input::TicketClosed { .. }) => self.operate(operator, &mut out)?,
        }
        Ok(out)
    }

    /// Whether `input` fits the conversation now, and if not, why, in words for the person who
    /// sent it. The shell asks before it journals an input a person chose (a message, a
    /// decision, an operator's action), so that a wrong one is refused, not journaled.
    pub fn check(&self, input: &Input) -> Result<(), Unfit> {
        match input {
            Input::UserMessage { .. } => match self.pending_approval() {
                Some(pending) => Err(Unfit::AwaitingApproval {
                    conversation: self.id.clone(),
                    tool: pending.tool,
                    call_id: pending.call_id,
                }),
                None if self.turn.is_some() => Err(Unfit::TurnInProgress { conversation: self.id.clone() }),
                None => Ok(()),
            },
            Input::ApprovalDecided { call_id, .. } => self.check_decision(call_id),
            Input::TicketClaimed { .. }
            | Input::OperatorReplied { .. }
            | Input::TicketHandedBack { .. }
            | Input::TicketClosed { .. } => self.check_operator(input),
            Input::ModelReplied { .. }
            | Input::ModelFailed { .. }
            | Input::ToolReturned { .. }
            | Input::ToolOutcomeUnknown { .. }
            | Input::DeadlinePassed { .. } => Ok(()),
        }
    }

    fn turn_mut(&mut self) -> &mut Turn {
        self.turn.as_mut().expect("a turn is in progress: checked by every caller")
    }

    /// Whether the turn waits for the router.
    fn routing(&self) -> bool {
        matches!(&self.turn, Some(Turn { waiting: Waiting::Router, .. }))
    }

    fn expect_model(&self) -> Result<(), Rejected> {
        match &self.turn {
            Some(Turn { waiting: Waiting::Model, .. }) => Ok(()),
            _ => Err(Rejected("a model result arrived, but no model call is pending".into())),
        }
    }
}
