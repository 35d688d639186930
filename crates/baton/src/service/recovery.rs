//! Finishing the turns crashes interrupted, several at a time, each process starting at its own
//! place in the list so that two sweeping together mostly work on different conversations. A
//! conversation another process is advancing is set aside and tried again: it is done when that
//! process ends the turn, or taken over when its lease runs out; one still held past the wait is
//! skipped, so a sweep never waits forever. Each resumed turn runs in its conversation's lane, so
//! it never overlaps other work on the conversation in this process; a conversation already busy
//! here is left to that work, which finishes the turn.

use super::{Busy, Lanes, Service, ServiceError};
use crate::{Observer, Runtime, RuntimeError, TurnReport};
use baton_store::{ConversationInfo, StoreError};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The longest wait before asking again for a conversation another process holds.
const RECHECK: Duration = Duration::from_secs(1);

/// How a sweep goes.
#[derive(Clone, Copy, Debug)]
pub struct Sweep {
    /// How many conversations are resumed at a time.
    pub concurrency: usize,
    /// How long a conversation another process holds is waited for, from when it is first
    /// found held, before it is skipped.
    pub wait: Duration,
}

/// What became of an interrupted conversation, told as it happens.
pub enum Resumed {
    /// Its turn was finished here.
    Finished {
        /// The conversation.
        info: ConversationInfo,
        /// Its team's runtime.
        runtime: Arc<Runtime>,
        /// How the turn ended.
        report: Box<TurnReport>,
    },
    /// Nothing was left to do: the turn was finished by another process, or is being finished
    /// by other work on the conversation here.
    Elsewhere(ConversationInfo),
    /// Another process took it over while this one advanced it; that one finishes it.
    TakenOver(ConversationInfo),
    /// Another process holds it: it is set aside and tried again (told once per conversation).
    Waiting(ConversationInfo),
    /// Another process still held it when the wait was over: it was left alone.
    Skipped {
        /// The conversation.
        info: ConversationInfo,
        /// Who holds it.
        holder: String,
        /// How long its lease runs unless renewed, in milliseconds.
        expires_in_ms: u64,
    },
    /// It could not be resumed.
    Failed {
        /// The conversations: several when their team could not be had, none when the task
        /// resuming one failed.
        conversations: Vec<ConversationInfo>,
        /// Why.
        error: ServiceError,
    },
}

/// How many conversations a sweep ended how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepTotals {
    /// Turns finished here.
    pub finished: usize,
    /// Turns finished elsewhere: by another process, or by other work here.
    pub elsewhere: usize,
    /// Conversations another process took over.
    pub taken_over: usize,
    /// Conversations still held by another process after the wait.
    pub skipped: Vec<String>,
    /// Conversations that could not be resumed.
    pub failed: usize,
}

impl Service {
    /// The conversations whose last turn did not end, oldest first.
    pub async fn interrupted(&self) -> Result<Vec<ConversationInfo>, ServiceError> {
        Ok(self.store.interrupted().await.map_err(RuntimeError::from)?)
    }

    /// A sweep finishing the turns of `conversations` (as [`Service::interrupted`] lists them),
    /// telling the observer `observer_for` makes for each conversation its entries as they are
    /// journaled. Nothing happens until [`Sweeping::next`] is awaited.
    pub async fn sweep(
        &self,
        conversations: Vec<ConversationInfo>,
        sweep: Sweep,
        observer_for: impl Fn(&ConversationInfo) -> Arc<dyn Observer> + Send + 'static,
    ) -> Sweeping {
        let mut sweeping = Sweeping {
            sweep,
            lanes: self.lanes.clone(),
            observer_for: Box::new(observer_for),
            queue: VecDeque::new(),
            running: JoinSet::new(),
            set_aside: VecDeque::new(),
            held_since: BTreeMap::new(),
            told: VecDeque::new(),
            totals: SweepTotals::default(),
        };
        for conversations in by_team(conversations).into_values() {
            let Some(first) = conversations.first() else { continue };
            match self.runtime_of(first).await {
                Ok(runtime) => sweeping.queue.extend(conversations.into_iter().map(|info| (runtime.clone(), info))),
                Err(error) => {
                    sweeping.totals.failed += conversations.len();
                    sweeping.told.push_back(Resumed::Failed { conversations, error });
                }
            }
        }
        // Processes started together have neighbouring ids: spread their starting places.
        let start = (u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        let queued = sweeping.queue.len().max(1);
        sweeping.queue.rotate_left(start % queued);
        sweeping
    }
}

/// Makes the observer of a conversation's resumed turn.
type ObserverFor = Box<dyn Fn(&ConversationInfo) -> Arc<dyn Observer> + Send>;

/// One conversation's attempt: its team's runtime, the conversation, and how resuming it went.
type Attempt = (Arc<Runtime>, ConversationInfo, Result<Option<TurnReport>, ServiceError>);

/// A sweep under way; see [`Service::sweep`].
pub struct Sweeping {
    sweep: Sweep,
    lanes: Lanes,
    observer_for: ObserverFor,
    queue: VecDeque<(Arc<Runtime>, ConversationInfo)>,
    running: JoinSet<Attempt>,
    /// Conversations another process holds, with when to try each again.
    set_aside: VecDeque<(Instant, Arc<Runtime>, ConversationInfo)>,
    /// When each conversation another process holds was first found held.
    held_since: BTreeMap<String, Instant>,
    /// What happened and is not told yet.
    told: VecDeque<Resumed>,
    totals: SweepTotals,
}

impl Sweeping {
    /// What became of the next conversation, once something did; `None` when the sweep is over.
    pub async fn next(&mut self) -> Option<Resumed> {
        loop {
            if let Some(resumed) = self.told.pop_front() {
                return Some(resumed);
            }
            if self.queue.is_empty() && self.running.is_empty() && self.set_aside.is_empty() {
                return None;
            }
            self.step().await;
        }
    }

