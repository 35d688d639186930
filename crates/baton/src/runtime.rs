//! The runtime: drives conversations by carrying out the core's effects.
//!
//! Write-ahead: every input is journaled before the core sees it, and every record the core
//! returns is journaled before the calls that follow it are made. A conversation is loaded by
//! replaying its journal (from its latest snapshot on: see `snapshots`); a turn that a crash
//! interrupted is finished before the next begins.
//! Only the holder of a conversation's lease advances it: the lease is taken before loading,
//! renewed while calls run, checked by every append, and given up when the turn ends.
//!
//! A turn runs against the team's `turn_seconds`, counted while it runs (a wait for a person's
//! approval, or for another process to take over a crashed turn, is not counted): a model or tool
//! call still running when it passes is cut off, and the core is told [`Input::DeadlinePassed`],
//! journaled like every input, so replay never reads a clock.

use crate::built_team::BuiltTeam;
use crate::config::Price;
use crate::held::{held_by_another_task, HeldHere};
use crate::human::HumanHandler;
use crate::ids::{check_conversation_id, new_conversation_id, BadConversationId};
use crate::observer::{AgentText, Observer, Unobserved};
use crate::report::TurnReport;
use crate::snapshots::{self, SNAPSHOT_EVERY};
use crate::turn_log::Logged;
use crate::usage::TurnUsage;
use crate::warm::{Warm, WarmStates};
use baton_core::{
    replay, replay_from, Conversation, Effect, Input, JournalEntry, Purpose, Record, Replayed, Team, ToolOutput,
    TurnOutcome, Unfit,
};
use baton_local::read_signals;
use baton_models::Model;
use baton_store::{holder_id, holder_is_gone, ConversationInfo, Lease, Snapshot, Store, StoreError, StoredEntry};
use baton_tools::Tool;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;

/// How long a conversation's lease runs unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A team ready to run: its models, tools and journal.
pub struct Runtime {
    team: Arc<Team>,
    /// The team's digest, which a snapshot must carry to be used (see `snapshots`).
    team_digest: String,
    team_file: Option<String>,
    models: BTreeMap<String, Arc<dyn Model>>,
    tools: BTreeMap<String, Arc<dyn Tool>>,
    store: Arc<dyn Store>,
    lease_ttl: Duration,
    snapshot_every: u64,
    warm: WarmStates,
    prices: BTreeMap<String, Price>,
    human: Option<Arc<dyn HumanHandler>>,
    /// What the turns' spans say of the team's agents and models.
    #[cfg(feature = "otel")]
    catalog: Arc<crate::telemetry::Catalog>,
}

/// A person's decision on a tool call waiting for approval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may run.
    pub approve: bool,
    /// Why; a denial's reason is told to the model.
    pub reason: Option<String>,
    /// Who decided.
    pub by: Option<String>,
}

/// Why a turn could not be run at all (a turn that ran and failed is a [`TurnReport`]).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The journal failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The conversation belongs to another team.
    #[error("conversation '{conversation}' belongs to team '{owner}', not '{team}': pass that team's file")]
    WrongTeam {
        /// The conversation.
        conversation: String,
        /// Its team.
        owner: String,
        /// The team given.
        team: String,
    },
    /// A client-chosen conversation id is malformed.
    #[error("{0}")]
    BadId(BadConversationId),
    /// What was asked does not fit the conversation now (a message while a call waits for
    /// approval, a decision nobody waits for, an operator acting on a ticket they do not hold);
    /// nothing was journaled.
    #[error("{0}")]
    Refused(Unfit),
    /// The user's message is longer than the team's `max_message_bytes`; nothing was created or
    /// journaled.
    #[error(
        "the message is {bytes} bytes, and team '{team}' takes messages of at most {limit} bytes: send a shorter \
         message, or raise max_message_bytes under [limits] in the team file"
    )]
    MessageTooLarge {
        /// The message's length in bytes.
        bytes: usize,
        /// The team's limit in bytes.
        limit: usize,
        /// The team.
        team: String,
    },
    /// The journal does not replay under this team.
    #[error("conversation '{conversation}' cannot be loaded: {detail}")]
    Replay {
        /// The conversation.
        conversation: String,
        /// What does not fit.
        detail: String,
    },
}

