//! Progress bars on stderr for long work (`eval`'s cases, `bench`'s and `resume`'s
//! conversations): how far, how fast and how long is left, drawn by `indicatif` on a terminal.
//! When stderr is not a terminal (a pipe, a log, CI) the bar is drawn nowhere: what is printed is
//! the work's result, not its progress.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How often a terminal's bar is redrawn while nothing finishes (so the elapsed time and the ETA
/// move during slow model calls).
const REDRAW: Duration = Duration::from_millis(250);

/// The bar: `[####>-----] 12/50 conversations · 8.1/s · ETA 5s`.
const TEMPLATE: &str = "[{bar:30}] {pos}/{len} {msg} · {per_sec:1} · ETA {eta}";

/// A progress bar over `total` items called `what` ("cases", "conversations"): on stderr if it
/// is a terminal, hidden otherwise. Tick it with `inc(1)` as items finish (from any thread) and
/// end it with `finish_and_clear()`.
pub fn bar(total: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style =
        ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("#>-");
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(what.to_string());
    bar.enable_steady_tick(REDRAW);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_one_indicatif_reads() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }
}
