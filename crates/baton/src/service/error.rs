//! What can go wrong above one runtime: a team not served or not loadable, on top of what a
//! runtime's own work reports.

use super::Busy;
use crate::assemble::AssembleError;
use crate::config::LoadError;
use crate::RuntimeError;

/// Why the service could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The work on the conversation failed (see [`RuntimeError`]).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Another process still held the conversation when the wait for its lease was over.
    #[error(transparent)]
    Busy(Busy),
    /// The service is stopping, and this work had not started: nothing was done.
    #[error("the service is stopping, and this had not started: nothing was done")]
    Stopping,
    /// No team of that name is served.
    #[error("there is no team '{name}'; the teams are: {}", served.join(", "))]
    UnknownTeam {
        /// The name asked for.
        name: String,
        /// The teams served.
        served: Vec<String>,
    },
    /// A team file reloaded names another team than the one it served: a reload replaces the
    /// file's own team.
    #[error(
        "{file} now names the team '{team}', not '{served}', which it serves: a reload replaces the file's own \
         team (restart to serve another one)"
    )]
    NewTeamOnReload {
        /// The file.
        file: String,
        /// The team it names now.
        team: String,
        /// The team it served.
        served: String,
    },
    /// The conversation's team is not served, and recorded team files are not run.
    #[error("conversation '{conversation}' belongs to team '{team}', which is not served")]
    TeamNotServed {
        /// The conversation.
        conversation: String,
        /// Its team.
        team: String,
    },
    /// The conversation recorded no team file to rebuild its team from.
    #[error("no team file was recorded for it (it was created by a Rust program)")]
    NoTeamFile {
        /// The conversation.
        conversation: String,
    },
    /// A team file does not load.
    #[error("its team file does not load:\n{error}")]
    TeamFile {
        /// The file.
        file: String,
        /// Every problem found in it.
        error: LoadError,
    },
    /// A team file loads, but its team cannot be built.
    #[error("{error}")]
    Assemble {
        /// The file.
        file: String,
        /// Why.
        error: Box<AssembleError>,
    },
    /// The task doing the work stopped unexpectedly (it panicked); the journal keeps what it did.
    #[error("its task failed")]
    TaskFailed,
}

impl ServiceError {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            ServiceError::Runtime(_) => "runtime",
            ServiceError::Busy(_) => "busy",
            ServiceError::Stopping => "stopping",
            ServiceError::UnknownTeam { .. } => "unknown_team",
            ServiceError::NewTeamOnReload { .. } => "new_team_on_reload",
            ServiceError::TeamNotServed { .. } => "team_not_served",
            ServiceError::NoTeamFile { .. } => "no_team_file",
            ServiceError::TeamFile { .. } => "team_file",
            ServiceError::Assemble { .. } => "assemble",
            ServiceError::TaskFailed => "task_failed",
        }
    }
}
