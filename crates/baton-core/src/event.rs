//! What flows in and out of the core: inputs from the shell, effects for the shell to carry out,
//! and the records that make up the journal together with the inputs.

use crate::handoff::{Payload, Refusal};
use crate::team::{ContextPolicy, ToolDef, TriggerKind};
use crate::transcript::{ModelReply, ToolCall, ToolOutput};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Something that happened outside the core, fed to [`crate::Conversation::handle`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// The user wrote; opens a turn.
    UserMessage {
        /// What they wrote.
        text: String,
        /// What the shell read off the message for the triggers.
        #[serde(default, skip_serializing_if = "Signals::is_empty")]
        signals: Signals,
    },
    /// The model call the core asked for answered.
    ModelReplied {
        /// The answer.
        reply: ModelReply,
    },
    /// The model call the core asked for failed for good (after the provider's retries).
    ModelFailed {
        /// What went wrong, in the provider's words.
        error: String,
    },
    /// A tool call the core asked for finished (successfully or not).
    ToolReturned {
        /// The call.
        call_id: String,
        /// Its result.
        output: ToolOutput,
    },
    /// A tool call may or may not have taken effect: the process stopped while it ran, and the
    /// tool is not idempotent, so it was not run again. The turn is escalated.
    ToolOutcomeUnknown {
        /// The call.
        call_id: String,
    },
    /// The turn ran for its `turn_seconds` without ending: the shell cut off the model or tool
    /// calls in flight, and this answers them all. The limit trips.
    DeadlinePassed {
        /// The deadline that passed, in seconds (the team's `turn_seconds` when it passed).
        seconds: u32,
    },
    /// A person decided on a tool call that waits for approval.
    ApprovalDecided {
        /// The call.
        call_id: String,
        /// Whether it may run.
        approved: bool,
        /// Why, in the person's words (told to the model on a denial).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who decided, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// An operator took the conversation's ticket; until it is handed back or closed, only they
    /// act on it.
    TicketClaimed {
        /// The operator.
        operator: String,
    },
    /// The operator who holds the ticket wrote to the user, as the human agent in control.
    OperatorReplied {
        /// The operator.
        operator: String,
        /// What they wrote.
        text: String,
    },
    /// The operator gave control back to an AI agent (along a declared edge), with a note.
    TicketHandedBack {
        /// The operator.
        operator: String,
        /// The agent that takes control.
        to: String,
        /// The operator's note, given to that agent in its handoff note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The operator closed the ticket; control stays with the human agent, and the ticket opens
    /// again if the user writes.
    TicketClosed {
        /// The operator.
        operator: String,
    },
}

impl Input {
    /// A user message with no signals read off it.
    pub fn user(text: impl Into<String>) -> Input {
        Input::UserMessage { text: text.into(), signals: Signals::default() }
    }
}

/// What the shell's text models read off a user message; the core's triggers act on it. Kept in
/// the journal with the message, so replay never depends on a detector's version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signals {
    /// The message's language (ISO 639-1), when it could be told reliably.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Whether the user asks for a person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asks_for_human: bool,
}

impl Signals {
    /// Whether nothing was read off the message.
    pub fn is_empty(&self) -> bool {
        self.language.is_none() && !self.asks_for_human
    }
}

/// A fact the core decided, journaled after the input that caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// A turn began with `agent` in control.
    TurnStarted {
        /// The turn number, from 1.
        turn: u32,
        /// The agent that takes the turn.
        agent: String,
    },
    /// Intent: the core asked the front-door router which agent should start the conversation.
    RouterCallStarted {
        /// The turn (always the first).
        turn: u32,
        /// The router's model.
        model: String,
    },
    /// The router's decision: `to` starts the conversation instead of `from` (the entry agent).
    /// When the router failed or gave no valid answer, `to` is `from` and `reason` says why.
    Routed {
        /// The turn.
        turn: u32,
        /// The entry agent.
        from: String,
        /// The agent that starts the conversation.
        to: String,
        /// Why, in the router's words or the runtime's.
        reason: String,
    },
    /// Intent: the core asked for a model call (journaled before it is made).
    ModelCallStarted {
        /// The turn.
        turn: u32,
        /// Which model call of the turn, from 1.
        index: u32,
        /// The calling agent.
        agent: String,
        /// The model name.
        model: String,
    },
    /// Intent: the core asked for a tool call (journaled before it runs).
    ToolCallStarted {
        /// The turn.
        turn: u32,
        /// The call id.
        call_id: String,
        /// The calling agent.
        agent: String,
        /// The tool.
        tool: String,
        /// The arguments as the model sent them.
        arguments: String,
        /// Stable key handed to the tool so a retried call can be recognised.
        idempotency_key: String,
    },
    /// The core answered a tool call itself with an error (unknown tool, malformed arguments).
    ToolCallRejected {
        /// The turn.
        turn: u32,
        /// The call id.
        call_id: String,
        /// The calling agent.
        agent: String,
        /// The tool name the model used.
        tool: String,
        /// The error the model is told.
        error: String,
    },
    /// Control moved.
    HandoffTaken {
        /// The turn.
        turn: u32,
        /// Who had control.
        from: String,
        /// Who has it now.
        to: String,
        /// The handoff payload (for an escalation, the limit that tripped is the reason).
        payload: Payload,
        /// What the receiver sees.
        context: ContextPolicy,
        /// The handoff call, or `None` for an escalation by the runtime.
        call_id: Option<String>,
        /// The limit that caused an escalation.
        escalation: Option<LimitKind>,
        /// The trigger that moved control, when no model decided it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger: Option<TriggerKind>,
        /// The operator who handed control back, when a person decided it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// A handoff call did not move control.
    HandoffRefused {
        /// The turn.
        turn: u32,
        /// The call id.
        call_id: String,
        /// The calling agent.
        from: String,
        /// The target the model asked for.
        to: String,
        /// Why it was refused.
        refusal: Refusal,
    },
    /// A tool call waits for a person's approval before it runs.
    ApprovalRequested {
        /// The turn.
        turn: u32,
        /// The call id.
        call_id: String,
        /// The calling agent.
        agent: String,
        /// The tool.
        tool: String,
        /// The arguments object.
        arguments: serde_json::Value,
    },
    /// A human agent took control: the conversation waits in the escalation queue.
    TicketOpened {
        /// The turn.
        turn: u32,
        /// The human agent (the queue).
        agent: String,
        /// Why, as the handoff or the user's new message says.
        reason: String,
    },
    /// A limit tripped.
    LimitTripped {
        /// The turn.
        turn: u32,
        /// Which limit.
        limit: LimitKind,
        /// The agent in control when it tripped.
        agent: String,
        /// A sentence saying what happened.
        detail: String,
    },
    /// The turn ended; control is back with the user (or with a human operator).
    TurnEnded(TurnOutcome),
}

/// Something the shell must do for the core.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Append this record to the journal (before carrying out the effects that follow it).
    Record(Record),
    /// Call a model; answer with [`Input::ModelReplied`] or [`Input::ModelFailed`].
    CallModel(ModelRequest),
    /// Run a tool; answer with [`Input::ToolReturned`].
    CallTool(ToolInvocation),
}

