//! baton's seeded fault simulator, after TigerBeetle's VOPR and FoundationDB's simulation.
//!
//! One `u64` seed decides everything: a random team (written as a team file and loaded by
//! baton's loader), a conversation of user messages, approvals and operators' actions, and the
//! faults injected into it: crashes at journal boundaries (the conversation is then finished by
//! a fresh `Runtime` from the journal, as `baton resume` does), failed and unacknowledged
//! appends, failed reads, model errors, timeouts and malformed replies, failing, panicking and
//! hanging tools, tools whose outcome is unknown, lost leases and zombie writers. It all runs
//! through baton's real `Runtime`, stores (memory, and SQLite for some seeds) and replay.
//!
//! The invariants ([`check::invariant`]) are checked after every step. Seeds ending in 9 are
//! boundary seeds: their conversation runs once without faults, then once per journal append
//! with a crash right after it (or at the process's next store operation), and each crashed run
//! must journal what the clean one did, unless a non-idempotent tool's outcome became unknown.
//!
//! A failure prints the seed, the invariant, the trace (actions, faults, appends) and the
//! journal, and how to run that seed again.

mod check;
mod driver;
mod model;
mod rng;
mod store;
pub mod sweep;
mod team;
mod tool;
mod world;

use baton::core::{Input, JournalEntry};
pub use check::invariant;
use check::Violation;
use driver::{run, Backend, Failed, Finished, Setup};
use rng::Rng;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Once};
pub use world::Planted;
use world::{CrashMode, FaultPlan};

/// A seed that kept every invariant.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Whether it was a boundary seed (a crash at every journal boundary).
    pub boundaries: bool,
    /// Conversations run (a boundary seed runs one per append, and the clean one).
    pub conversations: u64,
    /// Actions taken by the user and people, over all its conversations.
    pub actions: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// A digest of the trace and journal: the same seed gives the same digest.
    pub fingerprint: u64,
    /// What happened in its (clean) conversation, step by step.
    pub trace: Vec<String>,
    /// What its (clean) journal shows happened, by kind (see [`coverage`]).
    pub coverage: BTreeMap<String, u64>,
}

/// A seed that broke an invariant.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// The invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
    /// The crash of the boundary run that failed, if it was one.
    pub crash: Option<String>,
    /// The bug planted on purpose, if one was.
    pub planted: Option<Planted>,
    /// The team file.
    pub team: String,
    /// What happened, step by step.
    pub trace: Vec<String>,
    /// The journal, one line per entry.
    pub journal: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} broke \"{}\": {}", self.seed, self.invariant, self.detail)?;
        if let Some(crash) = &self.crash {
            writeln!(f, "in the boundary run that crashes {crash}")?;
        }
        writeln!(f, "\nteam file:\n{}", self.team.trim_end())?;
        writeln!(f, "\ntrace:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        writeln!(f, "\njournal (seq, lease epoch, kind):")?;
        for line in &self.journal {
            writeln!(f, "  {line}")?;
        }
        let plant = self.planted.map(|bug| format!(" --plant {}", bug.name())).unwrap_or_default();
        writeln!(f, "\nrun this seed again: cargo xtask simulate --seed {}{plant}", self.seed)?;
        write!(f, "              (or:   cargo run -p baton-sim -- --seed {}{plant})", self.seed)
    }
}

/// Runs seed `seed`: its conversation (or, for a boundary seed, its conversations), checking
/// every invariant after every step; with `planted`, a bug planted on purpose, which the seed
/// should catch.
pub fn simulate(seed: u64, planted: Option<Planted>) -> Result<Outcome, Box<Failure>> {
    quiet_simulated_panics();
    let team_text = || team::generate(seed).map(|t| t.toml).unwrap_or_default();
    match std::panic::catch_unwind(AssertUnwindSafe(|| simulate_seed(seed, planted))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Box::new(Failure {
                seed,
                invariant: invariant::NO_PANIC,
                detail: format!("the simulation panicked: {message}"),
                crash: None,
                planted,
                team: team_text(),
                trace: Vec::new(),
                journal: Vec::new(),
            }))
        }
    }
}

