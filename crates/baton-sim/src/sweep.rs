//! Many seeds at once: a range of seeds run on a few threads, with the throughput and the
//! faults injected, and every failure.

use crate::{simulate, Failure, Planted};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a sweep did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Boundary seeds among them.
    pub boundary_seeds: u64,
    /// Conversations run.
    pub conversations: u64,
    /// Actions taken by users and people.
    pub actions: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// What the seeds' journals show happened, by kind (see [`crate::coverage`]).
    pub coverage: BTreeMap<String, u64>,
    /// The seeds that broke an invariant, by seed.
    pub failures: Vec<Failure>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs `count` seeds from `from` on `jobs` threads, with a bug planted on purpose if
/// `planted` says so; `progress` hears each finished seed.
pub fn sweep(
    from: u64,
    count: u64,
    jobs: usize,
    planted: Option<Planted>,
    progress: &(dyn Fn(u64, &Summary) + Sync),
) -> Summary {
    let started = Instant::now();
    let next = AtomicU64::new(from);
    let end = from.saturating_add(count);
    let summary = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    break;
                }
                let result = simulate(seed, planted);
                let mut summary = summary.lock().unwrap_or_else(|p| p.into_inner());
                summary.seeds += 1;
                match result {
                    Ok(outcome) => {
                        summary.boundary_seeds += u64::from(outcome.boundaries);
                        summary.conversations += outcome.conversations;
                        summary.actions += outcome.actions;
                        for (kind, count) in outcome.faults {
                            *summary.faults.entry(kind).or_insert(0) += count;
                        }
                        for (kind, count) in outcome.coverage {
                            *summary.coverage.entry(kind).or_insert(0) += count;
                        }
                    }
                    Err(failure) => summary.failures.push(*failure),
                }
                summary.elapsed = started.elapsed();
                progress(seed, &summary);
            });
        }
    });
    let mut summary = summary.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.failures.sort_by_key(|failure| failure.seed);
    summary.elapsed = started.elapsed();
    summary
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "{} seeds ({} of them crashed at every journal boundary), {} conversations, {} actions in {:.1} s: \
             {:.1} conversations/s, {:.1} seeds/s",
            self.seeds,
            self.boundary_seeds,
            self.conversations,
            self.actions,
            secs,
            self.conversations as f64 / secs,
            self.seeds as f64 / secs,
        )?;
        let total: u64 = self.faults.values().sum();
        writeln!(f, "faults injected: {total}")?;
        let mut faults: Vec<(&&str, &u64)> = self.faults.iter().collect();
        faults.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (kind, count) in faults {
            writeln!(f, "  {kind:<22} {count:>8}")?;
        }
        let seen: Vec<String> = self.coverage.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
        writeln!(f, "journaled (clean runs): {}", seen.join(", "))?;
        match self.failures.len() {
            0 => write!(f, "every seed kept every invariant"),
            n => {
                let seeds: Vec<String> = self.failures.iter().map(|failure| failure.seed.to_string()).collect();
                write!(f, "{n} seed(s) broke an invariant: {}", seeds.join(", "))
            }
        }
    }
}
