//! Hears the turns this server runs: counts them in the metrics, wakes the conversation's event
//! streams, and passes a streaming request its turn's text and journal entries as they happen.

use crate::feed::Feed;
use crate::metrics::Metrics;
use crate::state::AppState;
use baton::store::StoredEntry;
use baton::Observer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What a streaming request hears of its turn.
#[derive(Debug)]
pub enum Heard {
    /// A piece of an agent's reply text.
    Text {
        /// The agent speaking.
        agent: String,
        /// The piece.
        delta: String,
    },
    /// A journal entry was written.
    Entry(StoredEntry),
}

/// The observer of one conversation's turns.
pub struct TurnObserver {
    team: String,
    conversation: String,
    metrics: Arc<Metrics>,
    feed: Feed,
    listener: Option<UnboundedSender<Heard>>,
}

impl TurnObserver {
    /// An observer for a turn of `conversation` in `team`, passing what it hears to `listener`.
    pub fn new(
        state: &AppState,
        team: &str,
        conversation: &str,
        listener: Option<UnboundedSender<Heard>>,
    ) -> Arc<TurnObserver> {
        Arc::new(TurnObserver {
            team: team.to_string(),
            conversation: conversation.to_string(),
            metrics: state.metrics.clone(),
            feed: state.feed.clone(),
            listener,
        })
    }
}

impl Observer for TurnObserver {
    fn text(&self, agent: &str, delta: &str) {
        if let Some(listener) = &self.listener {
            let _ = listener.send(Heard::Text { agent: agent.to_string(), delta: delta.to_string() });
        }
    }

    fn journaled(&self, stored: &StoredEntry) {
        self.metrics.journaled(&self.team, &stored.entry);
        self.feed.wake(&self.conversation);
        if let Some(listener) = &self.listener {
            let _ = listener.send(Heard::Entry(stored.clone()));
        }
    }

    fn model_called(&self, agent: &str, model: &str, elapsed: Duration, ok: bool) {
        self.metrics.model_called(&self.team, agent, model, elapsed, ok);
    }
}
