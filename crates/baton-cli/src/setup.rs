//! What `run`, `chat` and `eval` do before their first turn: load the team file (printing its
//! warnings), open the journal, start the async runtime. A failure is printed and becomes the
//! command's exit code, so the commands can use `?`.

use crate::Exit;
use baton::config::{load_team, TeamConfig};
use baton::store::{MemoryStore, StoreError};
use baton::{assemble, Runtime, RuntimeError};
use std::path::Path;
use std::sync::Arc;

/// The team file at `path`, its warnings printed.
pub fn team(path: &Path) -> Result<TeamConfig, Exit> {
    let loaded = load_team(path).map_err(|error| {
        eprintln!("{error}");
        Exit::Usage
    })?;
    for warning in &loaded.warnings {
        eprintln!("{warning}\n");
    }
    Ok(loaded.config)
}

/// A runtime journaling to the SQLite file `db`.
pub fn sqlite_runtime(config: &TeamConfig, db: &Path) -> Result<Runtime, Exit> {
    assemble::sqlite_runtime(config, db).map_err(assembly_failed)
}

/// A runtime journaling in memory.
pub fn memory_runtime(config: &TeamConfig) -> Result<Runtime, Exit> {
    assemble::runtime(config, Arc::new(MemoryStore::new())).map_err(assembly_failed)
}

fn assembly_failed(error: assemble::AssembleError) -> Exit {
    eprintln!("error: {error}");
    Exit::Usage
}

/// Whether a turn could not run because of what the user asked for (an unknown or malformed
/// conversation id, another team's conversation, a journal this team does not replay): exit 2.
pub fn is_usage_error(error: &RuntimeError) -> bool {
    matches!(
        error,
        RuntimeError::Store(StoreError::UnknownConversation(_))
            | RuntimeError::WrongTeam { .. }
            | RuntimeError::BadId(_)
            | RuntimeError::Replay { .. }
    )
}

/// The single-threaded async runtime the turns run on.
pub fn tokio() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|error| {
        eprintln!("error: cannot start the async runtime: {error}");
        Exit::Failed
    })
}
