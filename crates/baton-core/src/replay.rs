//! Replay: a conversation's state is a fold of its journal through the core.
//!
//! Inputs are fed to [`Conversation::handle`] again; every journaled record must be exactly what
//! the core decides again, so a changed team file or a corrupt journal is caught, not guessed
//! around. What the journal does not show as done (records not yet written, model or tool
//! calls without a result) is returned for the shell to carry out, and the tool calls that may
//! have run already (their intent is journaled, their result is not) are named. Whether a tool
//! call's arguments fit its schema is read off the journal where it shows the call's fate, so
//! replay never depends on the validator's version (nor on whether it checked at all).

use crate::conversation::{Conversation, Journaled};
use crate::event::{Effect, Input, JournalEntry, Record, ToolInvocation};
use crate::handoff::{cap, MAX_REASON_CHARS, MAX_SUMMARY_CHARS};
use crate::team::Team;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// A rebuilt conversation and the effects still to carry out.
#[derive(Debug)]
pub struct Replayed {
    /// The conversation as of the journal's end.
    pub conversation: Conversation,
    /// Records to journal and calls to make that the journal does not show as done, in order.
    pub unfinished: Vec<Effect>,
    /// The unfinished tool calls whose intent was journaled: they may have run (in part, or
    /// to the end without their result reaching the journal).
    pub in_doubt: Vec<ToolInvocation>,
}

/// The journal does not replay under this team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayError {
    /// Index of the first entry that does not fit.
    pub position: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "journal entry {}: {}", self.position + 1, self.message)
    }
}

impl std::error::Error for ReplayError {}

/// Rebuilds conversation `id` of `team` from its journal.
pub fn replay(team: Arc<Team>, id: &str, journal: &[JournalEntry]) -> Result<Replayed, ReplayError> {
    replay_from(Conversation::new(team, id), journal)
}

/// Rebuilds a conversation from `start` (a fresh one, or one restored from a snapshot taken
/// between turns) and the journal entries after it; `position` in an error counts from the
/// first of `journal`.
pub fn replay_from(start: Conversation, journal: &[JournalEntry]) -> Result<Replayed, ReplayError> {
    let mut conversation = start;
    conversation.set_replaying(true);
    let mut expected: VecDeque<Record> = VecDeque::new();
    // Calls without a result, each with whether it was issued (its records are journaled).
    let mut calls: Vec<(Effect, bool)> = Vec::new();
    for (position, entry) in journal.iter().enumerate() {
        let fail = |message: String| ReplayError { position, message };
        match entry {
            JournalEntry::Record(record) => match decided_next(&mut expected, record) {
                Some(decided)
                    if &decided == record
                        || recorded_before_usage(record, &decided)
                        || recorded_before_caps(record, &decided) => {}
                Some(decided) => {
                    return Err(fail(format!(
                        "the journal has {} but the team now decides {} (was the team file changed?)",
                        describe(record),
                        describe(&decided)
                    )))
                }
                None => return Err(fail(format!("the journal has {} that no input explains", describe(record)))),
            },
            JournalEntry::Input(input) => {
                if let Some(record) = expected.front() {
                    return Err(fail(format!(
                        "{} was decided but never journaled before this input",
                        describe(record)
                    )));
                }
                answer(&mut calls, input);
                if matches!(input, Input::ModelReplied { .. }) {
                    conversation.follow_journal(fates(&journal[position + 1..]));
                }
                let effects = conversation.handle(input.clone()).map_err(|rejected| fail(rejected.0))?;
                conversation.follow_journal(BTreeMap::new());
                for effect in effects {
                    match effect {
                        Effect::Record(record) => expected.push_back(record),
                        call => calls.push((call, false)),
                    }
                }
            }
        }
        if expected.is_empty() {
            calls.iter_mut().for_each(|(_, issued)| *issued = true);
        }
    }
    let in_doubt = calls
        .iter()
        .filter_map(|(call, issued)| match call {
            Effect::CallTool(invocation) if *issued => Some(invocation.clone()),
            _ => None,
        })
        .collect();
    conversation.set_replaying(false);
    for (call, _) in &mut calls {
        if let Effect::CallModel(request) = call {
            conversation.complete_request(request);
        }
    }
    let unfinished = expected.into_iter().map(Effect::Record).chain(calls.into_iter().map(|(call, _)| call)).collect();
    Ok(Replayed { conversation, unfinished, in_doubt })
}

