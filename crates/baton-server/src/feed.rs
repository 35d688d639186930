//! Wake-ups for event streams. A stream watches one conversation and sleeps until it is woken:
//! at once when this process journals to the conversation, and by one poller for the whole
//! server when another process sharing the journal does. The poller reads where every watched
//! journal ends in one query a second, however many streams there are, so streams cost the
//! journal nothing while nothing happens.

use baton::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The conversations watched by event streams, each with a counter that goes up on a wake-up.
#[derive(Clone, Default)]
pub struct Feed {
    watched: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

impl Feed {
    /// Something was journaled to `conversation`: its streams read the journal again.
    pub fn wake(&self, conversation: &str) {
        if let Some(sender) = self.lock().get(conversation) {
            sender.send_modify(|wakeups| *wakeups += 1);
        }
    }

    /// Watches `conversation` until the watch is dropped.
    pub fn watch(&self, conversation: &str) -> Watch {
        let mut watched = self.lock();
        let sender = watched.entry(conversation.to_string()).or_insert_with(|| watch::channel(0).0);
        Watch { feed: self.clone(), conversation: conversation.to_string(), receiver: Some(sender.subscribe()) }
    }

    /// How many conversations are watched.
    #[cfg(test)]
    fn watched(&self) -> usize {
        self.lock().len()
    }

    /// Wakes the streams of conversations whose journal another process (or this one) has
    /// written to, reading where the watched journals end every `interval`, until `stopping`.
    pub async fn poll(self, store: Arc<dyn Store>, interval: Duration, mut stopping: watch::Receiver<bool>) {
        let mut seen: HashMap<String, u64> = HashMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stopping.wait_for(|stopping| *stopping) => return,
            }
            let conversations: Vec<String> = self.lock().keys().cloned().collect();
            if conversations.is_empty() {
                seen.clear();
                continue;
            }
            let Ok(ends) = store.journal_ends(&conversations).await else { continue };
            for (conversation, end) in &ends {
                if seen.get(conversation) != Some(end) {
                    self.wake(conversation);
                }
            }
            seen = ends;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        self.watched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One stream's watch on a conversation; the conversation is no longer watched once its last
/// watch is dropped.
pub struct Watch {
    feed: Feed,
    conversation: String,
    receiver: Option<watch::Receiver<u64>>,
}

impl Watch {
    /// Counts what was journaled so far as seen: call before reading the journal, so that a
    /// wake-up during the read is not missed.
    pub fn mark_seen(&mut self) {
        if let Some(receiver) = &mut self.receiver {
            receiver.mark_unchanged();
        }
    }

    /// Waits for a wake-up after the last [`Watch::mark_seen`].
    pub async fn woken(&mut self) {
        let changed = match &mut self.receiver {
            Some(receiver) => receiver.changed().await.is_ok(),
            None => false,
        };
        if !changed {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut watched = self.feed.lock();
        if watched.get(&self.conversation).is_some_and(|sender| sender.receiver_count() == 0) {
            watched.remove(&self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_up_reaches_only_the_conversations_streams_and_the_last_watch_unwatches() {
        let feed = Feed::default();
        let mut first = feed.watch("a");
        let mut second = feed.watch("a");
        let mut other = feed.watch("b");
        assert_eq!(feed.watched(), 2);
        feed.wake("a");
        tokio::time::timeout(Duration::from_secs(5), first.woken()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), second.woken()).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(50), other.woken()).await.is_err());
        // A wake-up before mark_seen is kept for the next wait; after it, it is not.
        feed.wake("b");
        tokio::time::timeout(Duration::from_secs(5), other.woken()).await.unwrap();
        feed.wake("b");
        other.mark_seen();
        assert!(tokio::time::timeout(Duration::from_millis(50), other.woken()).await.is_err());
        drop(first);
        assert_eq!(feed.watched(), 2);
        drop(second);
        drop(other);
        assert_eq!(feed.watched(), 0);
    }
}