impl Runtime {
    /// A runtime for `team` (built with [`crate::TeamBuilder`], loaded from a team file with
    /// [`crate::assemble`], or checked by [`BuiltTeam::new`]) journaling to `store`.
    pub fn new(team: BuiltTeam, store: Arc<dyn Store>) -> Self {
        let BuiltTeam { team, models, tools } = team;
        let team = team.shared().clone();
        let team_digest = snapshots::team_digest(&team);
        #[cfg(feature = "otel")]
        let catalog = Arc::new(crate::telemetry::Catalog::new(team.clone(), &models));
        Runtime {
            team,
            team_digest,
            team_file: None,
            models,
            tools,
            store,
            lease_ttl: DEFAULT_LEASE,
            snapshot_every: SNAPSHOT_EVERY,
            warm: WarmStates::default(),
            prices: BTreeMap::new(),
            human: None,
            #[cfg(feature = "otel")]
            catalog,
        }
    }

    /// Who serves the team's model `model` (`openai`, `anthropic`, `baton.local`, …), as
    /// OpenTelemetry's `gen_ai.provider.name` names it.
    pub fn provider_of(&self, model: &str) -> &str {
        self.models.get(model).map_or("custom", |model| model.provider_name())
    }

    /// The tokens a turn's model calls used, and their cost where the models have prices.
    pub fn usage_of(&self, outcome: &TurnOutcome) -> TurnUsage {
        TurnUsage::of(outcome, &self.prices)
    }

    /// Sets the price of each model's tokens (by model name), for the cost in [`TurnReport`].
    pub fn with_prices(mut self, prices: BTreeMap<String, Price>) -> Self {
        self.prices = prices;
        self
    }

