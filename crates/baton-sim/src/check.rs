//! The invariants, checked against the store's journal after every step of a simulation.
//!
//! The checker keeps its own live fold of the journal: every input handed to a fresh core as it
//! appears, every record compared with what that core decided. Replaying the whole journal must
//! give the same conversation, and so must the latest snapshot and the entries after it. Then the journal itself is read for what must never happen: an
//! entry lost or changed, a tool call without exactly one result, a handoff off the declared
//! edges, a turn over its limits.

use crate::world::World;
use baton::core::{
    replay, replay_from, Conversation, Effect, Entry, Input, JournalEntry, OnLimit, Record, ReturnTo, Team, Trigger,
    TriggerKind, TurnStatus,
};
use baton::snapshots;
use baton::store::{Snapshot, StoredEntry};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// The invariants' names, as failures report them.
pub mod invariant {
    /// Every entry the store accepted stays, unchanged, in order, without gaps.
    pub const LOST: &str = "nothing journaled lost";
    /// Replaying the journal gives the conversation the live fold built.
    pub const REPLAY: &str = "replay equals the live state";
    /// The latest snapshot and the entries after it give the conversation the live fold built.
    pub const SNAPSHOT: &str = "a snapshot and the entries after it equal the live state";
    /// Every tool call gets exactly one result, before the next model call.
    pub const ONE_RESULT: &str = "every tool call gets exactly one result";
    /// Control moves only along declared edges (or to the fallback, by a trigger, or back from a
    /// person along an edge).
    pub const EDGES: &str = "no handoff outside a declared edge";
    /// Model calls, handoffs and edge uses stay within the team's limits.
    pub const LIMITS: &str = "every turn ends within its limits";
    /// A tool that is not idempotent takes effect at most once per call.
    pub const ONCE: &str = "no side effect of a non-idempotent tool twice";
    /// A call's intent is journaled before the call is made.
    pub const WRITE_AHEAD: &str = "every call's intent is journaled before it is made";
    /// A call that needs approval runs only once approved.
    pub const APPROVAL: &str = "no call runs without the approval it needs";
    /// A process that lost its lease writes nothing more.
    pub const FENCING: &str = "a writer that lost its lease writes nothing";
    /// Every turn ends, and `interrupted()` lists exactly the conversations whose turn is open.
    pub const TURNS_END: &str = "every turn ends (nothing is left interrupted)";
    /// The runtime's answers (reports, refusals) agree with the journal.
    pub const ANSWERS: &str = "the runtime answers as its journal says";
    /// A crash at any journal boundary, resumed, journals what the clean run did.
    pub const CRASH_EQUAL: &str = "a crashed and resumed conversation journals what a clean one does";
    /// The library does not panic.
    pub const NO_PANIC: &str = "no panic";
    /// The simulator's own set-up worked (a team that does not load is a generator or loader bug).
    pub const SETUP: &str = "the simulation could be set up";
}

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant (see [`invariant`]).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    /// A violation of `invariant`.
    pub fn new(invariant: &'static str, detail: impl Into<String>) -> Violation {
        Violation { invariant, detail: detail.into() }
    }
}

/// Checks one conversation's journal step after step.
pub struct Checker {
    team: Arc<Team>,
    id: String,
    live: Conversation,
    expected: VecDeque<Record>,
    folded: usize,
    seen: Vec<StoredEntry>,
}

impl Checker {
    /// A checker for conversation `id` of `team`.
    pub fn new(team: Arc<Team>, id: &str) -> Checker {
        Checker {
            live: Conversation::new(team.clone(), id),
            team,
            id: id.to_string(),
            expected: VecDeque::new(),
            folded: 0,
            seen: Vec::new(),
        }
    }

    /// The conversation as the live fold has it.
    pub fn live(&self) -> &Conversation {
        &self.live
    }

