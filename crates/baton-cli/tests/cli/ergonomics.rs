//! The CLI's rough edges, each fixed and held by a test (being written).
