//! End-to-end tests of the `baton` binary: real processes, a real SQLite file, and a Chat
//! Completions server on loopback.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

mod approvals;
mod bench;
mod chat;
mod check;
mod crash;
mod ergonomics;
mod eval;
mod first_hour;
mod kill;
mod litellm;
mod mcp;
mod mock;
mod new;
mod providers;
mod queue;
mod run;
mod serve;
mod support;
mod zombie;
