//! The conversations this process is advancing, or taking the lease of, right now.
//!
//! A lease in this process's own name on any other conversation was left behind: its release
//! failed (a busy or unreachable journal), and no task of this process works under it. The
//! runtime breaks such a lease instead of waiting for it to run out, which a long-running
//! process (a server) would otherwise do on every conversation whose release failed.

use std::collections::BTreeMap;
use std::sync::Mutex;

static HELD: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// A conversation marked as held by this process until dropped.
pub struct HeldHere(String);

impl HeldHere {
    /// Marks `conversation` as held by this process (before its lease is taken, so that another
    /// task never takes the lease being taken for one left behind).
    pub fn mark(conversation: &str) -> HeldHere {
        *held().entry(conversation.to_string()).or_insert(0) += 1;
        HeldHere(conversation.to_string())
    }
}

impl Drop for HeldHere {
    fn drop(&mut self) {
        let mut held = held();
        if let Some(count) = held.get_mut(&self.0) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.0);
            }
        }
    }
}

/// Whether a task of this process other than the caller (whose own mark is counted) holds
/// `conversation` or is taking its lease.
pub fn held_by_another_task(conversation: &str) -> bool {
    held().get(conversation).is_some_and(|count| *count > 1)
}

fn held() -> std::sync::MutexGuard<'static, BTreeMap<String, usize>> {
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
