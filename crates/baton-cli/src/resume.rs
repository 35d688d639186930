//! `baton resume [--db PATH|URL] [--json]`: finishes every turn a crash interrupted. Each
//! conversation's team is rebuilt from the team file it was created with; each finished turn is
//! printed like `baton run` prints one (one JSON line each with `--json`). Conversations are
//! resumed several at a time, each process starting at its own place in the list so that two
//! resuming together mostly work on different ones; one that another process is advancing is set
//! aside and tried again: it is done when that process ends the turn, or taken over when its
//! lease runs out. One still held `--wait` seconds after it was first found held (a process that
//! keeps renewing its lease) is skipped and named, and the command exits 3, so that it never
//! waits forever and a script knows to run it again later.

use crate::paint::{self, paint, print_error};
use crate::plural::count;
use crate::stdout::println;
use crate::transcript::{chain, turn_lines, Transcript};
use crate::{db, progress, setup, Exit};
use anstream::eprintln;
use baton::service::{Resumed, Sweep};
use baton::store::{ConversationInfo, Store};
use baton::{Observer, Runtime, Service, TurnReport, Unobserved};
use std::sync::Arc;
use std::time::Duration;

/// Resumes every interrupted conversation in the journal at `db`, `concurrency` at a time,
/// waiting up to `wait` seconds for each one another process holds.
pub fn run(db: &db::Db, json: bool, concurrency: usize, wait: u64) -> Exit {
    let (tokio, store) = match setup::existing_journal(db) {
        Ok(opened) => opened,
        Err(exit) => return exit,
    };
    let wait = Duration::from_secs(wait);
    tokio.block_on(resume_all(store, &db.journal.to_string(), json, concurrency.max(1), wait))
}

async fn resume_all(store: Arc<dyn Store>, db: &str, json: bool, concurrency: usize, wait: Duration) -> Exit {
    let service = Service::new(store).running_recorded_team_files();
    let interrupted = match service.interrupted().await {
        Ok(interrupted) => interrupted,
        Err(error) => {
            print_error!("{error}");
            return Exit::Failed;
        }
    };
    if interrupted.is_empty() {
        eprintln!("nothing to resume: every conversation in {db} ended its last turn");
        return Exit::Ok;
    }
    let total = interrupted.len();
    let bar = progress::bar(total, "conversations");
    let unobserved = |_: &ConversationInfo| -> Arc<dyn Observer> { Arc::new(Unobserved) };
    let mut sweeping = service.sweep(interrupted, Sweep { concurrency, wait }, unobserved).await;
    let mut told_waiting = false;
    while let Some(resumed) = sweeping.next().await {
        match resumed {
            Resumed::Finished { info, runtime, report } => {
                bar.inc(1);
                let printed = finished(&runtime, &info, &report, json).await;
                bar.suspend(|| {
                    for line in printed {
                        println!("{line}");
                    }
                });
            }
            Resumed::Elsewhere(_) => bar.inc(1),
            Resumed::TakenOver(info) => {
                bar.inc(1);
                bar.suspend(|| {
                    eprintln!("conversation {} was taken over by another process, which finishes it", info.id)
                });
            }
            Resumed::Waiting(_) if told_waiting => {}
            Resumed::Waiting(_) => {
                bar.suspend(|| {
                    eprintln!(
                        "waiting for conversations another process is advancing (until it ends their turns or their \
                         leases run out, up to {} s each: --wait)",
                        wait.as_secs()
                    )
                });
                told_waiting = true;
            }
            Resumed::Skipped { info, holder, expires_in_ms } => {
                bar.inc(1);
                let runs = expires_in_ms.div_ceil(1000);
                bar.suspend(|| {
                    eprintln!(
                        "conversation {} is still held by another process ({holder}) after waiting {} s; its lease \
                         runs {runs} s more unless renewed: skipped",
                        info.id,
                        wait.as_secs()
                    )
                });
            }
            Resumed::Failed { conversations, error } => {
                bar.inc(conversations.len().max(1) as u64);
                let ids: Vec<&str> = conversations.iter().take(3).map(|info| info.id.as_str()).collect();
                let more = conversations.len().saturating_sub(ids.len());
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                bar.suspend(|| match ids.is_empty() {
                    true => print_error!("a conversation could not be resumed ({error})"),
                    false => print_error!("cannot resume conversation {}{more}: {error}", ids.join(", ")),
                });
            }
        }
    }
    bar.finish_and_clear();
    let totals = sweeping.totals();
    let skipped = &totals.skipped;
    let still_held = match skipped.len() {
        0 => String::new(),
        n => format!(", {n} still held by another process after waiting {} s (skipped)", wait.as_secs()),
    };
    eprintln!(
        "resumed {} of {total}; {} finished by another process, {} taken over by another process, {} \
         failed{still_held}",
        count(totals.finished, "conversation", "conversations"),
        totals.elsewhere,
        totals.taken_over,
        totals.failed
    );
    if !skipped.is_empty() {
        eprintln!("run baton resume again later to finish {}", skipped.join(", "));
    }
    match (totals.failed, skipped.len()) {
        (0, 0) => Exit::Ok,
        (0, _) => Exit::Busy,
        _ => Exit::Failed,
    }
}

/// What to print of a turn finished here: its JSON line, or its transcript.
async fn finished(runtime: &Runtime, info: &ConversationInfo, report: &TurnReport, json: bool) -> Vec<String> {
    if json {
        return vec![report.to_json().to_string()];
    }
    let heading = format!("── resumed conversation {} (team {})", info.id, info.team);
    let mut printed = vec![paint(paint::HEADING, heading)];
    match runtime.store().journal(&info.id).await {
        Ok(journal) => printed.extend(turn_lines(&journal, report.outcome.turn, Transcript::new(true))),
        Err(error) => printed.push(format!("(the turn's transcript cannot be read back: {error})")),
    }
    printed.push(format!("handoff chain: {}\n", chain(&report.outcome)));
    printed
}
