//! Watching a turn while it runs: its reply text as models stream it, and each journal entry as
//! it is written. The CLI's `--stream` prints from here; the server will stream events from here.

use baton_core::JournalEntry;
use baton_models::Listener;
use std::sync::atomic::{AtomicBool, Ordering};

/// Hears a turn as it happens. Both methods are called from the task running the turn, in the
/// order things happen; they should return quickly.
pub trait Observer: Send + Sync {
    /// The next piece of `agent`'s reply text. A model that streams gives it piece by piece;
    /// one that does not gives its whole text once it has answered. The router's text is not
    /// reported.
    fn text(&self, agent: &str, delta: &str) {
        let _ = (agent, delta);
    }

    /// An entry was written to the journal.
    fn journaled(&self, entry: &JournalEntry) {
        let _ = entry;
    }
}

/// An observer that hears nothing.
pub struct Unobserved;

impl Observer for Unobserved {}

/// Passes one model call's text pieces on to an observer, remembering whether any arrived.
pub(crate) struct AgentText<'a> {
    pub(crate) observer: &'a dyn Observer,
    pub(crate) agent: &'a str,
    pub(crate) heard: AtomicBool,
}

impl Listener for AgentText<'_> {
    fn text(&self, delta: &str) {
        self.heard.store(true, Ordering::Relaxed);
        self.observer.text(self.agent, delta);
    }
}

impl AgentText<'_> {
    /// Whether any text arrived.
    pub(crate) fn heard(&self) -> bool {
        self.heard.load(Ordering::Relaxed)
    }
}
