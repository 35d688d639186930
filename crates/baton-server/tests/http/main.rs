//! The HTTP API end to end: a real server on a loopback port, real HTTP requests.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod answers;
mod api;
mod auth_first;
mod fuzz;
mod input;
mod limits;
mod loopback;
mod message_size;
#[cfg(feature = "external-tests")]
mod metrics_parsed;
mod namespace;
mod openai;
mod openapi;
mod ordering;
mod roles;
mod server;
mod tenants;
mod trace_pages;
mod unreadable;
