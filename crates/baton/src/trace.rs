//! A conversation's journal as JSON: one object per entry, as `baton trace --json` prints them
//! and the server's trace and event stream carry them.

use baton_core::JournalEntry;
use baton_store::StoredEntry;
use serde_json::{json, Value};

/// One journal entry: `{"seq", "at_ms", "epoch", "kind", "data"}` where data is the entry itself.
pub fn entry_json(stored: &StoredEntry) -> Value {
    let data = match &stored.entry {
        JournalEntry::Input(input) => serde_json::to_value(input),
        JournalEntry::Record(record) => serde_json::to_value(record),
    };
    json!({
        "seq": stored.seq,
        "at_ms": stored.at_ms,
        "epoch": stored.epoch,
        "kind": stored.entry.kind(),
        "data": data.unwrap_or_default(),
    })
}
