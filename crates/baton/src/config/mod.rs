//! The team-file loader: turns a `team.toml` into a core [`Team`] plus the shell-side settings of
//! its models and tools, and reports every problem at once with file, line and column.
//!
//! Loading runs in stages, each trusting only what the one before it established:
//!
//! 1. Size: a file over 1 MiB is refused before it is parsed (`sizes`).
//! 2. TOML syntax. A syntax error is reported alone: nothing after it can be trusted.
//! 3. Unknown keys, in every table (`keys`), each with the allowed keys; and sizes again: a name
//!    over 128 characters or a string over 64 KiB is reported, with the unknown keys, and
//!    loading stops.
//! 4. Shape: the document is deserialized into `raw` structs that keep the span of every value.
//!    A type error (a string where a number belongs, an unknown `context`) is reported, with the
//!    unknown keys, and loading stops.
//! 5. Meaning: the shell-side checks (`build`: providers, tool kinds, referenced files) and
//!    `baton_core::validate`, whose semantic sites are mapped back to the file (`sites`).
//!
//! Diagnostics are sorted by line and column. Warnings alone do not stop loading.

mod build;
mod defaulted;
mod diagnostic;
mod files;
mod keys;
mod model;
mod position;
mod raw;
mod sites;
mod sizes;
mod telemetry;
mod templates;
mod tool;

#[cfg(test)]
mod tests;

pub use defaulted::Defaulted;
pub use diagnostic::{Diagnostic, LoadError};
pub use model::{Api, ModelConfig, Price, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_TIMEOUT_SECS};
pub use telemetry::{OtlpProtocol, TelemetryConfig};
pub use tool::{ToolConfig, ToolKind};

use crate::runtime::DEFAULT_LEASE;
use baton_core::{validate, Team};
use baton_store::Durability;
use diagnostic::Report;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The help attached to a TOML syntax error.
const SYNTAX_HELP: &str = "fix the TOML syntax at this position";

/// The help attached to a value of the wrong type or a missing required key.
const SHAPE_HELP: &str = "fix the value at this position to match the team file format";

/// A loaded team file: the core team and how the shell reaches its models and tools.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamConfig {
    /// The team file, as given to [`load_team`] or [`parse_team`].
    pub path: PathBuf,
    /// The team, validated without errors.
    pub team: Team,
    /// Each model of [`Team::models`], by name.
    pub models: BTreeMap<String, ModelConfig>,
    /// Each tool of [`Team::tools`], by name.
    pub tools: BTreeMap<String, ToolConfig>,
    /// How hard the SQLite journal holds on to the disk (`[store] sync`).
    pub durability: Durability,
    /// How long a conversation's lease runs unless renewed (`[store] lease_seconds`).
    pub lease: Duration,
    /// Where the turns' spans go when the team is served (`[telemetry]`).
    pub telemetry: Option<TelemetryConfig>,
}

impl TeamConfig {
    /// Streams the answers of every HTTP model (`baton run --stream`), whatever its `stream` says.
    pub fn stream_all(&mut self) {
        for model in self.models.values_mut() {
            if let ModelConfig::Http { endpoint, .. } = model {
                endpoint.stream = true;
            }
        }
    }
}

/// A team file that loaded, with the warnings found on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The team and its settings.
    pub config: TeamConfig,
    /// Warnings, sorted by line and column.
    pub warnings: Vec<Diagnostic>,
    /// Settings the file leaves out that were given a value other than the usual default (a
    /// team with no human agent fails a turn on a tripped limit), for `baton check` to mention.
    pub defaulted: Vec<Defaulted>,
}

/// Reads and loads the team file at `path`; see [`parse_team`].
pub fn load_team(path: &Path) -> Result<Loaded, LoadError> {
    match sizes::read(path) {
        Ok(text) => parse_team(&text, path),
        Err(e) => {
            let mut report = Report::new("", path);
            report.error(0, format!("cannot read the team file: {e}"), "check the path to the team file");
            Err(report.into_error())
        }
    }
}

