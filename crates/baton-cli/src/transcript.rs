//! A turn as a readable transcript: what happened since the previous turn (an operator's replies,
//! a handback), the user's message, routing, every change of control with its reason, the tool
//! calls with their results, and how the turn ended. Agent names, arrows, errors and what waits
//! for a person are coloured (see [`crate::paint`]).

use crate::paint::{self, paint};
use baton::core::{Input, JournalEntry, Record, StopReason, TurnOutcome, TurnStatus};
use baton::store::StoredEntry;

/// Longest tool result shown in a transcript, in characters.
const RESULT_WIDTH: usize = 100;

/// The lines of turn `turn`: from the end of the turn before it (so an operator's replies and a
/// handback in between are shown) to the turn's latest end (a turn that waited for approval
/// ended for a while, then went on).
pub fn turn_lines(journal: &[StoredEntry], turn: u32, transcript: Transcript) -> Vec<String> {
    let started = journal.iter().position(
        |stored| matches!(&stored.entry, JournalEntry::Record(Record::TurnStarted { turn: t, .. }) if *t == turn),
    );
    let Some(started) = started else { return Vec::new() };
    let end = journal[started..]
        .iter()
        .rposition(|stored| matches!(&stored.entry, JournalEntry::Record(Record::TurnEnded(o)) if o.turn == turn))
        .map_or(journal.len(), |offset| started + offset + 1);
    lines_since_turn_ended(&journal[..end], started, transcript)
}

/// The lines of what was journaled after the last turn ended: an operator's replies or handback
/// that the user has not seen yet (none when nothing happened since).
pub fn lines_after_last_turn(journal: &[StoredEntry], transcript: Transcript) -> Vec<String> {
    lines_since_turn_ended(journal, journal.len(), transcript)
}

/// The lines of `journal` from the end of the last turn that ended before `before`, to its end.
fn lines_since_turn_ended(journal: &[StoredEntry], before: usize, mut transcript: Transcript) -> Vec<String> {
    let ended = journal[..before]
        .iter()
        .rposition(|stored| matches!(&stored.entry, JournalEntry::Record(Record::TurnEnded(_))));
    let since = match ended {
        Some(ended) => {
            // Its ending is not shown again, but it says who holds the conversation.
            transcript.lines(&journal[ended].entry);
            ended + 1
        }
        None => 0,
    };
    journal[since..].iter().flat_map(|stored| transcript.lines(&stored.entry)).collect()
}

/// The lines of a whole journal, in order; `verbose` adds tool calls and their results.
pub fn lines(entries: &[StoredEntry], verbose: bool) -> Vec<String> {
    let mut transcript = Transcript::new(verbose);
    entries.iter().flat_map(|stored| transcript.lines(&stored.entry)).collect()
}

/// Turns journal entries, one at a time and in order, into transcript lines.
pub struct Transcript {
    verbose: bool,
    /// Whether the user's messages are shown (a terminal already shows what the user typed).
    echo_user: bool,
    /// The agent in control.
    active: String,
    /// Whether the front-door router's call is the one in flight.
    routing: bool,
}

impl Transcript {
    /// A transcript; `verbose` adds tool calls and their results.
    pub fn new(verbose: bool) -> Self {
        Transcript { verbose, echo_user: true, active: String::new(), routing: false }
    }

    /// The same, without the user's messages when `echo_user` is false.
    pub fn echo_user(mut self, echo_user: bool) -> Self {
        self.echo_user = echo_user;
        self
    }