    /// Sets how long a conversation's lease runs unless renewed: how soon another process may
    /// take over a conversation this one stopped advancing (it is renewed every third of it).
    pub fn with_lease(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets how many journal entries at least lie between two snapshots of a conversation
    /// ([`SNAPSHOT_EVERY`] by default): fewer make loading a long conversation fold fewer
    /// entries, and store its state more often.
    pub fn with_snapshot_every(mut self, entries: u64) -> Self {
        self.snapshot_every = entries.max(1);
        self
    }

    /// Lets `handler` answer, in this process, for the team's human agents and for tool calls
    /// waiting for approval, after each turn [`Runtime::send`] or [`Runtime::resume`] runs (see
    /// [`HumanHandler`]). Without one, both wait in the durable queue.
    pub fn with_human(mut self, handler: impl HumanHandler + 'static) -> Self {
        self.human = Some(Arc::new(handler));
        self
    }

    /// Records `path` as the team file of the conversations this runtime creates, so that
    /// `baton resume` can rebuild their team.
    pub fn with_team_file(mut self, path: impl Into<String>) -> Self {
        self.team_file = Some(path.into());
        self
    }

    /// The team.
    pub fn team(&self) -> &Team {
        &self.team
    }

    /// The journal store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs one user turn: in a new conversation, or in `conversation` if given (created with
    /// that id when it does not exist yet: clients may choose ids). Fails with
    /// [`StoreError::Leased`] while another process advances the conversation.
    pub async fn send(&self, conversation: Option<&str>, message: &str) -> Result<TurnReport, RuntimeError> {
        self.send_observed(conversation, message, Arc::new(Unobserved)).await
    }

    /// Like [`Runtime::send`], telling `observer` the turn's text and journal entries as they
    /// happen (those of an interrupted earlier turn finished first included).
    pub async fn send_observed(
        &self,
        conversation: Option<&str>,
        message: &str,
        observer: Arc<dyn Observer>,
    ) -> Result<TurnReport, RuntimeError> {
        self.check_message(message)?;
        let info = match conversation {
            Some(id) => match self.store.conversation(id).await? {
                Some(info) => info,
                None => {
                    check_conversation_id(id).map_err(RuntimeError::BadId)?;
                    self.create(id.to_string(), None).await?
                }
            },
            None => self.create(new_conversation_id(), None).await?,
        };
        let (lease, _held) = self.acquire(&info.id).await?;
        let turn = async {
            let (mut journal, mut state, _) = self.load(&lease, &info, observer).await?;
            let signals = read_signals(&self.team, message);
            let user = Input::UserMessage { text: message.to_string(), signals };
            state.check(&user).map_err(RuntimeError::Refused)?;
            let effects = journal.feed(&mut state, user).await?;
            let outcome = self.drive(&mut journal, &mut state, effects, &BTreeSet::new()).await?;
            self.settle(&journal, state).await;
            Ok(outcome)
        };
        let outcome = self.let_go(&lease, turn.await).await?;
        Ok(self.humans_answer(self.report(info.id, outcome)).await)
    }

    /// The report after the [`HumanHandler`] answered what the turn left to a person, if the
    /// runtime has one.
    async fn humans_answer(&self, report: TurnReport) -> TurnReport {
        match &self.human {
            Some(handler) => self.answer_humans(handler, report).await,
            None => report,
        }
    }

    /// Refuses a user message longer than the team's `max_message_bytes` ([`Runtime::send`] does
    /// it first, before anything is created or journaled; a server may ask before it starts
    /// answering).
    pub fn check_message(&self, message: &str) -> Result<(), RuntimeError> {
        let limit = self.team.limits.max_message_bytes as usize;
        match message.len() > limit {
            true => Err(RuntimeError::MessageTooLarge { bytes: message.len(), limit, team: self.team.name.clone() }),
            false => Ok(()),
        }
    }

    /// Finishes the turn a crash interrupted in `conversation`, if there is one, and returns how
    /// it ended. Fails with [`StoreError::Leased`] while another process advances it.
    pub async fn resume(&self, conversation: &str) -> Result<Option<TurnReport>, RuntimeError> {
        self.resume_observed(conversation, Arc::new(Unobserved)).await
    }

    /// Like [`Runtime::resume`], telling `observer` the finished turn's text and entries.
    pub async fn resume_observed(
        &self,
        conversation: &str,
        observer: Arc<dyn Observer>,
    ) -> Result<Option<TurnReport>, RuntimeError> {
        let info = self
            .store
            .conversation(conversation)
            .await?
            .ok_or_else(|| StoreError::UnknownConversation(conversation.to_string()))?;
        let (lease, _held) = self.acquire(conversation).await?;
        let work = async {
            let (journal, state, finished) = self.load(&lease, &info, observer).await?;
            self.settle(&journal, state).await;
            Ok(finished)
        };
        match self.let_go(&lease, work.await).await? {
            Some(outcome) => Ok(Some(self.humans_answer(self.report(conversation.to_string(), outcome)).await)),
            None => Ok(None),
        }
    }

    /// Decides on a tool call waiting for approval and carries the turn on: the call runs if
    /// approved; a denial is the call's result, which the model reads. Returns how the turn
    /// ended (it may wait for another approval).
    pub async fn decide(
        &self,
        conversation: &str,
        call_id: &str,
        decision: Decision,
        observer: Arc<dyn Observer>,
    ) -> Result<TurnReport, RuntimeError> {
        let input = |_: &Conversation| {
            Ok(Input::ApprovalDecided {
                call_id: call_id.to_string(),
                approved: decision.approve,
                reason: decision.reason.clone(),
                by: decision.by.clone(),
            })
        };
        let outcome = self.act(conversation, input, observer).await?;
        let outcome = outcome.ok_or_else(|| RuntimeError::Replay {
            conversation: conversation.to_string(),
            detail: "the decision did not carry the turn on".into(),
        })?;
        Ok(self.report(conversation.to_string(), outcome))
    }

    /// Journals the input `make` builds from the conversation's state (once it fits the
    /// conversation), and carries out what follows from it. Returns how the turn ended if the
    /// input carried one on.
    pub(crate) async fn act(
        &self,
        conversation: &str,
        make: impl FnOnce(&Conversation) -> Result<Input, Unfit>,
        observer: Arc<dyn Observer>,
    ) -> Result<Option<TurnOutcome>, RuntimeError> {
        let info = self
            .store
            .conversation(conversation)
            .await?
            .ok_or_else(|| StoreError::UnknownConversation(conversation.to_string()))?;
        let (lease, _held) = self.acquire(conversation).await?;
        let work = async {
            let (mut journal, mut state, _) = self.load(&lease, &info, observer).await?;
            let input = make(&state).map_err(RuntimeError::Refused)?;
            state.check(&input).map_err(RuntimeError::Refused)?;
            let effects = journal.feed(&mut state, input).await?;
            let carries_on = effects.iter().any(|effect| {
                !matches!(effect, Effect::Record(_)) || matches!(effect, Effect::Record(Record::TurnEnded(_)))
            });
            if !carries_on {
                let records = effects.into_iter().filter_map(|effect| match effect {
                    Effect::Record(record) => Some(JournalEntry::Record(record)),
                    _ => None,
                });
                journal.append(records.collect()).await?;
                self.settle(&journal, state).await;
                return Ok(None);
            }
            let outcome = self.drive(&mut journal, &mut state, effects, &BTreeSet::new()).await?;
            self.settle(&journal, state).await;
            Ok(Some(outcome))
        };
        self.let_go(&lease, work.await).await
    }

    /// The conversation as its journal stands, read without taking its lease, with its journal.
    pub async fn conversation(
        &self,
        conversation: &str,
    ) -> Result<(ConversationInfo, Vec<StoredEntry>, Conversation), RuntimeError> {
        let info = self
            .store
            .conversation(conversation)
            .await?
            .ok_or_else(|| StoreError::UnknownConversation(conversation.to_string()))?;
        let (stored, replayed) = self.replayed(&info).await?;
        Ok((info, stored, replayed.conversation))
    }

    /// The conversation as this process left it, if the journal still ends there (see `warm`);
    /// else folded from its latest usable snapshot on (see `snapshots`), or from its whole
    /// journal.
    async fn fold(&self, info: &ConversationInfo) -> Result<Folded, RuntimeError> {
        self.check_team(info)?;
        if let Some(warm) = self.warm.take(&info.id) {
            let ends = self.store.journal_ends(std::slice::from_ref(&info.id)).await?;
            if ends.get(&info.id).copied().unwrap_or(0) == warm.next_seq {
                let Warm { next_seq, snapshot_seq, last, state } = warm;
                let replayed = Replayed { conversation: state, unfinished: Vec::new(), in_doubt: Vec::new() };
                return Ok(Folded { tail: Vec::new(), next_seq, snapshot_seq, last, replayed });
            }
        }
        if let Some(snapshot) = self.store.latest_snapshot(&info.id).await? {
            if let Some(folded) = self.fold_from(info, snapshot).await? {
                return Ok(folded);
            }
        }
        let (journal, replayed) = self.replayed(info).await?;
        let last = journal.last().map(|stored| stored.entry.clone());
        Ok(Folded { next_seq: journal.len() as u64, snapshot_seq: 0, last, tail: journal, replayed })
    }

    /// The conversation folded from `snapshot` and the entries after it, if the snapshot holds
    /// for this team and this journal.
    async fn fold_from(&self, info: &ConversationInfo, snapshot: Snapshot) -> Result<Option<Folded>, RuntimeError> {
        let Some(last_seq) = snapshot.seq.checked_sub(1) else { return Ok(None) };
        let mut tail = self.store.journal_from(&info.id, last_seq).await?;
        if tail.first().is_none_or(|first| first.seq != last_seq) {
            return Ok(None);
        }
        let last = tail.remove(0).entry;
        let Ok(start) = snapshots::restore(self.team.clone(), &self.team_digest, &info.id, &snapshot.body, &last)
        else {
            return Ok(None);
        };
        let entries: Vec<JournalEntry> = tail.iter().map(|stored| stored.entry.clone()).collect();
        let Ok(replayed) = replay_from(start, &entries) else { return Ok(None) };
        let last = tail.last().map(|stored| stored.entry.clone()).unwrap_or(last);
        let next_seq = snapshot.seq + tail.len() as u64;
        Ok(Some(Folded { next_seq, snapshot_seq: snapshot.seq, last: Some(last), tail, replayed }))
    }

    /// After the work done under the lease: stores a snapshot of the conversation when
    /// `snapshot_every` entries were journaled since its latest, and keeps its state warm, both
    /// only between turns. A snapshot that cannot be stored is not needed: the next load folds
    /// more of the journal, and the next turn's end tries again.
    async fn settle(&self, journal: &Journal, state: Conversation) {
        let Some(last) = &journal.last else { return };
        if state.in_turn() {
            return;
        }
        let mut snapshot_seq = journal.snapshot_seq;
        if journal.next_seq - snapshot_seq >= self.snapshot_every {
            if let Some(body) = snapshots::stamp(&state, &self.team_digest, last) {
                let snapshot = Snapshot { seq: journal.next_seq, body };
                if self.store.save_snapshot(&journal.lease, &snapshot).await.is_ok() {
                    snapshot_seq = snapshot.seq;
                }
            }
        }
        let warm = Warm { next_seq: journal.next_seq, snapshot_seq, last: Some(last.clone()), state };
        self.warm.keep(&journal.lease.conversation, warm);
    }

    /// The conversation's journal and its replay under this runtime's team.
    async fn replayed(&self, info: &ConversationInfo) -> Result<(Vec<StoredEntry>, Replayed), RuntimeError> {
        self.check_team(info)?;
        let stored = self.store.journal(&info.id).await?;
        let entries: Vec<JournalEntry> = stored.iter().map(|stored| stored.entry.clone()).collect();
        let replayed = replay(self.team.clone(), &info.id, &entries)
            .map_err(|e| RuntimeError::Replay { conversation: info.id.clone(), detail: e.to_string() })?;
        Ok((stored, replayed))
    }

    fn report(&self, conversation: String, outcome: TurnOutcome) -> TurnReport {
        let usage = self.usage_of(&outcome);
        TurnReport { conversation, outcome, usage }
    }

    /// Takes the conversation's lease, marked as held here while the mark lives, breaking one
    /// whose holder crashed on this machine or that this process left behind (see `held`).
    async fn acquire(&self, conversation: &str) -> Result<(Lease, HeldHere), StoreError> {
        let held = HeldHere::mark(conversation);
        let left_behind = |holder: &str| holder == holder_id() && !held_by_another_task(conversation);
        let taken = match self.store.acquire(conversation, holder_id(), self.lease_ttl).await {
            Err(StoreError::Leased { holder, .. }) if holder_is_gone(&holder) || left_behind(&holder) => {
                self.store.break_lease(conversation, &holder).await?;
                self.store.acquire(conversation, holder_id(), self.lease_ttl).await
            }
            acquired => acquired,
        };
        taken.map(|lease| (lease, held))
    }

    /// Gives the lease up after the work done under it; a lease that was lost needs no release,
    /// and a failed release only means it runs out by itself.
    async fn let_go<T>(&self, lease: &Lease, result: Result<T, RuntimeError>) -> Result<T, RuntimeError> {
        if !matches!(result, Err(RuntimeError::Store(StoreError::Fenced { .. }))) {
            let _ = self.store.release(lease).await;
        }
        result
    }

    /// Creates a conversation, with the id given (clients may choose ids) or a fresh one, owned
    /// by `owner` (who may read it when others may not). No turn runs yet.
    pub async fn start(&self, id: Option<&str>, owner: Option<&str>) -> Result<ConversationInfo, RuntimeError> {
        let id = match id {
            Some(id) => {
                check_conversation_id(id).map_err(RuntimeError::BadId)?;
                id.to_string()
            }
            None => new_conversation_id(),
        };
        self.create(id, owner.map(str::to_string)).await
    }

    async fn create(&self, id: String, owner: Option<String>) -> Result<ConversationInfo, RuntimeError> {
        let info = ConversationInfo {
            id,
            team: self.team.name.clone(),
            created_ms: now_ms(),
            team_file: self.team_file.clone(),
            owner,
        };
        self.store.create(&info).await?;
        Ok(info)
    }

    /// Rebuilds a conversation from its journal and finishes a turn a crash interrupted,
    /// returning how that turn ended. A tool call that may have run when the process stopped is
    /// run again with its idempotency key, unless the tool is not idempotent: then the core is
    /// told its outcome is unknown.
    async fn load(
        &self,
        lease: &Lease,
        info: &ConversationInfo,
        observer: Arc<dyn Observer>,
    ) -> Result<(Journal, Conversation, Option<TurnOutcome>), RuntimeError> {
        let Folded { tail, next_seq, snapshot_seq, last, replayed } = self.fold(info).await?;
        let mut state = replayed.conversation;
        let observer = Logged::around(&info.id, &self.team.name, observer);
        #[cfg(feature = "otel")]
        let spans = {
            // A turn with work left to redo was interrupted; one without waits for a decision.
            let interrupted = !replayed.unfinished.is_empty();
            let in_turn = state.in_turn().then(|| (state.turns(), state.active_agent(), interrupted));
            crate::telemetry::TurnSpans::around(self.catalog.clone(), info, in_turn, observer)
        };
        #[cfg(feature = "otel")]
        let observer: Arc<dyn Observer> = spans.clone();
        let spent = if state.in_turn() { running_time(&tail) } else { Duration::ZERO };
        let mut journal = Journal {
            store: self.store.clone(),
            lease: lease.clone(),
            next_seq,
            snapshot_seq,
            last,
            observer,
            spent,
            #[cfg(feature = "otel")]
            spans,
        };
        let unsafe_to_rerun: BTreeSet<String> = replayed
            .in_doubt
            .into_iter()
            .filter(|call| !self.team.tools.get(&call.tool).is_none_or(|tool| tool.idempotent))
            .map(|call| call.call_id)
            .collect();
        let only_records = replayed
            .unfinished
            .iter()
            .all(|effect| matches!(effect, Effect::Record(record) if !matches!(record, Record::TurnEnded(_))));
        let finished = if replayed.unfinished.is_empty() {
            None
        } else if only_records && !state.in_turn() {
            // An operator's action outside a turn whose records were not all journaled.
            let records = replayed.unfinished.into_iter().filter_map(|effect| match effect {
                Effect::Record(record) => Some(JournalEntry::Record(record)),
                _ => None,
            });
            journal.append(records.collect()).await?;
            None
        } else {
            journal.observer.resumed(state.turns());
            Some(self.drive(&mut journal, &mut state, replayed.unfinished, &unsafe_to_rerun).await?)
        };
        Ok((journal, state, finished))
    }

    /// Fails unless the conversation belongs to this runtime's team.
    fn check_team(&self, info: &ConversationInfo) -> Result<(), RuntimeError> {
        match info.team == self.team.name {
            true => Ok(()),
            false => Err(RuntimeError::WrongTeam {
                conversation: info.id.clone(),
                owner: info.team.clone(),
                team: self.team.name.clone(),
            }),
        }
    }

    /// Carries out effects until the turn ends (or waits for approval), cutting off the calls
    /// in flight when the turn's deadline passes.
    async fn drive(
        &self,
        journal: &mut Journal,
        state: &mut Conversation,
        effects: Vec<Effect>,
        unsafe_to_rerun: &BTreeSet<String>,
    ) -> Result<TurnOutcome, RuntimeError> {
        let started = Instant::now();
        let deadline = Deadline::after(self.team.limits.turn_seconds, journal.spent);
        let mut queue: VecDeque<Effect> = effects.into();
        loop {
            let mut records = Vec::new();
            while let Some(Effect::Record(record)) = queue.front() {
                records.push(record.clone());
                queue.pop_front();
            }
            journal.append(records.iter().cloned().map(JournalEntry::Record).collect()).await?;
            if let Some(Record::TurnEnded(outcome)) = records.last() {
                // A turn suspended for approval runs on later: what it ran so far counts then.
                journal.spent = if state.in_turn() { journal.spent + started.elapsed() } else { Duration::ZERO };
                return Ok(outcome.clone());
            }
            let inputs = match queue.pop_front() {
                Some(Effect::CallModel(_)) if deadline.passed() => vec![deadline.input()],
                Some(Effect::CallModel(request)) => {
                    let started = Instant::now();
                    let call = self.call_model(&request, journal.observer.as_ref());
                    #[cfg(feature = "otel")]
                    let call = opentelemetry::trace::FutureExt::with_context(call, journal.spans.model_context());
                    let call = deadline.bound(call);
                    match renewing(&self.store, &journal.lease, call).await? {
                        Some(answered) => vec![answered],
                        None => {
                            // Cut off: the call ended without a reply.
                            journal.observer.model_called(&request.agent, &request.model, started.elapsed(), false);
                            vec![deadline.input()]
                        }
                    }
                }
                Some(Effect::CallTool(first)) => {
                    let mut invocations = vec![first];
                    while let Some(Effect::CallTool(_)) = queue.front() {
                        if let Some(Effect::CallTool(next)) = queue.pop_front() {
                            invocations.push(next);
                        }
                    }
                    let calls = self.call_tools(invocations, unsafe_to_rerun, deadline);
                    renewing(&self.store, &journal.lease, calls).await?
                }
                Some(Effect::Record(_)) => unreachable!("records were taken above"),
                None => {
                    return Err(RuntimeError::Replay {
                        conversation: journal.lease.conversation.clone(),
                        detail: "the core stopped without ending the turn".into(),
                    })
                }
            };
            for input in inputs {
                queue.extend(journal.feed(state, input).await?);
            }
        }
    }

    /// Calls the request's model; an acting agent's text goes to `observer` as it arrives, and
    /// every call's duration.
    async fn call_model(&self, request: &baton_core::ModelRequest, observer: &dyn Observer) -> Input {
        let Some(model) = self.models.get(&request.model) else {
            return Input::ModelFailed { error: format!("no provider is configured for model '{}'", request.model) };
        };
        let router = Unobserved;
        let hears_text = if request.purpose == Purpose::Route { &router } else { observer };
        let listener = AgentText::new(hears_text, &request.agent);
        let started = Instant::now();
        let answered = model.complete(request, &listener).await;
        observer.model_called(&request.agent, &request.model, started.elapsed(), answered.is_ok());
        match answered {
            Ok(reply) => {
                if let Some(text) = reply.text.as_deref().filter(|_| !listener.heard()) {
                    hears_text.text(&request.agent, text);
                }
                Input::ModelReplied { reply }
            }
            Err(error) => Input::ModelFailed { error: error.message },
        }
    }

    /// Runs the tool calls of one model reply concurrently; results arrive as they finish.
    /// A tool that panics is answered with an error result, like any failing tool. A call in
    /// `unsafe_to_rerun` is not run: its outcome is unknown. When the deadline passes, the calls
    /// still running are stopped (their work with them) and answered by the deadline's input.
    async fn call_tools(
        &self,
        invocations: Vec<baton_core::ToolInvocation>,
        unsafe_to_rerun: &BTreeSet<String>,
        deadline: Deadline,
    ) -> Vec<Input> {
        let mut running = JoinSet::new();
        let mut call_of_task = BTreeMap::new();
        let mut inputs = Vec::new();
        let mut to_run = Vec::new();
        for invocation in invocations {
            if unsafe_to_rerun.contains(&invocation.call_id) {
                inputs.push(Input::ToolOutcomeUnknown { call_id: invocation.call_id });
                continue;
            }
            match self.tools.get(&invocation.tool).cloned() {
                Some(tool) => to_run.push((tool, invocation)),
                None => {
                    let output = ToolOutput::error(format!("error: tool '{}' is not available", invocation.tool));
                    inputs.push(Input::ToolReturned { call_id: invocation.call_id, output });
                }
            }
        }
        if !to_run.is_empty() && deadline.passed() {
            inputs.push(deadline.input());
            return inputs;
        }
        for (tool, invocation) in to_run {
            let call_id = invocation.call_id.clone();
            let task =
                running.spawn(async move { tool.call(&invocation.arguments, &invocation.idempotency_key).await });
            call_of_task.insert(task.id(), call_id);
        }
        // Until the deadline passes (`None`) or every call is answered (`Some(None)`).
        while let Some(joined) = deadline.bound(running.join_next_with_id()).await {
            let Some(joined) = joined else { return inputs };
            let (task, output) = match joined {
                Ok((task, output)) => (task, output),
                Err(error) => (error.id(), ToolOutput::error(format!("error: the tool failed unexpectedly ({error})"))),
            };
            if let Some(call_id) = call_of_task.remove(&task) {
                inputs.push(Input::ToolReturned { call_id, output });
            }
        }
        running.shutdown().await;
        inputs.push(deadline.input());
        inputs
    }
}

/// When the turn being driven must end: `turn_seconds` after it started running, less what it
/// ran before (in an earlier process, or before it waited for approval).
#[derive(Clone, Copy, Debug)]
struct Deadline {
    /// The instant, or `None` past what the clock can tell (never, in practice).
    at: Option<tokio::time::Instant>,
    /// The team's `turn_seconds`.
    seconds: u32,
}

impl Deadline {
    fn after(seconds: u32, spent: Duration) -> Deadline {
        let left = Duration::from_secs(seconds.into()).saturating_sub(spent);
        Deadline { at: tokio::time::Instant::now().checked_add(left), seconds }
    }

