//! OpenTelemetry (the `otel` feature): every turn as a trace of spans following the GenAI
//! semantic conventions (`spans.rs`), sent to the global tracer provider the program installs,
//! and the id generator that gives each turn's trace the turn's own id (`ids.rs`).

mod ids;
mod spans;

pub use ids::TurnTraceIds;
pub(crate) use spans::{Catalog, TurnSpans};
