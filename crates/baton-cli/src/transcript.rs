//! A finished turn as a readable transcript: the user's message, routing, every change of
//! control with its reason, the tool calls with their results, and the reply.

use baton::core::{Input, JournalEntry, Record, StopReason, TurnOutcome, TurnStatus};
use baton::store::StoredEntry;

/// Longest tool result shown in a transcript, in characters.
const RESULT_WIDTH: usize = 100;

/// The journal entries of turn `turn`: from the user's message to the turn's (latest) end; a
/// turn that waited for approval ended for a while, then went on.
pub fn turn_entries(journal: &[StoredEntry], turn: u32) -> &[StoredEntry] {
    let started = journal.iter().position(
        |stored| matches!(&stored.entry, JournalEntry::Record(Record::TurnStarted { turn: t, .. }) if *t == turn),
    );
    let Some(started) = started else { return &[] };
    let first = started.saturating_sub(1);
    let end = journal[started..]
        .iter()
        .rposition(|stored| matches!(&stored.entry, JournalEntry::Record(Record::TurnEnded(o)) if o.turn == turn))
        .map_or(journal.len(), |offset| started + offset + 1);
    &journal[first..end]
}

/// The lines of a turn's transcript; `verbose` adds tool calls and their results.
pub fn lines(entries: &[StoredEntry], verbose: bool) -> Vec<String> {
    let mut transcript = Transcript::new(verbose);
    entries.iter().flat_map(|stored| transcript.lines(&stored.entry)).collect()
}

/// Turns journal entries, one at a time and in order, into transcript lines.
pub struct Transcript {
    verbose: bool,
    /// The agent in control.
    active: String,
}

impl Transcript {
    /// A transcript; `verbose` adds tool calls and their results.
    pub fn new(verbose: bool) -> Self {
        Transcript { verbose, active: String::new() }
    }

    /// The lines of the next entry (often none).
    pub fn lines(&mut self, entry: &JournalEntry) -> Vec<String> {
        let verbose = self.verbose;
        match entry {
            JournalEntry::Input(Input::UserMessage { text, .. }) => vec![format!("you: {text}")],
            JournalEntry::Input(Input::ToolReturned { output, .. }) if verbose => {
                let verdict = if output.is_error { "failed" } else { "returned" };
                vec![format!("    {verdict}: {}", shorten(&output.content, RESULT_WIDTH))]
            }
            JournalEntry::Input(Input::ModelReplied { reply }) if verbose => match reply.stop {
                Some(StopReason::Length) => vec!["  (the reply was cut off at the model's max_tokens)".to_string()],
                Some(StopReason::ContentFilter) => {
                    vec!["  (the provider's content filter withheld part of the reply)".to_string()]
                }
                _ => Vec::new(),
            },
            JournalEntry::Input(Input::ModelFailed { error }) if verbose => vec![format!("  (model error: {error})")],
            JournalEntry::Record(Record::TurnStarted { agent, .. }) => {
                self.active = agent.clone();
                Vec::new()
            }
            JournalEntry::Record(Record::Routed { from, to, reason, .. }) if from != to => {
                self.active = to.clone();
                vec![format!("⇢ routed to {to}: {reason}")]
            }
            JournalEntry::Record(Record::HandoffTaken { to, payload, .. }) => {
                self.active = to.clone();
                vec![format!("→ {to}: {}", payload.reason)]
            }
            JournalEntry::Record(Record::HandoffRefused { to, .. }) if verbose => {
                vec![format!("  ({} tried to hand off to {to}; refused)", self.active)]
            }
            JournalEntry::Record(Record::ToolCallStarted { agent, tool, arguments, .. }) if verbose => {
                vec![format!("  {agent} calls {tool} {arguments}")]
            }
            JournalEntry::Record(Record::ToolCallRejected { agent, tool, error, .. }) if verbose => {
                vec![format!("  {agent} called {tool}; rejected: {}", shorten(error, RESULT_WIDTH))]
            }
            JournalEntry::Record(Record::TurnEnded(outcome)) => ending(outcome),
            JournalEntry::Input(Input::ApprovalDecided { approved, reason, by, .. }) => {
                let by = by.as_deref().map(|by| format!(" by {by}")).unwrap_or_default();
                match (approved, reason) {
                    (true, _) => vec![format!("[approved{by}]")],
                    (false, Some(reason)) => vec![format!("[denied{by}: {reason}]")],
                    (false, None) => vec![format!("[denied{by}]")],
                }
            }
            JournalEntry::Input(Input::OperatorReplied { operator, text }) => {
                vec![format!("{} ({operator}): {text}", self.active)]
            }
            _ => Vec::new(),
        }
    }
}

/// How the turn ended, for the user.
fn ending(outcome: &TurnOutcome) -> Vec<String> {
    match outcome.status {
        TurnStatus::Answered => vec![format!("{}: {}", outcome.agent, outcome.reply.as_deref().unwrap_or_default())],
        TurnStatus::Escalated => {
            let why = outcome.limit.map(|limit| format!(" (limit {} reached)", limit.as_str())).unwrap_or_default();
            vec![format!("[{} has the conversation{why}: it waits for a person]", outcome.agent)]
        }
        TurnStatus::Failed => vec![format!("error: {}", outcome.error.as_deref().unwrap_or("the turn failed"))],
        TurnStatus::AwaitingApproval => match &outcome.pending {
            Some(pending) => vec![format!(
                "[waiting for approval: {} wants to run {} {} (call {})]",
                outcome.agent, pending.tool, pending.args, pending.call_id
            )],
            None => vec!["[waiting for approval]".to_string()],
        },
    }
}

/// The chain of agents that held control in the turn, such as `triage → technical`.
pub fn chain(outcome: &TurnOutcome) -> String {
    let first = match (&outcome.routed, outcome.handoffs.first()) {
        (Some(routed), _) => routed.to.clone(),
        (None, Some(step)) => step.from.clone(),
        (None, None) => outcome.agent.clone(),
    };
    std::iter::once(first).chain(outcome.handoffs.iter().map(|step| step.to.clone())).collect::<Vec<_>>().join(" → ")
}

/// `text` on one line, cut to `width` characters.
fn shorten(text: &str, width: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= width {
        flat
    } else {
        format!("{}…", flat.chars().take(width).collect::<String>())
    }
}
