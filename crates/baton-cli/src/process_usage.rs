//! What this process has used so far: CPU time (user and system, all threads) and its peak
//! resident memory, as `getrusage(RUSAGE_SELF)` reports them.

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeValLike;
use std::time::Duration;

/// A reading of the process's resource usage.
#[derive(Clone, Copy, Debug)]
pub struct ProcessUsage {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// The largest resident set size so far, in KiB.
    pub max_rss_kib: u64,
}

impl ProcessUsage {
    /// The usage now, or what went wrong reading it.
    pub fn now() -> Result<Self, String> {
        let usage = getrusage(UsageWho::RUSAGE_SELF).map_err(|error| format!("getrusage failed: {error}"))?;
        let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
        Ok(ProcessUsage {
            cpu: Duration::from_micros(u64::try_from(micros).unwrap_or(0)),
            max_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0),
        })
    }
}
