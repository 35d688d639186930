//! Leases: the right to advance one conversation, held by one process at a time.
//!
//! A lease has an epoch that grows with every acquisition. The store checks the epoch in the
//! same transaction as every append (a fencing token), so when a lease expires and another
//! process takes the conversation over, the old holder's next write is rejected however late it
//! comes. A lease whose holder is a process of this machine that no longer exists (it crashed,
//! or was killed) can be broken at once instead of waited out.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A held lease on one conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The conversation.
    pub conversation: String,
    /// Who holds it (see [`holder_id`]).
    pub holder: String,
    /// The fencing token: greater than every earlier lease's on this conversation.
    pub epoch: u64,
    /// How long it runs after each renewal unless renewed again.
    pub ttl: Duration,
}

/// This process's name as a lease holder: `machine:pid:start`, so a restarted process never
/// passes for its predecessor. The machine part is the host name, and on Linux also the boot id
/// and the pid namespace, so that two containers sharing a host name are told apart.
pub fn holder_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let host = if host.is_empty() { "localhost".to_string() } else { host };
        let machine = match process_space() {
            Some(space) => format!("{host}/{space}"),
            None => host,
        };
        format!("{}:{}:{}", machine.replace(':', "_"), std::process::id(), now_ms())
    })
}

/// Where process ids mean the same: this boot of this machine and this pid namespace; `None`
/// where that cannot be told.
fn process_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let namespace = namespace.to_string_lossy().chars().filter(char::is_ascii_digit).collect::<String>();
    Some(format!("{}/{namespace}", boot.trim()))
}

/// Whether `holder` (a [`holder_id`]) names a process of this machine that has ended, so its
/// lease can be broken without waiting. Only answers yes where it can tell (Linux's `/proc`).
pub fn holder_is_gone(holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, ':');
    let (Some(_started), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some(this_host) = holder_id().rsplitn(3, ':').nth(2) else { return false };
    // Only where pids are known to mean the same: same machine, same boot, same pid namespace.
    process_space().is_some()
        && host == this_host
        && pid.parse::<u32>().is_ok_and(|pid| pid != std::process::id())
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid).exists()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
