//! Shared helpers: temporary folders with team files, and running the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "baton-cli-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    dir
}

/// A support team whose one model is the OpenAI-compatible server at `base_url`.
pub fn support_team(dir: &Path, base_url: &str, limits: &str) -> PathBuf {
    let models = format!(
        r#"[models.fast]
provider = "openai"
model = "gpt-test"
base_url = "{base_url}"
api_key_env = "BATON_TEST_KEY"
timeout_secs = 2"#
    );
    support_team_with(dir, &models, ["fast", "fast", "fast"], limits)
}

/// A support team with the `[models.*]` tables `models`; triage, technical and billing use the
/// three models named (every handoff passes the full context but triage → billing, a summary).
pub fn support_team_with(dir: &Path, models: &str, [triage, technical, billing]: [&str; 3], limits: &str) -> PathBuf {
    std::fs::write(dir.join("data/customers.json"), r#"{"42": {"name": "Ada", "plan": "Fibre 500"}}"#).unwrap();
    std::fs::write(dir.join("data/lines.json"), r#"{"42": {"status": "up"}}"#).unwrap();
    let team = format!(
        r#"name = "support"
entry = "triage"

[limits]
{limits}

{models}

[agents.triage]
description = "Front desk."
instructions = "You are triage."
model = "{triage}"
tools = ["lookup_customer"]
handoffs = ["technical", {{ to = "billing", context = "summary" }}, "human"]

[agents.technical]
description = "Connection problems."
instructions = "You are technical."
model = "{technical}"
tools = ["check_line_status"]
handoffs = ["triage", "billing", "human"]

[agents.billing]
description = "Charges."
instructions = "You are billing."
model = "{billing}"
handoffs = ["triage", "human"]

[agents.human]
kind = "human"
description = "A person."

[tools.lookup_customer]
kind = "lookup"
description = "Look up a customer."
data = "data/customers.json"
key = "customer_id"

[tools.check_line_status]
kind = "lookup"
description = "Line status."
data = "data/lines.json"
key = "customer_id"
"#
    );
    let path = dir.join("team.toml");
    std::fs::write(&path, team).unwrap();
    path
}

/// Default limits for [`support_team`].
pub const DEFAULT_LIMITS: &str = "fallback = \"human\"";

/// Runs `baton` with `args` (and extra environment), without inheriting a test API key.
pub fn baton(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command.args(args).env_remove("BATON_TEST_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run the baton binary")
}

/// Runs one turn with `--json` and returns the exit code and the parsed JSON object.
pub fn run_json(team: &Path, db: &Path, message: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut args = vec!["run", team.to_str().unwrap(), message, "--db", db.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let output = baton(&args, env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not one JSON object ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    (output.status.code().unwrap_or(-1), json)
}

/// Runs `baton args` in `dir` with `env` (output piped, not a terminal), without inheriting a
/// journal or a test API key.
pub fn baton_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command.args(args).current_dir(dir).env_remove("BATON_DB").env_remove("BATON_TEST_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run the baton binary")
}

/// Runs `baton args` in `dir` with `input` on stdin and stdout a pipe nobody reads any more (its
/// read end closed before `baton` starts), as `baton … | head -1` leaves it once `head` is done.
pub fn baton_with_stdout_closed(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let (reader, writer) = pipe();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .current_dir(dir)
        .env_remove("BATON_DB")
        .env_remove("BATON_TEST_KEY")
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the baton binary");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().expect("wait for the baton binary")
}

/// A pipe, its two ends closed on exec, so that processes other tests start meanwhile do not
/// keep either end open: `(read end, write end)`.
pub fn pipe() -> (std::fs::File, std::fs::File) {
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("make a pipe");
    (reader.into(), writer.into())
}

/// Output bytes as text (anything not UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The trace of a conversation as parsed JSON lines.
pub fn trace_json(db: &str, conversation: &str) -> Vec<Value> {
    let output = baton(&["trace", conversation, "--db", db, "--json"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// A URL to a fresh, empty schema of the test Postgres (`BATON_TEST_POSTGRES`, by default
/// `postgres://postgres@127.0.0.1:5432/test`); panics, failing the test, when it cannot be reached.
#[cfg(feature = "external-tests")]
pub fn postgres_url(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base =
        std::env::var("BATON_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("cli_{name}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
            panic!(
                "this test needs Postgres at {base} (BATON_TEST_POSTGRES): {e}; run it with \
                 `cargo xtask test`, which checks the database first and says how to get one"
            )
        });
        tokio::spawn(connection);
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    });
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// Runs `baton` with `args`, writing `input` to its stdin (a pipe, not a terminal).
pub fn baton_with_input(args: &[&str], input: impl AsRef<[u8]>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the baton binary");
    child.stdin.take().unwrap().write_all(input.as_ref()).unwrap();
    child.wait_with_output().expect("wait for the baton binary")
}

/// The path of an example's file, e.g. `example("support", "team.toml")`.
pub fn example(name: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).join(file)
}

/// A copy of the example `name` in a fresh folder, so that a test may run in it and write there.
pub fn copy_of_example(name: &str) -> PathBuf {
    let copy = temp_dir(&format!("example-{name}")).join(name);
    copy_dir(&example(name, ""), &copy);
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
