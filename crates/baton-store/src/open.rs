//! Where a journal lives, as users write it (`--db`, `BATON_DB`), and opening it.
//!
//! Every location parses in every build; opening a SQLite or Postgres journal in a build without
//! that store (the cargo features `sqlite` and `postgres`) is [`StoreError::NotBuiltIn`].

use crate::postgres_url::{check_tls_parameters, redact};
use crate::{Durability, MemoryStore, Store, StoreError};
use baton_core::names::closest;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every form of a journal's location is, for the help and the errors.
pub const LOCATION_FORMS: &str =
    "a SQLite file (PATH or sqlite://PATH), a Postgres URL (postgres://USER@HOST:PORT/DATABASE) or memory";

/// A location that names no journal baton can open; the message says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidLocation(String);

/// A journal's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// `memory`: in this process only.
    Memory,
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A Postgres URL (`postgres://…` or `postgresql://…`).
    Postgres(String),
}

impl StoreLocation {
    /// Reads a location as a user writes it: `memory`, the path of a SQLite file, `sqlite://PATH`
    /// or a Postgres URL (`postgres://…` or `postgresql://…`). In `sqlite://PATH` the path is
    /// everything after `sqlite://`, as written: `sqlite://data/baton.db` is relative,
    /// `sqlite:///var/lib/baton.db` the absolute `/var/lib/baton.db` (as in sqlx and `file://`
    /// URLs). Anything else that starts like a URL (a scheme of two or more letters before a `:`,
    /// such as `postgress://x`, `mysql://…`, `http://…` or `sqlite:x`) is refused with what to
    /// write instead, so a typo never becomes a file or a directory.
    pub fn parse(text: &str) -> Result<StoreLocation, InvalidLocation> {
        location(text).map_err(InvalidLocation)
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Memory => f.write_str("memory"),
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

fn location(text: &str) -> Result<StoreLocation, String> {
    if text.trim().is_empty() {
        return Err(format!("the journal is empty: pass {LOCATION_FORMS}"));
    }
    if text != text.trim() {
        return Err(format!("'{text}' has spaces around it: write '{}'", text.trim()));
    }
    if text == "memory" {
        return Ok(StoreLocation::Memory);
    }
    let in_memory = ["memory", ":memory:", "sqlite::memory:", "sqlite://:memory:"];
    if in_memory.iter().any(|form| text.eq_ignore_ascii_case(form)) {
        return Err("did you mean memory? (an in-memory journal is written `memory`)".to_string());
    }
    let Some((scheme, rest)) = scheme(text) else {
        return Ok(StoreLocation::Sqlite(PathBuf::from(text)));
    };
    let after_slashes = rest.strip_prefix("//");
    match (scheme, after_slashes) {
        ("postgres" | "postgresql", Some(_)) => {
            check_tls_parameters(text)?;
            Ok(StoreLocation::Postgres(text.to_string()))
        }
        ("sqlite", Some(path)) if path.contains(['?', '#']) => Err(format!(
            "sqlite:// takes a path and no options: write sqlite://{} (baton sets the journal's own options; \
             [store] sync in the team file chooses how it syncs)",
            path.split(['?', '#']).next().unwrap_or_default()
        )),
        ("sqlite", Some(path)) if !path.is_empty() => Ok(StoreLocation::Sqlite(PathBuf::from(path))),
        _ => Err(refusal(text, scheme, rest)),
    }
}

/// The scheme of a URL-like `text` (two or more characters, a letter first, then letters, digits,
/// `+`, `-` or `.`, before a `:`), and what follows the `:`. A Windows drive (`C:`) is no scheme.
fn scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let well_formed = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    well_formed.then_some((scheme, rest))
}

/// Why `text`, a URL with `scheme`, is not a journal, and what to write instead.
fn refusal(text: &str, scheme: &str, rest: &str) -> String {
    let lower = scheme.to_ascii_lowercase();
    let why = match lower.as_str() {
        "sqlite" if rest.trim_start_matches('/').is_empty() => "sqlite:// needs a path after it".to_string(),
        "sqlite" | "postgres" | "postgresql" if lower != scheme => {
            format!("write the scheme in lower case: {lower}:{rest}")
        }
        "sqlite" => format!("a SQLite URL starts sqlite://: write sqlite://{rest} or just the path {rest}"),
        "postgres" | "postgresql" => format!("a Postgres URL starts {lower}://"),
        "mysql" | "mariadb" => "baton journals to SQLite or Postgres, not MySQL".to_string(),
        "http" | "https" => "a journal is a SQLite file or a Postgres database, not a web address".to_string(),
        _ => match closest(&lower, ["postgres", "postgresql", "sqlite"]) {
            Some(meant) => format!("unknown scheme '{scheme}:': did you mean {meant}:{rest}?"),
            None => format!("'{scheme}:' is not a journal baton can open"),
        },
    };
    let file_hint = if rest.starts_with("//") {
        String::new()
    } else {
        format!("; for a file whose name holds ':', write ./{text}")
    };
    format!("{why} (the journal is {LOCATION_FORMS}{file_hint})")
}

/// Opens the journal at `location`; `durability` applies to SQLite.
pub async fn open(location: &StoreLocation, durability: Durability) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        StoreLocation::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreLocation::Sqlite(path) => sqlite(path, durability),
        StoreLocation::Postgres(url) => postgres(url).await,
    }
}

