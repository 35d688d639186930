//! `baton run TEAM MESSAGE`: one user turn, printed as its transcript and handoff chain.

use crate::transcript::{chain, lines, turn_entries};
use crate::{setup, Exit};
use baton::core::{LimitKind, TurnStatus};
use baton::{Runtime, TurnReport};
use serde_json::json;
use std::path::PathBuf;

/// The arguments of `baton run`.
pub struct RunArgs {
    /// The team file.
    pub team: PathBuf,
    /// The user's message.
    pub message: String,
    /// The conversation to continue.
    pub conversation: Option<String>,
    /// The journal.
    pub db: setup::Db,
    /// Print one JSON object.
    pub json: bool,
}

/// Runs the turn and prints it.
pub fn run(args: &RunArgs) -> Exit {
    turn(args).unwrap_or_else(|exit| exit)
}

fn turn(args: &RunArgs) -> Result<Exit, Exit> {
    let config = setup::team(&args.team)?;
    if args.message.trim().is_empty() {
        eprintln!("error: the message is empty: pass what the user says, e.g. baton run TEAM \"My internet is down\"");
        return Err(Exit::Usage);
    }
    let tokio = setup::tokio()?;
    let runtime = setup::runtime(&config, &args.db.location(), &tokio)?;
    Ok(match tokio.block_on(runtime.send(args.conversation.as_deref(), &args.message)) {
        Ok(report) => {
            if args.json {
                println!("{}", report_json(&report));
            } else {
                tokio.block_on(print_report(&runtime, &report, args));
            }
            if report.outcome.status == TurnStatus::Failed {
                Exit::Failed
            } else {
                Exit::Ok
            }
        }
        Err(error) if setup::is_usage_error(&error) => {
            eprintln!("error: {error}");
            Exit::Usage
        }
        Err(error) => {
            eprintln!("error: {error}");
            Exit::Failed
        }
    })
}

/// The `--json` contract of `baton run` (also one line of `baton chat --json`).
pub fn report_json(report: &TurnReport) -> serde_json::Value {
    let outcome = &report.outcome;
    json!({
        "conversation": report.conversation,
        "turn": outcome.turn,
        "status": outcome.status,
        "agent": outcome.agent,
        "reply": outcome.reply,
        "handoffs": outcome.handoffs,
        "limit": outcome.limit.map(LimitKind::as_str),
        "model_calls": outcome.model_calls,
        "tool_calls": outcome.tool_calls,
        "error": outcome.error,
        "routed": outcome.routed,
    })
}

/// The turn's transcript and handoff chain on stdout; where the conversation stands on stderr.
async fn print_report(runtime: &Runtime, report: &TurnReport, args: &RunArgs) {
    let outcome = &report.outcome;
    match runtime.store().journal(&report.conversation).await {
        Ok(journal) => {
            for line in lines(turn_entries(&journal, outcome.turn), true) {
                println!("{line}");
            }
        }
        Err(error) => eprintln!("warning: cannot read the turn's transcript back: {error}"),
    }
    println!("\nhandoff chain: {}", chain(outcome));
    if let Some(error) = &outcome.error {
        eprintln!("error: {error}");
    }
    let plural = |n: u32, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "\nconversation {} · turn {} · {} · {}, {}",
        report.conversation,
        outcome.turn,
        serde_json::to_value(outcome.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
        plural(outcome.model_calls, "model call"),
        plural(outcome.tool_calls, "tool call"),
    );
    eprintln!(
        "continue: baton run {} \"...\" --conversation {}{}",
        args.team.display(),
        report.conversation,
        args.db.flag()
    );
}
