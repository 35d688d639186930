//! Conversation ids: short, unique, and sortable by creation time.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A new id such as `c-0193a5f2c1d4-7f3a9c`: creation time in milliseconds, then random bits.
pub fn new_conversation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("c-{:012x}-{:06x}", crate::runtime::now_ms(), hasher.finish() & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique() {
        let ids: std::collections::BTreeSet<String> = (0..1000).map(|_| super::new_conversation_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
