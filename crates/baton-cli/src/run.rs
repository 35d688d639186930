//! `baton run TEAM MESSAGE`: one user turn, printed as its transcript and handoff chain. A turn
//! of the conversation that a crash interrupted is finished first, and printed as such. A
//! conversation another process holds is waited for up to `--wait` seconds.

use crate::lease_wait::{self, Wait, Waited};
use crate::live::Live;
use crate::paint::{self, paint, print_error, print_warning};
use crate::plural::count;
use crate::stdout::println;
use crate::transcript::{chain, lines_after_last_turn, turn_lines, Transcript};
use crate::{db, setup, shell, Exit};
use anstream::eprintln;
use baton::core::TurnStatus;
use baton::{wire, Observer, Runtime, RuntimeError, TurnReport, TurnUsage, Unobserved};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// The arguments of `baton run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The team file (team.toml).
    pub team: PathBuf,
    /// The user's message.
    pub message: String,
    /// Continue this conversation instead of starting a new one.
    #[arg(long)]
    pub conversation: Option<String>,
    #[command(flatten)]
    pub db: db::Db,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Stream the answers of every HTTP model (whatever the team file says) and print the
    /// turn as it happens.
    #[arg(long)]
    pub stream: bool,
    /// Wait up to this long for a conversation another process holds (exit 3 past it).
    #[arg(long, value_name = "SECONDS", default_value_t = lease_wait::DEFAULT_WAIT_SECONDS)]
    pub wait: u64,
}

/// What `baton run --json` prints: the turn, and the one a crash had interrupted if it finished
/// that first.
#[derive(Serialize)]
struct Printed {
    #[serde(flatten)]
    turn: wire::TurnReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted_turn: Option<wire::TurnReport>,
}

/// `value` as one line of JSON, as `--json` prints it.
pub fn json_line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Runs the turn and prints it.
pub fn run(args: &RunArgs) -> Exit {
    turn(args).unwrap_or_else(|exit| exit)
}

fn turn(args: &RunArgs) -> Result<Exit, Exit> {
    let mut config = setup::team(&args.team)?;
    if args.stream {
        config.stream_all();
    }
    if args.message.trim().is_empty() {
        print_error!("the message is empty: pass what the user says, e.g. baton run TEAM \"My internet is down\"");
        return Err(Exit::Usage);
    }
    let tokio = setup::tokio()?;
    let runtime = setup::runtime(&config, args.db.location(), &tokio)?;
    let live = args.stream && !args.json;
    let wait = Wait::new(args.wait);
    let interrupted = match &args.conversation {
        Some(conversation) => {
            let finished = wait.run(conversation, || finish_interrupted_turn(&runtime, conversation));
            tokio.block_on(finished).map_err(|waited| exit_for(&waited))?
        }
        None => None,
    };
    if let (Some(interrupted), false) = (&interrupted, args.json) {
        tokio.block_on(print_interrupted_turn(&runtime, interrupted));
    }
    if let (Some(conversation), true) = (&args.conversation, live) {
        tokio.block_on(print_unseen(&runtime, conversation, Transcript::new(true)));
    }
    let observer: Arc<dyn Observer> = if live { Arc::new(Live::new(true)) } else { Arc::new(Unobserved) };
    let send = || runtime.send_observed(args.conversation.as_deref(), &args.message, observer.clone());
    let sent = match &args.conversation {
        Some(conversation) => tokio.block_on(wait.run(conversation, send)),
        None => tokio.block_on(send()).map_err(Waited::Failed),
    };
    Ok(match sent {
        Ok(report) => {
            if args.json {
                let interrupted_turn = interrupted.as_ref().map(wire::TurnReport::from);
                println!("{}", json_line(&Printed { turn: wire::TurnReport::from(&report), interrupted_turn }));
            } else {
                let team = args.team.display().to_string();
                tokio.block_on(print_report(&runtime, &report, &team, &args.db, !live));
            }
            if report.outcome.status == TurnStatus::Failed {
                Exit::Failed
            } else {
                Exit::Ok
            }
        }
        Err(waited) => exit_for(&waited),
    })
}

/// Prints why the work on a conversation did not happen, and returns the exit code: 3 when
/// another process still held it after the wait.
pub fn exit_for(waited: &Waited) -> Exit {
    match waited {
        Waited::Busy(busy) => {
            print_error!("{busy}");
            Exit::Busy
        }
        Waited::Failed(error) => setup::failed(error),
    }
}

