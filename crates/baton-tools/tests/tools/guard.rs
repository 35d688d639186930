//! The guard: time limits and result sizes, for any tool.

use crate::support::definition;
use async_trait::async_trait;
use baton_core::{ToolDef, ToolOutput};
use baton_tools::guard::{Guarded, ToolSettings, DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT};
use baton_tools::Tool;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A tool that waits `delay`, then answers `output`; `stopped` is set if its call is dropped
/// before it answers.
struct Scripted {
    definition: ToolDef,
    delay: Duration,
    output: ToolOutput,
    stopped: Arc<AtomicBool>,
}

/// Sets a flag when dropped unless disarmed.
struct SetOnDrop(Arc<AtomicBool>, bool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Tool for Scripted {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, _arguments: &Value, _idempotency_key: &str) -> ToolOutput {
        let mut flag = SetOnDrop(self.stopped.clone(), true);
        tokio::time::sleep(self.delay).await;
        flag.1 = false;
        self.output.clone()
    }
}

fn scripted(delay: Duration, output: ToolOutput) -> (Arc<Scripted>, Arc<AtomicBool>) {
    let stopped = Arc::new(AtomicBool::new(false));
    let tool = Scripted { definition: definition("slow_tool"), delay, output, stopped: stopped.clone() };
    (Arc::new(tool), stopped)
}

#[test]
fn the_defaults_are_thirty_seconds_and_32_kib() {
    let settings = ToolSettings::default();
    assert_eq!((settings.timeout, settings.max_result_bytes), (DEFAULT_TIMEOUT, DEFAULT_MAX_RESULT_BYTES));
    assert_eq!((DEFAULT_TIMEOUT, DEFAULT_MAX_RESULT_BYTES), (Duration::from_secs(30), 32 * 1024));
}

#[tokio::test]
async fn a_call_that_takes_too_long_is_stopped_and_says_so() {
    let (tool, stopped) = scripted(Duration::from_secs(30), ToolOutput::ok("late"));
    let settings = ToolSettings { timeout: Duration::from_millis(200), ..ToolSettings::default() };
    let output = Guarded::new(tool, settings).call(&json!({}), "k").await;
    assert_eq!(
        output,
        ToolOutput::error(
            "error: 'slow_tool' did not answer within 200 ms; it was stopped (it may or may not have taken effect)"
        )
    );
    assert!(stopped.load(Ordering::SeqCst), "the tool's call was not dropped");
}

#[tokio::test]
async fn a_call_within_the_limit_answers_unchanged() {
    let (tool, stopped) = scripted(Duration::ZERO, ToolOutput::error("error: no such order"));
    let guarded = Guarded::new(tool, ToolSettings::default());
    assert_eq!(guarded.definition().name, "slow_tool");
    assert_eq!(guarded.call(&json!({}), "k").await, ToolOutput::error("error: no such order"));
    assert!(!stopped.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_long_result_is_cut_at_a_char_boundary_and_keeps_its_error_flag() {
    // 'é' takes two bytes, so 1001 bytes of them cannot be cut at byte 1001.
    let long = format!("x{}", "é".repeat(5000));
    let (tool, _) = scripted(Duration::ZERO, ToolOutput::error(long.clone()));
    let settings = ToolSettings { max_result_bytes: 1002, ..ToolSettings::default() };
    let output = Guarded::new(tool, settings).call(&json!({}), "k").await;
    assert!(output.is_error);
    assert_eq!(output.content, format!("{}\n[… result cut: 1001 of 10001 bytes shown]", &long[..1001]));
}
