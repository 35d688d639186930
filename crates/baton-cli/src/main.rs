//! The `baton` command: check a team file, run a turn, chat, decide on approvals, work the
//! escalation queue, read a conversation's trace, evaluate routing, serve over HTTP, measure
//! what a team costs, and print its own shell completions and manual.
//!
//! Exit codes: 0 = ok, 1 = the turn failed (or the journal did, or what was asked does not fit
//! the conversation now: a decision nobody waits for, a ticket someone else holds), 2 = usage or
//! team error, 3 = another process still held the conversation after `--wait`.

mod approve;
mod bench;
mod chat;
mod check;
mod db;
mod docs;
mod eval;
mod keys;
mod lease_wait;
mod live;
mod log;
mod new;
mod paint;
mod plural;
mod process_usage;
mod progress;
mod queue;
mod resume;
mod run;
mod serve;
mod setup;
mod shell;
mod stdout;
mod telemetry;
mod trace;
mod transcript;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run teams of AI agents that hand a conversation to one another, every step journaled so that
/// a crashed turn finishes where it stopped.
///
/// A team file (team.toml) names the agents, their models and tools, who may hand off to whom
/// and the limits of a turn; a human agent is a queue that operators work. Check a team, then run,
/// chat with, evaluate, benchmark or serve it. Start one with `baton new NAME`.
#[derive(Parser)]
#[command(
    name = "baton",
    version,
    propagate_version = true,
    styles = clap::builder::styling::Styles::styled(),
    after_long_help = AFTER_LONG_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: log::LogArgs,
}

