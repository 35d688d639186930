//! Stopping everything a command tool's run started. The program runs in a process group of its
//! own (on Unix), and every process of the run carries a mark in its environment, [`MARK`], whose
//! value is unique to the run and which children inherit, also across `setsid` (which leaves the
//! group) and double forks. A run dropped before its program finished (a timeout, a stopped call)
//! kills the group, then, on Linux, each process whose `/proc/PID/environ` holds the mark, until
//! none is left. A program that both leaves the group and clears its environment escapes; on other
//! systems only the group is killed. A mark rather than `PR_SET_CHILD_SUBREAPER`, which would
//! change the whole baton process: every orphan of anything it runs (MCP servers, the embedding
//! program's own children) would become its child, a zombie until baton reaped it.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::process::Child;

/// The environment variable that marks the processes of one run.
pub(crate) const MARK: &str = "BATON_TOOL_RUN";

/// How many times the processes still carrying the mark are looked for and killed: each round
/// also catches what the previous one's processes started while they were being killed.
#[cfg(target_os = "linux")]
const SWEEPS: usize = 10;

/// A new value of [`MARK`], unique among the runs of the baton processes alive.
pub(crate) fn new_mark() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{}-{nanos}", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed))
}

/// A spawned program; dropped before it finished, it kills what the run started (see the module
/// comment), then the program itself (`kill_on_drop`).
pub(crate) struct Running {
    pub(crate) child: Child,
    /// Set once the program has exited: nothing is killed then.
    pub(crate) finished: bool,
    process_group: Option<u32>,
    mark: String,
}

impl Running {
    /// `child`, started in a process group of its own with [`MARK`] set to `mark`.
    pub(crate) fn new(child: Child, mark: String) -> Self {
        let process_group = child.id();
        Running { child, finished: false, process_group, mark }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(process_group) = self.process_group.and_then(|group| i32::try_from(group).ok()) {
            kill(&[-process_group]);
        }
        kill_marked(&self.mark);
    }
}

/// Kills the processes whose environment holds [`MARK`]`=mark`, round after round until none is
/// found.
#[cfg(target_os = "linux")]
fn kill_marked(mark: &str) {
    let entry = format!("{MARK}={mark}").into_bytes();
    for _ in 0..SWEEPS {
        let marked = marked_processes(&entry);
        if marked.is_empty() {
            return;
        }
        kill(&marked);
    }
}

/// Without `/proc`, the group kill is all there is.
#[cfg(not(target_os = "linux"))]
fn kill_marked(_mark: &str) {}

/// The processes whose environment holds `entry` (`NAME=value`), among those whose environment
/// baton may read; a process that has exited reads as empty.
#[cfg(target_os = "linux")]
fn marked_processes(entry: &[u8]) -> Vec<i32> {
    let Ok(processes) = std::fs::read_dir("/proc") else { return Vec::new() };
    processes
        .filter_map(|process| process.ok()?.file_name().into_string().ok()?.parse::<i32>().ok())
        .filter(|pid| *pid > 0)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|byte| *byte == 0).any(|variable| variable == entry))
        })
        .collect()
}

/// Sends SIGKILL to `targets` (process ids, or minus a process group's id for the group), from
/// baton itself: no `kill` program is needed (slim container images have none). A target that
/// is gone already is no error.
#[cfg(unix)]
fn kill(targets: &[i32]) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for target in targets {
        let _ = kill(Pid::from_raw(*target), Signal::SIGKILL);
    }
}

/// Without process groups, `kill_on_drop` kills the program itself.
#[cfg(not(unix))]
fn kill(_targets: &[i32]) {}
