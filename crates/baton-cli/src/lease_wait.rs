//! `--wait SECONDS` on `run`, `chat` and `resume`: a conversation another process holds (it is
//! advancing a turn, or crashed on another machine and its lease has not run out yet) is waited
//! for, up to a bound, with a line on stderr saying so, then the command goes on; past the bound
//! it gives up with a message saying who holds it and for how long, and exit code 3.

use anstream::eprintln;
use baton::store::StoreError;
use baton::RuntimeError;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long `run`, `chat` (per message) and `resume` (per conversation) wait by default: twice
/// the default lease, so a lease whose holder died on another machine runs out within it.
pub const DEFAULT_WAIT_SECONDS: u64 = 60;

/// The longest pause before asking again for a lease: a lease let go is noticed within it.
const RECHECK: Duration = Duration::from_millis(250);

/// How often a wait says it is still waiting.
const REMIND: Duration = Duration::from_secs(10);

/// The bound of one command's waits for leases; its clock starts when it is made.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    until: Instant,
    seconds: u64,
}

/// Why work on a conversation did not happen.
#[derive(Debug)]
pub enum Waited {
    /// Another process still held the conversation when the wait was over.
    Busy(Busy),
    /// It failed otherwise.
    Failed(RuntimeError),
}

/// Another process held the conversation past the wait.
#[derive(Debug)]
pub struct Busy {
    conversation: String,
    holder: String,
    expires_in_ms: u64,
    waited: u64,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs = self.expires_in_ms.div_ceil(1000);
        match self.waited {
            0 => write!(
                f,
                "conversation {} is held by another process ({}), whose lease runs {runs} s more unless renewed: \
                 try again then, or pass --wait SECONDS to wait for it",
                self.conversation, self.holder
            ),
            waited => write!(
                f,
                "conversation {} is still held by another process ({}) after waiting {waited} s; its lease runs \
                 {runs} s more unless renewed: try again later, or wait longer with --wait SECONDS",
                self.conversation, self.holder
            ),
        }
    }
}

impl Wait {
    /// A wait of up to `seconds` from now.
    pub fn new(seconds: u64) -> Wait {
        let until = Instant::now().checked_add(Duration::from_secs(seconds)).unwrap_or_else(far_future);
        Wait { until, seconds }
    }

    /// Runs `attempt` again while it is refused because another process holds `conversation`'s
    /// lease, until the wait is over; says on stderr that it waits, and when it goes on.
    pub async fn run<T, F, Fut>(self, conversation: &str, mut attempt: F) -> Result<T, Waited>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RuntimeError>>,
    {
        let started = Instant::now();
        let mut reminded = started;
        let mut told = false;
        loop {
            let (holder, expires_in_ms) = match attempt().await {
                Err(RuntimeError::Store(StoreError::Leased { holder, expires_in_ms, .. })) => (holder, expires_in_ms),
                done => {
                    if told && done.is_ok() {
                        eprintln!("conversation {conversation} is free now: going on");
                    }
                    return done.map_err(Waited::Failed);
                }
            };
            let now = Instant::now();
            if now >= self.until {
                let waited = if told { self.seconds } else { 0 };
                return Err(Waited::Busy(Busy {
                    conversation: conversation.to_string(),
                    holder,
                    expires_in_ms,
                    waited,
                }));
            }
            if !told {
                eprintln!(
                    "conversation {conversation} is held by another process ({holder}), whose lease runs {} s more \
                     unless renewed: waiting up to {} s for it (--wait)",
                    expires_in_ms.div_ceil(1000),
                    self.seconds
                );
                told = true;
            } else if now.duration_since(reminded) >= REMIND {
                eprintln!(
                    "still waiting for conversation {conversation} ({} s of {} s)",
                    now.duration_since(started).as_secs(),
                    self.seconds
                );
                reminded = now;
            }
            let pause = RECHECK.min(Duration::from_millis(expires_in_ms.max(10))).min(self.until - now);
            tokio::time::sleep(pause).await;
        }
    }
}

/// An instant no wait reaches (for a bound too large for the clock).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
