//! One lane per conversation: work on a conversation (a turn, an operator's action, a resumed
//! turn) runs in a task of its own, so a caller that goes away does not stop it halfway, and one
//! conversation's work runs one at a time in the order it arrived while other conversations go
//! on beside it. Work refused because another process holds the conversation waits for its
//! lease, up to a bound. Once the lanes stop, work that has not started is not started at all.

use super::lease_wait::{wait_for_lease, Quiet, Waited};
use super::ServiceError;
use crate::RuntimeError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// The conversations' lanes of one process; clones share them.
#[derive(Clone, Default)]
pub struct Lanes {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The lanes with work running or waiting, by conversation.
    lanes: Mutex<HashMap<String, Lane>>,
    /// How much work is running or waiting.
    count: AtomicUsize,
    /// Told when no work is left.
    idle: Notify,
    /// Whether work not yet started is refused.
    stopped: AtomicBool,
}

/// One conversation's line of waiting work: tickets are handed out in arrival order, and the
/// work holding ticket `serving` runs.
struct Lane {
    next: u64,
    serving: watch::Sender<u64>,
}

impl Lanes {
    /// Runs `work` on `conversation` after the work that arrived before it, in a task of its own,
    /// trying it again for up to `wait` while another process holds the conversation's lease.
    pub async fn run<T, F, Fut>(&self, conversation: &str, wait: Duration, mut work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, RuntimeError>> + Send,
    {
        let (ticket, mut serving) = self.take_ticket(conversation);
        let place = Place { shared: self.shared.clone(), conversation: conversation.to_string() };
        let conversation = conversation.to_string();
        // The work runs in the caller's span (a server's request, say), so what it logs is told
        // with the caller's fields.
        let task = tokio::spawn(
            async move {
                let place = place;
                let _ = serving.wait_for(|now| *now == ticket).await;
                // Checked before every attempt: work waiting out another process's lease when
                // the lanes stop is not started either.
                let shared = place.shared.clone();
                let attempt = move || {
                    let started = (!shared.stopped.load(Ordering::SeqCst)).then(&mut work);
                    async move {
                        match started {
                            Some(work) => work.await.map(Some),
                            None => Ok(None),
                        }
                    }
                };
                match wait_for_lease(&conversation, wait, &Quiet, attempt).await {
                    Ok(Some(done)) => Ok(done),
                    Ok(None) => Err(ServiceError::Stopping),
                    Err(Waited::Busy(busy)) => Err(ServiceError::Busy(busy)),
                    Err(Waited::Failed(error)) => Err(ServiceError::Runtime(error)),
                }
            }
            .instrument(tracing::Span::current()),
        );
        task.await.unwrap_or(Err(ServiceError::TaskFailed))
    }

    /// Whether work on `conversation` is running or waiting here.
    pub fn is_busy(&self, conversation: &str) -> bool {
        self.shared.lanes.lock().unwrap_or_else(PoisonError::into_inner).contains_key(conversation)
    }

    /// How much work is running or waiting.
    pub fn in_flight(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Refuses, from now on, work that has not started ([`ServiceError::Stopping`]); work running
    /// goes on.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
    }

    /// Whether [`Lanes::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }

    /// Waits until no work runs or waits.
    pub async fn drained(&self) {
        loop {
            let idle = self.shared.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            idle.await;
        }
    }

    fn take_ticket(&self, conversation: &str) -> (u64, watch::Receiver<u64>) {
        let mut lanes = self.shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let lane =
            lanes.entry(conversation.to_string()).or_insert_with(|| Lane { next: 0, serving: watch::channel(0).0 });
        let ticket = lane.next;
        lane.next += 1;
        self.shared.count.fetch_add(1, Ordering::SeqCst);
        (ticket, lane.serving.subscribe())
    }
}

/// A place in a conversation's lane; leaving it (done, failed or panicked) lets the next in.
struct Place {
    shared: Arc<Shared>,
    conversation: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        {
            let mut lanes = self.shared.lanes.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(lane) = lanes.get_mut(&self.conversation) {
                let next = *lane.serving.borrow() + 1;
                if next == lane.next {
                    lanes.remove(&self.conversation);
                } else {
                    lane.serving.send_replace(next);
                }
            }
        }
        if self.shared.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.idle.notify_waiters();
        }
    }
}
