//! `cargo xtask`: project tasks (stub, being written).

fn main() {}