    /// Checks every invariant against `journal`, the store's journal now.
    pub fn check(&mut self, journal: &[StoredEntry], world: &World) -> Result<(), Violation> {
        if let Some((invariant, what)) = world.violations().into_iter().next() {
            return Err(Violation::new(invariant, what));
        }
        self.durable(journal, world)?;
        self.fold(journal)?;
        let entries: Vec<JournalEntry> = journal.iter().map(|stored| stored.entry.clone()).collect();
        let replayed = replay(self.team.clone(), &self.id, &entries)
            .map_err(|e| Violation::new(invariant::REPLAY, format!("the journal does not replay: {e}")))?;
        if replayed.conversation != self.live {
            return Err(Violation::new(
                invariant::REPLAY,
                format!(
                    "replay differs from the live fold:\n  live:   {:?}\n  replay: {:?}",
                    self.live, replayed.conversation
                ),
            ));
        }
        tool_calls(&entries, self.live.in_turn())?;
        transcript_pairs(self.live.transcript(), self.live.in_turn())?;
        control(&self.team, &entries)
    }

    /// Checks that `snapshot`, restored as the runtime restores it, and the entries of `journal`
    /// after it give the conversation the live fold built (call after [`Checker::check`]).
    pub fn check_snapshot(&self, snapshot: &Snapshot, journal: &[StoredEntry]) -> Result<(), Violation> {
        let fail = |what: String| Err(Violation::new(invariant::SNAPSHOT, what));
        let folded = usize::try_from(snapshot.seq).unwrap_or(usize::MAX);
        let Some(last) = folded.checked_sub(1).and_then(|last| journal.get(last)) else {
            return fail(format!("the snapshot folds {folded} entries of a journal of {}", journal.len()));
        };
        let digest = snapshots::team_digest(&self.team);
        let restored = match snapshots::restore(self.team.clone(), &digest, &self.id, &snapshot.body, &last.entry) {
            Ok(restored) => restored,
            Err(e) => return fail(format!("the snapshot of the first {folded} entries does not restore: {e}")),
        };
        let tail: Vec<JournalEntry> = journal[folded..].iter().map(|stored| stored.entry.clone()).collect();
        match replay_from(restored, &tail) {
            Ok(replayed) if replayed.conversation == self.live => Ok(()),
            Ok(replayed) => fail(format!(
                "the snapshot of the first {folded} entries and the rest differ from the live fold:\n  live:     {:?}\n  snapshot: {:?}",
                self.live, replayed.conversation
            )),
            Err(e) => fail(format!("the entries after the snapshot of the first {folded} do not replay: {e}")),
        }
    }

    /// Nothing the store accepted is lost or changed; positions have no gaps; epochs never
    /// go down.
    fn durable(&mut self, journal: &[StoredEntry], world: &World) -> Result<(), Violation> {
        let lost = |what: String| Err(Violation::new(invariant::LOST, what));
        for (position, stored) in journal.iter().enumerate() {
            if stored.seq != position as u64 {
                return lost(format!("the entry at position {position} has seq {}", stored.seq));
            }
        }
        if let Some(pair) = journal.windows(2).find(|pair| pair[1].epoch < pair[0].epoch) {
            let what = format!("entry {} has epoch {} after epoch {}", pair[1].seq, pair[1].epoch, pair[0].epoch);
            return Err(Violation::new(invariant::FENCING, what));
        }
        if journal.len() < self.seen.len() || journal[..self.seen.len()] != self.seen[..] {
            return lost(format!(
                "the journal had {} entries and now has {}, not all of them as they were",
                self.seen.len(),
                journal.len()
            ));
        }
        let written = world.mirror();
        let held: Vec<&JournalEntry> = journal.iter().map(|stored| &stored.entry).collect();
        if held.len() != written.len() || held.iter().zip(&written).any(|(a, b)| *a != b) {
            return lost(format!("the store holds {} entries, but {} were written to it", held.len(), written.len()));
        }
        for (seq, entry) in world.acked() {
            if journal.get(seq as usize).map(|stored| &stored.entry) != Some(&entry) {
                return lost(format!("acknowledged entry {seq} ({}) is not in the journal as written", entry.kind()));
            }
        }
        self.seen = journal.to_vec();
        Ok(())
    }

