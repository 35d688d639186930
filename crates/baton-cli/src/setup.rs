//! What the commands do before their first turn: load the team file (printing its warnings),
//! start the async runtime, open the journal (`--db`: a SQLite file, a Postgres URL or
//! `memory`). A failure is printed and becomes the command's exit code, so the commands can use
//! `?`.

use crate::Exit;
use baton::config::{load_team, TeamConfig};
use baton::store::{open, Durability, Store, StoreError, StoreLocation};
use baton::{assemble, Runtime, RuntimeError};
use clap::Args;
use std::path::Path;
use std::sync::Arc;

/// The default SQLite journal.
pub const DEFAULT_DB: &str = ".baton/baton.db";

/// Where the journal is: the `--db` option every journaling command shares.
#[derive(Args, Clone, Debug)]
pub struct Db {
    /// The journal: a SQLite file, a Postgres URL (postgres://USER@HOST:PORT/DATABASE) or memory.
    #[arg(long = "db", env = "BATON_DB", value_name = "PATH|URL", default_value = DEFAULT_DB)]
    pub location: String,
}

impl Db {
    /// The journal's location.
    pub fn location(&self) -> StoreLocation {
        StoreLocation::parse(&self.location)
    }

    /// ` --db …` to repeat in a suggested command, or nothing for the default.
    pub fn flag(&self) -> String {
        match self.location.as_str() {
            DEFAULT_DB => String::new(),
            other => format!(" --db {other}"),
        }
    }
}

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

/// A runtime for `config` journaling at `db`.
pub fn runtime(config: &TeamConfig, db: &StoreLocation, tokio: &tokio::runtime::Runtime) -> Result<Runtime, Exit> {
    tokio.block_on(assemble::open_runtime(config, db)).map_err(|error| {
        eprintln!("error: {error}");
        Exit::Usage
    })
}

/// The async runtime and the existing journal at `db`, for commands that read or finish what was
/// run before: a SQLite file that is not there is an error, not a new empty journal.
pub fn existing_journal(db: &Db) -> Result<(tokio::runtime::Runtime, Arc<dyn Store>), Exit> {
    let tokio = tokio()?;
    let store = existing_store(&db.location(), &tokio)?;
    Ok((tokio, store))
}

fn existing_store(db: &StoreLocation, tokio: &tokio::runtime::Runtime) -> Result<Arc<dyn Store>, Exit> {
    match db {
        StoreLocation::Sqlite(path) if !path.exists() => {
            eprintln!("error: no journal at {} (pass the --db the conversations were run with)", path.display());
            return Err(Exit::Usage);
        }
        StoreLocation::Memory => {
            eprintln!("error: an in-memory journal is gone with the process that wrote it: pass a file or a URL");
            return Err(Exit::Usage);
        }
        _ => {}
    }
    tokio.block_on(open(db, Durability::Full)).map_err(|error| {
        eprintln!("error: {error}");
        Exit::Failed
    })
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
