//! The README's "Embedding baton in Rust" opens with a complete program: it is
//! `examples/handoff_chain.rs` word for word, which `cargo xtask test` builds and runs.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use std::path::Path;

#[test]
fn the_readme_embedding_example_is_the_handoff_chain_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let section = readme.split("\n## Embedding baton in Rust\n").nth(1).expect("the README has the section");
    let block = section.split("```rust\n").nth(1).and_then(|rest| rest.split("```\n").next()).unwrap();
    let example = std::fs::read_to_string(root.join("examples/handoff_chain.rs")).unwrap();
    assert_eq!(block, example, "copy examples/handoff_chain.rs into the README's first Rust block, or back");
}