/// Whether `seed` is a boundary seed.
pub fn is_boundary_seed(seed: u64) -> bool {
    seed % 10 == 9
}

fn simulate_seed(seed: u64, planted: Option<Planted>) -> Result<Outcome, Box<Failure>> {
    let team = match team::generate(seed) {
        Ok(team) => Arc::new(team),
        Err(why) => {
            let violation = Violation::new(invariant::SETUP, why.to_string());
            return Err(failure(seed, planted, violation, None, String::new(), None));
        }
    };
    let fail = |failed: Failed, crash: Option<String>| {
        failure(seed, planted, failed.violation.clone(), crash, team.toml.clone(), Some(failed))
    };
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
        failure(seed, planted, Violation::new(invariant::SETUP, e.to_string()), None, team.toml.clone(), None)
    })?;
    let boundaries = is_boundary_seed(seed);
    let sqlite = (!boundaries && seed % 8 == 6)
        .then(|| std::env::temp_dir().join(format!("baton-sim-{seed}-{}.db", std::process::id())));
    let backend = sqlite.clone().map_or(Backend::Memory, Backend::Sqlite);
    let setup_of = |id: String, draws: u64| {
        let mut rng = Rng::stream(draws, "plan");
        let faults = if boundaries { FaultPlan::scripted(&mut rng) } else { FaultPlan::random(&mut rng) };
        let steps = if boundaries { rng.between(2, 3) } else { rng.between(3, 8) } as u32;
        let snapshot_every = rng.between(1, 24);
        let backend = backend.clone();
        Setup {
            seed: draws,
            id,
            team: team.clone(),
            faults,
            repeatable: boundaries,
            steps,
            backend,
            crash_at: None,
            planted,
            snapshot_every,
        }
    };
    let mut setup = setup_of(format!("sim-{seed}"), seed);
    // On SQLite, a second conversation runs at the same time on the same file, so that group
    // commits mix the appends of both (a fenced or failed one among them included).
    let second = sqlite.as_ref().map(|_| setup_of(format!("sim-{seed}-b"), seed ^ SECOND_CONVERSATION));
    let runs: Vec<&Setup> = std::iter::once(&setup).chain(second.as_ref()).collect();
    let finished = run_together(&tokio, &runs, sqlite.as_ref()).map_err(|failed| fail(failed, None))?;
    let mut outcome = Outcome {
        seed,
        boundaries,
        conversations: 0,
        actions: 0,
        faults: BTreeMap::new(),
        fingerprint: 0,
        trace: Vec::new(),
        coverage: BTreeMap::new(),
    };
    for (run, done) in finished.iter().enumerate() {
        outcome.add(done, run as u32);
        if finished.len() > 1 {
            outcome.trace.push(format!("conversation {}:", runs[run].id));
        }
        outcome.trace.extend(done.trace.iter().cloned());
        for (kind, count) in coverage(&done.journal) {
            *outcome.coverage.entry(kind).or_insert(0) += count;
        }
    }
    if !boundaries {
        return Ok(outcome);
    }
    let clean = &finished[0];
    for append in 1..=clean.appends {
        let mode = if append % 2 == 1 { CrashMode::AtOnce } else { CrashMode::AtNextWrite };
        setup.crash_at = Some((append, mode));
        let crash = format!("{mode:?} after append #{append}");
        let mut crashed = run_together(&tokio, &[&setup], None).map_err(|failed| fail(failed, Some(crash.clone())))?;
        let crashed = crashed.remove(0);
        outcome.add(&crashed, append);
        let unknown =
            crashed.journal.iter().any(|entry| matches!(entry, JournalEntry::Input(Input::ToolOutcomeUnknown { .. })));
        if crashed.journal != clean.journal && !unknown {
            return Err(differs(seed, planted, &team.toml, crash, clean, crashed));
        }
    }
    Ok(outcome)
}