/// Opens the existing journal at `location` for a command that only reads it: a SQLite file is
/// opened read-only, so nothing is written to it or beside it where that is not needed
/// ([`SqliteStore::open_read_only`](crate::SqliteStore::open_read_only)); a Postgres journal is connected to as
/// for writing. An in-memory journal is a new, empty one.
pub async fn open_read_only(location: &StoreLocation) -> Result<Arc<dyn Store>, StoreError> {
    match location {
        StoreLocation::Sqlite(path) => sqlite_read_only(path),
        other => open(other, Durability::Full).await,
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(path: &Path, durability: Durability) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(crate::SqliteStore::open_with(path, durability)?))
}

#[cfg(feature = "sqlite")]
fn sqlite_read_only(path: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(crate::SqliteStore::open_read_only(path)?))
}

#[cfg(not(feature = "sqlite"))]
fn sqlite(path: &Path, _durability: Durability) -> Result<Arc<dyn Store>, StoreError> {
    sqlite_read_only(path)
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_read_only(path: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Err(not_built_in(&StoreLocation::Sqlite(path.to_path_buf())))
}

#[cfg(feature = "postgres")]
async fn postgres(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(crate::PostgresStore::connect(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn postgres(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Err(not_built_in(&StoreLocation::Postgres(url.to_string())))
}

/// The error for a journal at `location` whose store this build leaves out.
#[cfg(any(not(feature = "sqlite"), not(feature = "postgres")))]
fn not_built_in(location: &StoreLocation) -> StoreError {
    let (kind, feature) = match location {
        StoreLocation::Postgres(_) => ("Postgres", "postgres"),
        _ => ("SQLite", "sqlite"),
    };
    StoreError::NotBuiltIn { location: location.to_string(), kind, feature }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> StoreLocation {
        match location(text) {
            Ok(location) => location,
            Err(why) => panic!("{text} was refused: {why}"),
        }
    }

    fn refused(text: &str) -> String {
        match location(text) {
            Ok(location) => panic!("{text} was taken as {location:?}"),
            Err(why) => why,
        }
    }

    #[test]
    fn the_four_forms_are_accepted() {
        assert_eq!(parsed("memory"), StoreLocation::Memory);
        assert_eq!(parsed(".baton/baton.db"), StoreLocation::Sqlite(".baton/baton.db".into()));
        assert_eq!(parsed("sqlite://data/baton.db"), StoreLocation::Sqlite("data/baton.db".into()));
        assert_eq!(parsed("sqlite:///var/lib/baton.db"), StoreLocation::Sqlite("/var/lib/baton.db".into()));
        let url = "postgres://baton@127.0.0.1:5432/baton";
        assert_eq!(parsed(url), StoreLocation::Postgres(url.into()));
        assert_eq!(parsed("postgresql://h/db"), StoreLocation::Postgres("postgresql://h/db".into()));
        assert_eq!(parsed("./notes:2024.db"), StoreLocation::Sqlite("./notes:2024.db".into()));
        assert_eq!(parsed("C:journal.db"), StoreLocation::Sqlite("C:journal.db".into()), "a drive is no scheme");
    }

    #[test]
    fn what_looks_like_another_url_is_refused_with_what_to_write() {
        assert!(refused("postgress://x").contains("did you mean postgres://x?"));
        assert!(refused("mysql://root@db/baton").contains("not MySQL"));
        assert!(refused("http://localhost:8080").contains("not a web address"));
        assert!(refused("sqlite:x.db").contains("write sqlite://x.db or just the path x.db"));
        assert!(refused("sqlite://").contains("needs a path"));
        assert!(refused("Postgres://h/db").contains("lower case: postgres://h/db"));
        assert!(refused(":memory:").contains("did you mean memory?"));
        assert!(refused("notes:2024.db").contains("write ./notes:2024.db"));
        assert!(refused("").contains("empty"));
        assert!(refused("sqlite://x.db?mode=rwc").contains("no options: write sqlite://x.db"));
        assert!(refused("sqlite://x.db#a").contains("write sqlite://x.db"));
        assert!(refused(" memory").contains("spaces around it: write 'memory'"));
        assert!(refused("x.db ").contains("write 'x.db'"));
        assert!(refused("postgres://db/baton?sslmode=verify_full").contains("write disable, prefer, require"));
        assert!(refused("sqlite::memory:").contains("did you mean memory?"));
        assert!(refused("sqlite://:memory:").contains("did you mean memory?"));
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn a_postgres_journal_in_a_build_without_postgres_says_which_feature_adds_it() {
        let location = parsed("postgres://baton:hunter2@db/baton");
        let error = open(&location, Durability::Full).await.err().map(|e| e.to_string()).unwrap_or_default();
        let expected = "the journal postgres://baton:***@db/baton: this baton was built without Postgres support: \
                        build it with the `postgres` feature";
        assert_eq!(error, expected);
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn a_sqlite_journal_in_a_build_without_sqlite_says_which_feature_adds_it() {
        let error = open_read_only(&parsed("journal.db")).await.err().map(|e| e.to_string()).unwrap_or_default();
        let expected =
            "the journal journal.db: this baton was built without SQLite support: build it with the `sqlite` feature";
        assert_eq!(error, expected);
        assert!(open(&StoreLocation::Memory, Durability::Full).await.is_ok(), "memory is always there");
    }

    #[test]
    fn a_postgres_location_is_shown_without_its_password() {
        let shown = |url: &str| StoreLocation::Postgres(url.into()).to_string();
        assert_eq!(shown("postgres://baton:hunter2@db:5432/baton"), "postgres://baton:***@db:5432/baton");
        assert_eq!(shown("postgres://baton@db/baton"), "postgres://baton@db/baton");
        assert_eq!(shown("postgres://baton@db/baton?password=hunter2"), "postgres://baton@db/baton?password=***");
        let query = shown("postgresql://db/baton?user=baton&password=hunter2&sslmode=require");
        assert_eq!(query, "postgresql://db/baton?user=baton&password=***&sslmode=require");
        assert_eq!(shown("postgres://u:p@ss@db/baton"), "postgres://u:***@db/baton", "no part of it shows");
        assert_eq!(shown("postgres://u:p?w@db/baton"), "postgres://u:***@db/baton");
    }
}
