//! The service: many teams over one journal, what the CLI, the server and embedders drive above
//! a single [`Runtime`]. It keeps the team registry (each team built and validated once), finds a
//! conversation's team, runs each conversation's work one at a time in arrival order (`lanes`),
//! waits out another process's lease for a bounded time (`lease_wait`), finishes interrupted
//! turns side by side (`recovery`), and reads the queue across teams.
//!
//! A conversation records the team file it was created with. A service that runs recorded team
//! files (the CLI's) loads the team of a conversation it does not serve from that file, once per
//! file; one that does not (the server's) answers that the team is not served.

mod error;
mod lanes;
mod lease_wait;
mod recovery;

pub use error::ServiceError;
pub use lanes::Lanes;
pub use lease_wait::{wait_for_lease, Busy, LeaseNotice, Quiet, Waited};
pub use recovery::{Resumed, Sweep, SweepTotals, Sweeping};

use crate::assemble;
use crate::config::load_team;
use crate::queue::waiting;
use crate::{Runtime, TicketView};
use baton_store::{ConversationInfo, Store, StoreError};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Teams over one journal.
pub struct Service {
    store: Arc<dyn Store>,
    /// The teams served, by name.
    teams: Mutex<BTreeMap<String, Arc<Runtime>>>,
    /// Teams loaded from the team files conversations recorded, by the file's path; `None` when
    /// recorded files are not run.
    recorded: Option<Mutex<BTreeMap<String, Arc<Runtime>>>>,
    /// The work running or waiting on each conversation.
    lanes: Lanes,
}

impl Service {
    /// A service over `store` serving no team yet, that does not run recorded team files.
    pub fn new(store: Arc<dyn Store>) -> Service {
        Service { store, teams: Mutex::default(), recorded: None, lanes: Lanes::default() }
    }

    /// Lets the service run a conversation of a team it does not serve from the team file the
    /// conversation was created with (loaded and validated once per file).
    pub fn running_recorded_team_files(mut self) -> Service {
        self.recorded = Some(Mutex::default());
        self
    }

    /// The journal.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The conversations' lanes: work on one conversation runs one at a time, in arrival order.
    pub fn lanes(&self) -> &Lanes {
        &self.lanes
    }

    /// Serves `runtime`'s team, in place of a team of the same name served before (a reload).
    pub fn serve(&self, runtime: impl Into<Arc<Runtime>>) -> Arc<Runtime> {
        let runtime = runtime.into();
        let name = runtime.team().name.clone();
        self.teams.lock().unwrap_or_else(PoisonError::into_inner).insert(name, runtime.clone());
        runtime
    }

    /// Loads, builds and serves the team file at `path` (again, to reload it).
    pub async fn serve_file(&self, path: &Path) -> Result<Arc<Runtime>, ServiceError> {
        Ok(self.serve(self.load(path).await?))
    }

    /// Loads the team file at `path`, which serves the team `serves`, again, and serves its team
    /// in its place: turns already running finish on the team as it was, later work runs on the
    /// new one. A file that does not load, or that now names another team, changes nothing.
    pub async fn reload_file(&self, path: &Path, serves: &str) -> Result<Arc<Runtime>, ServiceError> {
        let runtime = self.load(path).await?;
        let name = runtime.team().name.clone();
        if name != serves || self.team(&name).is_err() {
            return Err(ServiceError::NewTeamOnReload {
                file: path.display().to_string(),
                team: name,
                served: serves.to_string(),
            });
        }
        Ok(self.serve(runtime))
    }

    /// The names of the teams served.
    pub fn team_names(&self) -> Vec<String> {
        self.teams.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect()
    }

    /// The served team called `name`.
    pub fn team(&self, name: &str) -> Result<Arc<Runtime>, ServiceError> {
        let teams = self.teams.lock().unwrap_or_else(PoisonError::into_inner);
        teams.get(name).cloned().ok_or_else(|| ServiceError::UnknownTeam {
            name: name.to_string(),
            served: teams.keys().cloned().collect(),
        })
    }

    /// The conversation `id` and the runtime of its team.
    pub async fn conversation(&self, id: &str) -> Result<(ConversationInfo, Arc<Runtime>), ServiceError> {
        let info =
            self.store.conversation(id).await.map_err(crate::RuntimeError::from)?.ok_or_else(|| {
                ServiceError::from(crate::RuntimeError::from(StoreError::UnknownConversation(id.into())))
            })?;
        let runtime = self.runtime_of(&info).await?;
        Ok((info, runtime))
    }

    /// The runtime of `info`'s team: the served one, or one loaded from its recorded team file.
    pub async fn runtime_of(&self, info: &ConversationInfo) -> Result<Arc<Runtime>, ServiceError> {
        if let Some(runtime) = self.teams.lock().unwrap_or_else(PoisonError::into_inner).get(&info.team) {
            return Ok(runtime.clone());
        }
        let Some(recorded) = &self.recorded else {
            return Err(ServiceError::TeamNotServed { conversation: info.id.clone(), team: info.team.clone() });
        };
        let file =
            info.team_file.as_deref().ok_or_else(|| ServiceError::NoTeamFile { conversation: info.id.clone() })?;
        if let Some(runtime) = recorded.lock().unwrap_or_else(PoisonError::into_inner).get(file) {
            return Ok(runtime.clone());
        }
        let runtime = Arc::new(self.load(Path::new(file)).await?);
        let mut recorded = recorded.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(recorded.entry(file.to_string()).or_insert(runtime).clone())
    }

    /// The tickets waiting for a person or held by one, across every team, oldest first; those
    /// whose team cannot be had are returned apart, each with why.
    pub async fn waiting_tickets(&self) -> Result<(Vec<TicketView>, Vec<(String, ServiceError)>), ServiceError> {
        let infos = waiting(self.store.as_ref()).await.map_err(crate::RuntimeError::from)?;
        let (mut tickets, mut unread) = (Vec::new(), Vec::new());
        for info in infos {
            let view = match self.runtime_of(&info).await {
                Ok(runtime) => runtime.ticket(&info.id).await.map_err(ServiceError::from),
                Err(error) => Err(error),
            };
            match view {
                Ok(view) => tickets.push(view),
                Err(error) => unread.push((info.id, error)),
            }
        }
        Ok((tickets, unread))
    }

    async fn load(&self, path: &Path) -> Result<Runtime, ServiceError> {
        let file = path.display().to_string();
        let loaded = load_team(path).map_err(|error| ServiceError::TeamFile { file: file.clone(), error })?;
        assemble::runtime(&loaded.config, self.store.clone())
            .await
            .map_err(|error| ServiceError::Assemble { file, error: Box::new(error) })
    }
}