/// Finishes the turn of `conversation` that a crash interrupted, if the conversation exists and
/// has one, and returns how that turn ended.
pub async fn finish_interrupted_turn(
    runtime: &Runtime,
    conversation: &str,
) -> Result<Option<TurnReport>, RuntimeError> {
    if runtime.store().conversation(conversation).await?.is_none() {
        return Ok(None);
    }
    runtime.resume(conversation).await
}

/// Prints a turn that a crash interrupted and that was just finished, before the new one.
pub async fn print_interrupted_turn(runtime: &Runtime, report: &TurnReport) {
    let turn = report.outcome.turn;
    println!("{}", paint(paint::NOTE, format!("── turn {turn} was interrupted by a crash; finished now:")));
    print_transcript(runtime, report, Transcript::new(true)).await;
    println!("handoff chain: {}", chain(&report.outcome));
    println!("{}\n", paint(paint::NOTE, format!("── end of turn {turn}")));
}

/// Prints what was journaled in `conversation` since its last turn ended, which the user has
/// not seen: an operator's replies, a handback.
pub async fn print_unseen(runtime: &Runtime, conversation: &str, transcript: Transcript) {
    if let Ok(journal) = runtime.store().journal(conversation).await {
        for line in lines_after_last_turn(&journal, transcript) {
            println!("{line}");
        }
    }
}

/// The turn's transcript on stdout.
pub async fn print_transcript(runtime: &Runtime, report: &TurnReport, transcript: Transcript) {
    match runtime.store().journal(&report.conversation).await {
        Ok(journal) => {
            for line in turn_lines(&journal, report.outcome.turn, transcript) {
                println!("{line}");
            }
        }
        Err(error) => print_warning!("cannot read the turn's transcript back: {error}"),
    }
}

/// The turn's transcript (unless it was printed live) and handoff chain on stdout; where the
/// conversation stands, and the command to go on with, on stderr. A failed turn's error is in
/// its transcript, once.
pub async fn print_report(runtime: &Runtime, report: &TurnReport, team: &str, db: &db::Db, transcript: bool) {
    let outcome = &report.outcome;
    if transcript {
        print_transcript(runtime, report, Transcript::new(true)).await;
    }
    println!("\nhandoff chain: {}", chain(outcome));
    eprintln!(
        "\nconversation {} · turn {} · {} · {}, {}",
        report.conversation,
        outcome.turn,
        outcome.status.as_str(),
        count(outcome.model_calls, "model call", "model calls"),
        count(outcome.tool_calls, "tool call", "tool calls"),
    );
    if let Some(tokens) = tokens(&report.usage) {
        eprintln!("{tokens}");
    }
    eprintln!("{}", paint(paint::NOTE, next_step(report, team, db)));
}

/// The command to go on with, or why there is none.
fn next_step(report: &TurnReport, team: &str, db: &db::Db) -> String {
    if db.is_memory() {
        return MEMORY_IS_GONE.to_string();
    }
    let (conversation, db) = (&report.conversation, db.flag());
    match &report.outcome.pending {
        Some(pending) => {
            format!("decide: baton approve {conversation} {}{db}   (or --deny --reason \"...\")", pending.call_id)
        }
        None if report.outcome.status == TurnStatus::Escalated => {
            format!("operators: baton queue show {conversation}{db}")
        }
        None => format!("continue: baton run {} \"...\" --conversation {conversation}{db}", shell::quote(team)),
    }
}

/// What `--db memory` leaves once the command ends.
pub const MEMORY_IS_GONE: &str =
    "the conversation was in memory: it is gone with this command (to continue one later, pass --db PATH)";

/// "tokens: 1200 in, 85 out (billing 900/60, triage 300/25) · $0.0012", or `None` when no
/// provider reported usage.
pub fn tokens(usage: &TurnUsage) -> Option<String> {
    if usage.agents.is_empty() {
        return None;
    }
    let total = &usage.total;
    let mut line = format!("tokens: {} in, {} out", total.input_tokens, total.output_tokens);
    if usage.agents.len() > 1 {
        let agents: Vec<String> = usage
            .agents
            .iter()
            .map(|(agent, used)| format!("{agent} {}/{}", used.input_tokens, used.output_tokens))
            .collect();
        line.push_str(&format!(" ({})", agents.join(", ")));
    }
    if let Some(cost) = total.cost_usd {
        line.push_str(&format!(" · ${cost:.4}"));
    }
    Some(line)
}
