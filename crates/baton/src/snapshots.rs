//! Snapshots: how the runtime loads a long conversation without folding its whole journal.
//!
//! Every [`SNAPSHOT_EVERY`] journal entries, at the end of a turn, the runtime stores the
//! conversation's state ([`Conversation::snapshot`]) beside its journal, stamped with the team it
//! was folded under and a digest of the last entry it folds. Loading takes the latest snapshot
//! only if both stamps still hold (the same team, the same journal) and then folds the entries
//! after it, whose records must be what the restored state decides again, as replay checks every
//! record. A snapshot that fails any of these is passed over for the whole journal, which a
//! later snapshot then replaces: a snapshot can make loading faster, never different.

use baton_core::{Conversation, JournalEntry, RestoreError, Team};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt::{self, Write};
use std::sync::Arc;

/// How many journal entries at least lie between two snapshots of a conversation, unless
/// [`Runtime::with_snapshot_every`](crate::Runtime::with_snapshot_every) says.
pub const SNAPSHOT_EVERY: u64 = 256;

/// Why a stored snapshot is passed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Passed {
    /// It is not a stamped snapshot.
    Unreadable(String),
    /// It was taken under another team file.
    OtherTeam,
    /// It folds another journal than the conversation's.
    OtherJournal,
    /// Its state does not restore.
    State(RestoreError),
}

impl fmt::Display for Passed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Passed::Unreadable(why) => write!(f, "unreadable snapshot: {why}"),
            Passed::OtherTeam => f.write_str("the snapshot was taken under another team file"),
            Passed::OtherJournal => f.write_str("the snapshot folds another journal"),
            Passed::State(why) => why.fmt(f),
        }
    }
}

impl std::error::Error for Passed {}

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
) -> Result<Conversation, Passed> {
    let stamped: Stamped<'_> = serde_json::from_str(body).map_err(|e| Passed::Unreadable(e.to_string()))?;
    if stamped.team != team_digest {
        return Err(Passed::OtherTeam);
    }
    if stamped.last != entry_digest(last) {
        return Err(Passed::OtherJournal);
    }
    Conversation::restore(team, id, stamped.state.get()).map_err(Passed::State)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::Input;
    use std::path::Path;

    fn team() -> Arc<Team> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
        #[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
        Arc::new(crate::config::load_team(&path).unwrap().config.team)
    }

    #[test]
    fn a_snapshot_is_restored_only_under_its_team_and_after_its_last_entry() {
        let team = team();
        let digest = team_digest(&team);
        let last = JournalEntry::Input(Input::user("hello"));
        let state = Conversation::new(team.clone(), "c");
        let body = stamp(&state, &digest, &last).expect("a conversation between turns has a snapshot");
        assert_eq!(restore(team.clone(), &digest, "c", &body, &last).ok(), Some(state));
        assert_eq!(restore(team.clone(), "another", "c", &body, &last).err(), Some(Passed::OtherTeam));
        let other = JournalEntry::Input(Input::user("hello again"));
        assert_eq!(restore(team.clone(), &digest, "c", &body, &other).err(), Some(Passed::OtherJournal));
        assert!(matches!(restore(team.clone(), &digest, "c", "damaged", &last), Err(Passed::Unreadable(_))));
        let renamed = body.replace("\"active\":\"triage\"", "\"active\":\"nobody\"");
        let unknown = restore(team, &digest, "c", &renamed, &last).err();
        assert_eq!(unknown, Some(Passed::State(RestoreError::UnknownAgent("nobody".into()))));
    }
}