    /// Feeds the new entries to the live core: each input is handled, each record must be the
    /// next one it decided.
    fn fold(&mut self, journal: &[StoredEntry]) -> Result<(), Violation> {
        for stored in &journal[self.folded.min(journal.len())..] {
            let seq = stored.seq;
            match &stored.entry {
                JournalEntry::Input(input) => {
                    if let Some(record) = self.expected.front() {
                        return Err(Violation::new(
                            invariant::REPLAY,
                            format!(
                                "entry {seq} ({}) was journaled before the record {} decided earlier",
                                stored.entry.kind(),
                                JournalEntry::Record(record.clone()).kind()
                            ),
                        ));
                    }
                    let effects = self.live.handle(input.clone()).map_err(|rejected| {
                        Violation::new(
                            invariant::REPLAY,
                            format!("the core rejects entry {seq} ({}): {rejected}", stored.entry.kind()),
                        )
                    })?;
                    self.expected.extend(effects.into_iter().filter_map(|effect| match effect {
                        Effect::Record(record) => Some(record),
                        _ => None,
                    }));
                }
                JournalEntry::Record(record) => match self.expected.pop_front() {
                    Some(decided) if decided == *record => {}
                    Some(decided) => {
                        return Err(Violation::new(
                            invariant::REPLAY,
                            format!("entry {seq} is {record:?}, but the core decided {decided:?}"),
                        ))
                    }
                    None => {
                        return Err(Violation::new(
                            invariant::REPLAY,
                            format!("entry {seq} ({}) is a record no input explains", stored.entry.kind()),
                        ))
                    }
                },
            }
        }
        self.folded = journal.len();
        Ok(())
    }
}

/// The tool calls in the journal: each started once, answered at most once (exactly once when
/// no turn is in progress), never answered without being started, started only after its
/// approval when it asked for one.
fn tool_calls(entries: &[JournalEntry], in_turn: bool) -> Result<(), Violation> {
    let fail = |what: String| Err(Violation::new(invariant::ONE_RESULT, what));
    let mut started: BTreeMap<&str, usize> = BTreeMap::new();
    let mut answered: BTreeSet<&str> = BTreeSet::new();
    let mut rejected: BTreeSet<&str> = BTreeSet::new();
    let mut requested: BTreeSet<&str> = BTreeSet::new();
    let mut decided: BTreeMap<&str, bool> = BTreeMap::new();
    for (at, entry) in entries.iter().enumerate() {
        match entry {
            JournalEntry::Record(Record::ToolCallStarted { call_id, .. }) => {
                if started.insert(call_id, at).is_some() || rejected.contains(call_id.as_str()) {
                    return fail(format!("entry {at}: call {call_id} is started a second time"));
                }
                if requested.contains(call_id.as_str()) && decided.get(call_id.as_str()) != Some(&true) {
                    let what = format!("entry {at}: call {call_id} is started without the approval it waits for");
                    return Err(Violation::new(invariant::APPROVAL, what));
                }
            }
            JournalEntry::Record(Record::ToolCallRejected { call_id, .. }) => {
                let first = rejected.insert(call_id);
                if !first || started.contains_key(call_id.as_str()) {
                    return fail(format!("entry {at}: call {call_id} is rejected after it was started or rejected"));
                }
            }
            JournalEntry::Input(Input::ToolReturned { call_id, .. } | Input::ToolOutcomeUnknown { call_id }) => {
                if !started.contains_key(call_id.as_str()) {
                    return fail(format!("entry {at}: a result for call {call_id}, which was never started"));
                }
                if !answered.insert(call_id) {
                    return fail(format!("entry {at}: a second result for call {call_id}"));
                }
            }
            JournalEntry::Record(Record::ApprovalRequested { call_id, .. }) => {
                let first = requested.insert(call_id);
                if !first {
                    return fail(format!("entry {at}: approval of call {call_id} is asked for twice"));
                }
            }
            JournalEntry::Input(Input::ApprovalDecided { call_id, approved, .. }) => {
                let again = decided.insert(call_id, *approved).is_some();
                if again || !requested.contains(call_id.as_str()) {
                    let what = format!("entry {at}: a decision on call {call_id}, which does not wait for one");
                    return Err(Violation::new(invariant::APPROVAL, what));
                }
            }
            _ => {}
        }
    }
    match started.iter().find(|(call_id, _)| !answered.contains(*call_id)) {
        Some((call_id, at)) if !in_turn => fail(format!("call {call_id} (started at entry {at}) never got a result")),
        _ => Ok(()),
    }
}