/// Mixed into the seed for the draws of a seed's second conversation.
const SECOND_CONVERSATION: u64 = 0x5eed_0000_0000_000b;

impl Outcome {
    /// Counts run number `run` in.
    fn add(&mut self, run: &Finished, number: u32) {
        self.conversations += 1;
        self.actions += u64::from(run.actions);
        for (kind, count) in &run.faults {
            *self.faults.entry(kind).or_insert(0) += count;
        }
        self.fingerprint ^= fingerprint(run).rotate_left(number % 64);
    }
}

/// A seed's failure, with the trace and journal of the run that failed, if there was one.
fn failure(
    seed: u64,
    planted: Option<Planted>,
    violation: Violation,
    crash: Option<String>,
    team: String,
    failed: Option<Failed>,
) -> Box<Failure> {
    let (trace, journal) = match failed {
        Some(failed) => (failed.trace, failed.journal.iter().map(describe).collect()),
        None => (Vec::new(), Vec::new()),
    };
    Box::new(Failure {
        seed,
        invariant: violation.invariant,
        detail: violation.detail,
        crash,
        planted,
        team,
        trace,
        journal,
    })
}

/// A boundary run whose journal is not the clean run's.
fn differs(
    seed: u64,
    planted: Option<Planted>,
    team: &str,
    crash: String,
    clean: &Finished,
    crashed: Finished,
) -> Box<Failure> {
    let at = crashed.journal.iter().zip(&clean.journal).position(|(a, b)| a != b);
    let at = at.unwrap_or(crashed.journal.len().min(clean.journal.len()));
    let detail = format!(
        "the crashed run's journal ({} entries) differs from the clean run's ({}) from entry {at}: {} instead of {}",
        crashed.journal.len(),
        clean.journal.len(),
        crashed.journal.get(at).map_or("nothing", |e| e.kind()),
        clean.journal.get(at).map_or("nothing", |e| e.kind()),
    );
    let mut trace = crashed.trace;
    trace.push("the clean run's journal:".into());
    trace.extend(clean.journal.iter().enumerate().map(|(seq, entry)| format!("  {seq:>3} {}", entry.kind())));
    let journal = crashed.journal.iter().enumerate().map(|(seq, entry)| format!("{seq:>3} {}", entry.kind())).collect();
    Box::new(Failure {
        seed,
        invariant: invariant::CRASH_EQUAL,
        detail,
        crash: Some(crash),
        planted,
        team: team.to_string(),
        trace,
        journal,
    })
}

/// Runs one or two conversations at the same time on one fresh journal (a SQLite file is
/// removed before and after); the first failure, if any, with its conversation named.
fn run_together(
    tokio: &tokio::runtime::Runtime,
    runs: &[&Setup],
    sqlite: Option<&std::path::PathBuf>,
) -> Result<Vec<Finished>, Failed> {
    let remove = |path: &std::path::PathBuf| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    sqlite.into_iter().for_each(remove);
    let results = tokio.block_on(async {
        let store = driver::open(&runs[0].backend)?;
        Ok(match runs {
            [one] => vec![run(one, store).await],
            [first, second, ..] => {
                let (a, b) = tokio::join!(run(first, store.clone()), run(second, store));
                vec![a, b]
            }
            [] => Vec::new(),
        })
    });
    sqlite.into_iter().for_each(remove);
    let mut finished = Vec::new();
    for (setup, result) in runs.iter().zip(results?) {
        match result {
            Ok(done) => finished.push(done),
            Err(mut failed) => {
                failed.violation.detail = format!("conversation {}: {}", setup.id, failed.violation.detail);
                return Err(failed);
            }
        }
    }
    Ok(finished)
}

