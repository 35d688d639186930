//! The simulated world one conversation runs in: what the "database" accepted (the mirror),
//! the side effects tools had, how often each model and tool call was attempted, the faults
//! injected, the trace, and the invariant violations models and tools saw while they ran.
//! Also the simulated processes: each has its own lease holder name and can crash.

use crate::check::invariant;
use crate::rng::Rng;
use baton::core::{JournalEntry, Team};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// How likely each fault is, for one seed.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// A process crashes during an action (after a random number of its journal appends).
    pub crash: f64,
    /// An append fails and writes nothing.
    pub store_write: f64,
    /// An append is written, but its acknowledgement is lost.
    pub ack_lost: f64,
    /// A journal read or a lease acquisition fails.
    pub store_read: f64,
    /// A model call fails.
    pub model_error: f64,
    /// A model call times out.
    pub model_timeout: f64,
    /// A model reply is malformed in one of many ways.
    pub malformed: f64,
    /// A model reply has neither text nor tool calls.
    pub empty_reply: f64,
    /// A tool answers an error.
    pub tool_error: f64,
    /// A tool panics.
    pub tool_panic: f64,
    /// A tool hangs past its time limit (only tools with a short one).
    pub tool_hang: f64,
    /// The process crashes while a tool runs (before or after its side effect).
    pub tool_crash: f64,
    /// A user message's process is paused mid-call, its lease taken over, then woken (a zombie).
    pub zombie: f64,
    /// Like `zombie`, but the process finds out by renewing its lease.
    pub lease_loss: f64,
    /// A user message's process is paused mid-call while another tries to resume (and must
    /// be kept out by the lease).
    pub contended: f64,
    /// After a crash, a new process first tries while the dead one's lease still runs.
    pub lease_held: f64,
    /// A person's action that does not fit the conversation (and must be refused).
    pub invalid_action: f64,
}

impl FaultPlan {
    /// A random plan: calm, mixed or stormy.
    pub fn random(rng: &mut Rng) -> FaultPlan {
        let level = [0.3, 1.0, 2.5][rng.below(3) as usize];
        FaultPlan {
            crash: 0.15 * level,
            store_write: 0.01 * level,
            ack_lost: 0.01 * level,
            store_read: 0.01 * level,
            model_error: 0.03 * level,
            model_timeout: 0.02 * level,
            malformed: 0.08 * level,
            empty_reply: 0.015 * level,
            tool_error: 0.06 * level,
            tool_panic: 0.02 * level,
            tool_hang: 0.03 * level,
            tool_crash: 0.03 * level,
            zombie: 0.05 * level,
            lease_loss: 0.03 * level,
            contended: 0.03 * level,
            lease_held: 0.3,
            invalid_action: 0.06 * level,
        }
    }

    /// The plan of a boundary run: the model and tool behaviour that is part of the scripted
    /// world (the same on every attempt), and no faults of the store, processes or leases.
    pub fn scripted(rng: &mut Rng) -> FaultPlan {
        let plan = FaultPlan::random(rng);
        FaultPlan {
            model_error: plan.model_error,
            malformed: plan.malformed,
            empty_reply: plan.empty_reply,
            tool_error: plan.tool_error,
            invalid_action: plan.invalid_action,
            ..FaultPlan::default()
        }
    }
}

/// More model calls than a conversation of the simulator makes without a loop (at most 8 steps
/// of at most 8 model calls, each made again after at most a few crashes).
const MAX_MODEL_CALLS: u32 = 1000;

/// The world of one simulated conversation.
pub struct World {
    /// The seed.
    pub seed: u64,
    /// The conversation's id.
    pub id: String,
    /// The team.
    pub team: Arc<Team>,
    /// How likely each fault is.
    pub faults: FaultPlan,
    /// Whether models and tools answer the same on every attempt (boundary runs), so that a
    /// crashed-and-resumed conversation must journal exactly what the clean one did.
    pub repeatable: bool,
    state: Mutex<WorldState>,
}

