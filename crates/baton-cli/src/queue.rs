//! `baton queue list|show|claim|reply|handback|close`: the escalation queue from the command
//! line. A ticket is named by its conversation id; each conversation's team is rebuilt from the
//! team file it was created with, so one journal may hold the tickets of several teams.

use crate::paint::print_error;
use crate::run::json_line;
use crate::stdout::println;
use crate::transcript::lines;
use crate::{db, setup, Exit};
use anstream::eprintln;
use baton::store::Store;
use baton::wire::{Ticket, TicketSummary};
use baton::{Service, TicketStatus, TicketView};
use clap::Subcommand;
use serde::Serialize;
use std::sync::Arc;

/// What to do with the queue.
#[derive(Subcommand)]
pub enum QueueCommand {
    /// The tickets waiting for an operator or held by one, oldest first.
    List,
    /// A ticket with its context package: the handoff note, the facts, the transcript.
    Show {
        /// The ticket (its conversation id).
        id: String,
    },
    /// Take a ticket: until it is handed back or closed, only you act on it.
    Claim {
        /// The ticket (its conversation id).
        id: String,
        /// Who takes it.
        #[arg(long, env = "BATON_OPERATOR")]
        operator: String,
    },
    /// Write to the user, as the human agent in control.
    Reply {
        /// The ticket (its conversation id).
        id: String,
        /// What to tell the user.
        text: String,
        /// Who writes (default: whoever claimed the ticket).
        #[arg(long, env = "BATON_OPERATOR")]
        operator: Option<String>,
    },
    /// Give control back to an AI agent (along a declared edge); it takes the next user turn.
    Handback {
        /// The ticket (its conversation id).
        id: String,
        /// The agent that takes control.
        agent: String,
        /// A note for that agent, in its handoff note.
        #[arg(long)]
        note: Option<String>,
        /// Who hands back (default: whoever claimed the ticket).
        #[arg(long, env = "BATON_OPERATOR")]
        operator: Option<String>,
    },
    /// Close the ticket; control stays with the human agent, and the ticket opens again if the
    /// user writes.
    Close {
        /// The ticket (its conversation id).
        id: String,
        /// Who closes it (default: whoever claimed the ticket).
        #[arg(long, env = "BATON_OPERATOR")]
        operator: Option<String>,
    },
}

/// What `baton queue list --json` prints.
#[derive(Serialize)]
struct Listed {
    tickets: Vec<TicketSummary>,
}

/// Runs one queue command.
pub fn run(command: &QueueCommand, db: &db::Db, json: bool) -> Exit {
    let opened = match command {
        QueueCommand::List | QueueCommand::Show { .. } => setup::journal_to_read(db),
        _ => setup::existing_journal(db),
    };
    let (tokio, store) = match opened {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    tokio.block_on(async {
        match command {
            QueueCommand::List => list(store, json).await,
            QueueCommand::Show { id } => show(store, id, json).await,
            action => operate(store, action, db, json).await,
        }
    })
}

/// Prints a ticket with its context package and journal.
async fn show(store: Arc<dyn Store>, id: &str, json: bool) -> Exit {
    let runtime = match setup::conversation_runtime(store, id).await {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    let (info, journal, state) = match runtime.conversation(id).await {
        Ok(read) => read,
        Err(error) => return setup::failed(&error),
    };
    let view = TicketView::of(&info, &journal, &state);
    if json {
        println!("{}", json_line(&Ticket::from(&view)));
        return Exit::Ok;
    }
    println!("ticket {}", headline(&view));
    if let Some(note) = &view.note {
        println!("handed over by {}: {}", note.from, note.reason);
        if let Some(summary) = &note.summary {
            println!("summary: {summary}");
        }
        println!("the user asked: {}", note.request);
        if let Some(first) = &note.first_request {
            println!("the user first asked: {first}");
        }
    }
    for (key, value) in &view.facts {
        println!("fact {key} = {value}");
    }
    println!("transcript:");
    for line in lines(&journal, true) {
        println!("  {line}");
    }
    Exit::Ok
}

/// Carries out an operator's action on a ticket.
async fn operate(store: Arc<dyn Store>, action: &QueueCommand, db: &db::Db, json: bool) -> Exit {
    let (id, verb) = match action {
        QueueCommand::Claim { id, .. } => (id, "claimed"),
        QueueCommand::Reply { id, .. } => (id, "replied"),
        QueueCommand::Handback { id, .. } => (id, "handed back"),
        QueueCommand::Close { id, .. } => (id, "closed"),
        QueueCommand::List | QueueCommand::Show { .. } => unreachable!("not an operator's action"),
    };
    let runtime = match setup::conversation_runtime(store, id).await {
        Ok(runtime) => runtime,
        Err(exit) => return exit,
    };
    let done = match action {
        QueueCommand::Claim { operator, .. } => runtime.claim(id, operator).await,
        QueueCommand::Reply { text, operator, .. } => runtime.reply(id, operator.as_deref(), text).await,
        QueueCommand::Handback { agent, note, operator, .. } => {
            runtime.hand_back(id, operator.as_deref(), agent, note.as_deref()).await
        }
        QueueCommand::Close { operator, .. } => runtime.close(id, operator.as_deref()).await,
        QueueCommand::List | QueueCommand::Show { .. } => unreachable!("not an operator's action"),
    };
    match done {
        Ok(view) if json => println!("{}", json_line(&TicketSummary::from(&view))),
        Ok(view) => {
            println!("{verb}: {}", headline(&view));
            eprintln!("see it: baton queue show {id}{}", db.flag());
        }
        Err(error) => return setup::failed(&error),
    }
    Exit::Ok
}

/// Lists the waiting tickets.
async fn list(store: Arc<dyn Store>, json: bool) -> Exit {
    let service = Service::new(store).running_recorded_team_files();
    let (tickets, unread) = match service.waiting_tickets().await {
        Ok(read) => read,
        Err(error) => {
            print_error!("{error}");
            return Exit::Failed;
        }
    };
    for (id, why) in &unread {
        print_error!("ticket {id}: {why}");
    }
    let failed = !unread.is_empty();
    if json {
        println!("{}", json_line(&Listed { tickets: tickets.iter().map(TicketSummary::from).collect() }));
    } else if tickets.is_empty() {
        eprintln!("the queue is empty: no conversation waits for a person");
    } else {
        for view in &tickets {
            println!("{}", headline(view));
        }
    }
    if failed {
        Exit::Failed
    } else {
        Exit::Ok
    }
}

/// One line: the ticket, its queue, who has it, why it is there.
fn headline(view: &TicketView) -> String {
    let status = match (&view.status, &view.operator) {
        (TicketStatus::Claimed, Some(operator)) => format!("claimed by {operator}"),
        (TicketStatus::None, _) => format!("{} has control", view.agent),
        (status, _) => status.as_str().to_string(),
    };
    let queue = view.queue.as_deref().map(|queue| format!(" · queue {queue}")).unwrap_or_default();
    let reason = view.reason.as_deref().map(|reason| format!(" · {reason}")).unwrap_or_default();
    format!("{} (team {}){queue} · {status}{reason}", view.conversation, view.team)
}
