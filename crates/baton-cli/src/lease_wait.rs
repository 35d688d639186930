//! `--wait SECONDS` on `run`, `chat` and `resume`: a conversation another process holds (it is
//! advancing a turn, or crashed on another machine and its lease has not run out yet) is waited
//! for, up to a bound, with a line on stderr saying so, then the command goes on; past the bound
//! it gives up with a message saying who holds it and for how long, and exit code 3. The wait
//! itself is the library's ([`baton::service::wait_for_lease`]); what it says is here.

use anstream::eprintln;
use baton::service::{wait_for_lease, LeaseNotice};
use baton::RuntimeError;
use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long `run`, `chat` (per message) and `resume` (per conversation) wait by default: twice
/// the default lease, so a lease whose holder died on another machine runs out within it.
pub const DEFAULT_WAIT_SECONDS: u64 = 60;

/// The bound of one command's waits for leases; its clock starts when it is made.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    started: Instant,
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

/// Another process held the conversation past the command's wait of `seconds`.
#[derive(Debug)]
pub struct Busy {
    busy: baton::service::Busy,
    seconds: u64,
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let baton::service::Busy { conversation, holder, expires_in_ms, waited } = &self.busy;
        let runs = expires_in_ms.div_ceil(1000);
        match waited.is_zero() {
            true => write!(
                f,
                "conversation {conversation} is held by another process ({holder}), whose lease runs {runs} s more \
                 unless renewed: try again then, or pass --wait SECONDS to wait for it"
            ),
            false => write!(
                f,
                "conversation {conversation} is still held by another process ({holder}) after waiting {} s; its \
                 lease runs {runs} s more unless renewed: try again later, or wait longer with --wait SECONDS",
                self.seconds
            ),
        }
    }
}

/// Says on stderr that a command waits (up to its `--wait` of `seconds`), and when it goes on.
struct Stderr {
    seconds: u64,
}

impl LeaseNotice for Stderr {
    fn held(&self, conversation: &str, holder: &str, expires_in_ms: u64, _wait: Duration) {
        eprintln!(
            "conversation {conversation} is held by another process ({holder}), whose lease runs {} s more unless \
             renewed: waiting up to {} s for it (--wait)",
            expires_in_ms.div_ceil(1000),
            self.seconds
        );
    }

    fn still_held(&self, conversation: &str, waited: Duration, _wait: Duration) {
        eprintln!("still waiting for conversation {conversation} ({} s of {} s)", waited.as_secs(), self.seconds);
    }

    fn free(&self, conversation: &str) {
        eprintln!("conversation {conversation} is free now: going on");
    }
}

impl Wait {
    /// A wait of up to `seconds` from now.
    pub fn new(seconds: u64) -> Wait {
        Wait { started: Instant::now(), seconds }
    }

    /// Runs `attempt` again while it is refused because another process holds `conversation`'s
    /// lease, until the wait is over; says on stderr that it waits, and when it goes on.
    pub async fn run<T, F, Fut>(self, conversation: &str, attempt: F) -> Result<T, Waited>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RuntimeError>>,
    {
        let left = Duration::from_secs(self.seconds).saturating_sub(self.started.elapsed());
        let notice = Stderr { seconds: self.seconds };
        wait_for_lease(conversation, left, &notice, attempt).await.map_err(|waited| match waited {
            baton::service::Waited::Busy(busy) => Waited::Busy(Busy { busy, seconds: self.seconds }),
            baton::service::Waited::Failed(error) => Waited::Failed(error),
        })
    }
}
