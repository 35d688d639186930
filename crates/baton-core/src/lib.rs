//! baton's handoff core, sans-IO: the team model and its validation, the conversation state
//! machine, handoff semantics, context packaging, limits and journal events.
//!
//! Nothing here reads a file, opens a socket, looks at a clock or knows a provider's wire
//! format: the shell feeds [`Input`]s to [`Conversation::handle`] and carries out the
//! [`Effect`]s it returns. That is what makes every rule here testable without a network.

pub mod approval;
pub mod context;
pub mod conversation;
pub mod env_template;
pub mod event;
pub mod handoff;
pub mod names;
pub mod replay;
pub mod router;
pub mod team;
pub mod transcript;
pub mod trigger;
pub mod valid_team;
pub mod validate;

pub use approval::{Approval, Comparison, Rule};
pub use conversation::{Conversation, Rejected, RestoreError, Ticket, Unfit, SNAPSHOT_FORMAT};
pub use event::{
    ChatMessage, Effect, HandoffStep, Input, JournalEntry, LimitKind, ModelRequest, ModelUsage, PendingApproval,
    Purpose, Record, Signals, ToolInvocation, TurnOutcome, TurnStatus,
};
pub use handoff::{HandoffNote, Payload, Refusal};
pub use replay::{replay, replay_from, ReplayError, Replayed};
pub use team::{
    Agent, AgentKind, ContextPolicy, HandoffEdge, Limits, OnLimit, ReturnTo, Router, Team, ToolDef, Trigger,
    TriggerKind, DEFAULT_LANGUAGE, HANDOFF_PREFIX, LOCAL_MODEL,
};
pub use transcript::{Entry, ModelReply, StopReason, ToolCall, ToolOutput, Usage};
pub use valid_team::{InvalidTeam, ValidTeam};
pub use validate::{has_errors, validate, Problem, Severity, Site};
