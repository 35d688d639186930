//! The turns running in this process. A turn runs in a task of its own, so a client that hangs
//! up does not stop it halfway; one conversation's turns (and operator actions) run one at a
//! time in the order their requests arrived, while other conversations go on beside them. A
//! conversation another process is advancing is waited for, up to a limit.

use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::http::StatusCode;
use baton::store::StoreError;
use baton::RuntimeError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// The turns of this process.
pub struct Turns {
    queues: Arc<Mutex<HashMap<String, Queue>>>,
    running: Arc<Running>,
    metrics: Arc<Metrics>,
    busy_wait: Duration,
    stopping: watch::Receiver<bool>,
}

/// One conversation's line of waiting work: tickets are handed out in arrival order, and the
/// work holding ticket `serving` runs.
struct Queue {
    next: u64,
    serving: watch::Sender<u64>,
}

#[derive(Default)]
struct Running {
    count: AtomicUsize,
    idle: Notify,
}

impl Turns {
    /// Turns that wait up to `busy_wait` for a conversation another process is advancing; work
    /// that has not started when `stopping` turns true is not started at all.
    pub fn new(metrics: Arc<Metrics>, busy_wait: Duration, stopping: watch::Receiver<bool>) -> Turns {
        Turns { queues: Arc::default(), running: Arc::default(), metrics, busy_wait, stopping }
    }

    /// Runs `work` on `conversation` after the work that arrived before it, in a task of its own,
    /// trying it again while another process holds the conversation's lease.
    pub async fn run<T, F, Fut>(&self, conversation: &str, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, RuntimeError>> + Send,
    {
        self.run_waiting(conversation, self.busy_wait, work).await
    }

    /// Like [`Turns::run`], waiting up to `busy_wait` for another process's lease.
    pub async fn run_waiting<T, F, Fut>(
        &self,
        conversation: &str,
        busy_wait: Duration,
        mut work: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, RuntimeError>> + Send,
    {
        let (ticket, mut serving) = self.take_ticket(conversation);
        let place = Place { queues: self.queues.clone(), conversation: conversation.to_string() };
        let running = InFlight::enter(self.running.clone(), self.metrics.clone());
        let stopping = self.stopping.clone();
        let task = tokio::spawn(async move {
            let _running = running;
            let _place = place;
            let _ = serving.wait_for(|now| *now == ticket).await;
            let deadline = Instant::now() + busy_wait;
            loop {
                if *stopping.borrow() {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server_stopping",
                        "the server is stopping, and this had not started: nothing was done; send it again (to \
                         another server, or to this one once it is back)",
                    ));
                }
                match work().await {
                    Err(RuntimeError::Store(StoreError::Leased { expires_in_ms, .. })) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(expires_in_ms.clamp(20, 250))).await;
                    }
                    done => return done.map_err(ApiError::from),
                }
            }
        });
        match task.await {
            Ok(done) => done,
            Err(error) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the turn stopped unexpectedly ({error}); it resumes from the journal"),
            )),
        }
    }

    /// Whether work on `conversation` is running or waiting in this process.
    pub fn is_busy(&self, conversation: &str) -> bool {
        self.queues.lock().is_ok_and(|queues| queues.contains_key(conversation))
    }

    /// How many turns are running or waiting.
    pub fn in_flight(&self) -> usize {
        self.running.count.load(Ordering::SeqCst)
    }

    /// Waits until no turn runs.
    pub async fn drained(&self) {
        loop {
            let idle = self.running.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            idle.await;
        }
    }

    fn take_ticket(&self, conversation: &str) -> (u64, watch::Receiver<u64>) {
        let mut queues = self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let queue =
            queues.entry(conversation.to_string()).or_insert_with(|| Queue { next: 0, serving: watch::channel(0).0 });
        let ticket = queue.next;
        queue.next += 1;
        (ticket, queue.serving.subscribe())
    }
}

/// A place in a conversation's line; leaving it (done, failed or panicked) lets the next in.
struct Place {
    queues: Arc<Mutex<HashMap<String, Queue>>>,
    conversation: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut queues = self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(queue) = queues.get_mut(&self.conversation) else { return };
        let next = *queue.serving.borrow() + 1;
        if next == queue.next {
            queues.remove(&self.conversation);
        } else {
            queue.serving.send_replace(next);
        }
    }
}

/// Counts a turn as running while it lives.
struct InFlight {
    running: Arc<Running>,
    metrics: Arc<Metrics>,
}

impl InFlight {
    fn enter(running: Arc<Running>, metrics: Arc<Metrics>) -> InFlight {
        running.count.fetch_add(1, Ordering::SeqCst);
        metrics.turn_started();
        InFlight { running, metrics }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.turn_finished();
        if self.running.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.running.idle.notify_waiters();
        }
    }
}
