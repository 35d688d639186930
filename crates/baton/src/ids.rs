//! Conversation ids: short, unique, and sortable by creation time.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A new id such as `c-0193a5f2c1d4-7f3a9c`: creation time in milliseconds, then 24 bits that
/// start at a random place in each process and count up, so ids made by one process never
/// collide (random bits alone did, now and then, among a thousand ids made in one millisecond).
pub fn new_conversation_id() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    });
    let bits = seed.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed)) & 0xff_ffff;
    format!("c-{:012x}-{bits:06x}", crate::runtime::now_ms())
}

/// Why `id` cannot name a conversation, if it cannot: ids are chosen by clients, so they are
/// checked before they reach the journal.
/// `@` is allowed so that every API key name (which may hold one) can begin an id: a client
/// key's ids start with its name and `:`.
/// An id does not start with `.`, so that `.` and `..` (which paths and logs read as
/// directories) are not ids; a refused id is quoted by its first 40 characters only.
pub fn check_conversation_id(id: &str) -> Result<(), BadConversationId> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    if id.is_empty() || id.len() > 128 || !id.chars().all(allowed) || id.starts_with('.') {
        let shown: String = id.chars().take(40).collect();
        let shown = if shown.len() < id.len() { format!("{shown}…") } else { shown };
        return Err(BadConversationId { shown });
    }
    Ok(())
}

/// A conversation id that [`check_conversation_id`] refuses; it shows the id's first 40
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{shown}' is not a usable conversation id: use 1 to 128 letters, digits, '-', '_', '.', ':' or '@', not \
     starting with '.'"
)]
pub struct BadConversationId {
    shown: String,
}

impl BadConversationId {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        "bad_conversation_id"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique() {
        let ids: std::collections::BTreeSet<String> = (0..100_000).map(|_| super::new_conversation_id()).collect();
        assert_eq!(ids.len(), 100_000);
    }

    #[test]
    fn client_ids_are_checked() {
        for good in ["ticket-4711", "user:42.chat_1", "ci@corp.example:7", &super::new_conversation_id()] {
            assert_eq!(super::check_conversation_id(good), Ok(()), "{good}");
        }
        for bad in ["", "a b", "../etc", &"x".repeat(129), "ñ", ".", "..", ".hidden"] {
            assert!(super::check_conversation_id(bad).is_err(), "{bad}");
        }
        let refused = super::check_conversation_id(&"y".repeat(10_000)).unwrap_err();
        let refused = refused.to_string();
        assert!(refused.len() < 200, "a long id is not echoed whole: {} bytes", refused.len());
        assert!(refused.starts_with("'yyyy"), "{refused}");
    }
}