#[derive(Default)]
struct WorldState {
    mirror: Vec<JournalEntry>,
    acked: Vec<(u64, JournalEntry)>,
    appends: u32,
    model_attempts: BTreeMap<(String, u32), u32>,
    tool_attempts: BTreeMap<String, u32>,
    effects: BTreeMap<String, u32>,
    faults: BTreeMap<&'static str, u64>,
    trace: Vec<String>,
    violations: Vec<(&'static str, String)>,
}

impl World {
    /// A world for conversation `id` of `team`.
    pub fn new(seed: u64, id: String, team: Arc<Team>, faults: FaultPlan, repeatable: bool) -> World {
        World { seed, id, team, faults, repeatable, state: Mutex::new(WorldState::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a line to the trace.
    pub fn note(&self, line: impl Into<String>) {
        self.lock().trace.push(line.into());
    }

    /// Counts one injected fault of `kind`, and traces it.
    pub fn fault(&self, kind: &'static str, detail: impl Into<String>) {
        let mut state = self.lock();
        *state.faults.entry(kind).or_insert(0) += 1;
        let detail = detail.into();
        state.trace.push(format!("  fault {kind}: {detail}"));
    }

    /// Records a violation of `invariant` seen while a model, tool or store call ran.
    pub fn violation(&self, invariant: &'static str, what: impl Into<String>) {
        self.lock().violations.push((invariant, what.into()));
    }

    /// The violations seen so far.
    pub fn violations(&self) -> Vec<(&'static str, String)> {
        self.lock().violations.clone()
    }

    /// The faults injected so far, by kind.
    pub fn faults(&self) -> BTreeMap<&'static str, u64> {
        self.lock().faults.clone()
    }

    /// The trace so far.
    pub fn trace(&self) -> Vec<String> {
        self.lock().trace.clone()
    }

    /// The store accepted `entries` at `first_seq`; returns how many appends it has accepted.
    pub fn written(&self, first_seq: u64, entries: &[(u64, JournalEntry)]) -> u32 {
        let mut state = self.lock();
        if first_seq != state.mirror.len() as u64 {
            let at = state.mirror.len();
            let what = format!("the store accepted an append at {first_seq}, but its journal ends at {at}");
            state.violations.push((invariant::LOST, what));
        }
        state.mirror.extend(entries.iter().map(|(_, entry)| entry.clone()));
        state.appends += 1;
        state.appends
    }

    /// The writer was told that the append at `first_seq` is durable.
    pub fn acknowledged(&self, first_seq: u64, entries: &[(u64, JournalEntry)]) {
        let mut state = self.lock();
        state.acked.extend(entries.iter().enumerate().map(|(i, (_, entry))| (first_seq + i as u64, entry.clone())));
    }

    /// Every entry the store accepted, in order.
    pub fn mirror(&self) -> Vec<JournalEntry> {
        self.lock().mirror.clone()
    }

    /// Every entry whose append was acknowledged, with its position.
    pub fn acked(&self) -> Vec<(u64, JournalEntry)> {
        self.lock().acked.clone()
    }

    /// How many appends the store has accepted.
    pub fn appends(&self) -> u32 {
        self.lock().appends
    }

    /// Counts an attempt of `agent`'s model call number `index`; returns the attempt, from 0,
    /// or `None` once the conversation has called its models more often than any run of the
    /// simulator can without a loop (a violation).
    pub fn model_attempt(&self, agent: &str, index: u32) -> Option<u32> {
        let mut state = self.lock();
        let calls: u32 = state.model_attempts.values().sum();
        if calls >= MAX_MODEL_CALLS {
            let what = format!("the models were called {calls} times in one conversation: the runtime loops");
            state.violations.push((invariant::LIMITS, what));
            return None;
        }
        let attempts = state.model_attempts.entry((agent.to_string(), index)).or_insert(0);
        *attempts += 1;
        Some(*attempts - 1)
    }

    /// Counts an attempt of the tool call with `key`; returns the attempt, from 0.
    pub fn tool_attempt(&self, key: &str) -> u32 {
        let mut state = self.lock();
        let attempts = state.tool_attempts.entry(key.to_string()).or_insert(0);
        *attempts += 1;
        *attempts - 1
    }

    /// A non-idempotent tool took effect under `key`; a second time is a violation.
    pub fn took_effect(&self, tool: &str, key: &str) {
        let mut state = self.lock();
        let times = state.effects.entry(key.to_string()).or_insert(0);
        *times += 1;
        if *times > 1 {
            let times = *times;
            let what = format!("non-idempotent tool '{tool}' took effect {times} times under key {key}");
            state.violations.push((invariant::ONCE, what));
        }
    }

    /// The draws of the stream `name`, for an attempt (the same for every attempt when the world
    /// is repeatable).
    pub fn rng(&self, name: &str, attempt: u32) -> Rng {
        let attempt = if self.repeatable { 0 } else { attempt };
        Rng::stream(self.seed, &format!("{name}/{attempt}"))
    }
}

/// A bug planted on purpose, to show that the simulator finds it (`baton-sim --plant NAME`,
/// and the simulator's own tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planted {
    /// The store acknowledges the n-th append of the run without writing it.
    ForgetfulStore(u32),
    /// The store lets a process whose lease was taken over write anyway (it takes the lease back).
    UnfencedStore,
    /// The runtime is told every tool is idempotent, so it runs again a call that may have run.
    IdempotenceIgnored,
}

impl Planted {
    /// The names `--plant` takes.
    pub const NAMES: [&'static str; 3] = ["forgetful-store", "unfenced-store", "idempotence-ignored"];

    /// The bug called `name` (the forgetful store forgets the third append).
    pub fn named(name: &str) -> Option<Planted> {
        match name {
            "forgetful-store" => Some(Planted::ForgetfulStore(3)),
            "unfenced-store" => Some(Planted::UnfencedStore),
            "idempotence-ignored" => Some(Planted::IdempotenceIgnored),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Planted::ForgetfulStore(_) => Self::NAMES[0],
            Planted::UnfencedStore => Self::NAMES[1],
            Planted::IdempotenceIgnored => Self::NAMES[2],
        }
    }
}

/// How a planned crash happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Right after the append is written: nothing else this process does takes effect.
    AtOnce,
    /// At the process's next store operation: the calls it made after the append ran.
    AtNextWrite,
}

/// What a gated call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateOn {
    /// The next model call.
    Model,
    /// The next tool call.
    Tool,
}

/// A pause in the next call of one kind: it says when it is reached, then waits to be released.
pub struct Gate {
    /// Which call waits.
    pub on: GateOn,
    /// Told when the call reaches the gate.
    pub reached: oneshot::Sender<()>,
    /// Released (or dropped) to let the call go on.
    pub release: oneshot::Receiver<()>,
}

/// One simulated process running a Runtime: its lease holder name, whether it is dead, and the
/// crash and pause planned for it.
pub struct Process {
    /// The process's number in the run, from 1.
    pub number: u32,
    /// Its name as a lease holder.
    pub holder: String,
    calm: AtomicBool,
    dead: AtomicBool,
    dying: AtomicBool,
    appends: AtomicU32,
    crash: Mutex<Option<(u32, CrashMode)>>,
    gate: Mutex<Option<Gate>>,
    rng: Mutex<Rng>,
}

impl Process {
    /// Process `number` of the run of `seed` on conversation `id`.
    pub fn new(seed: u64, id: &str, number: u32, calm: bool) -> Process {
        Process {
            number,
            holder: format!("{id}/process-{number}"),
            calm: AtomicBool::new(calm),
            dead: AtomicBool::new(false),
            dying: AtomicBool::new(false),
            appends: AtomicU32::new(0),
            crash: Mutex::new(None),
            gate: Mutex::new(None),
            rng: Mutex::new(Rng::stream(seed, &format!("process/{number}"))),
        }
    }

