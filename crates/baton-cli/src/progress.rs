//! A progress bar on stderr for long work: redrawn in place on a terminal, and one line per
//! tenth of the work otherwise (a log or CI keeps a readable record).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often a terminal's bar is redrawn.
const REDRAW: Duration = Duration::from_millis(200);
/// The bar's width in characters.
const WIDTH: usize = 30;

/// Counts finished items; [`Progress::watch`] draws it until the work is done.
pub struct Progress {
    counter: Counter,
    total: usize,
    what: &'static str,
}

/// What the work bumps as items finish; the last one wakes the drawing at once, so the final
/// rate is the work's own.
#[derive(Clone)]
pub struct Counter {
    done: Arc<AtomicUsize>,
    total: usize,
    finished: Arc<Notify>,
}

impl Counter {
    /// One more item is done.
    pub fn tick(&self) {
        if self.done.fetch_add(1, Ordering::Relaxed) + 1 >= self.total {
            self.finished.notify_one();
        }
    }
}

impl Progress {
    /// Progress over `total` items, each called `what` ("conversations").
    pub fn new(total: usize, what: &'static str) -> Self {
        let counter = Counter { done: Arc::new(AtomicUsize::new(0)), total, finished: Arc::new(Notify::new()) };
        Progress { counter, total, what }
    }

    /// The counter to bump as items finish.
    pub fn counter(&self) -> Counter {
        self.counter.clone()
    }

    /// Draws the progress until every item is done, then clears a terminal's bar. Runs on a
    /// tokio task beside the work.
    pub async fn watch(self) {
        let terminal = std::io::stderr().is_terminal();
        let started = Instant::now();
        let mut tenths_shown = 0;
        loop {
            let done = self.counter.done.load(Ordering::Relaxed).min(self.total);
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            if terminal {
                let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
                eprint!(
                    "\r[{}{}] {done}/{} {} · {rate:.0}/s ",
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled),
                    self.total,
                    self.what
                );
                let _ = std::io::stderr().flush();
            } else {
                let tenths = (done * 10).checked_div(self.total).unwrap_or(10);
                if tenths > tenths_shown {
                    tenths_shown = tenths;
                    eprintln!("  {done}/{} {} ({rate:.0}/s)", self.total, self.what);
                }
            }
            if done >= self.total {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(REDRAW) => {}
                () = self.counter.finished.notified() => {}
            }
        }
        if terminal {
            eprint!("\r{}\r", " ".repeat(WIDTH + 60));
        }
    }
}