/// A provider-neutral model request: what one agent sees at one point of the conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRequest {
    /// The turn.
    pub turn: u32,
    /// The agent whose model is called.
    pub agent: String,
    /// The model name; the shell maps it to a provider.
    pub model: String,
    /// How many model calls this agent made before this one, in this conversation.
    pub agent_call_index: u32,
    /// What the call is for: the agent acting, or the router picking the first agent.
    pub purpose: Purpose,
    /// System instructions, with the handoff note when the agent received control by a handoff.
    pub system: String,
    /// The agent's view of the transcript.
    pub messages: Vec<ChatMessage>,
    /// The tools offered: the agent's own, then its handoffs.
    pub tools: Vec<ToolDef>,
    /// The facts the team has gathered that this agent may see (also rendered in `system`).
    pub facts: BTreeMap<String, String>,
}

/// What a model call is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// An agent acts: it answers, calls tools or hands off.
    #[default]
    Act,
    /// The front-door router picks the agent that starts the conversation by calling one of the
    /// offered `transfer_to_<agent>` tools; `agent` is `"router"` and nothing enters the
    /// transcript.
    Route,
}

/// One message of a model request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatMessage {
    /// From the user.
    User(String),
    /// From the assistant (this agent, or another agent's words rewritten as text).
    Assistant {
        /// Text, if any.
        text: Option<String>,
        /// This agent's own tool calls; each is answered by a [`ChatMessage::Tool`] right after.
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one of this agent's tool calls.
    Tool {
        /// The call answered.
        call_id: String,
        /// The result.
        output: ToolOutput,
    },
}

