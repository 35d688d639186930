//! Where a journal lives, as users write it (`--db`, `BATON_DB`), and opening it.

use crate::{Durability, MemoryStore, PostgresStore, SqliteStore, Store, StoreError};
use baton_core::names::closest;
use std::fmt;
use std::path::PathBuf;
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
            StoreLocation::Postgres(url) => f.write_str(&crate::postgres::redact(url)),
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
            crate::postgres::check_tls_parameters(text)?;
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
    Ok(match location {
        StoreLocation::Memory => Arc::new(MemoryStore::new()),
        StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open_with(path, durability)?),
        StoreLocation::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// Opens the existing journal at `location` for a command that only reads it: a SQLite file is
/// opened read-only, so nothing is written to it or beside it where that is not needed
/// ([`SqliteStore::open_read_only`]); a Postgres journal is connected to as for writing. An
/// in-memory journal is a new, empty one.
pub async fn open_read_only(location: &StoreLocation) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open_read_only(path)?),
        other => open(other, Durability::Full).await?,
    })
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