    /// Whether the process has crashed.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Crashes the process now.
    pub fn die(&self) {
        self.dead.store(true, Ordering::SeqCst);
    }

    /// Makes the process crash at its next store operation, if it is to die then; returns
    /// whether it is dead.
    pub fn check_alive(&self) -> bool {
        if self.dying.swap(false, Ordering::SeqCst) {
            self.die();
        }
        !self.is_dead()
    }

    /// Plans a crash after the process's `appends`-th append from now.
    pub fn plan_crash(&self, appends: u32, mode: CrashMode) {
        let done = self.appends.load(Ordering::SeqCst);
        *self.crash.lock().unwrap_or_else(|p| p.into_inner()) = Some((done + appends, mode));
    }

    /// Drops a planned crash that did not happen.
    pub fn cancel_crash(&self) {
        *self.crash.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Counts one append this process made; returns the crash it triggers, if any.
    pub fn appended(&self) -> Option<CrashMode> {
        let done = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        let mut crash = self.crash.lock().unwrap_or_else(|p| p.into_inner());
        match *crash {
            Some((at, mode)) if at == done => {
                *crash = None;
                match mode {
                    CrashMode::AtOnce => self.die(),
                    CrashMode::AtNextWrite => self.dying.store(true, Ordering::SeqCst),
                }
                Some(mode)
            }
            _ => None,
        }
    }

    /// Pauses the next call of kind `on`.
    pub fn arm(&self, gate: Gate) {
        *self.gate.lock().unwrap_or_else(|p| p.into_inner()) = Some(gate);
    }

    /// Disarms the gate, if no call reached it.
    pub fn disarm(&self) {
        *self.gate.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Waits at the gate if it is armed for `on`.
    pub async fn pass_gate(&self, on: GateOn) {
        let gate = {
            let mut armed = self.gate.lock().unwrap_or_else(|p| p.into_inner());
            match armed.as_ref() {
                Some(gate) if gate.on == on => armed.take(),
                _ => None,
            }
        };
        if let Some(gate) = gate {
            let _ = gate.reached.send(());
            let _ = gate.release.await;
        }
    }

    /// Whether faults of the store and crashes in tools are off for it: for a process that must
    /// finish what others left.
    pub fn is_calm(&self) -> bool {
        self.calm.load(Ordering::SeqCst)
    }

    /// Turns faults back on once a calm process has done what it was for.
    pub fn end_calm(&self) {
        self.calm.store(false, Ordering::SeqCst);
    }

    /// Whether a store fault with probability `p` happens now (never for a calm process).
    pub fn roll(&self, p: f64) -> bool {
        !self.is_calm() && p > 0.0 && self.rng.lock().unwrap_or_else(|r| r.into_inner()).chance(p)
    }
}
