//! Where a journal lives, as users write it (`--db`, `BATON_DB`), and opening it.

use crate::{Durability, MemoryStore, PostgresStore, SqliteStore, Store, StoreError};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Reads a location: `memory`, a Postgres URL, or else a SQLite file's path.
    pub fn parse(text: &str) -> StoreLocation {
        if text == "memory" {
            StoreLocation::Memory
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            StoreLocation::Postgres(text.to_string())
        } else {
            StoreLocation::Sqlite(PathBuf::from(text))
        }
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

/// Opens the journal at `location`; `durability` applies to SQLite.
pub async fn open(location: &StoreLocation, durability: Durability) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        StoreLocation::Memory => Arc::new(MemoryStore::new()),
        StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open_with(path, durability)?),
        StoreLocation::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}
