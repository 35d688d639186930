//! The id generator that gives a turn's root span the turn's own trace id (see
//! [`crate::trace_ids`]): install it on the tracer provider
//! (`SdkTracerProvider::builder().with_id_generator(TurnTraceIds::default())`); with another
//! generator every turn still gets a trace, with a random id.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use std::cell::Cell;

thread_local! {
    /// The trace id the next root span started on this thread takes.
    static NEXT_TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Random ids, except the trace id of a turn's root span.
#[derive(Debug, Default)]
pub struct TurnTraceIds {
    random: RandomIdGenerator,
}

impl IdGenerator for TurnTraceIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE.with(Cell::take).unwrap_or_else(|| self.random.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

/// Runs `start` (which starts one root span, synchronously) with `trace` as the trace id a
/// [`TurnTraceIds`] generator hands out.
pub(crate) fn with_trace_id<T>(trace: TraceId, start: impl FnOnce() -> T) -> T {
    NEXT_TRACE.with(|next| next.set(Some(trace)));
    let started = start();
    NEXT_TRACE.with(|next| next.set(None));
    started
}
