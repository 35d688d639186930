//! Snapshots: how the runtime loads a long conversation without folding its whole journal.
//!
//! Every [`SNAPSHOT_EVERY`] journal entries, at the end of a turn, the runtime stores the
//! conversation's state ([`Conversation::snapshot`]) beside its journal, stamped with the team it
//! was folded under and a digest of the last entry it folds. Loading takes the latest snapshot
//! only if both stamps still hold (the same team, the same journal) and then folds the entries
//! after it, whose records must be what the restored state decides again, as replay checks every
//! record. A snapshot that fails any of these is passed over for the whole journal, which a
//! later snapshot then replaces: a snapshot can make loading faster, never different.

use baton_core::{Conversation, JournalEntry, Team};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::sync::Arc;

/// How many journal entries at least lie between two snapshots of a conversation, unless
/// [`Runtime::with_snapshot_every`](crate::Runtime::with_snapshot_every) says.
pub const SNAPSHOT_EVERY: u64 = 256;

/// A stored snapshot: the state and what it may be used with.
#[derive(Serialize, Deserialize)]
struct Stamped<'a> {
    /// The digest of the team it was folded under.
    team: &'a str,
    /// The digest of the last journal entry it folds.
    last: &'a str,
    /// The state, as [`Conversation::snapshot`] wrote it.
    #[serde(borrow)]
    state: &'a RawValue,
}

/// The digest of `team`: conversations of a team whose file changed are folded from the start.
pub fn team_digest(team: &Team) -> String {
    hex(&Sha256::digest(serde_json::to_vec(team).unwrap_or_default()))
}

/// The digest of a journal entry, as a snapshot's stamp holds it.
fn entry_digest(entry: &JournalEntry) -> String {
    hex(&Sha256::digest(serde_json::to_vec(entry).unwrap_or_default()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// The snapshot to store of `state`, whose last journal entry is `last`, under the team of
/// digest `team`; `None` while a turn is in progress.
pub fn stamp(state: &Conversation, team: &str, last: &JournalEntry) -> Option<String> {
    let written = state.snapshot()?;
    let state = RawValue::from_string(written).ok()?;
    serde_json::to_string(&Stamped { team, last: &entry_digest(last), state: &state }).ok()
}

/// The conversation a stored snapshot holds, if it was folded under the team of digest
/// `team_digest` and its last entry is `last`.
pub fn restore(
    team: Arc<Team>,
    team_digest: &str,
    id: &str,
    body: &str,
    last: &JournalEntry,
) -> Result<Conversation, String> {
    let stamped: Stamped<'_> = serde_json::from_str(body).map_err(|e| format!("unreadable snapshot: {e}"))?;
    if stamped.team != team_digest {
        return Err("the snapshot was taken under another team file".into());
    }
    if stamped.last != entry_digest(last) {
        return Err("the snapshot folds another journal".into());
    }
    Conversation::restore(team, id, stamped.state.get())
}
