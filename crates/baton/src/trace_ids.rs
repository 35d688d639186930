//! A turn's trace id: the OpenTelemetry trace of turn N of a conversation has an id derived from
//! the conversation (its id and when it was created) and N, so a turn finished in another process
//! after a crash, or carried on after an approval, continues the same trace, and `baton trace`
//! can name it without the journal storing it.

use sha2::{Digest, Sha256};

/// The trace id of `turn` of the conversation `conversation` created at `created_ms`.
pub fn turn_trace_id(conversation: &str, created_ms: u64, turn: u32) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update(b"baton turn trace\0");
    hash.update(conversation.as_bytes());
    hash.update(b"\0");
    hash.update(created_ms.to_be_bytes());
    hash.update(turn.to_be_bytes());
    let digest = hash.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The trace id as OpenTelemetry writes it: 32 lowercase hex digits.
pub fn turn_trace_hex(conversation: &str, created_ms: u64, turn: u32) -> String {
    turn_trace_id(conversation, created_ms, turn).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_turn_of_each_conversation_has_its_own_stable_id() {
        let id = turn_trace_hex("c-1", 1_700_000_000_000, 1);
        assert_eq!(id.len(), 32);
        assert_eq!(id, turn_trace_hex("c-1", 1_700_000_000_000, 1));
        assert_ne!(id, turn_trace_hex("c-1", 1_700_000_000_000, 2));
        assert_ne!(id, turn_trace_hex("c-1", 1_700_000_000_001, 1), "a conversation made again with the same id");
        assert_ne!(id, turn_trace_hex("c-2", 1_700_000_000_000, 1));
    }
}