/// The transcript: every call of a reply answered exactly once, before the next message; only
/// the reply of a turn still in progress may wait for some.
fn transcript_pairs(transcript: &[Entry], in_turn: bool) -> Result<(), Violation> {
    let fail = |what: String| Err(Violation::new(invariant::ONE_RESULT, what));
    let mut open: BTreeSet<&str> = BTreeSet::new();
    for (at, entry) in transcript.iter().enumerate() {
        match entry {
            Entry::ToolResult { call_id, .. } => {
                if !open.remove(call_id.as_str()) {
                    return fail(format!("transcript entry {at}: a result for call {call_id}, which awaits none"));
                }
            }
            Entry::User { .. } | Entry::Assistant { .. } if !open.is_empty() => {
                return fail(format!("transcript entry {at}: call(s) {open:?} unanswered before the next message"));
            }
            Entry::Assistant { tool_calls, .. } => {
                for call in tool_calls {
                    if !open.insert(&call.id) {
                        return fail(format!("transcript entry {at}: call id {} twice in one reply", call.id));
                    }
                }
            }
            Entry::User { .. } | Entry::Handoff(_) => {}
        }
    }
    match open.is_empty() || in_turn {
        true => Ok(()),
        false => fail(format!("call(s) {open:?} unanswered, and no turn is in progress")),
    }
}