/// Drops the call an input answers.
fn answer(calls: &mut Vec<(Effect, bool)>, input: &Input) {
    match input {
        Input::ModelReplied { .. } | Input::ModelFailed { .. } => {
            calls.retain(|(c, _)| !matches!(c, Effect::CallModel(_)))
        }
        Input::ToolReturned { call_id, .. } | Input::ToolOutcomeUnknown { call_id } => {
            calls.retain(|(c, _)| !matches!(c, Effect::CallTool(t) if &t.call_id == call_id))
        }
        Input::DeadlinePassed { .. } => calls.clear(),
        Input::UserMessage { .. }
        | Input::ApprovalDecided { .. }
        | Input::TicketClaimed { .. }
        | Input::OperatorReplied { .. }
        | Input::TicketHandedBack { .. }
        | Input::TicketClosed { .. } => {}
    }
}

/// What the records journaled after a model reply (up to the next input) show its tool calls
/// came to: sent for approval or run, or rejected with an error.
fn fates(after: &[JournalEntry]) -> BTreeMap<String, Journaled> {
    let records = after.iter().map_while(|entry| match entry {
        JournalEntry::Record(record) => Some(record),
        JournalEntry::Input(_) => None,
    });
    records
        .filter_map(|record| match record {
            Record::ToolCallStarted { call_id, .. } | Record::ApprovalRequested { call_id, .. } => {
                Some((call_id.clone(), Journaled::LetThrough))
            }
            Record::ToolCallRejected { call_id, error, .. } => {
                Some((call_id.clone(), Journaled::Rejected(error.clone())))
            }
            _ => None,
        })
        .collect()
}

/// The next record the core decided that `journaled` should be. A ticket the core opens is
/// passed over where the journal has none: journals written before tickets replay as they did.
fn decided_next(expected: &mut VecDeque<Record>, journaled: &Record) -> Option<Record> {
    loop {
        match expected.pop_front() {
            Some(Record::TicketOpened { .. }) if !matches!(journaled, Record::TicketOpened { .. }) => continue,
            decided => return decided,
        }
    }
}

/// How long a record described in an error may be: a record can quote a whole message.
const DESCRIBED_CHARS: usize = 600;

fn describe(record: &Record) -> String {
    cap(&serde_json::to_string(record).unwrap_or_else(|_| format!("{record:?}")), DESCRIBED_CHARS)
}

/// Whether `journaled` is the turn end `decided`, written before turn ends recorded malformed
/// calls and usage (both then absent): such a journal replays as it did when it was written.
fn recorded_before_usage(journaled: &Record, decided: &Record) -> bool {
    match (journaled, decided) {
        (Record::TurnEnded(old), Record::TurnEnded(new)) if old.malformed_calls.is_none() && old.usage.is_none() => {
            let mut new = new.clone();
            new.malformed_calls = None;
            new.usage = None;
            old == &new
        }
        _ => false,
    }
}

/// Whether `journaled` is `decided` written before handoff reasons and summaries were cut to
/// [`MAX_REASON_CHARS`] and [`MAX_SUMMARY_CHARS`]: such a journal replays as it did.
fn recorded_before_caps(journaled: &Record, decided: &Record) -> bool {
    let mut cut = journaled.clone();
    match &mut cut {
        Record::HandoffTaken { payload, .. } => {
            payload.reason = cap(&payload.reason, MAX_REASON_CHARS);
            payload.summary = payload.summary.as_deref().map(|summary| cap(summary, MAX_SUMMARY_CHARS));
        }
        Record::TicketOpened { reason, .. } => *reason = cap(reason, MAX_REASON_CHARS),
        Record::TurnEnded(outcome) => {
            for step in &mut outcome.handoffs {
                step.reason = cap(&step.reason, MAX_REASON_CHARS);
            }
        }
        _ => return false,
    }
    &cut != journaled && (&cut == decided || recorded_before_usage(&cut, decided))
}
