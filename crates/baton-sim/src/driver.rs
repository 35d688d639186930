//! One simulated conversation: a user, a person deciding approvals and operators working the
//! queue act on it step by step through the real `Runtime`, while processes crash, stores fail,
//! leases are lost and paused processes wake up as zombies. After every step (and every
//! recovery) the checker reads the store's journal.
//!
//! A failed action is recovered the way a deployment recovers: a crashed process is replaced
//! by a fresh one (a fresh `Runtime`, and a freshly opened SQLite file), whose lease waits
//! until the dead one's expires; `interrupted()` must list the conversation exactly when its
//! journal has an open turn, and `resume` finishes it, as `baton resume` does. Then the client
//! sends its action again if the journal does not have it.

use crate::check::{invariant, Checker, Violation};
use crate::model::SimModel;
use crate::rng::Rng;
use crate::store::FaultyStore;
use crate::team::{SimTeam, SHORT_TIMEOUT_SECS};
use crate::tool::SimTool;
use crate::world::{CrashMode, FaultPlan, Gate, GateOn, Planted, Process, World};
use baton::core::{replay, Input, JournalEntry, Record, Team, Ticket};
use baton::models::Model;
use baton::runtime::DEFAULT_LEASE;
use baton::store::{MemoryStore, SqliteStore, Store, StoreError, StoredEntry, TURN_ENDED, TURN_OPENERS};
use baton::tools::guard::Guarded;
use baton::tools::Tool;
use baton::{BuiltTeam, Decision, Observer, Runtime, RuntimeError, TicketStatus, TicketView, TurnReport};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The user's messages.
const MESSAGES: [&str; 7] = [
    "Where is my order o-12?",
    "I was charged twice, please refund me.",
    "My password reset mail never came.",
    "Can you change the delivery address of o-7?",
    "I want to talk to a person",
    "¿Dónde está mi pedido? Necesito ayuda con la factura, por favor.",
    "Thanks, that is all.",
];

/// The operators.
const OPERATORS: [&str; 2] = ["anna", "ben"];

/// How long one conversation may take before the simulator calls it a hang (a few hundred
/// milliseconds is usual, in a debug build on a busy machine).
const WATCHDOG: Duration = Duration::from_secs(120);

/// How long a lease runs for a process that is to lose it while paused.
const SHORT_LEASE: Duration = Duration::from_millis(150);

/// Where the journal lives.
#[derive(Clone, Debug)]
pub enum Backend {
    /// baton's in-memory store.
    Memory,
    /// baton's SQLite store, in this file (opened again by every new process).
    Sqlite(PathBuf),
}

/// What one run is made of.
pub struct Setup {
    /// The seed of this conversation's draws.
    pub seed: u64,
    /// The conversation's id.
    pub id: String,
    /// The team.
    pub team: Arc<SimTeam>,
    /// How likely each fault is.
    pub faults: FaultPlan,
    /// Whether models and tools answer the same on every attempt.
    pub repeatable: bool,
    /// How many actions the user and people take.
    pub steps: u32,
    /// Where the journal lives.
    pub backend: Backend,
    /// The one crash of a boundary run: after which append of the run, and how.
    pub crash_at: Option<(u32, CrashMode)>,
    /// A bug planted in the store or the team the runtime gets, if any.
    pub planted: Option<Planted>,
    /// How many journal entries at least lie between two snapshots.
    pub snapshot_every: u64,
}

/// A run that kept every invariant.
pub struct Finished {
    /// The journal's entries.
    pub journal: Vec<JournalEntry>,
    /// How many appends the store accepted.
    pub appends: u32,
    /// How many actions were taken.
    pub actions: u32,
    /// The faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// The trace.
    pub trace: Vec<String>,
}

/// A run that broke an invariant.
pub struct Failed {
    /// What broke.
    pub violation: Violation,
    /// The trace up to there.
    pub trace: Vec<String>,
    /// The journal as the store held it.
    pub journal: Vec<StoredEntry>,
}

