//! Helpers the tests share.

use baton_core::ToolDef;
use baton_tools::guard::{Guarded, ToolSettings};
use baton_tools::Tool;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A definition called `name` taking any object.
pub fn definition(name: &str) -> ToolDef {
    ToolDef::new(name, "A tool under test.", json!({"type": "object"}))
}

/// `tool` under a time limit of `timeout` and the default result size.
pub fn with_timeout(tool: impl Tool + 'static, timeout: Duration) -> Guarded {
    Guarded::new(Arc::new(tool), ToolSettings { timeout, ..ToolSettings::default() })
}

/// A fresh path in the temporary directory, unique in this run.
pub fn temp_path(what: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("baton-tools-{}-{what}-{n}", std::process::id()))
}
