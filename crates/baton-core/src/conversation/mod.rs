//! The conversation state machine: `handle(input) -> effects`, deterministic and free of I/O.
//!
//! One user turn runs as a loop the shell drives: the core asks for a model call, reads the
//! reply, asks for the ordinary tool calls, and once every call is answered takes the first
//! valid handoff (or answers the user, or calls the model again). Limits are checked before
//! every model call and every handoff, so every turn ends. A call whose arguments do not fit its
//! tool's schema is answered with an error (`arguments`); a call that needs a person's approval
//! suspends the turn (`approvals`); a human agent in control holds the conversation in the
//! escalation queue, where operators act on its ticket (`queue`).

mod approvals;
mod arguments;
mod queue;
mod snapshot;
mod unfit;

pub use arguments::check_schema;
pub(crate) use arguments::Journaled;
pub use queue::Ticket;
pub use snapshot::{RestoreError, SNAPSHOT_FORMAT};
pub use unfit::Unfit;

use crate::context::{package, View, ViewInput};
use crate::event::{
    Effect, HandoffStep, Input, LimitKind, ModelRequest, ModelUsage, Purpose, Record, Signals, ToolInvocation,
    TurnOutcome, TurnStatus,
};
use crate::handoff::{parse_payload, HandoffNote, Payload, Refusal};
use crate::names::list;
use crate::router::{read_route, route_request};
use crate::team::{Agent, ContextPolicy, OnLimit, ReturnTo, Team, TriggerKind, HANDOFF_PREFIX};
use crate::transcript::{Entry, ModelReply, StopReason, ToolCall, ToolOutput, Usage};
use crate::trigger::{evaluate, Streak};
use arguments::Verdict;
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

    fn start_turn(&mut self, text: String, signals: Signals, out: &mut Vec<Effect>) -> Result<(), Rejected> {
        if self.turn.is_some() {
            return Err(Rejected("a user message arrived while a turn is still in progress".into()));
        }
        let reopen = self.team.is_human(&self.active) && self.ticket.as_ref().is_none_or(|ticket| ticket.closed);
        self.turns += 1;
        let handed_back = std::mem::take(&mut self.handed_back);
        if self.team.limits.return_to == ReturnTo::Entry && !self.team.is_human(&self.active) && !handed_back {
            self.active = self.team.entry.clone();
        }
        self.transcript.push(Entry::User { turn: self.turns, text: text.clone() });
        self.turn = Some(Turn {
            number: self.turns,
            request: text.clone(),
            signals,
            routed: None,
            model_calls: 0,
            tool_calls: 0,
            handoffs: Vec::new(),
            handoffs_taken: 0,
            held_control: vec![self.active.clone()],
            refusals: 0,
            malformed_calls: 0,
            usage: Vec::new(),
            waiting: Waiting::Model,
        });
        out.push(Effect::Record(Record::TurnStarted { turn: self.turns, agent: self.active.clone() }));
        if self.team.is_human(&self.active) {
            if reopen {
                self.open_ticket("the user wrote again after the ticket was closed".into(), out);
            }
            self.end_turn(TurnStatus::Escalated, None, None, None, out);
        } else if let Some(router) = self.team.router.clone().filter(|_| self.turns == 1 && !self.trigger_fires()) {
            let turn = self.turn_mut();
            turn.model_calls += 1;
            turn.waiting = Waiting::Router;
            let number = turn.number;
            out.push(Effect::Record(Record::RouterCallStarted { turn: number, model: router.model.clone() }));
            out.push(Effect::CallModel(route_request(&self.team, &router.model, number, &text)));
        } else {
            self.begin(out);
        }
        Ok(())
    }

    /// The router answered: start the conversation with the agent it picked.
    fn on_route(&mut self, (to, reason): (String, String), out: &mut Vec<Effect>) {
        let from = self.active.clone();
        let turn = self.turn_mut();
        turn.waiting = Waiting::Model;
        turn.held_control = vec![to.clone()];
        turn.routed = Some(HandoffStep { from: from.clone(), to: to.clone(), reason: reason.clone() });
        let number = turn.number;
        out.push(Effect::Record(Record::Routed { turn: number, from, to: to.clone(), reason }));
        self.active = to;
        self.begin(out);
    }

    /// Whether a trigger fires for the agent in control: then the router is not asked.
    fn trigger_fires(&self) -> bool {
        let turn = self.turn.as_ref().expect("a turn is in progress");
        evaluate(&self.team, &self.active, &turn.signals, &self.streak).is_some()
    }

    /// The turn's agent is settled: fire a trigger, or call the agent's model.
    fn begin(&mut self, out: &mut Vec<Effect>) {
        let turn = self.turn.as_ref().expect("a turn is in progress");
        match evaluate(&self.team, &self.active, &turn.signals, &self.streak) {
            Some(firing) => {
                let payload = Payload { reason: firing.reason, summary: None, facts: BTreeMap::new() };
                self.hand_over(firing.to, payload, Cause::Trigger(firing.kind), out);
            }
            None => self.call_model(out),
        }
    }

    /// Asks for the next model call, or trips `max_model_calls`.
    fn call_model(&mut self, out: &mut Vec<Effect>) {
        let max = self.team.limits.max_model_calls;
        let turn = self.turn_mut();
        if turn.model_calls >= max {
            let detail = format!("the turn used all {max} model calls without an answer");
            self.trip(LimitKind::MaxModelCalls, detail, out);
            return;
        }
        turn.model_calls += 1;
        turn.waiting = Waiting::Model;
        let (number, index) = (turn.number, turn.model_calls);
        let agent = self.team.agent(&self.active).expect("the active agent is a team member");
        let model = agent.model.clone().unwrap_or_default();
        let calls_so_far = self.agent_model_calls.entry(agent.name.clone()).or_insert(0);
        let agent_call_index = *calls_so_far;
        *calls_so_far += 1;
        let view = if self.replaying { View::default() } else { self.view_of(agent) };
        out.push(Effect::Record(Record::ModelCallStarted {
            turn: number,
            index,
            agent: agent.name.clone(),
            model: model.clone(),
        }));
        out.push(Effect::CallModel(ModelRequest {
            turn: number,
            agent: agent.name.clone(),
            model,
            agent_call_index,
            purpose: Purpose::Act,
            system: view.system,
            messages: view.messages,
            tools: view.tools,
            facts: view.facts,
        }));
    }

    /// What `agent` is sent on its next model call.
    fn view_of(&self, agent: &Agent) -> View {
        package(&ViewInput {
            team: &self.team,
            agent,
            transcript: &self.transcript,
            edge_uses: &self.edge_uses,
            facts: &self.facts,
        })
    }

    /// Starts or stops leaving model requests empty (see [`crate::replay`]).
    pub(crate) fn set_replaying(&mut self, replaying: bool) {
        self.replaying = replaying;
    }

    /// Makes the arguments check of the next model reply's calls take what the journal shows
    /// instead of checking again: a call it shows sent for approval or run is let through, one it
    /// shows rejected is rejected with the journaled error. So a journal replays as it was
    /// written whichever validator wrote it, one written before arguments were checked included
    /// (as the `Signals` journaled with a message keep replay off the detector's version). A call
    /// the journal does not show yet is checked.
    pub(crate) fn follow_journal(&mut self, calls: BTreeMap<String, Journaled>) {
        self.journaled = calls;
    }

    /// Fills in `request`, the unanswered call replay left empty, with what its agent is sent:
    /// nothing has changed since the call was made, since only its reply moves the turn on.
    pub(crate) fn complete_request(&self, request: &mut ModelRequest) {
        if request.purpose != Purpose::Act {
            return;
        }
        let agent = self.team.agent(&request.agent).expect("a model call's agent is a team member");
        let view = self.view_of(agent);
        request.system = view.system;
        request.messages = view.messages;
        request.tools = view.tools;
        request.facts = view.facts;
    }

    /// Adds a reply's token counts to the turn's usage of `agent` with `model`.
    fn count_usage(&mut self, agent: &str, model: &str, usage: Option<Usage>) {
        let Some(usage) = usage else { return };
        let lines = &mut self.turn_mut().usage;
        let index = match lines.iter().position(|line| line.agent == agent && line.model == model) {
            Some(index) => index,
            None => {
                lines.push(ModelUsage {
                    agent: agent.to_string(),
                    model: model.to_string(),
                    calls: 0,
                    input_tokens: 0,
                    output_tokens: 0,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[index];
        line.calls += 1;
        line.input_tokens += usage.input_tokens;
        line.output_tokens += usage.output_tokens;
    }

    fn on_reply(&mut self, reply: ModelReply, out: &mut Vec<Effect>) {
        let agent = self.team.agent(&self.active).expect("the active agent is a team member");
        let model = agent.model.clone().unwrap_or_default();
        let active = self.active.clone();
        self.count_usage(&active, &model, reply.usage);
        let text = reply.text.filter(|text| !text.trim().is_empty());
        let calls = self.unique_ids(reply.tool_calls);
        if text.is_none() && calls.is_empty() {
            let error = match reply.stop {
                Some(StopReason::Refusal) => format!("the model of agent '{active}' refused to answer"),
                Some(StopReason::Length) => format!(
                    "the model of agent '{active}' reached its output token limit before it wrote anything; \
                     raise the model's max_tokens"
                ),
                Some(StopReason::ContentFilter) => {
                    format!("the provider's content filter withheld the reply of agent '{active}'")
                }
                None => format!("the model of agent '{active}' returned an empty reply (no text, no tool calls)"),
            };
            self.end_turn(TurnStatus::Failed, None, None, Some(error), out);
            return;
        }
        let malformed = calls.iter().filter(|call| !is_object_or_empty(&call.arguments)).count();
        self.turn_mut().malformed_calls += u32::try_from(malformed).unwrap_or(u32::MAX);
        let cut_off = reply.stop == Some(StopReason::Length);
        self.call_ids.extend(calls.iter().map(|call| call.id.clone()));
        self.transcript.push(Entry::Assistant {
            agent: self.active.clone(),
            text: text.clone(),
            tool_calls: calls.clone(),
        });
        let mut pending = PendingReply {
            text,
            calls: calls.clone(),
            answers: BTreeMap::new(),
            outstanding: BTreeSet::new(),
            handoff: None,
            unknown: Vec::new(),
            awaiting: Vec::new(),
        };
        let mut planned = Vec::new();
        for call in &calls {
            let cut_off = cut_off && !is_object_or_empty(&call.arguments);
            if let Some(target) = call.name.strip_prefix(HANDOFF_PREFIX) {
                self.plan_handoff(call, target, cut_off, &mut pending, &mut planned);
            } else {
                self.plan_tool_call(call, cut_off, &mut pending, &mut planned);
            }
        }
        // Every record before the first call: the shell journals the records, then runs the
        // calls, so a record after a call would land after that call's result.
        let (records, calls): (Vec<Effect>, Vec<Effect>) =
            planned.into_iter().partition(|effect| matches!(effect, Effect::Record(_)));
        out.extend(records);
        out.extend(calls);
        self.settle(pending, out);
    }

    /// Carries a reply on after one of its calls was answered or decided: finish it once every
    /// call is answered, or suspend the turn when only calls waiting for approval are left.
    fn settle(&mut self, pending: PendingReply, out: &mut Vec<Effect>) {
        if pending.outstanding.is_empty() {
            self.turn_mut().waiting = Waiting::Model;
            self.finish_reply(pending, out);
            return;
        }
        let running = pending.outstanding.len() > pending.awaiting.len();
        if !running && !pending.unknown.is_empty() {
            // The turn is escalated: a person checks the call whose outcome is unknown before
            // anything else runs.
            let mut pending = pending;
            for call in std::mem::take(&mut pending.awaiting) {
                pending.outstanding.remove(&call.call_id);
                let note = "error: not run: the turn was escalated (a tool outcome is unknown) before it was approved";
                pending.answers.insert(call.call_id, ToolOutput::error(note));
            }
            self.turn_mut().waiting = Waiting::Model;
            self.finish_reply(pending, out);
            return;
        }
        let first = pending.awaiting.first().cloned();
        self.turn_mut().waiting = Waiting::Tools(Box::new(pending));
        if let Some(call) = first.filter(|_| !running) {
            self.suspend(call, out);
        }
    }

    /// Gives every call an id unique in the conversation, keeping the model's id where it is.
    fn unique_ids(&self, calls: Vec<ToolCall>) -> Vec<ToolCall> {
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let prefix = self.turn.as_ref().map(|t| format!("call_{}_{}", t.number, t.model_calls)).unwrap_or_default();
        calls
            .into_iter()
            .enumerate()
            .map(|(position, mut call)| {
                let mut attempt = 0;
                while call.id.is_empty() || self.call_ids.contains(&call.id) || taken.contains(&call.id) {
                    call.id = match attempt {
                        0 => format!("{prefix}_{position}"),
                        n => format!("{prefix}_{position}_{n}"),
                    };
                    attempt += 1;
                }
                taken.insert(call.id.clone());
                call
            })
            .collect()
    }

    fn plan_handoff(
        &mut self,
        call: &ToolCall,
        target: &str,
        cut_off: bool,
        pending: &mut PendingReply,
        out: &mut Vec<Effect>,
    ) {
        let refusal = match self.team.edge(&self.active, target) {
            None => Some(Refusal::UnknownTarget),
            Some(edge) => match parse_payload(&call.arguments, edge.require_reason) {
                Err(detail) => Some(Refusal::InvalidArguments { detail: cut_off_hint(detail, cut_off) }),
                Ok(_) if pending.handoff.is_some() => Some(Refusal::Ignored),
                Ok(payload) => {
                    pending.handoff = Some((call.id.clone(), target.to_string(), payload));
                    None
                }
            },
        };
        if let Some(refusal) = refusal {
            self.refuse(call, target, refusal, pending, out);
        }
    }

    fn refuse(
        &mut self,
        call: &ToolCall,
        target: &str,
        refusal: Refusal,
        pending: &mut PendingReply,
        out: &mut Vec<Effect>,
    ) {
        let message = refusal.message(&self.team, &self.active, target);
        let turn = self.turn_mut().number;
        out.push(Effect::Record(Record::HandoffRefused {
            turn,
            call_id: call.id.clone(),
            from: self.active.clone(),
            to: target.to_string(),
            refusal,
        }));
        pending.answers.insert(call.id.clone(), ToolOutput::error(message));
    }

    fn plan_tool_call(&mut self, call: &ToolCall, cut_off: bool, pending: &mut PendingReply, out: &mut Vec<Effect>) {
        let arguments = match self.check_tool_call(call) {
            Ok(arguments) => arguments,
            Err(error) => {
                self.reject(call, cut_off_hint(error, cut_off), pending, out);
                return;
            }
        };
        let number = self.turn_mut().number;
        let invocation = ToolInvocation {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            idempotency_key: format!("{}:{}:{}", self.id, number, call.id),
            arguments,
        };
        if let Some(error) = self.denied_before(&invocation) {
            self.reject(call, error, pending, out);
            return;
        }
        match self.check_arguments(call, &invocation.arguments) {
            Verdict::Fits => {}
            Verdict::Violates(error) => {
                self.turn_mut().malformed_calls += 1;
                self.reject(call, error, pending, out);
                return;
            }
            Verdict::Uncheckable(error) => {
                self.reject(call, error, pending, out);
                return;
            }
        }
        pending.outstanding.insert(call.id.clone());
        let needs_approval =
            self.team.tools.get(&call.name).is_some_and(|tool| tool.approval.needed(&invocation.arguments));
        if needs_approval {
            out.push(Effect::Record(Record::ApprovalRequested {
                turn: number,
                call_id: call.id.clone(),
                agent: self.active.clone(),
                tool: call.name.clone(),
                arguments: invocation.arguments.clone(),
            }));
            pending.awaiting.push(invocation);
        } else {
            self.start_tool_call(invocation, &call.arguments, out);
        }
    }

    /// Answers a tool call with `error` without running it.
    fn reject(&mut self, call: &ToolCall, error: String, pending: &mut PendingReply, out: &mut Vec<Effect>) {
        out.push(Effect::Record(Record::ToolCallRejected {
            turn: self.turn_mut().number,
            call_id: call.id.clone(),
            agent: self.active.clone(),
            tool: call.name.clone(),
            error: error.clone(),
        }));
        pending.answers.insert(call.id.clone(), ToolOutput::error(error));
    }

    /// Whether a call's arguments fit its tool's schema; in replay, what the journal shows (see
    /// [`Conversation::follow_journal`]). A journaled rejection is a violation unless the tool's
    /// schema does not compile.
    fn check_arguments(&self, call: &ToolCall, arguments: &serde_json::Value) -> Verdict {
        match self.journaled.get(&call.id) {
            None => arguments::check(&self.team, &call.name, arguments),
            Some(Journaled::LetThrough) => Verdict::Fits,
            Some(Journaled::Rejected(error)) => match arguments::check(&self.team, &call.name, arguments) {
                Verdict::Uncheckable(_) => Verdict::Uncheckable(error.clone()),
                Verdict::Fits | Verdict::Violates(_) => Verdict::Violates(error.clone()),
            },
        }
    }

    /// Journals a tool call's intent and asks the shell to run it.
    fn start_tool_call(&mut self, invocation: ToolInvocation, raw_arguments: &str, out: &mut Vec<Effect>) {
        let turn = self.turn_mut();
        turn.tool_calls += 1;
        let number = turn.number;
        out.push(Effect::Record(Record::ToolCallStarted {
            turn: number,
            call_id: invocation.call_id.clone(),
            agent: self.active.clone(),
            tool: invocation.tool.clone(),
            arguments: raw_arguments.to_string(),
            idempotency_key: invocation.idempotency_key.clone(),
        }));
        out.push(Effect::CallTool(invocation));
    }

    /// The call's arguments object, or the error the model is told.
    fn check_tool_call(&self, call: &ToolCall) -> Result<serde_json::Value, String> {
        let agent = self.team.agent(&self.active).expect("the active agent is a team member");
        if !agent.tools.contains(&call.name) {
            let hint = if self.team.edge(&self.active, &call.name).is_some() {
                format!("; to hand off, call {HANDOFF_PREFIX}{}", call.name)
            } else {
                String::new()
            };
            return Err(format!("error: unknown tool '{}'; your tools are {}{hint}", call.name, list(&agent.tools)));
        }
        if call.arguments.trim().is_empty() {
            return Ok(serde_json::Value::Object(serde_json::Map::new()));
        }
        match serde_json::from_str(&call.arguments) {
            Ok(serde_json::Value::Object(object)) => Ok(serde_json::Value::Object(object)),
            Ok(_) => Err(format!("error: the arguments of '{}' must be a JSON object", call.name)),
            Err(e) => Err(format!("error: the arguments of '{}' are not valid JSON ({e})", call.name)),
        }
    }

    /// A tool call's result arrived (`None`: its outcome is unknown).
    fn on_tool_result(
        &mut self,
        call_id: String,
        output: Option<ToolOutput>,
        out: &mut Vec<Effect>,
    ) -> Result<(), Rejected> {
        let Some(Turn { waiting: Waiting::Tools(pending), .. }) = &mut self.turn else {
            return Err(Rejected(format!("a result for tool call '{call_id}' arrived, but no tool call is pending")));
        };
        if pending.awaiting.iter().any(|call| call.call_id == call_id) || !pending.outstanding.remove(&call_id) {
            return Err(Rejected(format!("a result for tool call '{call_id}' arrived, but that call is not pending")));
        }
        let output = output.unwrap_or_else(|| {
            let tool = pending.calls.iter().find(|call| call.id == call_id).map(|call| call.name.clone());
            let tool = tool.unwrap_or_default();
            pending.unknown.push((call_id.clone(), tool.clone()));
            ToolOutput::error(format!(
                "error: tool outcome unknown: the process stopped while '{tool}' ran, and it is not safe to run \
                 twice, so it was not run again"
            ))
        });
        pending.answers.insert(call_id, output);
        let Waiting::Tools(pending) = std::mem::replace(&mut self.turn_mut().waiting, Waiting::Model) else {
            unreachable!("matched above")
        };
        self.settle(*pending, out);
        Ok(())
    }

    /// The turn ran past its deadline of `seconds`: the shell cut off the calls in flight. A tool
    /// call that was running is answered with an error saying its outcome is unknown (it may
    /// have taken effect, and it is not run again), a call waiting for approval is not run, a
    /// handoff of the same reply is not taken; then `turn_seconds` trips. A turn that waits for
    /// approval is not running, so no deadline passes for it.
    fn on_deadline(&mut self, seconds: u32, out: &mut Vec<Effect>) -> Result<(), Rejected> {
        let Some(turn) = &mut self.turn else {
            return Err(Rejected("the turn's deadline passed, but no turn is in progress".into()));
        };
        if let Waiting::Tools(pending) = &turn.waiting {
            if pending.outstanding.len() == pending.awaiting.len() {
                return Err(Rejected(
                    "the turn's deadline passed, but the turn waits for approval, not running".into(),
                ));
            }
        }
        let cut_off = match std::mem::replace(&mut turn.waiting, Waiting::Model) {
            Waiting::Router => "while the front-door router was choosing the first agent".to_string(),
            Waiting::Model => format!("while the model of agent '{}' was answering", self.active),
            Waiting::Tools(pending) => self.cut_off(*pending, seconds),
        };
        let detail = format!("the turn ran past its deadline of {seconds} s {cut_off}");
        self.trip(LimitKind::TurnSeconds, detail, out);
        Ok(())
    }

    /// Answers every call of `pending` still open when the deadline passed, and says which
    /// were cut off while they ran.
    fn cut_off(&mut self, mut pending: PendingReply, seconds: u32) -> String {
        let mut running = Vec::new();
        for call in &pending.calls {
            if !pending.outstanding.contains(&call.id) {
                continue;
            }
            let output = if pending.awaiting.iter().any(|waiting| waiting.call_id == call.id) {
                ToolOutput::error("error: not run: the turn's deadline passed before it was approved")
            } else {
                running.push(format!("'{}' (call {})", call.name, call.id));
                ToolOutput::error(format!(
                    "error: cut off: the turn's deadline of {seconds} s passed while '{}' ran; it may or may not \
                     have taken effect: check before trying it again",
                    call.name
                ))
            };
            pending.answers.insert(call.id.clone(), output);
        }
        if let Some((call_id, target, _)) = pending.handoff.take() {
            let note = format!("error: not transferred to {target}: the turn's deadline passed");
            pending.answers.insert(call_id, ToolOutput::error(note));
        }
        let unknown: Vec<String> =
            pending.unknown.iter().map(|(call_id, tool)| format!("'{tool}' (call {call_id})")).collect();
        self.append_results(&mut pending);
        let mut said = format!(
            "while {} ran, cut off with {} outcome unknown: check whether {} took effect",
            running.join(", "),
            if running.len() == 1 { "its" } else { "their" },
            if running.len() == 1 { "it" } else { "they" }
        );
        if !unknown.is_empty() {
            said.push_str(&format!(
                "; the outcome of {} is unknown too (the process stopped while it ran)",
                unknown.join(", ")
            ));
        }
        said
    }

    /// Every call of the reply is answered: take the handoff, answer the user, or call again;
    /// escalate if a call's outcome is unknown.
    fn finish_reply(&mut self, mut pending: PendingReply, out: &mut Vec<Effect>) {
        if !pending.unknown.is_empty() {
            if let Some((call_id, target, _)) = pending.handoff.take() {
                let note =
                    format!("error: not transferred to {target}: the turn was escalated (a tool outcome is unknown)");
                pending.answers.insert(call_id, ToolOutput::error(note));
            }
            self.append_results(&mut pending);
            let calls: Vec<String> =
                pending.unknown.iter().map(|(call_id, tool)| format!("'{tool}' (call {call_id})")).collect();
            let detail = format!(
                "tool outcome unknown: {} was running when the process stopped and is not idempotent, so it was \
                 not run again; check whether it took effect",
                calls.join(", ")
            );
            self.trip(LimitKind::ToolOutcomeUnknown, detail, out);
            return;
        }
        let Some((call_id, target, payload)) = pending.handoff.take() else {
            self.append_results(&mut pending);
            if pending.calls.is_empty() {
                self.end_turn(TurnStatus::Answered, pending.text, None, None, out);
            } else {
                self.call_model(out);
            }
            return;
        };
        let call = pending.calls.iter().find(|c| c.id == call_id).cloned().expect("the handoff call is in the reply");
        let turn = self.turn.as_ref().expect("a turn is in progress");
        let uses = self.edge_uses.get(&(self.active.clone(), target.clone())).copied().unwrap_or(0);
        let edge = self.team.edge(&self.active, &target).expect("checked when planned");
        let refusal = if turn.handoffs_taken >= self.team.limits.max_handoffs {
            Some(Refusal::MaxHandoffs)
        } else if turn.held_control.contains(&target) {
            Some(Refusal::PingPong)
        } else if edge.max_uses.is_some_and(|max| uses >= max) {
            Some(Refusal::MaxUses)
        } else {
            None
        };
        let Some(refusal) = refusal else {
            pending.answers.insert(
                call_id.clone(),
                ToolOutput::ok(format!("Transferred to {target}; {target} now has control of the conversation.")),
            );
            self.append_results(&mut pending);
            self.hand_over(target, payload, Cause::Model(call_id), out);
            return;
        };
        let limit = refusal.limit();
        self.refuse(&call, &target, refusal, &mut pending, out);
        self.append_results(&mut pending);
        let turn = self.turn_mut();
        turn.refusals += 1;
        let refusals = turn.refusals;
        match limit {
            Some(LimitKind::MaxHandoffs) => {
                let detail = format!("the turn reached its limit of {} handoffs", self.team.limits.max_handoffs);
                self.trip(LimitKind::MaxHandoffs, detail, out);
            }
            Some(limit) if refusals >= 2 => {
                let detail =
                    format!("agent '{}' kept trying to hand off after being refused ({})", self.active, limit.as_str());
                self.trip(limit, detail, out);
            }
            _ => self.call_model(out),
        }
    }

    /// Appends the answers to the transcript, in the order the calls were made.
    fn append_results(&mut self, pending: &mut PendingReply) {
        for call in &pending.calls {
            let output = pending.answers.remove(&call.id).expect("every call is answered before the reply finishes");
            self.transcript.push(Entry::ToolResult {
                agent: self.active.clone(),
                call_id: call.id.clone(),
                name: call.name.clone(),
                output,
            });
        }
    }

    /// Moves control to `to`, then continues the turn with it (or suspends for a human). Outside
    /// a turn (an operator's handback), control moves and the next user turn goes to `to`.
    fn hand_over(&mut self, to: String, payload: Payload, cause: Cause, out: &mut Vec<Effect>) {
        let from = self.active.clone();
        let (call_id, escalation, trigger, operator) = match &cause {
            Cause::Model(call_id) => (Some(call_id.clone()), None, None, None),
            Cause::Escalation(limit) => (None, Some(*limit), None, None),
            Cause::Trigger(kind) => (None, None, Some(*kind), None),
            Cause::Operator(operator) => (None, None, None, Some(operator.clone())),
        };
        let context = match escalation {
            Some(_) => ContextPolicy::Full,
            None => self.team.edge(&from, &to).map(|edge| edge.context).unwrap_or_default(),
        };
        self.facts.extend(payload.facts.clone());
        let first_request = self.first_request().map(str::to_string);
        if call_id.is_some() {
            *self.edge_uses.entry((from.clone(), to.clone())).or_insert(0) += 1;
        }
        let (number, request) = match self.turn.as_mut() {
            Some(turn) => {
                if call_id.is_some() {
                    turn.handoffs_taken += 1;
                }
                turn.held_control.push(to.clone());
                turn.handoffs.push(HandoffStep { from: from.clone(), to: to.clone(), reason: payload.reason.clone() });
                (turn.number, turn.request.clone())
            }
            None => (self.turns, self.last_request().unwrap_or_default().to_string()),
        };
        let note = HandoffNote {
            from: from.clone(),
            to: to.clone(),
            reason: payload.reason.clone(),
            summary: payload.summary.clone(),
            facts: self.facts.clone(),
            first_request: first_request.filter(|first| *first != request),
            request,
            context,
            escalation,
        };
        let reason = payload.reason.clone();
        out.push(Effect::Record(Record::HandoffTaken {
            turn: number,
            from,
            to: to.clone(),
            payload,
            context,
            call_id,
            escalation,
            trigger,
            operator,
        }));
        self.transcript.push(Entry::Handoff(note));
        self.active = to;
        let human = self.team.is_human(&self.active);
        if human {
            self.open_ticket(reason, out);
        }
        if self.turn.is_none() {
            self.handed_back = true;
            return;
        }
        if escalation.is_some() {
            self.end_turn(TurnStatus::Escalated, None, escalation, None, out);
        } else if human {
            self.end_turn(TurnStatus::Escalated, None, None, None, out);
        } else {
            self.call_model(out);
        }
    }

    /// The user's latest message in the conversation.
    pub fn last_request(&self) -> Option<&str> {
        self.transcript.iter().rev().find_map(|entry| match entry {
            Entry::User { text, .. } => Some(text.as_str()),
            _ => None,
        })
    }

    /// A limit tripped: escalate to the fallback or fail, as the team says.
    fn trip(&mut self, limit: LimitKind, detail: String, out: &mut Vec<Effect>) {
        let number = self.turn_mut().number;
        out.push(Effect::Record(Record::LimitTripped {
            turn: number,
            limit,
            agent: self.active.clone(),
            detail: detail.clone(),
        }));
        match (self.team.limits.on_limit, self.team.limits.fallback.clone()) {
            (OnLimit::Escalate, Some(fallback)) if fallback != self.active && self.team.is_human(&fallback) => {
                let payload = Payload { reason: why(limit, &detail), summary: None, facts: BTreeMap::new() };
                self.hand_over(fallback, payload, Cause::Escalation(limit), out);
            }
            _ => self.end_turn(TurnStatus::Failed, None, Some(limit), Some(why(limit, &detail)), out),
        }
    }

    fn end_turn(
        &mut self,
        status: TurnStatus,
        reply: Option<String>,
        limit: Option<LimitKind>,
        error: Option<String>,
        out: &mut Vec<Effect>,
    ) {
        let turn = self.turn.take().expect("a turn is in progress");
        if self.streak.agent == self.active {
            self.streak.turns += 1;
        } else {
            self.streak = Streak { agent: self.active.clone(), turns: 1 };
        }
        let outcome = self.outcome(&turn, status, reply, limit, error);
        out.push(Effect::Record(Record::TurnEnded(outcome)));
    }

    /// The summary of `turn` so far.
    fn outcome(
        &self,
        turn: &Turn,
        status: TurnStatus,
        reply: Option<String>,
        limit: Option<LimitKind>,
        error: Option<String>,
    ) -> TurnOutcome {
        TurnOutcome {
            turn: turn.number,
            status,
            agent: self.active.clone(),
            reply,
            handoffs: turn.handoffs.clone(),
            limit,
            model_calls: turn.model_calls,
            tool_calls: turn.tool_calls,
            error,
            routed: turn.routed.clone(),
            malformed_calls: Some(turn.malformed_calls),
            usage: Some(turn.usage.clone()),
            pending: None,
        }
    }
}

/// Whether tool arguments are a JSON object (or empty, which counts as `{}`).
fn is_object_or_empty(arguments: &str) -> bool {
    arguments.trim().is_empty() || matches!(serde_json::from_str(arguments), Ok(serde_json::Value::Object(_)))
}

/// An argument error, with its likely cause when the model's reply was cut off mid-arguments.
fn cut_off_hint(error: String, cut_off: bool) -> String {
    if cut_off {
        format!("{error}; your reply reached the output token limit and the arguments were cut off: send shorter ones")
    } else {
        error
    }
}

/// Why a limit (or a safety stop) ended the turn, for the handoff note and the error.
fn why(limit: LimitKind, detail: &str) -> String {
    match limit {
        LimitKind::ToolOutcomeUnknown => detail.to_string(),
        _ => format!("limit {} reached: {detail}", limit.as_str()),
    }
}
