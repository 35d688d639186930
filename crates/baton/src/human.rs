//! People answering in process: a [`HumanHandler`] that a program gives its runtime is asked when
//! a human agent takes control of a conversation or a tool call waits for approval, and answers
//! at once or after as long as it likes, or leaves the matter in the durable queue.
//!
//! What it answers is carried out with the operator commands' own methods (claim, reply, hand
//! back, close, decide), so it is journaled exactly as `baton queue` and `baton approve` journal
//! it; a handler is a convenience over the queue, not a second path around it.

use crate::queue::TicketStatus;
use crate::runtime::{Decision, Runtime, RuntimeError};
use crate::{TicketView, TurnReport, Unobserved};
use async_trait::async_trait;
use baton_core::{PendingApproval, TurnStatus};
use std::sync::Arc;

/// What a person does with a conversation a human agent took over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HumanAction {
    /// Writes to the user as the human agent; control stays with it.
    Reply(String),
    /// Gives control back to `to`, along one of the human agent's declared edges, with `note` in
    /// that agent's handoff note; the user's next message goes to `to`.
    HandBack {
        /// The agent that takes control.
        to: String,
        /// What it should know.
        note: Option<String>,
    },
    /// Closes the ticket; control stays with the human agent (the ticket opens again when the
    /// user writes).
    Close,
}

/// Answers for a team's human agents from inside the program that runs the team. Both methods
/// default to leaving the matter in the durable queue, where `baton queue` and `baton approve`
/// (or the server's console) find it.
#[async_trait]
pub trait HumanHandler: Send + Sync {
    /// The operator name journaled for what this handler does.
    fn operator(&self) -> &str;

    /// A human agent has control; `ticket` holds the context package (the handoff note, the
    /// facts, the transcript). The actions are carried out in order after the ticket is claimed
    /// for [`HumanHandler::operator`]; none leaves the ticket open in the queue.
    async fn take_over(&self, ticket: &TicketView) -> Vec<HumanAction> {
        let _ = ticket;
        Vec::new()
    }

    /// A tool call of `conversation` waits for a decision; `None` leaves it waiting.
    async fn approve(&self, conversation: &str, pending: &PendingApproval) -> Option<Decision> {
        let _ = (conversation, pending);
        None
    }

    /// What this handler answered could not be carried out (a hand-back along no declared edge,
    /// a ticket another operator claimed meanwhile, a journal that failed); nothing of that
    /// action was journaled, and the matter waits in the durable queue. The turn itself was
    /// journaled, so the runtime's caller gets its report, not this error. By default it is
    /// logged as a warning.
    fn failed(&self, conversation: &str, error: &RuntimeError) {
        tracing::warn!(conversation, "the human handler's answer could not be carried out: {error}");
    }
}

impl Runtime {
    /// Lets the handler answer what a turn leaves to a person, over and over while its answers
    /// carry the turn on (an approved call may lead to another approval, or to a human agent).
    /// The report returned is the last turn's; a reply the handler wrote is its `reply`, and
    /// after a hand-back its `agent` is the agent in control. What the handler asked that could
    /// not be done is told to [`HumanHandler::failed`]: the turn was journaled, so its report is
    /// returned all the same (an error here would make a caller send the message again).
    pub(crate) async fn answer_humans(&self, handler: &Arc<dyn HumanHandler>, mut report: TurnReport) -> TurnReport {
        if let Err(error) = self.let_humans_answer(handler, &mut report).await {
            handler.failed(&report.conversation, &error);
        }
        report
    }

    async fn let_humans_answer(
        &self,
        handler: &Arc<dyn HumanHandler>,
        report: &mut TurnReport,
    ) -> Result<(), RuntimeError> {
        loop {
            match report.outcome.status {
                TurnStatus::AwaitingApproval => {
                    let Some(pending) = report.outcome.pending.clone() else { return Ok(()) };
                    let Some(mut decision) = handler.approve(&report.conversation, &pending).await else {
                        return Ok(());
                    };
                    decision.by = decision.by.or_else(|| Some(handler.operator().to_string()));
                    *report =
                        self.decide(&report.conversation, &pending.call_id, decision, Arc::new(Unobserved)).await?;
                }
                TurnStatus::Escalated => {
                    let ticket = self.ticket(&report.conversation).await?;
                    let ours = ticket.operator.as_deref().is_none_or(|operator| operator == handler.operator());
                    if !matches!(ticket.status, TicketStatus::Open | TicketStatus::Claimed) || !ours {
                        return Ok(());
                    }
                    let actions = handler.take_over(&ticket).await;
                    if !actions.is_empty() && ticket.operator.is_none() {
                        self.claim(&report.conversation, handler.operator()).await?;
                    }
                    for action in actions {
                        self.carry_out(report, handler.operator(), action).await?;
                    }
                    return Ok(());
                }
                TurnStatus::Answered | TurnStatus::Failed => return Ok(()),
            }
        }
    }

    async fn carry_out(
        &self,
        report: &mut TurnReport,
        operator: &str,
        action: HumanAction,
    ) -> Result<(), RuntimeError> {
        let conversation = report.conversation.clone();
        match action {
            HumanAction::Reply(text) => {
                self.reply(&conversation, Some(operator), &text).await?;
                report.outcome.reply = Some(text);
            }
            HumanAction::HandBack { to, note } => {
                self.hand_back(&conversation, Some(operator), &to, note.as_deref()).await?;
                report.outcome.agent = to;
            }
            HumanAction::Close => {
                self.close(&conversation, Some(operator)).await?;
            }
        }
        Ok(())
    }
}
