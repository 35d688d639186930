//! baton: durable, observable handoff orchestration for AI agents.
//!
//! This crate is the facade users depend on: load a team file ([`config`]), assemble its
//! models, tools and journal ([`assemble`]), and run conversations turn by turn ([`Runtime`]).

pub mod assemble;
pub mod config;
mod held;
mod ids;
mod observer;
pub mod queue;
mod report;
pub mod runtime;
pub mod snapshots;
pub mod trace;
mod usage;
mod warm;

pub use baton_core as core;
pub use baton_models as models;
pub use baton_store as store;
pub use baton_tools as tools;
pub use ids::check_conversation_id;
pub use observer::{Observer, Unobserved};
pub use queue::{TicketStatus, TicketView};
pub use report::TurnReport;
pub use runtime::{Decision, Runtime, RuntimeError};
pub use usage::{TurnUsage, UsageTotals};