    /// How many conversations ended how, so far.
    pub fn totals(&self) -> &SweepTotals {
        &self.totals
    }

    /// Starts what may start, and waits for one conversation to end or one set aside to be due.
    async fn step(&mut self) {
        // Conversations set aside come first once due: if their holder died, they have waited
        // longest.
        while self.set_aside.front().is_some_and(|(at, _, _)| *at <= Instant::now()) {
            if let Some((_, runtime, info)) = self.set_aside.pop_front() {
                self.queue.push_front((runtime, info));
            }
        }
        while self.running.len() < self.sweep.concurrency.max(1) {
            let Some((runtime, info)) = self.queue.pop_front() else { break };
            if self.lanes.is_busy(&info.id) {
                self.totals.elsewhere += 1;
                self.told.push_back(Resumed::Elsewhere(info));
                continue;
            }
            let observer = (self.observer_for)(&info);
            let lanes = self.lanes.clone();
            self.running.spawn(async move {
                let (id, resuming) = (info.id.clone(), runtime.clone());
                let resume = move || {
                    let (runtime, observer, id) = (resuming.clone(), observer.clone(), id.clone());
                    async move { runtime.resume_observed(&id, observer).await }
                };
                let resumed = lanes.run(&info.id, Duration::ZERO, resume).await;
                (runtime, info, resumed)
            });
        }
        let joined = match (self.running.is_empty(), self.set_aside.front()) {
            (true, Some((at, _, _))) => {
                tokio::time::sleep_until(*at).await;
                return;
            }
            (false, Some((at, _, _))) => tokio::select! {
                joined = self.running.join_next() => joined,
                _ = tokio::time::sleep_until(*at) => return,
            },
            (_, None) => self.running.join_next().await,
        };
        let Some(joined) = joined else { return };
        let Ok((runtime, info, resumed)) = joined else {
            self.totals.failed += 1;
            self.told.push_back(Resumed::Failed { conversations: Vec::new(), error: ServiceError::TaskFailed });
            return;
        };
        let told = match resumed {
            Ok(Some(report)) => {
                self.totals.finished += 1;
                Resumed::Finished { info, runtime, report: Box::new(report) }
            }
            Ok(None) => {
                self.totals.elsewhere += 1;
                Resumed::Elsewhere(info)
            }
            Err(ServiceError::Runtime(RuntimeError::Store(StoreError::Fenced { .. }))) => {
                self.totals.taken_over += 1;
                Resumed::TakenOver(info)
            }
            Err(ServiceError::Stopping) => {
                // Nothing more starts: what is running ends, and the sweep with it.
                self.queue.clear();
                self.set_aside.clear();
                return;
            }
            Err(ServiceError::Busy(Busy { holder, expires_in_ms, .. })) => {
                let since = match self.held_since.get(&info.id) {
                    Some(since) => *since,
                    None => {
                        self.held_since.insert(info.id.clone(), Instant::now());
                        self.told.push_back(Resumed::Waiting(info.clone()));
                        Instant::now()
                    }
                };
                if since.elapsed() >= self.sweep.wait {
                    self.totals.skipped.push(info.id.clone());
                    Resumed::Skipped { info, holder, expires_in_ms }
                } else {
                    // Asked once more when the wait is over, and skipped if still held then.
                    let retry = Duration::from_millis(expires_in_ms + 10).min(RECHECK);
                    let at = (Instant::now() + retry).min(since + self.sweep.wait);
                    let place = self.set_aside.partition_point(|(other, _, _)| *other <= at);
                    self.set_aside.insert(place, (at, runtime, info));
                    return;
                }
            }
            Err(error) => {
                self.totals.failed += 1;
                Resumed::Failed { conversations: vec![info], error }
            }
        };
        self.told.push_back(told);
    }
}

/// The conversations grouped by their team: the team file they were created with, then the
/// team's name.
fn by_team(conversations: Vec<ConversationInfo>) -> BTreeMap<(Option<String>, String), Vec<ConversationInfo>> {
    let mut by_team: BTreeMap<(Option<String>, String), Vec<ConversationInfo>> = BTreeMap::new();
    for info in conversations {
        by_team.entry((info.team_file.clone(), info.team.clone())).or_default().push(info);
    }
    by_team
}
