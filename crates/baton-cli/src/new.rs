//! `baton new`: write a working team directory from a template (stub, being written).

use crate::Exit;
use std::path::Path;

/// The templates `baton new` can start from.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Template {
    /// One agent, no tools: the smallest team that runs.
    Minimal,
    /// The telecom support desk (examples/support).
    Support,
    /// The business-analysis desk with a router (examples/ba-triage).
    BaTriage,
}

/// Writes the team directory.
pub fn run(_name: &Path, _template: Template, _json: bool) -> Exit {
    Exit::Failed
}