    fn passed(&self) -> bool {
        self.at.is_some_and(|at| at <= tokio::time::Instant::now())
    }

    /// What the core is told when the deadline passed.
    fn input(&self) -> Input {
        Input::DeadlinePassed { seconds: self.seconds }
    }

    /// `work`'s result, or `None` if the deadline passed first (then `work` is dropped: stopped).
    async fn bound<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        match self.at {
            Some(at) => tokio::time::timeout_at(at, work).await.ok(),
            None => Some(work.await),
        }
    }
}

/// How long the turn in progress at the end of `stored` has run: the time between its
/// entries, leaving out a wait for a person's decision (after the turn ended for approval) and
/// the time before another process took it up (an entry under a new lease epoch).
fn running_time(stored: &[StoredEntry]) -> Duration {
    let started =
        stored.iter().rposition(|stored| matches!(stored.entry, JournalEntry::Record(Record::TurnStarted { .. })));
    let Some(started) = started else { return Duration::ZERO };
    let ms: u64 = stored[started..]
        .windows(2)
        .filter(|pair| {
            pair[0].epoch == pair[1].epoch && !matches!(pair[0].entry, JournalEntry::Record(Record::TurnEnded(_)))
        })
        .map(|pair| pair[1].at_ms.saturating_sub(pair[0].at_ms))
        .sum();
    Duration::from_millis(ms)
}

