//! The log: what every crate reports through `tracing` (the runtime's turns, the server's
//! requests and recovery, the MCP client's warnings) as lines on stderr, readable by default and
//! JSON objects with `--log-format json` (or `BATON_LOG_FORMAT=json`). `RUST_LOG` chooses what is
//! logged, as `tracing-subscriber` reads it; without it, `-v` and `-q` move the level from the
//! command's default: warnings, or information for `baton serve`. Other crates' logs are held
//! at warnings unless `RUST_LOG` asks for more. The people-facing output of a command (its
//! transcript, its errors) is not the log and stays as it is.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The options every command takes for its log.
#[derive(clap::Args, Clone, Debug)]
pub struct LogArgs {
    /// Log more: -v information, -vv debugging detail, -vvv everything (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log less: -q errors only, -qq nothing.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    /// How log lines are written: text (readable) or json (one object per line).
    #[arg(long, value_enum, env = "BATON_LOG_FORMAT", default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines: time, level, where, message and fields.
    Text,
    /// One JSON object per line, with the fields and the spans it happened in.
    Json,
}

/// The levels, from logging nothing to logging everything.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// baton's crates that log (the binary's target is `baton` too), logged at the chosen level; the
/// others at warnings at most.
const OURS: [&str; 3] = ["baton", "baton_server", "baton_models"];

/// Where the log starts for a command: warnings, or information for one that serves.
#[derive(Clone, Copy, Debug)]
pub enum Start {
    /// Warnings and errors.
    Warnings,
    /// Information too (what a server did).
    Information,
}

/// Installs the log for the whole process.
pub fn install(args: &LogArgs, default: Start) {
    let filter = filter(args, default, std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
    // Only a second install fails, and the first one logs.
    drop(installed);
}

/// What is logged: `RUST_LOG` if set and readable, otherwise the level `-v`/`-q` chose.
fn filter(args: &LogArgs, default: Start, rust_log: Option<&str>) -> EnvFilter {
    if let Some(directives) = rust_log.filter(|directives| !directives.trim().is_empty()) {
        match EnvFilter::try_new(directives) {
            Ok(filter) => return filter,
            Err(error) => {
                anstream::eprintln!("warning: RUST_LOG={directives:?} does not read ({error}); logging as -v/-q say")
            }
        }
    }
    EnvFilter::new(directives(args, default))
}

/// The directives for the level `-v`/`-q` moved `default` to.
fn directives(args: &LogArgs, default: Start) -> String {
    let start = match default {
        Start::Warnings => 2,
        Start::Information => 3,
    };
    let level = (start + usize::from(args.verbose)).saturating_sub(usize::from(args.quiet)).min(LEVELS.len() - 1);
    let others = LEVELS[level.min(2)];
    let ours = OURS.iter().map(|name| format!("{name}={}", LEVELS[level]));
    std::iter::once(others.to_string()).chain(ours).collect::<Vec<_>>().join(",")
}

/// Whether text lines are coloured: on a terminal, unless `NO_COLOR` is set or `TERM` is dumb.
fn colour() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::env::var("TERM").map_or(true, |term| term != "dumb")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(verbose: u8, quiet: u8) -> LogArgs {
        LogArgs { verbose, quiet, log_format: LogFormat::Text }
    }

    #[test]
    fn v_and_q_move_the_level_of_batons_crates_and_hold_the_others_at_warnings() {
        let ours =
            |args: &LogArgs, default| directives(args, default).split(',').nth(1).unwrap_or_default().to_string();
        assert_eq!(ours(&args(0, 0), Start::Warnings), "baton=warn");
        assert_eq!(ours(&args(0, 0), Start::Information), "baton=info");
        assert_eq!(ours(&args(2, 0), Start::Warnings), "baton=debug");
        assert_eq!(ours(&args(9, 0), Start::Warnings), "baton=trace");
        assert_eq!(ours(&args(0, 1), Start::Information), "baton=warn");
        assert_eq!(ours(&args(0, 5), Start::Warnings), "baton=off");
        assert!(directives(&args(3, 0), Start::Information).starts_with("warn,"));
        assert!(directives(&args(0, 2), Start::Warnings).starts_with("off,"));
    }

    #[test]
    fn rust_log_wins_and_one_that_does_not_read_falls_back() {
        let chosen = filter(&args(0, 0), Start::Warnings, Some("baton_server=trace")).to_string();
        assert_eq!(chosen, "baton_server=trace");
        let fallback = filter(&args(0, 0), Start::Warnings, Some("baton=[")).to_string();
        assert!(fallback.contains("baton=warn"), "{fallback}");
        let blank = filter(&args(1, 0), Start::Warnings, Some(" ")).to_string();
        assert!(blank.contains("baton=info"), "{blank}");
    }
}
