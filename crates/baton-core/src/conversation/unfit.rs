//! Why an input a person chose does not fit the conversation now: a message while a call waits
//! for approval, a decision nobody waits for, an operator's action on a ticket they cannot act
//! on. Each case is a variant a caller can match on; `Display` says it in words for the person
//! who sent the input, with what to do.

use crate::names::list;
use std::fmt;

/// An input that does not fit the conversation now ([`Conversation::check`](super::Conversation::check)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// A message arrived while a tool call waits for a person's decision.
    AwaitingApproval {
        /// The conversation.
        conversation: String,
        /// The tool of the waiting call.
        tool: String,
        /// The waiting call.
        call_id: String,
    },
    /// A message arrived while a turn is in progress.
    TurnInProgress {
        /// The conversation.
        conversation: String,
    },
    /// A decision arrived, and no call waits for one.
    NothingAwaitsApproval {
        /// The conversation.
        conversation: String,
    },
    /// A decision arrived for a call that does not wait for one.
    NotAwaitingApproval {
        /// The conversation.
        conversation: String,
        /// The call decided on.
        call_id: String,
        /// The calls that do wait.
        waiting: Vec<String>,
    },
    /// An operator acted, and the conversation's ticket is closed.
    TicketClosed {
        /// The conversation.
        conversation: String,
    },
    /// An operator acted in the middle of a turn.
    TicketMidTurn {
        /// The conversation.
        conversation: String,
    },
    /// An operator acted on a ticket already handed back.
    TicketHandedBack {
        /// The conversation.
        conversation: String,
        /// The agent it went back to.
        to: String,
        /// The operator who handed it back.
        by: String,
        /// The agent in control now.
        active: String,
    },
    /// An operator acted on a conversation that never had a ticket.
    NoTicket {
        /// The conversation.
        conversation: String,
        /// The agent in control.
        active: String,
    },
    /// The input is no operator's action, where one was expected.
    NotAnOperatorAction,
    /// The operator's name is empty.
    NoOperator,
    /// The ticket is claimed by another operator.
    ClaimedByAnother {
        /// The conversation.
        conversation: String,
        /// Who claimed it.
        holder: String,
        /// Who tried to act.
        operator: String,
    },
    /// The ticket must be claimed before this action.
    NotClaimed {
        /// The conversation.
        conversation: String,
    },
    /// An operator's reply is empty.
    EmptyReply,
    /// A handback along an edge the human agent does not declare.
    NoEdgeBack {
        /// The human agent.
        human: String,
        /// Where control was to go.
        to: String,
        /// Where it may go.
        targets: Vec<String>,
    },
}

impl Unfit {
    /// The case, as a short stable name (`awaiting_approval`, `ticket_closed`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Unfit::AwaitingApproval { .. } => "awaiting_approval",
            Unfit::TurnInProgress { .. } => "turn_in_progress",
            Unfit::NothingAwaitsApproval { .. } => "nothing_awaits_approval",
            Unfit::NotAwaitingApproval { .. } => "not_awaiting_approval",
            Unfit::TicketClosed { .. } => "ticket_closed",
            Unfit::TicketMidTurn { .. } => "ticket_mid_turn",
            Unfit::TicketHandedBack { .. } => "ticket_handed_back",
            Unfit::NoTicket { .. } => "no_ticket",
            Unfit::NotAnOperatorAction => "not_an_operator_action",
            Unfit::NoOperator => "no_operator",
            Unfit::ClaimedByAnother { .. } => "claimed_by_another",
            Unfit::NotClaimed { .. } => "not_claimed",
            Unfit::EmptyReply => "empty_reply",
            Unfit::NoEdgeBack { .. } => "no_edge_back",
        }
    }
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfit::AwaitingApproval { conversation, tool, call_id } => write!(
                f,
                "conversation '{conversation}' is waiting for approval of '{tool}' (call {call_id}): approve or deny \
                 it first"
            ),
            Unfit::TurnInProgress { conversation } => write!(f, "conversation '{conversation}' has a turn in progress"),
            Unfit::NothingAwaitsApproval { conversation } => {
                write!(f, "no tool call of conversation '{conversation}' is waiting for approval")
            }
            Unfit::NotAwaitingApproval { conversation, call_id, waiting } => write!(
                f,
                "call '{call_id}' of conversation '{conversation}' is not waiting for approval; waiting: {}",
                waiting.join(", ")
            ),
            Unfit::TicketClosed { conversation } => write!(
                f,
                "the ticket of conversation '{conversation}' is closed: nothing to do; it opens again when the user \
                 writes"
            ),
            Unfit::TicketMidTurn { conversation } => write!(
                f,
                "conversation '{conversation}' is in the middle of a turn: act on its ticket once the turn ends"
            ),
            Unfit::TicketHandedBack { conversation, to, by, active } => write!(
                f,
                "the ticket of conversation '{conversation}' was already handed back to '{to}' by {by}: nothing to \
                 do ('{active}' has the conversation)"
            ),
            Unfit::NoTicket { conversation, active } => write!(
                f,
                "conversation '{conversation}' has no ticket: no human agent has had it ('{active}' has the \
                 conversation)"
            ),
            Unfit::NotAnOperatorAction => f.write_str("not an operator's action"),
            Unfit::NoOperator => f.write_str("the operator's name is empty: name who acts, e.g. --operator anna"),
            Unfit::ClaimedByAnother { conversation, holder, operator } => {
                write!(f, "the ticket of conversation '{conversation}' is claimed by {holder}, not {operator}")
            }
            Unfit::NotClaimed { conversation } => {
                write!(f, "the ticket of conversation '{conversation}' is not claimed: claim it first")
            }
            Unfit::EmptyReply => f.write_str("the reply is empty: pass what to tell the user"),
            Unfit::NoEdgeBack { human, to, targets } if targets.is_empty() => write!(
                f,
                "'{human}' declares no handoffs, so control cannot go back to '{to}': add handoffs = [\"{to}\"] to \
                 [agents.{human}]"
            ),
            Unfit::NoEdgeBack { human, to, targets } => {
                write!(f, "'{human}' has no handoff edge to '{to}'; it can hand back to {}", list(targets))
            }
        }
    }
}

impl std::error::Error for Unfit {}
