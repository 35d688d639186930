//! Warm conversations: the state a turn left, kept in this process, so that the next turn of the
//! same conversation here folds nothing at all.
//!
//! A kept state is used only while the journal still ends where it ended (one indexed read of
//! the journal's end, under the conversation's lease): if another process advanced the
//! conversation meanwhile, it is dropped and the conversation is folded from its snapshot. Only
//! states between turns are kept, and at most [`WARM_CONVERSATIONS`] of them, the least
//! recently kept going first.

use baton_core::{Conversation, JournalEntry};
use std::collections::HashMap;
use std::sync::Mutex;

/// How many conversations' states one runtime keeps.
pub const WARM_CONVERSATIONS: usize = 64;

/// A conversation's state between turns, and where its journal ended.
pub struct Warm {
    /// The position after the journal's last entry.
    pub next_seq: u64,
    /// The position its latest snapshot folds up to.
    pub snapshot_seq: u64,
    /// The journal's last entry.
    pub last: Option<JournalEntry>,
    /// The state.
    pub state: Conversation,
}

/// The states kept, each with when it was kept.
#[derive(Default)]
pub struct WarmStates {
    kept: Mutex<Kept>,
}

/// A clock that counts keepings, and each conversation's state with when it was kept.
#[derive(Default)]
struct Kept {
    clock: u64,
    states: HashMap<String, (u64, Warm)>,
}

impl WarmStates {
    /// Takes the state kept of `conversation`, if any.
    pub fn take(&self, conversation: &str) -> Option<Warm> {
        self.lock().states.remove(conversation).map(|(_, warm)| warm)
    }

    /// Keeps `warm` as `conversation`'s state, making room by dropping the least recently kept.
    pub fn keep(&self, conversation: &str, warm: Warm) {
        let mut kept = self.lock();
        let Kept { clock, states } = &mut *kept;
        *clock += 1;
        states.insert(conversation.to_string(), (*clock, warm));
        if states.len() > WARM_CONVERSATIONS {
            let oldest = states.iter().min_by_key(|(_, (at, _))| *at).map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                states.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
