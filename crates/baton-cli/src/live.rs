//! `--stream`: a turn printed while it happens. Reply text appears as the model writes it,
//! prefixed by the agent's name; changes of control, tool calls and results appear as they are
//! journaled.

use crate::paint;
use crate::stdout::{self, println};
use crate::transcript::Transcript;
use baton::core::{Input, JournalEntry, Record, TurnStatus};
use baton::store::StoredEntry;
use baton::Observer;
use std::sync::Mutex;

/// Prints a turn to stdout as it happens.
pub struct Live {
    state: Mutex<State>,
}

struct State {
    transcript: Transcript,
    /// The agent whose text the current line holds, if a line is open.
    speaking: Option<String>,
    /// Whether text was printed since the last model reply was journaled.
    streamed: bool,
    /// Whether the turn's last reply text was printed live, so the ending need not repeat it.
    answer_shown: bool,
}

impl Live {
    /// A printer; `echo_user` prints the user's message too.
    pub fn new(echo_user: bool) -> Self {
        Live {
            state: Mutex::new(State {
                transcript: Transcript::new(true).echo_user(echo_user),
                speaking: None,
                streamed: false,
                answer_shown: false,
            }),
        }
    }
}

impl Observer for Live {
    fn text(&self, agent: &str, delta: &str) {
        let Ok(mut state) = self.state.lock() else { return };
        let mut text = String::new();
        if state.speaking.as_deref() != Some(agent) {
            if state.speaking.is_some() {
                text.push('\n');
            }
            text.push_str(&format!("{}: ", paint::agent(agent)));
            state.speaking = Some(agent.to_string());
        }
        text.push_str(delta);
        stdout::write(&text);
        state.streamed = true;
    }

    fn journaled(&self, stored: &StoredEntry) {
        let entry = &stored.entry;
        let Ok(mut state) = self.state.lock() else { return };
        if let JournalEntry::Input(Input::ModelReplied { .. }) = entry {
            state.answer_shown = std::mem::take(&mut state.streamed);
        }
        let mut lines = state.transcript.lines(entry);
        if let JournalEntry::Record(Record::TurnEnded(outcome)) = entry {
            if outcome.status == TurnStatus::Answered && state.answer_shown {
                lines.clear();
            }
        }
        if lines.is_empty() {
            return;
        }
        let mut text = String::new();
        if state.speaking.take().is_some() {
            text.push('\n');
        }
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        stdout::write(&text);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.state.get_mut().is_ok_and(|state| state.speaking.is_some()) {
            println!();
        }
    }
}
