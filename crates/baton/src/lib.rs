//! baton: durable, observable handoff orchestration for AI agents.
//!
//! This crate is the facade users depend on: load a team file ([`config`]), assemble its
//! models, tools and journal ([`assemble`]), and run conversations turn by turn ([`Runtime`]).

pub mod assemble;
mod built_team;
pub mod config;
pub mod entry_names;
pub mod evaluation;
mod held;
mod human;
mod ids;
mod observer;
pub mod queue;
mod report;
pub mod runtime;
pub mod service;
pub mod snapshots;
mod team_builder;
#[cfg(feature = "otel")]
pub mod telemetry;
pub mod trace_ids;
mod turn_log;
mod usage;
mod warm;
pub mod wire;

pub use baton_core as core;
pub use baton_core::{Agent, ContextPolicy, HandoffEdge, InvalidTeam, Limits, Trigger, ValidTeam};
pub use baton_local::LocalModel;
pub use baton_models as models;
pub use baton_store as store;
pub use baton_tools as tools;
pub use built_team::BuiltTeam;
pub use human::{HumanAction, HumanHandler};
pub use ids::{check_conversation_id, BadConversationId};
pub use observer::{Observer, Unobserved};
pub use queue::{TicketStatus, TicketView};
pub use report::TurnReport;
pub use runtime::{Decision, Runtime, RuntimeError};
pub use service::{Service, ServiceError};
pub use team_builder::TeamBuilder;
pub use usage::{TurnUsage, UsageTotals};