/// A tool call for the shell to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolInvocation {
    /// The call id to answer with.
    pub call_id: String,
    /// The tool.
    pub tool: String,
    /// The arguments object.
    pub arguments: serde_json::Value,
    /// `conversation:turn:call`, stable across retries.
    pub idempotency_key: String,
}

/// The limits that can trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Too many handoffs in one turn.
    MaxHandoffs,
    /// Too many model calls in one turn.
    MaxModelCalls,
    /// Agents kept handing control back and forth.
    PingPong,
    /// An edge's budget was spent and the model kept trying.
    MaxUses,
    /// Not a limit but a safety stop: a tool that is not idempotent may or may not have run
    /// when the process stopped, so a person must check.
    ToolOutcomeUnknown,
    /// The turn ran past its wall-clock deadline.
    TurnSeconds,
}

impl LimitKind {
    /// The limit's name, as in the team file and the `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::MaxHandoffs => "max_handoffs",
            LimitKind::MaxModelCalls => "max_model_calls",
            LimitKind::PingPong => "ping_pong",
            LimitKind::MaxUses => "max_uses",
            LimitKind::ToolOutcomeUnknown => "tool_outcome_unknown",
            LimitKind::TurnSeconds => "turn_seconds",
        }
    }
}

/// How a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// An agent answered the user.
    Answered,
    /// Control is with a human agent (or the fallback after a limit).
    Escalated,
    /// The turn failed; the error says why.
    Failed,
    /// A tool call waits for a person's approval; the turn goes on once it is decided.
    AwaitingApproval,
}

impl TurnStatus {
    /// The status's name, as in the `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Answered => "answered",
            TurnStatus::Escalated => "escalated",
            TurnStatus::Failed => "failed",
            TurnStatus::AwaitingApproval => "awaiting_approval",
        }
    }
}

/// The tool call a suspended turn waits on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApproval {
    /// The call id, to name in the decision.
    pub call_id: String,
    /// The tool.
    pub tool: String,
    /// The arguments object.
    pub args: serde_json::Value,
}

/// One step of a turn's handoff chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffStep {
    /// Who had control.
    pub from: String,
    /// Who took it.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// The summary of a finished turn; its JSON is the `baton run --json` contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnOutcome {
    /// The turn number.
    pub turn: u32,
    /// How it ended.
    pub status: TurnStatus,
    /// The agent in control at the end.
    pub agent: String,
    /// The answer for the user, if any.
    pub reply: Option<String>,
    /// The handoff chain of the turn, escalations included.
    pub handoffs: Vec<HandoffStep>,
    /// The limit that tripped, if one did.
    pub limit: Option<LimitKind>,
    /// Model calls made.
    pub model_calls: u32,
    /// Ordinary tool calls run.
    pub tool_calls: u32,
    /// Why the turn failed, if it did.
    pub error: Option<String>,
    /// The front-door router's choice, on the turn it was made.
    #[serde(default)]
    pub routed: Option<HandoffStep>,
    /// Tool and handoff calls the model made with arguments that are not a JSON object; each
    /// was answered with an error the model could correct. Always set by this version; `None`
    /// in journals written before it counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed_calls: Option<u32>,
    /// Tokens used, per agent and model, in the order the agents were first called; calls whose
    /// provider reports no usage are not counted. Always set by this version; `None` in journals
    /// written before it counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Vec<ModelUsage>>,
    /// The call waiting for approval, when the status is `awaiting_approval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Box<PendingApproval>>,
}