/// Opens the journal `backend` names.
pub fn open(backend: &Backend) -> Result<Arc<dyn Store>, Failed> {
    match backend {
        Backend::Memory => Ok(Arc::new(MemoryStore::new())),
        Backend::Sqlite(path) => match SqliteStore::open(path) {
            Ok(store) => Ok(Arc::new(store)),
            Err(e) => {
                let violation = Violation::new(invariant::SETUP, format!("cannot open {}: {e}", path.display()));
                Err(Failed { violation, trace: Vec::new(), journal: Vec::new() })
            }
        },
    }
}

/// Runs the conversation `setup` describes on `store` (which other conversations may share).
pub async fn run(setup: &Setup, store: Arc<dyn Store>) -> Result<Finished, Failed> {
    let mut team = setup.team.team.clone();
    if setup.planted == Some(Planted::IdempotenceIgnored) {
        let mut told = (*team).clone();
        told.tools.values_mut().for_each(|tool| tool.idempotent = true);
        team = Arc::new(told);
    }
    let world = Arc::new(World::new(setup.seed, setup.id.clone(), team, setup.faults.clone(), setup.repeatable));
    let mut run = Run {
        setup,
        checker: Checker::new(world.team.clone(), &world.id),
        world,
        store,
        proc: None,
        processes: 0,
        driver: Rng::stream(setup.seed, "driver"),
        chaos: Rng::stream(setup.seed, "chaos"),
        stale: None,
        actions: 0,
        heard: Arc::new(Heard::default()),
    };
    let outcome = match tokio::time::timeout(WATCHDOG, run.go()).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Violation::new(
            invariant::TURNS_END,
            format!("the conversation did not end within {} s: something hangs", WATCHDOG.as_secs()),
        )),
    };
    let journal = run.store.journal(&run.world.id).await.unwrap_or_default();
    match outcome {
        Ok(()) => Ok(Finished {
            journal: journal.into_iter().map(|stored| stored.entry).collect(),
            appends: run.world.appends(),
            actions: run.actions,
            faults: run.world.faults(),
            trace: run.world.trace(),
        }),
        Err(violation) => Err(Failed { violation, trace: run.world.trace(), journal }),
    }
}

/// One simulated process: its controls and its runtime.
struct Proc {
    ctl: Arc<Process>,
    runtime: Runtime,
}

/// An action of the user or of a person.
#[derive(Clone, Debug)]
enum Action {
    Message(String),
    Decide { call_id: String, approve: bool },
    Claim(String),
    Reply(String),
    HandBack(String, String),
    Close(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Message(text) => write!(f, "the user writes {text:?}"),
            Action::Decide { call_id, approve: true } => write!(f, "a person approves call {call_id}"),
            Action::Decide { call_id, approve: false } => write!(f, "a person denies call {call_id}"),
            Action::Claim(operator) => write!(f, "{operator} claims the ticket"),
            Action::Reply(operator) => write!(f, "{operator} writes to the user"),
            Action::HandBack(operator, to) => write!(f, "{operator} hands the conversation back to {to}"),
            Action::Close(operator) => write!(f, "{operator} closes the ticket"),
        }
    }
}

/// How a user message's process is paused mid-call, and what happens meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pause {
    /// Another process tries to resume the conversation and must be kept out.
    Contended,
    /// Its lease is taken over; it wakes and tries to write.
    Zombie,
    /// Its lease is taken over; it finds out by renewing.
    LeaseLoss,
}

/// An action, and whether it fits the conversation (one that does not must be refused).
struct Planned {
    action: Action,
    fits: bool,
}

struct Run<'a> {
    setup: &'a Setup,
    world: Arc<World>,
    /// The database every process reaches.
    store: Arc<dyn Store>,
    checker: Checker,
    proc: Option<Proc>,
    processes: u32,
    /// The user's and people's choices.
    driver: Rng,
    /// Which actions crash, pause or lose their lease.
    chaos: Rng,
    /// The holder of a dead process's lease that has not run out yet.
    stale: Option<String>,
    actions: u32,
    /// What the runtimes told their observer they journaled.
    heard: Arc<Heard>,
}

