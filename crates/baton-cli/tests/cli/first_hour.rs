//! Bugs a new user met in the first hour, end to end.

use crate::support::{example, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of the example `name` in a fresh folder, so that a test may run in it and write there.
fn copy_of_example(name: &str) -> PathBuf {
    let copy = temp_dir(&format!("first-hour-{name}")).join(name);
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

/// Runs `baton` with `args` in the directory `dir`.
fn baton_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baton")).args(args).current_dir(dir).output().expect("run the baton binary")
}

/// `cd examples/support && baton run team.toml "…"`: the team file named without a directory
/// still runs its command tools (the refund) in the team file's folder.
#[test]
fn a_team_file_named_without_a_directory_runs_its_command_tools() {
    let support = copy_of_example("support");
    let message = "I was charged twice on invoice INV-2042, 39.90 EUR";
    let output = baton_in(&support, &["run", "team.toml", message, "--db", "memory", "--json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["status"].as_str(), report["tool_calls"].as_u64()), (Some("answered"), Some(1)), "{report}");
    let reply = report["reply"].as_str().unwrap_or_default();
    assert!(reply.contains("refunded 39.9 EUR for invoice INV-2042"), "{report}\n{stderr}");
    let _ = std::fs::remove_dir_all(support.parent().unwrap());
}