/// The end of `baton --help`: the journal's forms and the exit codes.
const AFTER_LONG_HELP: &str = "\
Journal (--db, or BATON_DB): a SQLite file (PATH or sqlite://PATH; default .baton/baton.db),
a Postgres URL (postgres://USER@HOST:PORT/DATABASE) or memory (run, chat, bench, serve).

Exit codes: 0 ok; 1 the turn or the journal failed, or the action does not fit the conversation
now; 2 a usage or team file error; 3 another process still held the conversation after --wait.

Colours appear on a terminal only; NO_COLOR=1 turns them off.";

#[derive(Subcommand)]
enum Command {
    /// Check a team file: every error at once, with file, line and column.
    ///
    /// Exits 0 when the team is valid (warnings are printed), 2 with every error.
    Check {
        /// The team file (team.toml).
        team: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run one user turn, in a new conversation or an existing one (--conversation).
    Run(run::RunArgs),
    /// Chat with a team, each turn's handoffs shown inline.
    ///
    /// When stdin and stdout are both a terminal, lines can be edited and earlier ones recalled
    /// with the arrow keys (the history is kept in DATA_DIR/baton/history, e.g.
    /// ~/.local/share/baton/history); /trace shows the journal, /new starts a new conversation,
    /// /quit (or Ctrl-D, Ctrl-C) ends. Otherwise each line of input is one message, and the
    /// session ends when its output is no longer read.
    Chat(chat::ChatArgs),
    /// Measure routing on a JSON-lines file of cases, each in a fresh in-memory conversation.
    Eval(eval::EvalArgs),
    /// Finish every turn a crash interrupted, printing each like `run` does.
    Resume {
        #[command(flatten)]
        db: db::Db,
        /// Print one JSON line per finished turn (the object `baton run --json` prints).
        #[arg(long)]
        json: bool,
        /// How many conversations to resume at a time.
        #[arg(long, short = 'c', default_value_t = 16)]
        concurrency: usize,
        /// Wait up to this long for each conversation another process holds, then skip it (exit 3).
        #[arg(long, value_name = "SECONDS", default_value_t = lease_wait::DEFAULT_WAIT_SECONDS)]
        wait: u64,
    },
    /// Approve (or --deny) a tool call waiting for approval, and carry the turn on.
    Approve(approve::ApproveArgs),
    /// Work the escalation queue: the conversations a human agent holds.
    Queue {
        #[command(subcommand)]
        command: queue::QueueCommand,
        /// The journal: a SQLite file (PATH or sqlite://PATH) or a Postgres URL
        /// (postgres://USER@HOST:PORT/DATABASE).
        #[arg(long = "db", env = "BATON_DB", value_name = "PATH|URL", default_value = db::DEFAULT_DB, global = true, value_parser = db::Journal::parse)]
        db: db::Journal,
        /// Print the result as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Make API keys for `baton serve` (keys.toml).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Serve teams over HTTP until SIGINT or SIGTERM.
    ///
    /// Conversations, streaming, the operator queue and an OpenAI-compatible endpoint (see GET
    /// /openapi.json).
    Serve(serve::ServeArgs),
    /// Measure what a team costs: N conversations, C at a time, in this process.
    ///
    /// Prints conversations/s, the latency per turn, the calls made, the CPU time per
    /// conversation and the peak memory.
    Bench(bench::BenchArgs),
    /// Start a new team: a directory with a team.toml, an eval file and a README.
    ///
    /// The team passes `baton check` and `baton eval` at once and runs offline.
    New {
        /// The directory to create (its last part names the team).
        name: PathBuf,
        /// What to start from.
        #[arg(long, value_enum, default_value_t = new::Template::Minimal)]
        template: new::Template,
        /// Print what was written as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Show a conversation's journal as a timeline.
    Trace {
        /// The conversation id.
        conversation: String,
        #[command(flatten)]
        db: db::Db,
        /// Print the journal as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell or elvish).
    ///
    /// Install it where the shell looks, for example:
    /// `baton completions bash > ~/.local/share/bash-completion/completions/baton`;
    /// `baton completions zsh > ~/.zfunc/_baton` (with ~/.zfunc in fpath);
    /// `baton completions fish > ~/.config/fish/completions/baton.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    ///
    /// `baton man | man -l -` reads it; `baton man --out DIR` writes baton.1 and a baton-COMMAND.1
    /// for every command, as packages install them (e.g. into /usr/share/man/man1).
    Man {
        /// Write baton.1 and one page per command here instead of printing baton.1.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// How a command ended, as an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything went as asked.
    Ok = 0,
    /// The turn (or the journal) failed.
    Failed = 1,
    /// The command line or the team file is wrong.
    Usage = 2,
    /// Another process still held the conversation after `--wait`: try again later.
    Busy = 3,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let start = match cli.command {
        Command::Serve(_) => log::Start::Information,
        _ => log::Start::Warnings,
    };
    log::install(&cli.log, start);
    // `baton serve` starts its own, from its flag and team files as well, and stops on a wrong
    // setting; another command goes on without sending spans, so that an `OTEL_*` variable set
    // for something else cannot stop `baton check`.
    let _export = match cli.command {
        Command::Serve(_) => None,
        _ => telemetry::start(None).unwrap_or_else(|error| {
            paint::print_warning!("{error}; no spans are sent");
            None
        }),
    };
    let exit = match cli.command {
        Command::Check { team, json } => check::run(&team, json),
        Command::Run(args) => run::run(&args),
        Command::Chat(args) => chat::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Resume { db, json, concurrency, wait } => resume::run(&db, json, concurrency, wait),
        Command::Keys { command } => keys::run(&command),
        Command::Serve(args) => serve::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::New { name, template, json } => new::run(&name, template, json),
        Command::Trace { conversation, db, json } => trace::run(&conversation, &db, json),
        Command::Approve(args) => approve::run(&args),
        Command::Queue { command, db, json } => queue::run(&command, &db::Db { journal: db }, json),
        Command::Completions { shell } => docs::completions(shell, Cli::command()),
        Command::Man { out } => docs::man(Cli::command(), out.as_deref()),
    };
    ExitCode::from(exit as u8)
}
