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
use baton::store::{ConversationInfo, Store, StoreError};
use baton::{Runtime, RuntimeError};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The longest wait before asking again for a conversation another process holds.
const RECHECK: Duration = Duration::from_secs(1);

/// What became of one interrupted conversation.
enum Resumed {
    /// Its turn was finished here; the lines to print (the JSON line, or the transcript).
    Finished(Vec<String>),
    /// Nothing was left to do: another process finished the turn.
    Elsewhere,
    /// Another process holds it: ask again after `retry`.
    Held {
        /// How soon to ask again.
        retry: Duration,
        /// Who holds it.
        holder: String,
        /// How long its lease runs unless renewed.
        expires_in_ms: u64,
    },
    /// Another process took it over while this one advanced it.
    TakenOver,
    /// It could not be resumed.
    Failed(String),
}

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
    let interrupted = match store.interrupted().await {
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
    let mut failed = 0;
    let mut queue = VecDeque::new();
    for (team_file, conversations) in by_team_file(interrupted) {
        match setup::team_runtime(team_file.as_deref(), store.clone()).await {
            Ok(runtime) => queue.extend(conversations.into_iter().map(|info| (runtime.clone(), info))),
            Err(why) => {
                let ids: Vec<&str> = conversations.iter().take(3).map(|info| info.id.as_str()).collect();
                let more = conversations.len().saturating_sub(ids.len());
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                print_error!("cannot resume conversation {}{more}: {why}", ids.join(", "));
                failed += conversations.len();
            }
        }
    }
    // Processes started together have neighbouring ids: spread their starting places.
    let start = (u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
    queue.rotate_left(start % queue.len().max(1));
    let (mut resumed, mut elsewhere, mut taken_over, mut told_waiting) = (0, 0, 0, false);
    // When each conversation another process holds was first found held, and those skipped.
    let mut held_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut skipped: Vec<String> = Vec::new();
    let bar = progress::bar(total, "conversations");
    bar.inc(failed as u64);
    let mut running = JoinSet::new();
    // Conversations another process holds, with when to try each again.
    let mut set_aside: VecDeque<(Instant, Arc<Runtime>, ConversationInfo)> = VecDeque::new();
    while !queue.is_empty() || !running.is_empty() || !set_aside.is_empty() {
        // Conversations set aside come first once due: if their holder died, they have waited
        // longest.
        while set_aside.front().is_some_and(|(at, _, _)| *at <= Instant::now()) {
            if let Some((_, runtime, info)) = set_aside.pop_front() {
                queue.push_front((runtime, info));
            }
        }
        while running.len() < concurrency {
            let Some((runtime, info)) = queue.pop_front() else { break };
            running.spawn(async move {
                let resumed = resume_one(&runtime, &info, json).await;
                (runtime, info, resumed)
            });
        }
        let joined = match (running.is_empty(), set_aside.front()) {
            (true, Some((at, _, _))) => {
                tokio::time::sleep_until(*at).await;
                continue;
            }
            (false, Some((at, _, _))) => tokio::select! {
                joined = running.join_next() => joined,
                _ = tokio::time::sleep_until(*at) => continue,
            },
            (_, None) => running.join_next().await,
        };
        let Some(joined) = joined else { continue };
        let Ok((runtime, info, outcome)) = joined else {
            failed += 1;
            bar.inc(1);
            bar.suspend(|| print_error!("a conversation could not be resumed (its task failed)"));
            continue;
        };
        let outcome = match outcome {
            Resumed::Held { holder, expires_in_ms, .. }
                if held_since.get(&info.id).is_some_and(|since| since.elapsed() >= wait) =>
            {
                let runs = expires_in_ms.div_ceil(1000);
                bar.suspend(|| {
                    eprintln!(
                        "conversation {} is still held by another process ({holder}) after waiting {} s; its lease \
                         runs {runs} s more unless renewed: skipped",
                        info.id,
                        wait.as_secs()
                    )
                });
                skipped.push(info.id.clone());
                bar.inc(1);
                continue;
            }
            outcome => outcome,
        };
        if !matches!(outcome, Resumed::Held { .. }) {
            bar.inc(1);
        }
        match outcome {
            Resumed::Finished(printed) => {
                resumed += 1;
                bar.suspend(|| {
                    for line in printed {
                        println!("{line}");
                    }
                });
            }
            Resumed::Elsewhere => elsewhere += 1,
            Resumed::TakenOver => {
                taken_over += 1;
                bar.suspend(|| {
                    eprintln!("conversation {} was taken over by another process, which finishes it", info.id)
                });
            }
            Resumed::Held { retry, .. } => {
                if !told_waiting {
                    bar.suspend(|| {
                        eprintln!(
                            "waiting for conversations another process is advancing (until it ends their turns or \
                             their leases run out, up to {} s each: --wait)",
                            wait.as_secs()
                        )
                    });
                    told_waiting = true;
                }
                let since = *held_since.entry(info.id.clone()).or_insert_with(Instant::now);
                // Asked once more when the wait is over, and skipped if still held then.
                let at = (Instant::now() + retry).min(since + wait);
                let place = set_aside.partition_point(|(other, _, _)| *other <= at);
                set_aside.insert(place, (at, runtime, info));
            }
            Resumed::Failed(why) => {
                failed += 1;
                bar.suspend(|| print_error!("cannot resume conversation {}: {why}", info.id));
            }
        }
    }
    bar.finish_and_clear();
    let still_held = match skipped.len() {
        0 => String::new(),
        n => format!(", {n} still held by another process after waiting {} s (skipped)", wait.as_secs()),
    };
    eprintln!(
        "resumed {} of {total}; {elsewhere} finished by another process, {taken_over} taken over by another \
         process, {failed} failed{still_held}",
        count(resumed, "conversation", "conversations")
    );
    if !skipped.is_empty() {
        eprintln!("run baton resume again later to finish {}", skipped.join(", "));
    }
    match (failed, skipped.len()) {
        (0, 0) => Exit::Ok,
        (0, _) => Exit::Busy,
        _ => Exit::Failed,
    }
}

/// Tries to finish one conversation's interrupted turn.
async fn resume_one(runtime: &Runtime, info: &ConversationInfo, json: bool) -> Resumed {
    match runtime.resume(&info.id).await {
        Ok(Some(report)) if json => {
            let line = report.to_json().to_string();
            Resumed::Finished(vec![line])
        }
        Ok(Some(report)) => {
            let heading = format!("── resumed conversation {} (team {})", info.id, info.team);
            let mut printed = vec![paint(paint::HEADING, heading)];
            match runtime.store().journal(&info.id).await {
                Ok(journal) => printed.extend(turn_lines(&journal, report.outcome.turn, Transcript::new(true))),
                Err(error) => printed.push(format!("(the turn's transcript cannot be read back: {error})")),
            }
            printed.push(format!("handoff chain: {}\n", chain(&report.outcome)));
            Resumed::Finished(printed)
        }
        Ok(None) => Resumed::Elsewhere,
        Err(RuntimeError::Store(StoreError::Leased { holder, expires_in_ms, .. })) => {
            Resumed::Held { retry: Duration::from_millis(expires_in_ms + 10).min(RECHECK), holder, expires_in_ms }
        }
        Err(RuntimeError::Store(StoreError::Fenced { .. })) => Resumed::TakenOver,
        Err(error) => Resumed::Failed(error.to_string()),
    }
}

/// The conversations grouped by the team file they were created with.
fn by_team_file(conversations: Vec<ConversationInfo>) -> BTreeMap<Option<String>, Vec<ConversationInfo>> {
    let mut by_team: BTreeMap<Option<String>, Vec<ConversationInfo>> = BTreeMap::new();
    for info in conversations {
        by_team.entry(info.team_file.clone()).or_default().push(info);
    }
    by_team
}
