//! Limits every tool shares: a time limit per call and a cap on the size of a result.
//!
//! [`Guarded`] wraps any [`Tool`]; the tools themselves set no overall time limit and return
//! whatever they produced. Stopping a call drops its future, so a tool stops its work on drop
//! (the command tool kills its processes, an HTTP request is aborted).

use crate::Tool;
use async_trait::async_trait;
use baton_core::{ToolDef, ToolOutput};
use std::sync::Arc;
use std::time::Duration;

/// How long a call may take unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many bytes of a result a model sees unless configured otherwise.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 32 * 1024;

/// The limits [`Guarded`] applies to each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolSettings {
    /// How long one call may take before it is stopped.
    pub timeout: Duration,
    /// The longest result, in bytes, handed to the model; longer results are cut.
    pub max_result_bytes: usize,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings { timeout: DEFAULT_TIMEOUT, max_result_bytes: DEFAULT_MAX_RESULT_BYTES }
    }
}

/// A tool run under [`ToolSettings`]: a call that takes too long is stopped and answers an error;
/// a result that is too long is cut.
pub struct Guarded {
    inner: Arc<dyn Tool>,
    settings: ToolSettings,
}

impl Guarded {
    /// Wraps `tool` so its calls obey `settings`.
    pub fn new(tool: Arc<dyn Tool>, settings: ToolSettings) -> Self {
        Guarded { inner: tool, settings }
    }
}

#[async_trait]
impl Tool for Guarded {
    fn definition(&self) -> &ToolDef {
        self.inner.definition()
    }

    async fn call(&self, arguments: &serde_json::Value, idempotency_key: &str) -> ToolOutput {
        let call = self.inner.call(arguments, idempotency_key);
        match tokio::time::timeout(self.settings.timeout, call).await {
            Ok(output) => cut(output, self.settings.max_result_bytes),
            Err(_) => ToolOutput::error(format!(
                "error: '{}' did not answer within {}; it was stopped (it may or may not have taken effect)",
                self.inner.definition().name,
                describe(self.settings.timeout)
            )),
        }
    }
}

/// `output` with its content cut to at most `max_bytes` (at a char boundary) and a last line saying
/// how much is shown; `is_error` is kept.
fn cut(output: ToolOutput, max_bytes: usize) -> ToolOutput {
    let total = output.content.len();
    if total <= max_bytes {
        return output;
    }
    let mut end = max_bytes;
    while !output.content.is_char_boundary(end) {
        end -= 1;
    }
    let mut content = output.content;
    content.truncate(end);
    content.push_str(&format!("\n[… result cut: {end} of {total} bytes shown]"));
    ToolOutput { content, is_error: output.is_error }
}

/// A duration as a person writes it: "30 s", "1.5 s", "200 ms".
fn describe(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{} s", duration.as_secs())
    } else if duration.as_secs() == 0 {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_result_is_kept_whole() {
        assert_eq!(cut(ToolOutput::ok("hello"), 5), ToolOutput::ok("hello"));
        assert_eq!(cut(ToolOutput::error("oops"), 100), ToolOutput::error("oops"));
    }

    #[test]
    fn a_long_result_is_cut_at_a_char_boundary_and_says_so() {
        // "é" is two bytes: a cut at 3 bytes would split the second one, so two bytes are kept.
        let output = cut(ToolOutput::ok("ééé"), 3);
        assert_eq!(output, ToolOutput::ok("é\n[… result cut: 2 of 6 bytes shown]"));
        let output = cut(ToolOutput::error("abcdef"), 4);
        assert_eq!(output, ToolOutput::error("abcd\n[… result cut: 4 of 6 bytes shown]"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe(Duration::from_secs(30)), "30 s");
        assert_eq!(describe(Duration::from_millis(200)), "200 ms");
        assert_eq!(describe(Duration::from_millis(1500)), "1.5 s");
    }
}
