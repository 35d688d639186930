//! Tests of the handoff core: the semantics case by case, then properties over arbitrary
//! model behaviour.

mod properties;
mod semantics;
mod support;
