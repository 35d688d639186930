//! Waiting out another process's lease: work refused because another process holds the
//! conversation (it is advancing a turn, or crashed and its lease has not run out) is tried again
//! until it goes through or a bound is reached, and then fails saying who holds it and for how
//! long. A [`LeaseNotice`] hears the wait, for a front end to tell its user.

use crate::RuntimeError;
use baton_store::StoreError;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// The longest pause before asking again for a lease: a lease let go is noticed within it.
const RECHECK: Duration = Duration::from_millis(250);

/// How often a wait says it is still waiting.
const REMIND: Duration = Duration::from_secs(10);

/// Hears a wait for a lease; every method does nothing by default.
pub trait LeaseNotice: Send + Sync {
    /// The conversation is held by `holder`, whose lease runs `expires_in_ms` more unless
    /// renewed; the work waits up to `wait` for it.
    fn held(&self, conversation: &str, holder: &str, expires_in_ms: u64, wait: Duration) {
        let _ = (conversation, holder, expires_in_ms, wait);
    }

    /// Still waiting, `waited` of `wait` (said every 10 s).
    fn still_held(&self, conversation: &str, waited: Duration, wait: Duration) {
        let _ = (conversation, waited, wait);
    }

    /// The conversation was let go after a wait, and the work went through.
    fn free(&self, conversation: &str) {
        let _ = conversation;
    }
}

/// A notice that tells nobody.
pub struct Quiet;

impl LeaseNotice for Quiet {}

/// Why work on a conversation did not happen after a wait.
#[derive(Debug, thiserror::Error)]
pub enum Waited {
    /// Another process still held the conversation when the wait was over.
    #[error(transparent)]
    Busy(Busy),
    /// It failed otherwise.
    #[error(transparent)]
    Failed(RuntimeError),
}

/// Another process held the conversation past the wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// The conversation.
    pub conversation: String,
    /// Who holds it.
    pub holder: String,
    /// How long its lease runs unless renewed, in milliseconds.
    pub expires_in_ms: u64,
    /// How long the work waited for it (zero when it did not wait).
    pub waited: Duration,
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.expires_in_ms.div_ceil(1000);
        match self.waited.as_secs() {
            0 => write!(
                f,
                "conversation {} is held by another process ({}), whose lease runs {runs} s more unless renewed",
                self.conversation, self.holder
            ),
            waited => write!(
                f,
                "conversation {} is still held by another process ({}) after waiting {waited} s; its lease runs \
                 {runs} s more unless renewed",
                self.conversation, self.holder
            ),
        }
    }
}

impl std::error::Error for Busy {}

/// Runs `attempt` again while it is refused because another process holds `conversation`'s
/// lease, for up to `wait`, telling `notice`.
pub async fn wait_for_lease<T, F, Fut>(
    conversation: &str,
    wait: Duration,
    notice: &dyn LeaseNotice,
    mut attempt: F,
) -> Result<T, Waited>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RuntimeError>>,
{
    let started = Instant::now();
    let until = started.checked_add(wait).unwrap_or_else(|| started + Duration::from_secs(86_400 * 365));
    let mut reminded = started;
    let mut told = false;
    loop {
        let (holder, expires_in_ms) = match attempt().await {
            Err(RuntimeError::Store(StoreError::Leased { holder, expires_in_ms, .. })) => (holder, expires_in_ms),
            done => {
                if told && done.is_ok() {
                    notice.free(conversation);
                }
                return done.map_err(Waited::Failed);
            }
        };
        let now = Instant::now();
        if now >= until {
            let waited = if told { now.duration_since(started) } else { Duration::ZERO };
            return Err(Waited::Busy(Busy { conversation: conversation.to_string(), holder, expires_in_ms, waited }));
        }
        if !told {
            notice.held(conversation, &holder, expires_in_ms, wait);
            told = true;
        } else if now.duration_since(reminded) >= REMIND {
            notice.still_held(conversation, now.duration_since(started), wait);
            reminded = now;
        }
        let pause = RECHECK.min(Duration::from_millis(expires_in_ms.max(10))).min(until - now);
        tokio::time::sleep(pause).await;
    }
}