/// The tokens one agent used with one model in a turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// The agent (`router` for the front-door router).
    pub agent: String,
    /// The model name in the team file.
    pub model: String,
    /// Model calls that reported usage.
    pub calls: u32,
    /// Tokens sent to the model.
    pub input_tokens: u64,
    /// Tokens the model produced.
    pub output_tokens: u64,
}

/// The journal kind of a user's message.
pub const USER_MESSAGE: &str = "user_message";
/// The journal kind of a decision on a call that waits for approval.
pub const APPROVAL_DECIDED: &str = "approval_decided";
/// The journal kind of the record that starts a turn.
pub const TURN_STARTED: &str = "turn_started";
/// The journal kind of the record that ends a turn (a suspended turn ends with one too).
pub const TURN_ENDED: &str = "turn_ended";
/// The kinds of entry that start a turn or carry a suspended one on: a conversation whose latest
/// of these comes after its latest [`TURN_ENDED`] has a turn in progress.
pub const TURN_OPENERS: [&str; 3] = [USER_MESSAGE, TURN_STARTED, APPROVAL_DECIDED];
/// The journal kind of the record that opens a ticket.
pub const TICKET_OPENED: &str = "ticket_opened";
/// The journal kind of an operator's claim.
pub const TICKET_CLAIMED: &str = "ticket_claimed";
/// The journal kind of an operator's handback.
pub const TICKET_HANDED_BACK: &str = "ticket_handed_back";
/// The journal kind of an operator's close.
pub const TICKET_CLOSED: &str = "ticket_closed";

/// One journal entry: an input, or a record the core derived from inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", content = "body", rename_all = "snake_case")]
pub enum JournalEntry {
    /// Something that happened outside the core.
    Input(Input),
    /// Something the core decided.
    Record(Record),
}

impl JournalEntry {
    /// A short name for the entry's kind, such as `model_call_started`.
    pub fn kind(&self) -> &'static str {
        match self {
            JournalEntry::Input(Input::UserMessage { .. }) => USER_MESSAGE,
            JournalEntry::Input(Input::ModelReplied { .. }) => "model_replied",
            JournalEntry::Input(Input::ModelFailed { .. }) => "model_failed",
            JournalEntry::Input(Input::ToolReturned { .. }) => "tool_returned",
            JournalEntry::Input(Input::ToolOutcomeUnknown { .. }) => "tool_outcome_unknown",
            JournalEntry::Input(Input::DeadlinePassed { .. }) => "deadline_passed",
            JournalEntry::Input(Input::ApprovalDecided { .. }) => APPROVAL_DECIDED,
            JournalEntry::Input(Input::TicketClaimed { .. }) => TICKET_CLAIMED,
            JournalEntry::Input(Input::OperatorReplied { .. }) => "operator_replied",
            JournalEntry::Input(Input::TicketHandedBack { .. }) => TICKET_HANDED_BACK,
            JournalEntry::Input(Input::TicketClosed { .. }) => TICKET_CLOSED,
            JournalEntry::Record(Record::TurnStarted { .. }) => TURN_STARTED,
            JournalEntry::Record(Record::RouterCallStarted { .. }) => "router_call_started",
            JournalEntry::Record(Record::Routed { .. }) => "routed",
            JournalEntry::Record(Record::ModelCallStarted { .. }) => "model_call_started",
            JournalEntry::Record(Record::ToolCallStarted { .. }) => "tool_call_started",
            JournalEntry::Record(Record::ToolCallRejected { .. }) => "tool_call_rejected",
            JournalEntry::Record(Record::HandoffTaken { .. }) => "handoff_taken",
            JournalEntry::Record(Record::HandoffRefused { .. }) => "handoff_refused",
            JournalEntry::Record(Record::ApprovalRequested { .. }) => "approval_requested",
            JournalEntry::Record(Record::TicketOpened { .. }) => TICKET_OPENED,
            JournalEntry::Record(Record::LimitTripped { .. }) => "limit_tripped",
            JournalEntry::Record(Record::TurnEnded(_)) => TURN_ENDED,
        }
    }
}
