//! Command tools (`kind = "command"`): one run of a program per call.
//!
//! The program is started directly, without a shell; it reads the arguments object as JSON on
//! stdin and finds the call's idempotency key in `BATON_IDEMPOTENCY_KEY`. What it prints on
//! stdout is the result. Its environment is a clean one (`environment`): a few variables
//! every program needs, the names the tool passes through, and the values of its `env`, which
//! may use `${VAR}` ([`baton_core::env_template`]), read from baton's environment at each call.
//! There is no time limit here: [`crate::guard::Guarded`] sets it, and dropping a call kills the
//! program and everything it started (`process_tree`).

pub(crate) mod environment;
mod process_tree;

use crate::Tool;
use async_trait::async_trait;
use baton_core::{ToolDef, ToolOutput};
use process_tree::{Running, MARK};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

pub use environment::PASSED;

/// How much of stdout and of stderr is kept; the rest is read and dropped.
const MAX_CAPTURE_BYTES: usize = 4 * 1024 * 1024;

/// How much of the output of a failed run the error result quotes.
const ERROR_EXCERPT_BYTES: usize = 2000;

/// The program a command tool runs, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandToolConfig {
    /// The program; the config loader has resolved a relative path.
    pub program: PathBuf,
    /// Its command-line arguments.
    pub args: Vec<String>,
    /// The directory it runs in, if not the current one.
    pub cwd: Option<PathBuf>,
    /// Environment variables set for it; `${VAR}` in a value is replaced by baton's own variable
    /// at each call.
    pub env: Vec<(String, String)>,
    /// Variables of baton's environment it receives as they are (when set), besides [`PASSED`];
    /// it receives no others.
    pub pass_env: Vec<String>,
}

/// A tool that answers a call by running a program.
pub struct CommandTool {
    definition: ToolDef,
    config: CommandToolConfig,
}

impl CommandTool {
    /// A command tool offering `definition` that runs the program `config` describes.
    pub fn new(definition: ToolDef, config: CommandToolConfig) -> Self {
        CommandTool { definition, config }
    }

    /// The command for one call, marked with `mark`, ready to spawn, or the error result saying
    /// which variable of its `env` is not set.
    fn command(&self, idempotency_key: &str, mark: &str) -> Result<Command, ToolOutput> {
        let call = [("BATON_IDEMPOTENCY_KEY", idempotency_key), (MARK, mark)];
        let env = environment::variables(&self.config.pass_env, &self.config.env, &call).map_err(|(name, error)| {
            ToolOutput::error(format!("error: the environment variable {name} of '{}' {error}", self.definition.name))
        })?;
        let mut command = Command::new(&self.config.program);
        command
            .args(&self.config.args)
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        if let Some(cwd) = &self.config.cwd {
            command.current_dir(cwd);
        }
        Ok(command)
    }

    /// The error result for a program that could not be started.
    fn start_failure(&self, error: &std::io::Error) -> ToolOutput {
        let within = match &self.config.cwd {
            Some(cwd) => format!(" in {}", cwd.display()),
            None => String::new(),
        };
        ToolOutput::error(format!(
            "error: cannot start the program {}{within} of '{}': {error}; check the path; relative paths are \
             resolved against the team file's directory",
            self.config.program.display(),
            self.definition.name
        ))
    }
}

#[async_trait]
impl Tool for CommandTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, arguments: &Value, idempotency_key: &str) -> ToolOutput {
        let mark = process_tree::new_mark();
        let mut command = match self.command(idempotency_key, &mark) {
            Ok(command) => command,
            Err(unset) => return unset,
        };
        let mut running = match command.spawn() {
            Ok(child) => Running::new(child, mark),
            Err(error) => return self.start_failure(&error),
        };
        let stdin = running.child.stdin.take();
        let stdout = running.child.stdout.take();
        let stderr = running.child.stderr.take();
        let (_, stdout, stderr, status) = tokio::join!(
            write_input(stdin, arguments.to_string()),
            capture(stdout),
            capture(stderr),
            running.child.wait()
        );
        running.finished = true;
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                return ToolOutput::error(format!(
                    "error: lost track of the program of '{}': {error}",
                    self.definition.name
                ))
            }
        };
        if status.success() {
            return success(&stdout);
        }
        let output = if stderr.bytes.iter().all(u8::is_ascii_whitespace) { stdout } else { stderr };
        let text = String::from_utf8_lossy(&output.bytes);
        let text = text.trim();
        let said = if text.is_empty() { "(no output)".to_string() } else { tail(text, ERROR_EXCERPT_BYTES) };
        ToolOutput::error(format!("error: '{}' failed ({status}): {said}", self.definition.name))
    }
}

/// Writes the arguments to the program's stdin, then closes it. A program that does not read
/// them may exit first; that is not an error.
async fn write_input(stdin: Option<tokio::process::ChildStdin>, input: String) {
    if let Some(mut stdin) = stdin {
        let _ = stdin.write_all(input.as_bytes()).await;
    }
}

/// What a program printed on one stream: the first [`MAX_CAPTURE_BYTES`], and whether there was
/// more.
struct Captured {
    bytes: Vec<u8>,
    cut: bool,
}

/// Reads a stream to its end, keeping the first [`MAX_CAPTURE_BYTES`]; a read error ends it.
async fn capture(stream: Option<impl AsyncRead + Unpin>) -> Captured {
    let mut captured = Captured { bytes: Vec::new(), cut: false };
    let Some(mut stream) = stream else { return captured };
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return captured,
            Ok(n) => {
                let room = MAX_CAPTURE_BYTES - captured.bytes.len();
                captured.cut |= n > room;
                captured.bytes.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
}

/// The result of a run that exited 0: stdout trimmed, JSON compacted, "ok" if it is empty.
fn success(stdout: &Captured) -> ToolOutput {
    let text = String::from_utf8_lossy(&stdout.bytes);
    let text = text.trim();
    if stdout.cut {
        return ToolOutput::ok(format!("{text}\n[… output cut: only the first {MAX_CAPTURE_BYTES} bytes were kept]"));
    }
    if text.is_empty() {
        return ToolOutput::ok("ok");
    }
    ToolOutput::ok(serde_json::from_str::<Value>(text).map_or_else(|_| text.to_string(), |json| json.to_string()))
}

/// The last `max_bytes` of `text` (cut at a char boundary, marked with "…").
fn tail(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_keeps_the_end_and_cuts_at_a_char_boundary() {
        assert_eq!(tail("ééé", 3), "…é");
        assert_eq!(tail("abcdef", 2), "…ef");
        assert_eq!(tail("short", 100), "short");
    }

    #[test]
    fn stdout_becomes_the_result() {
        let captured = |text: &str| Captured { bytes: text.as_bytes().to_vec(), cut: false };
        assert_eq!(success(&captured("  {\"a\": [1, 2]}\n")), ToolOutput::ok(r#"{"a":[1,2]}"#));
        assert_eq!(success(&captured("done.\n")), ToolOutput::ok("done."));
        assert_eq!(success(&captured("\n")), ToolOutput::ok("ok"));
    }
}