/// An observer that keeps every journal entry it is told of.
#[derive(Default)]
struct Heard(Mutex<Vec<StoredEntry>>);

impl Observer for Heard {
    fn journaled(&self, stored: &StoredEntry) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(stored.clone());
    }
}

impl Heard {
    /// The entries heard since the last call.
    fn take(&self) -> Vec<StoredEntry> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Run<'_> {
    fn id(&self) -> String {
        self.world.id.clone()
    }

    fn proc(&self) -> &Proc {
        self.proc.as_ref().expect("a process runs from the start")
    }

    /// A new process reaching the store, with its own runtime.
    fn spawn(&mut self, calm: bool, lease: Duration) -> Proc {
        self.processes += 1;
        let world = &self.world;
        let ctl = Arc::new(Process::new(self.setup.seed, &world.id, self.processes, calm));
        let store = FaultyStore::new(self.store.clone(), world.clone(), ctl.clone(), self.setup.planted);
        let model: Arc<dyn Model> = Arc::new(SimModel::new(world.clone(), ctl.clone()));
        let models = world.team.models.iter().map(|name| (name.clone(), model.clone())).collect();
        let mut tools: BTreeMap<String, Arc<dyn Tool>> = BTreeMap::new();
        // The tools know what they are, even when the runtime is told otherwise.
        for definition in self.setup.team.team.tools.values() {
            let settings = self.setup.team.settings.get(&definition.name).copied().unwrap_or_default();
            let may_hang = settings.timeout.as_secs_f64() <= SHORT_TIMEOUT_SECS;
            let tool = SimTool::new(definition.clone(), world.clone(), ctl.clone(), may_hang);
            tools.insert(definition.name.clone(), Arc::new(Guarded::new(Arc::new(tool), settings)));
        }
        let team = BuiltTeam::new(Team::clone(&world.team), models, tools).expect("the simulator's teams are valid");
        let runtime =
            Runtime::new(team, Arc::new(store)).with_lease(lease).with_snapshot_every(self.setup.snapshot_every);
        let calmly = if calm { " (no store faults)" } else { "" };
        world.note(format!("  process {} starts{calmly}", self.processes));
        Proc { ctl, runtime }
    }

    async fn go(&mut self) -> Result<(), Violation> {
        let first = self.spawn(false, DEFAULT_LEASE);
        if let Some((append, mode)) = self.setup.crash_at {
            self.world.note(format!("  the run crashes {mode:?} after append #{append}"));
            first.ctl.plan_crash(append, mode);
        }
        self.proc = Some(first);
        for step in 1..=self.setup.steps {
            self.step(step).await?;
        }
        self.finish().await
    }

    /// What the user or a person does next, from the conversation as the journal has it.
    fn choose(&mut self) -> Planned {
        let live = self.checker.live();
        let team = &self.world.team;
        let rng = &mut self.driver;
        let invalid = rng.chance(self.world.faults.invalid_action);
        let message = Action::Message(rng.pick(&MESSAGES).unwrap_or(&MESSAGES[0]).to_string());
        if let Some(pending) = live.pending_approval() {
            return match (invalid, rng.chance(0.5)) {
                (true, true) => Planned { action: message, fits: false },
                (true, false) => {
                    Planned { action: Action::Decide { call_id: "no-such-call".into(), approve: true }, fits: false }
                }
                (false, _) => Planned {
                    action: Action::Decide { call_id: pending.call_id, approve: rng.chance(0.6) },
                    fits: true,
                },
            };
        }
        let open = match live.ticket() {
            Some(Ticket { closed: false, operator, agent, .. }) if team.is_human(live.active_agent()) => {
                Some((operator.clone(), agent.clone()))
            }
            _ => None,
        };
        let Some((operator, queue)) = open else { return Planned { action: message, fits: true } };
        let targets: Vec<String> =
            team.agent(&queue).map(|a| a.handoffs.iter().map(|e| e.to.clone()).collect()).unwrap_or_default();
        let Some(operator) = operator else {
            let someone = rng.pick(&OPERATORS).unwrap_or(&OPERATORS[0]).to_string();
            return match (invalid, rng.chance(0.2)) {
                (true, _) => Planned { action: Action::Reply(someone), fits: false },
                (false, true) => Planned { action: message, fits: true },
                (false, false) => Planned { action: Action::Claim(someone), fits: true },
            };
        };
        if invalid {
            return match rng.chance(0.5) {
                true => Planned { action: Action::Claim("mallory".into()), fits: false },
                false => Planned { action: Action::HandBack(operator, "nobody".into()), fits: false },
            };
        }
        let action = match rng.below(10) {
            0..=2 => Action::Reply(operator),
            3..=5 if !targets.is_empty() => Action::HandBack(operator, rng.pick(&targets).cloned().unwrap_or_default()),
            6 | 7 => Action::Close(operator),
            _ => message,
        };
        Planned { action, fits: true }
    }