/// Awaits `work` while renewing `lease` every third of its ttl; fails as soon as the lease is
/// lost, so a process that was paused past its lease stops advancing the conversation. A
/// renewal that fails otherwise (a busy or briefly unreachable database) is tried again at the
/// next tick: the lease has two more thirds to run.
async fn renewing<T>(store: &Arc<dyn Store>, lease: &Lease, work: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::pin!(work);
    let mut every = tokio::time::interval(lease.ttl / 3);
    every.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            _ = every.tick() => {
                if let Err(lost @ (StoreError::Fenced { .. } | StoreError::UnknownConversation(_))) = store.renew(lease).await {
                    return Err(lost);
                }
            }
        }
    }
}

/// A conversation's journal, appended in order under its lease.
struct Journal {
    store: Arc<dyn Store>,
    lease: Lease,
    next_seq: u64,
    /// The position the conversation's latest usable snapshot folds up to (0 for none).
    snapshot_seq: u64,
    /// The journal's last entry.
    last: Option<JournalEntry>,
    observer: Arc<dyn Observer>,
    /// How long the turn in progress has run before the current drive of it.
    spent: Duration,
    /// The turn's spans, whose `chat` span a model call runs in.
    #[cfg(feature = "otel")]
    spans: Arc<crate::telemetry::TurnSpans>,
}

