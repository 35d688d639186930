//! Tests of the handoff core: the semantics case by case, then properties over arbitrary
//! model behaviour.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

mod approvals;
mod arguments;
mod deadline;
mod properties;
mod queue;
mod semantics;
mod signals;
mod sizes;
mod support;
