//! `--db`: where the journal is, as the user writes it. Accepted: `memory` (for the commands that
//! allow it), the path of a SQLite file, `sqlite://PATH` and a Postgres URL (`postgres://…` or
//! `postgresql://…`). In `sqlite://PATH` the path is everything after `sqlite://`, as written:
//! `sqlite://data/baton.db` is relative, `sqlite:///var/lib/baton.db` is the absolute
//! `/var/lib/baton.db` (as in sqlx and `file://` URLs). Anything else that starts like a URL (a
//! scheme of two or more letters before a `:`, such as `postgress://x`, `mysql://…`, `http://…` or
//! `sqlite:x`) is refused while the command line is read, with what to write instead, so a typo
//! never becomes a file or a directory.

use baton::core::names::closest;
use baton::store::StoreLocation;
use clap::Args;
use std::fmt;
use std::path::PathBuf;

/// The default SQLite journal.
pub const DEFAULT_DB: &str = ".baton/baton.db";

/// What every form of `--db` is, for the help and the errors.
const FORMS: &str =
    "a SQLite file (PATH or sqlite://PATH), a Postgres URL (postgres://USER@HOST:PORT/DATABASE) or memory";

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

    /// ` --db …` to repeat in a suggested command, or nothing for the default.
    pub fn flag(&self) -> String {
        match self.journal.written.as_str() {
            DEFAULT_DB => String::new(),
            other => format!(" --db {other}"),
        }
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
        let location = location(text)?;
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

fn location(text: &str) -> Result<StoreLocation, String> {
    if text.trim().is_empty() {
        return Err(format!("the journal is empty: pass {FORMS}"));
    }
    if text == "memory" {
        return Ok(StoreLocation::Memory);
    }
    if text.eq_ignore_ascii_case(":memory:") || text.eq_ignore_ascii_case("memory") {
        return Err("did you mean memory? (an in-memory journal is written `memory`)".to_string());
    }
    let Some((scheme, rest)) = scheme(text) else {
        return Ok(StoreLocation::Sqlite(PathBuf::from(text)));
    };
    let after_slashes = rest.strip_prefix("//");
    match (scheme, after_slashes) {
        ("postgres" | "postgresql", Some(_)) => Ok(StoreLocation::Postgres(text.to_string())),
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
    format!("{why} (the journal is {FORMS}{file_hint})")
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
    }
}
