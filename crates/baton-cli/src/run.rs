//! `baton run TEAM MESSAGE`: one user turn, printed as its transcript and handoff chain.

use crate::live::Live;
use crate::transcript::{chain, lines, turn_entries};
use crate::{setup, Exit};
use baton::core::TurnStatus;
use baton::{Observer, Runtime, TurnReport, TurnUsage, Unobserved};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Stream every HTTP model's answers and print the turn as it happens.
    pub stream: bool,
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
        eprintln!("error: the message is empty: pass what the user says, e.g. baton run TEAM \"My internet is down\"");
        return Err(Exit::Usage);
    }
    let tokio = setup::tokio()?;
    let runtime = setup::runtime(&config, &args.db.location(), &tokio)?;
    let live = args.stream && !args.json;
    let observer: Arc<dyn Observer> = if live { Arc::new(Live::new(true)) } else { Arc::new(Unobserved) };
    let sent = tokio.block_on(runtime.send_observed(args.conversation.as_deref(), &args.message, observer));
    Ok(match sent {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
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
        Err(error) => setup::failed(&error),
    })
}

/// The turn's transcript (unless it was printed live) and handoff chain on stdout; where the
/// conversation stands, and the command to go on with, on stderr.
pub async fn print_report(runtime: &Runtime, report: &TurnReport, team: &str, db: &setup::Db, transcript: bool) {
    let outcome = &report.outcome;
    if transcript {
        match runtime.store().journal(&report.conversation).await {
            Ok(journal) => {
                for line in lines(turn_entries(&journal, outcome.turn), true) {
                    println!("{line}");
                }
            }
            Err(error) => eprintln!("warning: cannot read the turn's transcript back: {error}"),
        }
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
        outcome.status.as_str(),
        plural(outcome.model_calls, "model call"),
        plural(outcome.tool_calls, "tool call"),
    );
    if let Some(tokens) = tokens(&report.usage) {
        eprintln!("{tokens}");
    }
    let (conversation, db) = (&report.conversation, db.flag());
    match &outcome.pending {
        Some(pending) => {
            eprintln!("decide: baton approve {conversation} {}{db}   (or --deny --reason \"...\")", pending.call_id)
        }
        None if outcome.status == TurnStatus::Escalated => {
            eprintln!("operators: baton queue show {conversation}{db}");
        }
        None => eprintln!("continue: baton run {team} \"...\" --conversation {conversation}{db}"),
    }
}

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
