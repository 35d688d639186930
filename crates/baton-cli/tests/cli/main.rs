//! End-to-end tests of the `baton` binary: real processes, a real SQLite file, and a Chat
//! Completions server on loopback. The tests that need programs outside Rust (Postgres, the
//! LiteLLM proxy, MCP servers, Arize Phoenix) are the external tier: the `external-tests` feature, which
//! `cargo xtask test` turns on after installing them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

mod approvals;
mod bench;
mod chat;
mod check;
mod crash;
mod deadline;
mod ergonomics;
mod eval;
mod first_hour;
mod journal_files;
mod kill;
mod lease_wait;
#[cfg(feature = "external-tests")]
mod litellm;
#[cfg(feature = "external-tests")]
mod mcp;
mod mock;
mod new;
#[cfg(feature = "external-tests")]
mod otel;
mod providers;
mod queue;
mod run;
mod secrets;
mod serve;
mod support;
#[cfg(feature = "external-tests")]
mod zombie;
