//! Hears the turns this server runs: counts them in the metrics, wakes the conversation's event
//! streams, and passes a streaming request its turn's text and journal entries as they happen.

use crate::feed::Feed;
use crate::metrics::{Metrics, Tally};
use crate::state::AppState;
use baton::core::{JournalEntry, Record, TurnStatus};
use baton::store::StoredEntry;
use baton::{Observer, Runtime};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// What the metrics remember between this turn's entries.
    tally: Mutex<Tally>,
    /// The team's runtime, for its models' providers and prices.
    runtime: Option<Arc<Runtime>>,
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
            tally: Mutex::default(),
            runtime: state.service.team(team).ok(),
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
        self.metrics.journaled(
            &self.team,
            &stored.entry,
            &mut self.tally.lock().unwrap_or_else(PoisonError::into_inner),
        );
        // A turn waiting for approval ends again when it goes on, with its usage so far: it is
        // counted then, once.
        if let (JournalEntry::Record(Record::TurnEnded(outcome)), Some(runtime)) = (&stored.entry, &self.runtime) {
            if outcome.status != TurnStatus::AwaitingApproval {
                self.metrics.used(&self.team, &runtime.usage_of(outcome));
            }
        }
        self.feed.wake(&self.conversation);
        if let Some(listener) = &self.listener {
            let _ = listener.send(Heard::Entry(stored.clone()));
        }
    }

    fn model_called(&self, agent: &str, model: &str, elapsed: Duration, ok: bool) {
        let provider = self.runtime.as_ref().map_or("custom", |runtime| runtime.provider_of(model));
        self.metrics.model_called(&self.team, agent, model, provider, elapsed, ok);
    }

    fn appended(&self, elapsed: Duration) {
        self.metrics.appended(&self.team, elapsed);
    }

    fn resumed(&self, _turn: u32) {
        self.metrics.resumed(&self.team);
    }
}