impl Journal {
    async fn append(&mut self, entries: Vec<JournalEntry>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        let stamped: Vec<(u64, JournalEntry)> = entries.into_iter().map(|entry| (at, entry)).collect();
        let first_seq = self.next_seq;
        let started = Instant::now();
        self.store.append(&self.lease, first_seq, &stamped).await?;
        self.observer.appended(started.elapsed());
        self.next_seq += stamped.len() as u64;
        self.last = stamped.last().map(|(_, entry)| entry.clone());
        for (offset, (at_ms, entry)) in stamped.into_iter().enumerate() {
            let seq = first_seq + offset as u64;
            self.observer.journaled(&StoredEntry { seq, at_ms, epoch: self.lease.epoch, entry });
        }
        #[cfg(debug_assertions)]
        crash_switch::passed_a_boundary();
        Ok(())
    }

    /// Journals the input, then lets the core handle it.
    async fn feed(&mut self, state: &mut Conversation, input: Input) -> Result<Vec<Effect>, RuntimeError> {
        self.append(vec![JournalEntry::Input(input.clone())]).await?;
        state.handle(input).map_err(|rejected| RuntimeError::Replay {
            conversation: self.lease.conversation.clone(),
            detail: rejected.0,
        })
    }
}

/// A conversation folded for a turn: the journal entries after the snapshot it started from (the
/// whole journal without one), where the journal ends, and the replay.
struct Folded {
    tail: Vec<StoredEntry>,
    next_seq: u64,
    snapshot_seq: u64,
    last: Option<JournalEntry>,
    replayed: Replayed,
}

/// Fault injection for crash tests, compiled into debug builds only: with `BATON_CRASH_AT=N`
/// in the environment, the process aborts right after its N-th journal append, as a `kill -9`
/// at that boundary would leave it.
#[cfg(debug_assertions)]
mod crash_switch {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts one journal boundary and aborts the process if it is the chosen one.
    pub fn passed_a_boundary() {
        static PASSED: AtomicU64 = AtomicU64::new(0);
        let Some(crash_at) = std::env::var("BATON_CRASH_AT").ok().and_then(|n| n.parse::<u64>().ok()) else {
            return;
        };
        if PASSED.fetch_add(1, Ordering::SeqCst) + 1 == crash_at {
            eprintln!("BATON_CRASH_AT={crash_at}: aborting after journal boundary {crash_at}");
            std::process::abort();
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