    /// One action, with its faults, recovery and retries, then the checks.
    async fn step(&mut self, step: u32) -> Result<(), Violation> {
        let planned = self.choose();
        self.actions += 1;
        let unfit = if planned.fits { "" } else { " (it does not fit: it must be refused)" };
        self.world.note(format!("step {step}: {}{unfit}", planned.action));
        if !planned.fits {
            self.world.fault("invalid_action", planned.action.to_string());
        }
        for attempt in 0..4 {
            if attempt > 0 {
                self.world.note(format!("  the client tries again: {}", planned.action));
            }
            let before = self.world.mirror().len();
            let faults = &self.world.faults;
            let pausable = planned.fits && !self.world.repeatable && !self.proc().ctl.is_dead();
            let pause = match (&planned.action, pausable) {
                (Action::Message(text), true) if self.chaos.chance(faults.zombie) => {
                    Some((text.clone(), Pause::Zombie))
                }
                (Action::Message(text), true) if self.chaos.chance(faults.lease_loss) => {
                    Some((text.clone(), Pause::LeaseLoss))
                }
                (Action::Message(text), true) if self.chaos.chance(faults.contended) => {
                    Some((text.clone(), Pause::Contended))
                }
                _ => None,
            };
            let result = match pause {
                Some((text, pause)) => self.pause(&text, pause).await?,
                None => {
                    if !self.world.repeatable && self.chaos.chance(faults.crash) {
                        let mode = if self.chaos.chance(0.5) { CrashMode::AtOnce } else { CrashMode::AtNextWrite };
                        let appends = self.chaos.between(1, 12) as u32;
                        self.proc().ctl.plan_crash(appends, mode);
                    }
                    let result = self.perform(&planned.action).await;
                    if self.setup.crash_at.is_none() {
                        self.proc().ctl.cancel_crash();
                    }
                    result
                }
            };
            match result {
                Ok(report) => {
                    if !planned.fits {
                        return Err(Violation::new(invariant::ANSWERS, "an action that does not fit was carried out"));
                    }
                    if let Some(report) = report {
                        self.check_report(&report)?;
                    }
                    return self.check().await;
                }
                Err(RuntimeError::Refused(why)) => {
                    self.world.note(format!("  refused: {why}"));
                    if planned.fits {
                        let what = format!("an action that fits was refused: {why}");
                        return Err(Violation::new(invariant::ANSWERS, what));
                    }
                    let journal = self.world.mirror();
                    if let Some(input) = journal[before..].iter().find(|entry| matches!(entry, JournalEntry::Input(_)))
                    {
                        let what = format!("a refused action journaled {}", input.kind());
                        return Err(Violation::new(invariant::ANSWERS, what));
                    }
                    return self.check().await;
                }
                Err(RuntimeError::Store(StoreError::Leased { holder, .. }))
                    if self.stale.as_deref() == Some(&holder) =>
                {
                    self.wait_for_lease(&holder, before).await?;
                }
                Err(error) => {
                    self.recover(error).await?;
                    self.check().await?;
                    if !planned.fits || self.journaled_since(&planned.action, before) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Carries the action out with the current process's runtime.
    async fn perform(&self, action: &Action) -> Result<Option<TurnReport>, RuntimeError> {
        let id = self.id();
        let runtime = &self.proc().runtime;
        match action {
            Action::Message(text) => runtime.send_observed(Some(&id), text, self.heard.clone()).await.map(Some),
            Action::Decide { call_id, approve } => {
                let reason = Some(if *approve { "fine" } else { "too risky" }.to_string());
                let decision = Decision { approve: *approve, reason, by: Some("lena".into()) };
                runtime.decide(&id, call_id, decision, self.heard.clone()).await.map(Some)
            }
            Action::Claim(operator) => runtime.claim(&id, operator).await.map(|view| self.ticket_is(action, &view)),
            Action::Reply(operator) => {
                let view = runtime.reply(&id, Some(operator), "An operator writes.").await;
                view.map(|view| self.ticket_is(action, &view))
            }
            Action::HandBack(operator, to) => {
                let view = runtime.hand_back(&id, Some(operator), to, Some("back to you")).await;
                view.map(|view| self.ticket_is(action, &view))
            }
            Action::Close(operator) => {
                runtime.close(&id, Some(operator)).await.map(|view| self.ticket_is(action, &view))
            }
        }
    }

    /// The ticket an operator's action answers with must show the action done.
    fn ticket_is(&self, action: &Action, view: &TicketView) -> Option<TurnReport> {
        let done = match action {
            Action::Claim(operator) => view.status == TicketStatus::Claimed && view.operator.as_ref() == Some(operator),
            Action::Reply(_) => view.status == TicketStatus::Claimed,
            Action::HandBack(_, to) => view.status == TicketStatus::None && view.agent == *to,
            Action::Close(_) => view.status == TicketStatus::Closed,
            Action::Message(_) | Action::Decide { .. } => true,
        };
        if !done {
            let what = format!("after '{action}' the ticket is {} with {:?}", view.status.as_str(), view.operator);
            self.world.violation(invariant::ANSWERS, what);
        }
        None
    }

    /// Whether the journal took the action's input after position `before`.
    fn journaled_since(&self, action: &Action, before: usize) -> bool {
        self.world.mirror()[before..].iter().any(|entry| match (entry, action) {
            (JournalEntry::Input(Input::UserMessage { text, .. }), Action::Message(sent)) => text == sent,
            (JournalEntry::Input(Input::ApprovalDecided { call_id, .. }), Action::Decide { call_id: decided, .. }) => {
                call_id == decided
            }
            (JournalEntry::Input(Input::TicketClaimed { .. }), Action::Claim(_))
            | (JournalEntry::Input(Input::OperatorReplied { .. }), Action::Reply(_))
            | (JournalEntry::Input(Input::TicketHandedBack { .. }), Action::HandBack(..))
            | (JournalEntry::Input(Input::TicketClosed { .. }), Action::Close(_)) => true,
            _ => false,
        })
    }

    /// A turn's report must be the turn end its journal holds.
    fn check_report(&self, report: &TurnReport) -> Result<(), Violation> {
        let journal = self.world.mirror();
        let journaled = journal.iter().rev().find_map(|entry| match entry {
            JournalEntry::Record(Record::TurnEnded(outcome)) => Some(outcome),
            _ => None,
        });
        if journaled != Some(&report.outcome) {
            let what =
                format!("the runtime reported {:?}, the journal's last turn end is {journaled:?}", report.outcome);
            return Err(Violation::new(invariant::ANSWERS, what));
        }
        Ok(())
    }

    /// Every invariant against the store's journal now, and every entry an observer was told
    /// of must be in it as told (the server streams them to clients).
    async fn check(&mut self) -> Result<(), Violation> {
        let journal = match self.store.journal(&self.world.id).await {
            Ok(journal) => journal,
            Err(StoreError::UnknownConversation(_)) => Vec::new(),
            Err(e) => return Err(Violation::new(invariant::LOST, format!("the store cannot be read: {e}"))),
        };
        for heard in self.heard.take() {
            if journal.get(heard.seq as usize) != Some(&heard) {
                let what = format!(
                    "an observer was told of entry {} ({}), which the journal does not hold as told",
                    heard.seq,
                    heard.entry.kind()
                );
                return Err(Violation::new(invariant::LOST, what));
            }
        }
        self.checker.check(&journal, &self.world)?;
        match self.store.latest_snapshot(&self.world.id).await {
            Ok(Some(snapshot)) => self.checker.check_snapshot(&snapshot, &journal),
            Ok(None) => Ok(()),
            Err(e) => Err(Violation::new(invariant::SNAPSHOT, format!("the snapshot cannot be read: {e}"))),
        }
    }

    /// A failed action: replace a dead process, then finish the interrupted turn as `baton
    /// resume` does, until it is finished (a process without faults does it in the end).
    async fn recover(&mut self, error: RuntimeError) -> Result<(), Violation> {
        self.world.note(format!("  failed: {}", describe_error(&error)));
        self.check().await?;
        expect_simulated(&error)?;
        for _ in 0..6 {
            if self.proc().ctl.is_dead() {
                self.restart(false).await?;
            }
            self.check().await?;
            if !self.listed().await? {
                return Ok(());
            }
            let before = self.world.mirror().len();
            match self.proc().runtime.resume_observed(&self.id(), self.heard.clone()).await {
                Ok(Some(report)) => {
                    self.world.note(format!("  process {} finished the interrupted turn", self.proc().ctl.number));
                    return self.check_report(&report);
                }
                Ok(None) => {
                    let what = "interrupted() lists the conversation, but resume found no turn to finish";
                    return Err(Violation::new(invariant::TURNS_END, what));
                }
                Err(RuntimeError::Store(StoreError::Leased { holder, .. }))
                    if self.stale.as_deref() == Some(&holder) =>
                {
                    self.wait_for_lease(&holder, before).await?;
                }
                Err(error) => {
                    self.world.note(format!("  failed: {}", describe_error(&error)));
                    expect_simulated(&error)?;
                }
            }
        }
        self.restart(true).await?;
        self.check().await?;
        if self.listed().await? {
            match self.proc().runtime.resume_observed(&self.id(), self.heard.clone()).await {
                Ok(Some(report)) => self.check_report(&report)?,
                other => {
                    let other = other.map(|report| report.map(|r| r.outcome)).map_err(|e| describe_error(&e));
                    let what = format!("a process without faults could not finish the interrupted turn: {other:?}");
                    return Err(Violation::new(invariant::TURNS_END, what));
                }
            }
        }
        self.proc().ctl.end_calm();
        Ok(())
    }

    /// Replaces the current process with a new one (after a crash, on a freshly opened store).
    /// A dead process's lease runs until it expires; sometimes the new process tries before.
    async fn restart(&mut self, calm: bool) -> Result<(), Violation> {
        let old = self.proc().ctl.clone();
        if let Backend::Sqlite(path) = &self.setup.backend {
            let reopened = SqliteStore::open(path)
                .map_err(|e| Violation::new(invariant::LOST, format!("the journal cannot be opened again: {e}")))?;
            self.store = Arc::new(reopened);
        }
        let new = self.spawn(calm, DEFAULT_LEASE);
        self.proc = Some(new);
        if old.is_dead() {
            self.stale = Some(old.holder.clone());
            if calm || !self.chaos.chance(self.world.faults.lease_held) {
                self.expire_stale().await?;
            }
        } else if calm {
            self.expire_stale().await?;
        }
        Ok(())
    }

    /// The new process was refused because the dead one's lease still runs: it must have
    /// written nothing since `before`; then the lease runs out.
    async fn wait_for_lease(&mut self, holder: &str, before: usize) -> Result<(), Violation> {
        let number = self.proc().ctl.number;
        self.world.fault("lease_held", format!("process {number} must wait: the dead {holder}'s lease runs"));
        if self.world.mirror().len() != before {
            return Err(Violation::new(invariant::FENCING, "a process without the lease wrote"));
        }
        self.expire_stale().await
    }

    /// The dead process's lease runs out.
    async fn expire_stale(&mut self) -> Result<(), Violation> {
        if let Some(holder) = self.stale.take() {
            self.world.note(format!("  the lease of {holder} runs out"));
            if let Err(e) = self.store.break_lease(&self.world.id, &holder).await {
                return Err(Violation::new(invariant::SETUP, format!("cannot end a lease: {e}")));
            }
        }
        Ok(())
    }

    /// Whether `interrupted()` lists the conversation; it must exactly when the journal's last
    /// turn is open.
    async fn listed(&self) -> Result<bool, Violation> {
        let listed = match self.store.interrupted().await {
            Ok(interrupted) => interrupted.iter().any(|info| info.id == self.world.id),
            Err(e) => return Err(Violation::new(invariant::LOST, format!("the store cannot be read: {e}"))),
        };
        let journal = self.world.mirror();
        let last = |kinds: &[&str]| journal.iter().rposition(|entry| kinds.contains(&entry.kind()));
        let open = last(&TURN_OPENERS) > last(&[TURN_ENDED]);
        if listed != open {
            let what = format!("interrupted() lists the conversation: {listed}; its journal has an open turn: {open}");
            return Err(Violation::new(invariant::TURNS_END, what));
        }
        Ok(listed)
    }

    /// A user message whose process is paused in a call. Then another process tries to resume
    /// the conversation and must be kept out (`Contended`: a recovery sweep racing a live turn);
    /// or the paused process's lease runs out, another process takes the conversation over and
    /// finishes the turn, and the paused process wakes (`Zombie`) or finds out by renewing
    /// (`LeaseLoss`): either way it must write nothing.
    async fn pause(&mut self, text: &str, pause: Pause) -> Result<Result<Option<TurnReport>, RuntimeError>, Violation> {
        let on = if self.chaos.chance(0.5) { GateOn::Model } else { GateOn::Tool };
        let lease_loss = pause == Pause::LeaseLoss;
        let paused = self.spawn(true, if lease_loss { SHORT_LEASE } else { DEFAULT_LEASE });
        let (reached, reached_here) = oneshot::channel();
        let (release, released) = oneshot::channel::<()>();
        paused.ctl.arm(Gate { on, reached, release: released });
        let id = self.id();
        let mut sent = Box::pin(paused.runtime.send_observed(Some(&id), text, self.heard.clone()));
        let early = tokio::select! {
            biased;
            result = &mut sent => Some(result),
            _ = reached_here => None,
        };
        if let Some(result) = early {
            paused.ctl.disarm();
            paused.ctl.end_calm();
            drop(sent);
            self.proc = Some(paused);
            return Ok(result.map(Some));
        }
        if pause == Pause::Contended {
            let (a, b) = (paused.ctl.number, self.processes + 1);
            self.world.fault("contended", format!("process {b} tries to resume while process {a} runs the turn"));
            let rival = self.spawn(true, DEFAULT_LEASE);
            let before = self.world.mirror().len();
            match rival.runtime.resume_observed(&id, self.heard.clone()).await {
                Err(RuntimeError::Store(StoreError::Leased { holder, .. })) if holder == paused.ctl.holder => {}
                other => {
                    let other = other.map(|report| report.map(|r| r.outcome)).map_err(|e| describe_error(&e));
                    let what = format!("process {b} was not kept out of the turn process {a} runs: {other:?}");
                    return Err(Violation::new(invariant::FENCING, what));
                }
            }
            if self.world.mirror().len() != before {
                return Err(Violation::new(invariant::FENCING, format!("process {b} wrote without the lease")));
            }
            let _ = release.send(());
            let result = sent.await;
            paused.ctl.end_calm();
            self.proc = Some(paused);
            return Ok(result.map(Some));
        }
        let kind = if lease_loss { "lease_loss" } else { "zombie" };
        let (a, b) = (paused.ctl.number, self.processes + 1);
        self.world
            .fault(kind, format!("process {a} pauses in its {on:?} call, its lease runs out, process {b} takes over"));
        self.store
            .break_lease(&id, &paused.ctl.holder)
            .await
            .map_err(|e| Violation::new(invariant::SETUP, format!("cannot end a lease: {e}")))?;
        let taker = self.spawn(true, DEFAULT_LEASE);
        let finished = taker.runtime.resume_observed(&id, self.heard.clone()).await;
        taker.ctl.end_calm();
        self.proc = Some(taker);
        match finished {
            Ok(Some(report)) => self.check_report(&report)?,
            other => {
                let other = other.map(|report| report.map(|r| r.outcome)).map_err(|e| describe_error(&e));
                let what = format!("the process that took over did not finish the turn: {other:?}");
                return Err(Violation::new(invariant::ANSWERS, what));
            }
        }
        let written = self.world.mirror().len();
        let release = match lease_loss {
            true => Some(release),
            false => {
                let _ = release.send(());
                None
            }
        };
        let woken = sent.await;
        drop(release);
        match woken {
            Err(RuntimeError::Store(StoreError::Fenced { .. })) => {
                self.world.note(format!("  process {a} is fenced off"));
            }
            other => {
                let other = other.map(|report| report.outcome).map_err(|e| describe_error(&e));
                let what = format!("process {a}, whose lease was taken over, was not fenced off: {other:?}");
                return Err(Violation::new(invariant::FENCING, what));
            }
        }
        if self.world.mirror().len() != written {
            return Err(Violation::new(
                invariant::FENCING,
                format!("process {a} wrote after its lease was taken over"),
            ));
        }
        Ok(Ok(None))
    }

    /// The end: a process without faults must find nothing left to do.
    async fn finish(&mut self) -> Result<(), Violation> {
        self.world.note("end: a process without faults looks at the conversation");
        self.restart(true).await?;
        if self.listed().await? {
            return Err(Violation::new(invariant::TURNS_END, "a turn is still open at the end"));
        }
        if !self.world.mirror().is_empty() {
            match self.proc().runtime.resume_observed(&self.id(), self.heard.clone()).await {
                Ok(None) => {}
                Ok(Some(report)) => {
                    let what = format!("turn {} was left for resume to finish", report.outcome.turn);
                    return Err(Violation::new(invariant::TURNS_END, what));
                }
                Err(e) => {
                    return Err(Violation::new(invariant::ANSWERS, format!("resume failed: {}", describe_error(&e))))
                }
            }
        }
        self.check().await?;
        let journal = self.world.mirror();
        match replay(self.world.team.clone(), &self.world.id, &journal) {
            Ok(replayed) if replayed.unfinished.is_empty() => Ok(()),
            Ok(replayed) => {
                let what = format!("the journal leaves {} effect(s) undone", replayed.unfinished.len());
                Err(Violation::new(invariant::TURNS_END, what))
            }
            Err(e) => Err(Violation::new(invariant::REPLAY, format!("the journal does not replay: {e}"))),
        }
    }
}

/// Only the failures the simulator injects may make an action fail.
fn expect_simulated(error: &RuntimeError) -> Result<(), Violation> {
    match error {
        RuntimeError::Store(StoreError::Database { path, .. }) if path == "simulated" => Ok(()),
        RuntimeError::Replay { .. } => Err(Violation::new(invariant::REPLAY, describe_error(error))),
        RuntimeError::Store(StoreError::Fenced { .. } | StoreError::Leased { .. } | StoreError::Conflict { .. }) => {
            Err(Violation::new(invariant::FENCING, format!("unexpected: {}", describe_error(error))))
        }
        other => Err(Violation::new(invariant::ANSWERS, format!("unexpected error: {}", describe_error(other)))),
    }
}

/// An error in words that do not depend on the clock (a lease's remaining time does), so a
/// seed's trace is the same on every run.
fn describe_error(error: &RuntimeError) -> String {
    match error {
        RuntimeError::Store(StoreError::Leased { holder, .. }) => format!("the lease is held by {holder}"),
        other => other.to_string(),
    }
}