/// Who has control along the journal: every move has one cause and follows its rule (a model
/// along a declared edge, an escalation to the fallback, a trigger to its target, an operator
/// along the human agent's edge), and every turn stays within its limits.
fn control(team: &Team, entries: &[JournalEntry]) -> Result<(), Violation> {
    let edges = |what: String| Err(Violation::new(invariant::EDGES, what));
    let limits = |what: String| Err(Violation::new(invariant::LIMITS, what));
    let mut active = team.entry.clone();
    let mut handed_back = false;
    let mut model_calls: BTreeMap<u32, u32> = BTreeMap::new();
    let mut handoffs: BTreeMap<u32, u32> = BTreeMap::new();
    let mut held: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut edge_uses: BTreeMap<(String, String), u32> = BTreeMap::new();
    let is_llm = |name: &str| team.agent(name).is_some_and(|a| a.kind == baton::core::AgentKind::Llm);
    for (at, entry) in entries.iter().enumerate() {
        let JournalEntry::Record(record) = entry else { continue };
        match record {
            Record::TurnStarted { turn, agent } => {
                let expected = match team.limits.return_to == ReturnTo::Entry && !team.is_human(&active) && !handed_back
                {
                    true => team.entry.clone(),
                    false => active.clone(),
                };
                if *agent != expected {
                    return edges(format!(
                        "entry {at}: turn {turn} starts with '{agent}', but '{expected}' has control"
                    ));
                }
                handed_back = false;
                active = agent.clone();
                held.insert(*turn, vec![agent.clone()]);
            }
            Record::RouterCallStarted { turn, .. } | Record::ModelCallStarted { turn, .. } => {
                let calls = model_calls.entry(*turn).or_insert(0);
                *calls += 1;
                if *calls > team.limits.max_model_calls {
                    return limits(format!("entry {at}: model call {calls} of turn {turn}, over max_model_calls"));
                }
                if let Record::ModelCallStarted { agent, .. } = record {
                    if *agent != active {
                        return edges(format!("entry {at}: a model call for '{agent}' while '{active}' has control"));
                    }
                }
            }
            Record::Routed { turn, from, to, .. } => {
                if *from != team.entry || !is_llm(to) {
                    return edges(format!("entry {at}: routed from '{from}' to '{to}'"));
                }
                active = to.clone();
                held.insert(*turn, vec![to.clone()]);
            }
            Record::HandoffTaken { turn, from, to, call_id, escalation, trigger, operator, .. } => {
                if *from != active {
                    return edges(format!("entry {at}: a handoff from '{from}' while '{active}' has control"));
                }
                let causes = [call_id.is_some(), escalation.is_some(), trigger.is_some(), operator.is_some()];
                if causes.iter().filter(|cause| **cause).count() != 1 {
                    return edges(format!("entry {at}: the handoff {from} → {to} has {causes:?} causes, not one"));
                }
                if call_id.is_some() {
                    if team.edge(from, to).is_none() {
                        return edges(format!("entry {at}: a model handed off {from} → {to}, an undeclared edge"));
                    }
                    let taken = handoffs.entry(*turn).or_insert(0);
                    *taken += 1;
                    if *taken > team.limits.max_handoffs {
                        return limits(format!("entry {at}: handoff {taken} of turn {turn}, over max_handoffs"));
                    }
                    if held.get(turn).is_some_and(|held| held.contains(to)) {
                        return limits(format!("entry {at}: '{to}' gets control back in turn {turn} (ping-pong)"));
                    }
                    let uses = edge_uses.entry((from.clone(), to.clone())).or_insert(0);
                    *uses += 1;
                    if team.edge(from, to).and_then(|edge| edge.max_uses).is_some_and(|max| *uses > max) {
                        return limits(format!("entry {at}: edge {from} → {to} used {uses} times, over its max_uses"));
                    }
                }
                if escalation.is_some()
                    && (team.limits.on_limit != OnLimit::Escalate || team.limits.fallback.as_deref() != Some(to))
                {
                    return edges(format!("entry {at}: an escalation to '{to}', which is not the fallback"));
                }
                if let Some(kind) = trigger {
                    let fits = team.triggers.iter().any(|declared| match (declared, kind) {
                        (Trigger::Language, TriggerKind::Language) => is_llm(to),
                        (Trigger::AsksForHuman { to: target }, TriggerKind::AsksForHuman)
                        | (Trigger::UnresolvedTurns { to: target, .. }, TriggerKind::UnresolvedTurns) => target == to,
                        _ => false,
                    });
                    if !fits {
                        return edges(format!("entry {at}: trigger {} moved control to '{to}'", kind.as_str()));
                    }
                }
                if operator.is_some() {
                    if !team.is_human(from) || team.edge(from, to).is_none() {
                        return edges(format!("entry {at}: an operator handed back {from} → {to}, an undeclared edge"));
                    }
                    handed_back = true;
                }
                held.entry(*turn).or_default().push(to.clone());
                active = to.clone();
            }
            Record::TurnEnded(outcome) => {
                let counted = model_calls.get(&outcome.turn).copied().unwrap_or(0);
                if outcome.model_calls != counted || outcome.model_calls > team.limits.max_model_calls {
                    return limits(format!(
                        "entry {at}: turn {} reports {} model calls; the journal has {counted}",
                        outcome.turn, outcome.model_calls
                    ));
                }
                if outcome.agent != active {
                    return edges(format!(
                        "entry {at}: turn {} ends with '{}' but '{active}' has control",
                        outcome.turn, outcome.agent
                    ));
                }
                if (outcome.status == TurnStatus::AwaitingApproval) != outcome.pending.is_some() {
                    return Err(Violation::new(
                        invariant::ANSWERS,
                        format!("entry {at}: a turn end whose status and pending call disagree"),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