/// Loads a team file whose contents are `text`; `path` is where it was read from: it names the
/// file in diagnostics, and data and script files are resolved (and checked to exist) relative to
/// its directory.
pub fn parse_team(text: &str, path: &Path) -> Result<Loaded, LoadError> {
    let mut report = Report::new(text, path);
    if sizes::too_large(text, &mut report) {
        return Err(report.into_error());
    }
    let document = match toml::de::DeTable::parse(text) {
        Ok(document) => document,
        Err(e) => {
            report.toml_error(&e, SYNTAX_HELP);
            return Err(report.into_error());
        }
    };
    keys::check_keys(document.get_ref(), &mut report);
    if sizes::check_sizes(document.get_ref(), &mut report) {
        return Err(report.into_error());
    }
    let raw = match raw::RawTeam::deserialize(toml::de::Deserializer::from(document)) {
        Ok(raw) => raw,
        Err(e) => {
            report.toml_error(&e, SHAPE_HELP);
            return Err(report.into_error());
        }
    };
    let dir = team_dir(path);
    let built = build::build(&raw, &dir, &mut report);
    for problem in validate(&built.team) {
        let site = match problem.site {
            baton_core::Site::Trigger(index) => baton_core::Site::Trigger(built.trigger_rows[index]),
            site => site,
        };
        report.push(problem.severity, sites::offset_of(&site, &raw), problem.message, problem.help);
    }
    let durability = durability(&raw, &mut report);
    let lease = lease(&raw, &mut report);
    let telemetry = telemetry::telemetry(raw.telemetry.as_ref(), &mut report);
    let warnings = report.finish()?;
    let config = TeamConfig {
        path: path.to_path_buf(),
        team: built.team,
        models: built.models,
        tools: built.tools,
        durability,
        lease,
        telemetry,
    };
    Ok(Loaded { config, warnings, defaulted: built.defaulted })
}

/// The directory a team file's relative paths (data, scripts, programs, working directories)
/// are resolved against: the file's parent, made absolute now so that it stays right whatever
/// directory the process is in later. A bare `team.toml` has the empty path as its parent,
/// which means the current directory.
fn team_dir(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// The longest lease a team file may ask for: a day.
const MAX_LEASE_SECONDS: u64 = 86_400;

/// `[store] lease_seconds`: a whole number of seconds from 1 to a day; 30 by default.
fn lease(raw: &raw::RawTeam, report: &mut Report<'_>) -> Duration {
    let Some(seconds) = raw.store.as_ref().and_then(|store| store.get_ref().lease_seconds.as_ref()) else {
        return DEFAULT_LEASE;
    };
    match u64::try_from(*seconds.get_ref()) {
        Ok(seconds) if (1..=MAX_LEASE_SECONDS).contains(&seconds) => Duration::from_secs(seconds),
        _ => {
            report.error(
                seconds.span().start,
                format!("lease_seconds must be from 1 to {MAX_LEASE_SECONDS}, not {}", seconds.get_ref()),
                "it is how long another process waits before taking over a conversation this one stopped advancing; 30 by default",
            );
            DEFAULT_LEASE
        }
    }
}

/// `[store] sync`: `"full"` (the default) or `"normal"`.
fn durability(raw: &raw::RawTeam, report: &mut Report<'_>) -> Durability {
    let Some(sync) = raw.store.as_ref().and_then(|store| store.get_ref().sync.as_ref()) else {
        return Durability::Full;
    };
    match sync.get_ref().as_str() {
        "full" => Durability::Full,
        "normal" => Durability::Normal,
        other => {
            report.error(
                sync.span().start,
                format!("unknown sync mode '{other}'"),
                "use sync = \"full\" (every commit survives a power cut; the default) or \"normal\" (faster; a power cut may lose the last commits)",
            );
            Durability::Full
        }
    }
}
