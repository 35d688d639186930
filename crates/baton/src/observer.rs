//! Watching a turn while it runs: its reply text as models stream it, and each journal entry as
//! it is written, and how long each model call took. The CLI's `--stream` prints from here; the
//! server streams events and counts its metrics from here.

use baton_models::Listener;
use baton_store::StoredEntry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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
    fn journaled(&self, stored: &StoredEntry) {
        let _ = stored;
    }

    /// `agent`'s call to `model` ended after `elapsed`: with a reply, or failed (`ok` false).
    fn model_called(&self, agent: &str, model: &str, elapsed: Duration, ok: bool) {
        let _ = (agent, model, elapsed, ok);
    }

    /// A journal append took `elapsed`.
    fn appended(&self, elapsed: Duration) {
        let _ = elapsed;
    }

    /// Turn `turn` was taken up again: the process advancing it stopped before it ended (a
    /// crash, a lost lease), and this one finishes it.
    fn resumed(&self, turn: u32) {
        let _ = turn;
    }
}

/// An observer that hears nothing.
pub struct Unobserved;

impl Observer for Unobserved {}

/// Passes one model call's text pieces on to an observer, remembering whether any arrived.
/// Whitespace before the first visible character is held back: models often send a blank line
/// before a tool call, which is no text for the user.
pub(crate) struct AgentText<'a> {
    observer: &'a dyn Observer,
    agent: &'a str,
    heard: AtomicBool,
    leading: Mutex<String>,
}

impl Listener for AgentText<'_> {
    fn text(&self, delta: &str) {
        if !self.heard.load(Ordering::Relaxed) {
            let Ok(mut leading) = self.leading.lock() else { return };
            leading.push_str(delta);
            if leading.trim().is_empty() {
                return;
            }
            self.heard.store(true, Ordering::Relaxed);
            let first = std::mem::take(&mut *leading);
            self.observer.text(self.agent, first.trim_start());
            return;
        }
        self.observer.text(self.agent, delta);
    }
}

impl<'a> AgentText<'a> {
    /// A listener passing `agent`'s text to `observer`.
    pub(crate) fn new(observer: &'a dyn Observer, agent: &'a str) -> Self {
        AgentText { observer, agent, heard: AtomicBool::new(false), leading: Mutex::new(String::new()) }
    }

    /// Whether any text arrived.
    pub(crate) fn heard(&self) -> bool {
        self.heard.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    impl Observer for Recorded {
        fn text(&self, agent: &str, delta: &str) {
            self.0.lock().unwrap().push(format!("{agent}:{delta}"));
        }
    }

    #[test]
    fn leading_whitespace_is_held_until_text_arrives() {
        let recorded = Recorded::default();
        let blank = AgentText::new(&recorded, "a");
        blank.text("\n");
        blank.text(" \n");
        assert!(!blank.heard() && recorded.0.lock().unwrap().is_empty(), "a blank line before a tool call is not text");

        let speaking = AgentText::new(&recorded, "b");
        for delta in ["\n", "  Hel", "lo\n", "there"] {
            speaking.text(delta);
        }
        assert!(speaking.heard());
        assert_eq!(*recorded.0.lock().unwrap(), ["b:Hel", "b:lo\n", "b:there"]);
    }
}
