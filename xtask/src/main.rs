//! `cargo xtask`: baton's project tasks, in Rust so that they need nothing but cargo.
//!
//! `cargo xtask test` is the README's test command: it installs what the external tests need
//! (`install.rs`), checks the test Postgres answers (`postgres.rs`), then runs every test of the
//! workspace with the `external-tests` features on and, given no arguments, every example of the
//! facade crate. Plain `cargo test --workspace` runs only the hermetic tier. `cargo xtask
//! simulate` runs the seeded fault simulator (`crates/baton-sim`) over
//! many seeds. This crate has no dependencies and is never published.

mod install;
mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask: baton's project tasks

Usage: cargo xtask <TASK> [ARGS...]

Tasks:
  test [ARGS...]  Install what the external tests need (when missing), check the test Postgres,
                  then run every test: cargo test --workspace --locked --no-fail-fast with the
                  external-tests features on. ARGS go to cargo test as they are, e.g.
                  `cargo xtask test -- crash` (a test name filter) or `cargo xtask test --test mcp`.
                  Without ARGS, then runs every example of crates/baton/examples, each of which
                  checks what it prints.
  setup           Install what the external tests need and check the test Postgres, without
                  running tests; prints the variables the tests read as `export` lines, so
                  `eval \"$(cargo xtask setup)\"` lets you run single tests by hand with
                  `cargo test -p CRATE --features external-tests ...`.
  simulate [--seeds N] [--from SEED] [--jobs J]
                  Run the seeded fault simulator (crates/baton-sim) over N seeds (default 1000)
                  from SEED (default 0): random teams and conversations under crashes, store,
                  model and tool faults, lost leases and zombie writers, every invariant checked
                  after every step. Prints the conversations per second and the faults injected
                  by kind; a failure prints its seed, trace and journal.
  simulate --seed SEED
                  Run one seed again and print its trace.
  help            This text.

Installed into .ci/.cache/ and reused while their pins hold:
";

/// The crates whose `external-tests` feature turns on the tests that need outside programs.
const EXTERNAL_TEST_CRATES: &[&str] = &["baton-store", "baton-tools", "baton-cli", "baton-server"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("setup") => setup(),
        Some("simulate") => simulate(&args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        None => {
            eprint!("{}", help());
            return ExitCode::from(2);
        }
        Some(other) => {
            eprintln!("xtask: there is no task '{other}'; the tasks are test, setup, simulate and help.\n");
            eprint!("{}", help());
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The help text, with the installers' list.
fn help() -> String {
    let mut text = HELP.to_string();
    for installer in install::INSTALLERS {
        let variables: Vec<&str> = installer.exports.iter().map(|(variable, _)| *variable).collect();
        text.push_str(&format!("  {} (sets {})\n", installer.name, variables.join(", ")));
    }
    text.push_str(&format!(
        "and the Postgres at {} (default {}) must answer.\n",
        postgres::VARIABLE,
        postgres::DEFAULT_URL
    ));
    text
}

/// The repository root: the folder above this crate.
fn repository_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Checks Postgres, installs what is missing, and returns every variable the tests read.
fn prepare(root: &Path) -> Result<Vec<(String, String)>, String> {
    let url = std::env::var(postgres::VARIABLE).unwrap_or_else(|_| postgres::DEFAULT_URL.to_string());
    eprintln!("== checking the test Postgres at {}", postgres::without_password(&url));
    postgres::check(&url)?;
    let mut variables = vec![(postgres::VARIABLE.to_string(), url)];
    for installer in install::INSTALLERS {
        variables.extend(installer.ensure(root)?);
    }
    Ok(variables)
}

/// `cargo xtask setup`: prepares, then prints the variables as `export` lines on stdout.
fn setup() -> Result<(), String> {
    let variables = prepare(&repository_root())?;
    for (variable, value) in variables {
        println!("export {variable}={}", shell_quoted(&value));
    }
    Ok(())
}

/// `cargo xtask test`: prepares, then runs every test with the external tier on.
fn test(args: &[String]) -> Result<(), String> {
    let root = repository_root();
    let variables = prepare(&root)?;
    let features: Vec<String> = EXTERNAL_TEST_CRATES.iter().map(|krate| format!("{krate}/external-tests")).collect();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        // Every test binary runs even after one fails, so that one run lists every failure.
        .args(["test", "--workspace", "--locked", "--no-fail-fast", "--features", &features.join(",")])
        .args(args)
        .envs(variables);
    eprintln!("== cargo test --workspace --locked --no-fail-fast --features {} {}", features.join(","), args.join(" "));
    let status = command.status().map_err(|error| format!("cannot start cargo test: {error}"))?;
    if !status.success() {
        return Err(format!("the tests failed (cargo test: {status}); the failures are listed above"));
    }
    eprintln!("== every test passed");
    match args.is_empty() {
        true => examples(&root),
        false => Ok(()),
    }
}

/// Runs each example of the facade crate (`crates/baton/examples/*.rs`), which fails when it does
/// not do what it shows.
fn examples(root: &Path) -> Result<(), String> {
    let dir = root.join("crates/baton/examples");
    let listed = std::fs::read_dir(&dir).map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
    let mut names: Vec<String> =
        listed.filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_string)).collect();
    names.sort();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for name in &names {
        eprintln!("== cargo run --locked -p baton --example {name}");
        let status = Command::new(&cargo)
            .current_dir(root)
            .args(["run", "--quiet", "--locked", "--package", "baton", "--example", name])
            .status()
            .map_err(|error| format!("cannot start cargo run: {error}"))?;
        if !status.success() {
            return Err(format!("the example {name} failed ({status}); its output is above"));
        }
    }
    eprintln!("== every example ran ({})", names.join(", "));
    Ok(())
}

/// `cargo xtask simulate`: runs the fault simulator's binary with the arguments given.
fn simulate(args: &[String]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repository_root())
        .args(["run", "--quiet", "--locked", "--package", "baton-sim", "--"])
        .args(args)
        .status()
        .map_err(|error| format!("cannot start cargo run: {error}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("the simulation failed (baton-sim: {status}); the failing seeds are listed above")),
    }
}

/// `value` in single quotes for a POSIX shell.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
