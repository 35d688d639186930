//! `--db`: where the journal is, as the user writes it, read by the store's own rules
//! ([`StoreLocation::parse`]) while the command line is read, so a typo such as `postgress://x`
//! is refused with what to write instead and never becomes a file or a directory.

use crate::shell;
use baton::store::StoreLocation;
use clap::Args;
use std::fmt;

/// The default SQLite journal.
pub const DEFAULT_DB: &str = ".baton/baton.db";

/// Where the journal is: the `--db` option every journaling command shares.
#[derive(Args, Clone, Debug)]
pub struct Db {
    /// The journal: a SQLite file (PATH or sqlite://PATH), a Postgres URL
    /// (postgres://USER@HOST:PORT/DATABASE) or memory.
    #[arg(long = "db", env = "BATON_DB", value_name = "PATH|URL", default_value = DEFAULT_DB, value_parser = Journal::parse)]
    pub journal: Journal,
}

impl Db {
    /// The journal's location.
    pub fn location(&self) -> &StoreLocation {
        &self.journal.location
    }

    /// ` --db …` to repeat in a suggested command: as the user wrote it, but with a Postgres
    /// password hidden (the user types it again) and quoted for the shell where it needs to be;
    /// nothing for the default, or when `BATON_DB` already says it (the suggestion then works as
    /// it is, password and all).
    pub fn flag(&self) -> String {
        let from_environment = std::env::var("BATON_DB").is_ok_and(|value| value == self.journal.written);
        let shown = match &self.journal.location {
            _ if self.journal.written == DEFAULT_DB || from_environment => return String::new(),
            StoreLocation::Postgres(_) => self.journal.location.to_string(),
            StoreLocation::Sqlite(_) | StoreLocation::Memory => self.journal.written.clone(),
        };
        format!(" --db {}", shell::quote(&shown))
    }

    /// Whether the journal lives in this process only (nothing can be continued later).
    pub fn is_memory(&self) -> bool {
        self.journal.location == StoreLocation::Memory
    }
}

/// A `--db` value: as written, and where it points.
#[derive(Clone, Debug)]
pub struct Journal {
    written: String,
    location: StoreLocation,
}

impl Journal {
    /// Reads a `--db` value, refusing what looks like a URL baton cannot journal to.
    pub fn parse(text: &str) -> Result<Journal, String> {
        let location = StoreLocation::parse(text).map_err(|error| error.to_string())?;
        Ok(Journal { written: text.to_string(), location })
    }

    /// Where it points.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }
}

impl fmt::Display for Journal {
    /// The location, with a Postgres password hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.location.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(written: &str) -> String {
        Db { journal: Journal::parse(written).unwrap() }.flag()
    }

    #[test]
    fn the_flag_to_repeat_hides_a_password_and_quotes_a_path_with_spaces() {
        assert_eq!(flag(DEFAULT_DB), "");
        assert_eq!(flag("runs/baton.db"), " --db runs/baton.db");
        assert_eq!(flag("sqlite://runs/baton.db"), " --db sqlite://runs/baton.db");
        assert_eq!(flag("my runs/baton.db"), " --db 'my runs/baton.db'");
        let postgres = flag("postgres://baton:hunter2@db.example:5432/baton");
        assert_eq!(postgres, " --db 'postgres://baton:***@db.example:5432/baton'");
        assert_eq!(flag("postgres://baton@db/baton"), " --db postgres://baton@db/baton");
    }
}