    /// The lines of the next entry (often none).
    pub fn lines(&mut self, entry: &JournalEntry) -> Vec<String> {
        let verbose = self.verbose;
        match entry {
            JournalEntry::Input(Input::UserMessage { text, .. }) if self.echo_user => {
                vec![format!("{} {text}", paint(paint::USER, "you:"))]
            }
            JournalEntry::Input(Input::ToolReturned { output, .. }) if verbose => {
                let verdict = if output.is_error { paint(paint::ERROR, "failed") } else { "returned".to_string() };
                vec![format!("    {verdict}: {}", shorten(&output.content, RESULT_WIDTH))]
            }
            JournalEntry::Input(Input::ModelReplied { reply }) if verbose => match reply.stop {
                Some(StopReason::Length) => vec!["  (the reply was cut off at the model's max_tokens)".to_string()],
                Some(StopReason::ContentFilter) => {
                    vec!["  (the provider's content filter withheld part of the reply)".to_string()]
                }
                _ => Vec::new(),
            },
            // An agent's failed call ends the turn, whose ending says why: only the router's is
            // told here, as the entry agent takes the turn on.
            JournalEntry::Input(Input::ModelFailed { error }) if verbose && self.routing => {
                vec![format!(
                    "  ({} {error}; the entry agent takes the turn)",
                    paint(paint::ERROR, "the router failed:")
                )]
            }
            JournalEntry::Record(Record::RouterCallStarted { .. }) => {
                self.routing = true;
                Vec::new()
            }
            JournalEntry::Record(Record::TurnStarted { agent, .. }) => {
                self.active = agent.clone();
                Vec::new()
            }
            JournalEntry::Record(Record::Routed { from, to, reason, .. }) => {
                self.routing = false;
                self.active = to.clone();
                match from != to {
                    true => vec![format!("{} routed to {}: {reason}", paint(paint::HANDOFF, "⇢"), paint::agent(to))],
                    false => Vec::new(),
                }
            }
            JournalEntry::Record(Record::HandoffTaken { to, payload, .. }) => {
                self.active = to.clone();
                vec![format!("{} {}: {}", paint(paint::HANDOFF, "→"), paint::agent(to), payload.reason)]
            }
            JournalEntry::Record(Record::HandoffRefused { to, .. }) if verbose => {
                vec![format!("  ({} tried to hand off to {to}; refused)", self.active)]
            }
            JournalEntry::Record(Record::ToolCallStarted { agent, tool, arguments, .. }) if verbose => {
                vec![format!("  {} calls {tool} {arguments}", paint::agent(agent))]
            }
            JournalEntry::Record(Record::ToolCallRejected { agent, tool, error, .. }) if verbose => {
                vec![format!(
                    "  {} called {tool}; {} {}",
                    paint::agent(agent),
                    paint(paint::ERROR, "rejected:"),
                    shorten(error, RESULT_WIDTH)
                )]
            }
            JournalEntry::Record(Record::TurnEnded(outcome)) => {
                self.active = outcome.agent.clone();
                ending(outcome)
            }
            JournalEntry::Input(Input::ApprovalDecided { approved, reason, by, .. }) => {
                let by = by.as_deref().map(|by| format!(" by {by}")).unwrap_or_default();
                let line = match (approved, reason) {
                    (true, _) => format!("[approved{by}]"),
                    (false, Some(reason)) => format!("[denied{by}: {reason}]"),
                    (false, None) => format!("[denied{by}]"),
                };
                vec![paint(paint::WARNING, line)]
            }
            JournalEntry::Input(Input::OperatorReplied { operator, text }) => {
                vec![format!("{} ({operator}): {text}", paint::agent(&self.active))]
            }
            _ => Vec::new(),
        }
    }
}

/// How the turn ended, for the user.
fn ending(outcome: &TurnOutcome) -> Vec<String> {
    let agent = paint::agent(&outcome.agent);
    match outcome.status {
        TurnStatus::Answered => vec![format!("{agent}: {}", outcome.reply.as_deref().unwrap_or_default())],
        TurnStatus::Escalated => {
            let why = outcome.limit.map(|limit| format!(" (limit {} reached)", limit.as_str())).unwrap_or_default();
            vec![paint(paint::WARNING, format!("[{} has the conversation{why}: it waits for a person]", outcome.agent))]
        }
        TurnStatus::Failed => {
            vec![format!("{} {}", paint(paint::ERROR, "error:"), outcome.error.as_deref().unwrap_or("the turn failed"))]
        }
        TurnStatus::AwaitingApproval => match &outcome.pending {
            Some(pending) => vec![paint(
                paint::WARNING,
                format!(
                    "[waiting for approval: {} wants to run {} {} (call {})]",
                    outcome.agent, pending.tool, pending.args, pending.call_id
                ),
            )],
            None => vec![paint(paint::WARNING, "[waiting for approval]")],
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