/// A digest of a run's trace and journal.
fn fingerprint(finished: &Finished) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let lines = finished.trace.iter().map(String::as_str).chain(finished.journal.iter().map(|entry| entry.kind()));
    for line in lines {
        for byte in line.bytes().chain([b'\n']) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// What a journal shows happened, by kind: its entries' kinds, and the causes of handoffs, the
/// limits tripped and the refusals of handoffs, so a sweep can tell what it exercised.
pub fn coverage(journal: &[baton::core::JournalEntry]) -> BTreeMap<String, u64> {
    use baton::core::{JournalEntry, Record};
    let mut seen = BTreeMap::new();
    for entry in journal {
        let detail = match entry {
            JournalEntry::Record(Record::HandoffTaken { call_id, escalation, trigger, operator, .. }) => {
                Some(match (call_id, escalation, trigger, operator) {
                    (Some(_), ..) => "handoff by a model".to_string(),
                    (_, Some(_), ..) => "handoff by an escalation".to_string(),
                    (_, _, Some(trigger), _) => format!("handoff by the {} trigger", trigger.as_str()),
                    _ => "handoff by an operator".to_string(),
                })
            }
            JournalEntry::Record(Record::LimitTripped { limit, .. }) => Some(format!("limit {}", limit.as_str())),
            JournalEntry::Record(Record::HandoffRefused { refusal, .. }) => {
                let refusal = format!("{refusal:?}");
                Some(format!("handoff refused: {}", refusal.split([' ', '{']).next().unwrap_or_default()))
            }
            JournalEntry::Record(Record::TurnEnded(outcome)) => Some(format!("turn {}", outcome.status.as_str())),
            _ => None,
        };
        for kind in std::iter::once(entry.kind().to_string()).chain(detail) {
            *seen.entry(kind).or_insert(0) += 1;
        }
    }
    seen
}

/// One journal entry as a line of the failure's journal.
fn describe(stored: &baton::store::StoredEntry) -> String {
    use baton::core::{Input, JournalEntry, Record};
    let detail = match &stored.entry {
        JournalEntry::Input(Input::UserMessage { text, .. }) => format!("{text:?}"),
        JournalEntry::Input(Input::ModelReplied { reply }) => {
            let calls: Vec<&str> = reply.tool_calls.iter().map(|call| call.name.as_str()).collect();
            format!("text: {}, calls: {calls:?}", reply.text.is_some())
        }
        JournalEntry::Input(Input::ModelFailed { error }) => error.clone(),
        JournalEntry::Input(Input::ToolReturned { call_id, output }) => {
            format!("{call_id} {}", if output.is_error { "error" } else { "ok" })
        }
        JournalEntry::Input(Input::ToolOutcomeUnknown { call_id }) => call_id.clone(),
        JournalEntry::Input(Input::ApprovalDecided { call_id, approved, .. }) => {
            format!("{call_id} approved: {approved}")
        }
        JournalEntry::Input(
            Input::TicketClaimed { operator }
            | Input::OperatorReplied { operator, .. }
            | Input::TicketClosed { operator },
        ) => operator.clone(),
        JournalEntry::Input(Input::TicketHandedBack { operator, to, .. }) => format!("{operator} → {to}"),
        JournalEntry::Record(Record::TurnStarted { turn, agent }) => format!("turn {turn}, {agent}"),
        JournalEntry::Record(Record::ModelCallStarted { agent, index, .. }) => format!("{agent} #{index}"),
        JournalEntry::Record(Record::Routed { to, .. }) => format!("to {to}"),
        JournalEntry::Record(
            Record::ToolCallStarted { call_id, tool, .. } | Record::ToolCallRejected { call_id, tool, .. },
        ) => format!("{tool} {call_id}"),
        JournalEntry::Record(Record::ApprovalRequested { call_id, tool, .. }) => format!("{tool} {call_id}"),
        JournalEntry::Record(Record::HandoffTaken { from, to, call_id, escalation, trigger, operator, .. }) => {
            let cause = match (call_id, escalation, trigger, operator) {
                (Some(call), ..) => format!("call {call}"),
                (_, Some(limit), ..) => format!("escalation: {}", limit.as_str()),
                (_, _, Some(trigger), _) => format!("trigger: {}", trigger.as_str()),
                (.., Some(operator)) => format!("operator {operator}"),
                _ => "no cause".into(),
            };
            format!("{from} → {to} ({cause})")
        }
        JournalEntry::Record(Record::HandoffRefused { from, to, refusal, .. }) => format!("{from} → {to}: {refusal:?}"),
        JournalEntry::Record(Record::TicketOpened { agent, .. }) => agent.clone(),
        JournalEntry::Record(Record::LimitTripped { limit, .. }) => limit.as_str().to_string(),
        JournalEntry::Record(Record::TurnEnded(outcome)) => {
            format!("turn {} {} with {}", outcome.turn, outcome.status.as_str(), outcome.agent)
        }
        _ => String::new(),
    };
    format!("{:>3} e{} {} {detail}", stored.seq, stored.epoch, stored.entry.kind())
}

/// Keeps the panics the simulator's tools throw on purpose off stderr; every other panic is
/// reported as before.
fn quiet_simulated_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let earlier = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let simulated = info.payload().downcast_ref::<&str>().is_some_and(|m| m.starts_with("simulated"));
            if !simulated {
                earlier(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    //! The simulator finds bugs planted on purpose, and a seed replays the same.

    use super::*;

    /// The invariants the seeds in `seeds` break with `planted`, by seed.
    fn broken(seeds: impl Iterator<Item = u64>, planted: Planted) -> Vec<(u64, &'static str)> {
        quiet_simulated_panics();
        seeds.filter_map(|seed| simulate(seed, Some(planted)).err().map(|f| (seed, f.invariant))).collect()
    }

    #[test]
    fn a_store_that_loses_an_acknowledged_append_is_caught() {
        let broken = broken((0..20).filter(|seed| !is_boundary_seed(*seed)), Planted::ForgetfulStore(3));
        assert!(broken.len() >= 15, "{broken:?}");
        // Lost, or seen missing by whoever reads the journal next (an operator's ticket).
        let seen = [invariant::LOST, invariant::ANSWERS];
        assert!(broken.iter().all(|(_, invariant)| seen.contains(invariant)), "{broken:?}");
    }

    #[test]
    fn a_store_that_lets_a_zombie_write_is_caught() {
        // A zombie writes (one that learns of its loss by renewing writes nothing either way).
        let paused =
            (0..200).filter(|seed| simulate(*seed, None).is_ok_and(|outcome| outcome.faults.contains_key("zombie")));
        let seeds: Vec<u64> = paused.take(4).collect();
        assert_eq!(seeds.len(), 4, "seeds 0..200 wake fewer than 4 zombies");
        let broken = broken(seeds.iter().copied(), Planted::UnfencedStore);
        assert_eq!(broken.iter().map(|(seed, _)| *seed).collect::<Vec<_>>(), seeds, "{broken:?}");
        assert!(broken.iter().all(|(_, invariant)| *invariant == invariant::FENCING), "{broken:?}");
    }

    #[test]
    fn a_runtime_that_runs_a_tool_again_after_a_crash_is_caught() {
        let broken = broken((0..300).filter(|seed| is_boundary_seed(*seed)), Planted::IdempotenceIgnored);
        assert!(!broken.is_empty(), "no boundary seed of 0..300 caught it");
        assert!(broken.iter().all(|(_, invariant)| *invariant == invariant::ONCE), "{broken:?}");
    }

    #[test]
    fn a_seed_replays_the_same() {
        // A chaos seed on memory, one on SQLite with a second conversation, a boundary seed.
        for seed in [3, 6, 19] {
            let first = simulate(seed, None).map_err(|f| f.to_string()).unwrap();
            let again = simulate(seed, None).map_err(|f| f.to_string()).unwrap();
            assert_eq!(first.trace, again.trace, "seed {seed}");
            assert_eq!(first.fingerprint, again.fingerprint, "seed {seed}");
            assert_eq!(first.faults, again.faults, "seed {seed}");
        }
    }
}
