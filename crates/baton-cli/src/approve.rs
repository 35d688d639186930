//! `baton approve CONVERSATION CALL_ID [--deny --reason TEXT] [--by NAME] [--json]`: decides on
//! a tool call waiting for approval and carries the turn on, printed like `baton run` prints a
//! turn. A denial is told to the model as the call's result.

use crate::paint::print_note;
use crate::run::{json_line, print_report};
use crate::stdout::println;
use crate::{db, setup, Exit};
use baton::core::TurnStatus;
use baton::{wire, Decision, Unobserved};
use std::sync::Arc;

/// The arguments of `baton approve`.
#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The conversation.
    pub conversation: String,
    /// The call waiting (the "pending" call_id of `run --json`).
    pub call_id: String,
    /// Deny the call: the model is told it was not made, and why.
    #[arg(long)]
    pub deny: bool,
    /// Why (told to the model when the call is denied).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who decides, for the journal.
    #[arg(long, env = "BATON_OPERATOR")]
    pub by: Option<String>,
    #[command(flatten)]
    pub db: db::Db,
    /// Print the result as one JSON object (the one `baton run --json` prints).
    #[arg(long)]
    pub json: bool,
}

/// Decides and prints how the turn went on.
pub fn run(args: &ApproveArgs) -> Exit {
    decide(args).unwrap_or_else(|exit| exit)
}

fn decide(args: &ApproveArgs) -> Result<Exit, Exit> {
    if args.reason.is_some() && !args.deny {
        print_note!("the reason is journaled with the approval; the model reads reasons only for denials");
    }
    let (tokio, store) = setup::existing_journal(&args.db)?;
    let runtime = tokio.block_on(setup::conversation_runtime(store.clone(), &args.conversation))?;
    let decision = Decision { approve: !args.deny, reason: args.reason.clone(), by: args.by.clone() };
    let decided = tokio.block_on(runtime.decide(&args.conversation, &args.call_id, decision, Arc::new(Unobserved)));
    let report = decided.map_err(|error| setup::failed(&error))?;
    if args.json {
        println!("{}", json_line(&wire::TurnReport::from(&report)));
    } else {
        let team = tokio
            .block_on(store.conversation(&args.conversation))
            .ok()
            .flatten()
            .and_then(|info| info.team_file)
            .unwrap_or_else(|| "TEAM".into());
        tokio.block_on(print_report(&runtime, &report, &team, &args.db, true));
    }
    Ok(if report.outcome.status == TurnStatus::Failed { Exit::Failed } else { Exit::Ok })
}
