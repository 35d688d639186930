//! What the commands do before their first turn: load the team file (printing its warnings),
//! start the async runtime, open the journal (`--db`, read by [`crate::db`]). A failure is
//! printed and becomes the command's exit code, so the commands can use `?`: 2 for the team file
//! or a `--db` naming no journal, 1 for a journal that cannot be opened (unreachable, damaged,
//! no baton journal, written by a newer baton). Commands that only read open it read-only.

use crate::db::Db;
use crate::paint::{self, print_error};
use crate::Exit;
use baton::config::{load_team, TeamConfig};
use baton::store::{open, open_read_only, Durability, Store, StoreError, StoreLocation};
use baton::{assemble, Runtime, RuntimeError, Service, ServiceError};
use std::path::Path;
use std::sync::Arc;

/// The team file at `path`, its warnings printed.
pub fn team(path: &Path) -> Result<TeamConfig, Exit> {
    let loaded = load_team(path).map_err(|error| {
        for diagnostic in &error.diagnostics {
            anstream::eprintln!("{}\n", paint::diagnostic(diagnostic));
        }
        Exit::Usage
    })?;
    for warning in &loaded.warnings {
        anstream::eprintln!("{}\n", paint::diagnostic(warning));
    }
    Ok(loaded.config)
}

/// A runtime for `config` journaling at `db`: exit 1 when the journal cannot be opened, 2 when
/// the team cannot be assembled.
pub fn runtime(config: &TeamConfig, db: &StoreLocation, tokio: &tokio::runtime::Runtime) -> Result<Runtime, Exit> {
    let store = tokio.block_on(open(db, config.durability)).map_err(|error| {
        print_error!("{error}");
        Exit::Failed
    })?;
    tokio.block_on(assemble::runtime(config, store)).map_err(|error| {
        print_error!("{error}");
        Exit::Usage
    })
}

/// The async runtime and the existing journal at `db`, for commands that finish what was run
/// before: a SQLite file that is not there is an error, not a new empty journal.
pub fn existing_journal(db: &Db) -> Result<(tokio::runtime::Runtime, Arc<dyn Store>), Exit> {
    let tokio = tokio()?;
    let store = existing_store(db.location(), &tokio, Access::ReadWrite)?;
    Ok((tokio, store))
}

/// The async runtime and the existing journal at `db`, opened to read only, for commands that
/// only read: a SQLite journal is not written to, so it can be read on a read-only medium.
pub fn journal_to_read(db: &Db) -> Result<(tokio::runtime::Runtime, Arc<dyn Store>), Exit> {
    let tokio = tokio()?;
    let store = existing_store(db.location(), &tokio, Access::ReadOnly)?;
    Ok((tokio, store))
}

/// Whether a command writes to the journal.
enum Access {
    ReadWrite,
    ReadOnly,
}

fn existing_store(db: &StoreLocation, tokio: &tokio::runtime::Runtime, access: Access) -> Result<Arc<dyn Store>, Exit> {
    match db {
        StoreLocation::Sqlite(path) if !path.exists() => {
            print_error!("no journal at {} (pass the --db the conversations were run with)", path.display());
            return Err(Exit::Usage);
        }
        StoreLocation::Memory => {
            print_error!("an in-memory journal is gone with the process that wrote it: pass a file or a URL");
            return Err(Exit::Usage);
        }
        _ => {}
    }
    let opened = match access {
        Access::ReadWrite => tokio.block_on(open(db, Durability::Full)),
        Access::ReadOnly => tokio.block_on(open_read_only(db)),
    };
    opened.map_err(|error| {
        print_error!("{error}");
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
        print_error!("cannot start the async runtime: {error}");
        Exit::Failed
    })
}

/// The runtime of `conversation`'s team, built from the team file it was created with.
pub async fn conversation_runtime(store: Arc<dyn Store>, conversation: &str) -> Result<Arc<Runtime>, Exit> {
    let service = Service::new(store).running_recorded_team_files();
    service.conversation(conversation).await.map(|(_, runtime)| runtime).map_err(|error| match error {
        ServiceError::Runtime(error) => failed(&error),
        why => {
            print_error!("conversation {conversation}: {why}");
            Exit::Usage
        }
    })
}

/// The exit code for a runtime error, printed: 2 for what the user asked wrong, 1 otherwise.
pub fn failed(error: &RuntimeError) -> Exit {
    print_error!("{error}");
    if is_usage_error(error) {
        Exit::Usage
    } else {
        Exit::Failed
    }
}
