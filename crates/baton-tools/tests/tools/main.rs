//! Tests of the built-in tools as a model sees them: what each sends, what it answers, and how
//! failures read; HTTP tools against a loopback server, command tools with `sh` and `python3`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

mod command;
mod egress;
mod guard;
mod http;
mod server;
mod support;
mod typed;
