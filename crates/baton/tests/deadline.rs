//! The per-turn deadline at the runtime: a model or tool call still running when the turn's
//! `turn_seconds` pass is cut off, the turn ends through the limit path within the bound, and
//! the journal (with the deadline as an input) replays; waiting for approval is not counted.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use async_trait::async_trait;
use baton::config::parse_team;
use baton::core::{
    replay, Entry, Input, JournalEntry, LimitKind, ModelReply, ModelRequest, Record, ToolCall, ToolDef, ToolOutput,
    TurnStatus,
};
use baton::models::{Listener, Model, ModelError};
use baton::store::{MemoryStore, Store};
use baton::tools::Tool;
use baton::{Decision, Runtime, Unobserved};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One agent with a tool `work` (needing approval when `approval` says so), escalating to a
/// person when a limit trips; every turn has `turn_seconds`.
fn team(turn_seconds: u32, approval: &str) -> baton::config::TeamConfig {
    let text = format!(
        r#"name = "desk"
entry = "agent"

[limits]
fallback = "human"
turn_seconds = {turn_seconds}

[agents.agent]
tools = ["work"]
handoffs = ["human"]

[agents.human]
kind = "human"

[tools.work]
kind = "rust"
description = "Does some work."
approval = "{approval}"
"#
    );
    let dir = std::env::temp_dir().join(format!("baton-deadline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    parse_team(&text, &dir.join("team.toml")).unwrap().config
}

/// A model that takes `delay` per call; its first reply calls `work`, then it answers.
struct SlowModel {
    delay: Duration,
    calls: AtomicUsize,
}

#[async_trait]
impl Model for SlowModel {
    async fn complete(&self, _request: &ModelRequest, _listener: &dyn Listener) -> Result<ModelReply, ModelError> {
        tokio::time::sleep(self.delay).await;
        let reply = match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => ModelReply {
                tool_calls: vec![ToolCall { id: "w1".into(), name: "work".into(), arguments: "{}".into() }],
                ..ModelReply::default()
            },
            _ => ModelReply { text: Some("Done.".into()), ..ModelReply::default() },
        };
        Ok(reply)
    }
}

/// A tool that takes `delay`, and says whether a call finished and whether one was stopped.
struct SlowTool {
    definition: ToolDef,
    delay: Duration,
    finished: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
}

/// Marks a call stopped when it is dropped before it finished.
struct StopWatch(Arc<AtomicBool>, bool);

impl Drop for StopWatch {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Tool for SlowTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, _arguments: &serde_json::Value, _idempotency_key: &str) -> ToolOutput {
        let mut watch = StopWatch(self.stopped.clone(), false);
        tokio::time::sleep(self.delay).await;
        watch.1 = true;
        self.finished.store(true, Ordering::SeqCst);
        ToolOutput::ok("worked")
    }
}

struct Desk {
    runtime: Runtime,
    store: Arc<dyn Store>,
    tool_finished: Arc<AtomicBool>,
    tool_stopped: Arc<AtomicBool>,
}

fn desk(turn_seconds: u32, approval: &str, model_delay: Duration, tool_delay: Duration) -> Desk {
    desk_on(Arc::new(MemoryStore::new()), turn_seconds, approval, model_delay, tool_delay)
}

fn desk_on(
    store: Arc<dyn Store>,
    turn_seconds: u32,
    approval: &str,
    model_delay: Duration,
    tool_delay: Duration,
) -> Desk {
    let config = team(turn_seconds, approval);
    let (finished, stopped) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let tool = SlowTool {
        definition: config.team.tools["work"].clone(),
        delay: tool_delay,
        finished: finished.clone(),
        stopped: stopped.clone(),
    };
    let model = SlowModel { delay: model_delay, calls: AtomicUsize::new(0) };
    let models: BTreeMap<String, Arc<dyn Model>> = BTreeMap::from([("local".to_string(), Arc::new(model) as _)]);
    let tools: BTreeMap<String, Arc<dyn Tool>> = BTreeMap::from([("work".to_string(), Arc::new(tool) as _)]);
    let runtime = Runtime::new(baton::BuiltTeam::new(config.team, models, tools).unwrap(), store.clone());
    Desk { runtime, store, tool_finished: finished, tool_stopped: stopped }
}

async fn journal(store: &Arc<dyn Store>, id: &str) -> Vec<JournalEntry> {
    store.journal(id).await.unwrap().into_iter().map(|stored| stored.entry).collect()
}

/// The journal replays to a conversation with no turn in progress and nothing left to do.
fn replays(desk: &Desk, journal: &[JournalEntry]) {
    let replayed = replay(Arc::new(desk.runtime.team().clone()), "c1", journal).unwrap();
    assert!(replayed.unfinished.is_empty() && !replayed.conversation.in_turn(), "{:?}", replayed.unfinished);
}

fn deadline_input(journal: &[JournalEntry]) -> Option<&Input> {
    journal.iter().find_map(|entry| match entry {
        JournalEntry::Input(input @ Input::DeadlinePassed { .. }) => Some(input),
        _ => None,
    })
}

#[tokio::test]
async fn a_slow_model_is_cut_off_at_the_deadline_and_the_turn_escalates() {
    let desk = desk(1, "never", Duration::from_secs(30), Duration::ZERO);
    let started = Instant::now();
    let report = desk.runtime.send(Some("c1"), "help").await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "the turn took {took:?}");
    assert_eq!((report.outcome.status, report.outcome.limit), (TurnStatus::Escalated, Some(LimitKind::TurnSeconds)));
    assert_eq!(report.outcome.agent, "human");
    let journal = journal(&desk.store, "c1").await;
    assert_eq!(deadline_input(&journal), Some(&Input::DeadlinePassed { seconds: 1 }));
    let tripped = journal.iter().find_map(|entry| match entry {
        JournalEntry::Record(Record::LimitTripped { limit, detail, .. }) => Some((*limit, detail.clone())),
        _ => None,
    });
    assert_eq!(
        tripped,
        Some((
            LimitKind::TurnSeconds,
            "the turn ran past its deadline of 1 s while the model of agent 'agent' was answering".to_string()
        ))
    );
    replays(&desk, &journal);
}

#[tokio::test]
async fn a_slow_tool_is_stopped_at_the_deadline_and_its_outcome_is_unknown() {
    let desk = desk(1, "never", Duration::ZERO, Duration::from_secs(30));
    let started = Instant::now();
    let report = desk.runtime.send(Some("c1"), "do the work").await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(5), "the turn took {took:?}");
    assert_eq!((report.outcome.status, report.outcome.limit), (TurnStatus::Escalated, Some(LimitKind::TurnSeconds)));
    assert!(desk.tool_stopped.load(Ordering::SeqCst), "the tool call was stopped");
    assert!(!desk.tool_finished.load(Ordering::SeqCst));
    let journal = journal(&desk.store, "c1").await;
    let kinds: Vec<&str> = journal.iter().map(JournalEntry::kind).collect();
    let started_at = kinds.iter().position(|kind| *kind == "tool_call_started").unwrap();
    assert_eq!(kinds[started_at + 1], "deadline_passed", "{kinds:?}");
    assert!(!kinds.contains(&"tool_returned"), "{kinds:?}");
    let (_, _, conversation) = desk.runtime.conversation("c1").await.unwrap();
    let result = conversation.transcript().iter().find_map(|entry| match entry {
        Entry::ToolResult { call_id, output, .. } if call_id == "w1" => Some(output.clone()),
        _ => None,
    });
    let result = result.unwrap();
    assert!(result.is_error && result.content.contains("may or may not have taken effect"), "{result:?}");
    replays(&desk, &journal);
}

#[tokio::test]
async fn waiting_for_approval_is_not_counted_but_the_time_run_before_it_is() {
    // Not counted: the turn waits longer than its deadline for the decision, then answers.
    let desk = desk(1, "required", Duration::ZERO, Duration::ZERO);
    let report = desk.runtime.send(Some("c1"), "do the work").await.unwrap();
    let pending = report.outcome.pending.clone().unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let decision = Decision { approve: true, ..Decision::default() };
    let report = desk.runtime.decide("c1", &pending.call_id, decision, Arc::new(Unobserved)).await.unwrap();
    assert_eq!((report.outcome.status, report.outcome.limit), (TurnStatus::Answered, None));
    assert!(desk.tool_finished.load(Ordering::SeqCst));
    replays(&desk, &journal(&desk.store, "c1").await);

    // Counted: 1.3 s before the wait and 1.3 s needed after it pass a 2 s deadline.
    let desk = self::desk(2, "required", Duration::from_millis(1300), Duration::ZERO);
    let report = desk.runtime.send(Some("c1"), "do the work").await.unwrap();
    let pending = report.outcome.pending.clone().unwrap();
    let decision = Decision { approve: true, ..Decision::default() };
    let started = Instant::now();
    let report = desk.runtime.decide("c1", &pending.call_id, decision, Arc::new(Unobserved)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "cut off before the model answered: {:?}",
        started.elapsed()
    );
    assert_eq!((report.outcome.status, report.outcome.limit), (TurnStatus::Escalated, Some(LimitKind::TurnSeconds)));
    assert!(desk.tool_finished.load(Ordering::SeqCst), "the approved call ran before the deadline");
    replays(&desk, &journal(&desk.store, "c1").await);
}

/// A store holding conversation `c1` with the first three entries of a turn of `desk` (the
/// message, the turn's start, its first model call's intent), as a crash during that call
/// leaves it: the call was started 900 ms after the turn, by the same process (`same_process`)
/// or by another one that took the turn over after a crash.
async fn interrupted_after_900_ms(same_process: bool) -> Arc<dyn Store> {
    let clean = desk(300, "never", Duration::ZERO, Duration::ZERO);
    clean.runtime.send(Some("c1"), "do the work").await.unwrap();
    let first = journal(&clean.store, "c1").await;
    assert_eq!(first[2].kind(), "model_call_started");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let info = clean.store.conversation("c1").await.unwrap().unwrap();
    store.create(&info).await.unwrap();
    let lease = store.acquire("c1", "the first process", Duration::from_secs(60)).await.unwrap();
    let at = 1_700_000_000_000;
    store.append(&lease, 0, &[(at, first[0].clone()), (at, first[1].clone())]).await.unwrap();
    let lease = match same_process {
        true => lease,
        false => {
            store.release(&lease).await.unwrap();
            store.acquire("c1", "the process that took over", Duration::from_secs(60)).await.unwrap()
        }
    };
    store.append(&lease, 2, &[(at + 900, first[2].clone())]).await.unwrap();
    store.release(&lease).await.unwrap();
    store
}

#[tokio::test]
async fn a_resumed_turn_has_what_is_left_of_its_deadline_not_counting_the_time_after_a_crash() {
    for same_process in [true, false] {
        let store = interrupted_after_900_ms(same_process).await;
        let desk = desk_on(store, 1, "never", Duration::from_millis(300), Duration::ZERO);
        let started = Instant::now();
        let report = desk.runtime.resume("c1").await.unwrap().unwrap();
        let took = started.elapsed();
        match same_process {
            // 900 ms ran before the crash: 100 ms are left, and the model takes 300.
            true => {
                assert_eq!(report.outcome.limit, Some(LimitKind::TurnSeconds), "{:?}", report.outcome);
                assert!(took < Duration::from_millis(290), "cut off when the 100 ms left ran out: {took:?}");
            }
            // The 900 ms between the crashed process's last entry and the next process's first
            // are not counted: two calls of 300 ms fit in the second.
            false => assert_eq!((report.outcome.status, report.outcome.limit), (TurnStatus::Answered, None)),
        }
        replays(&desk, &journal(&desk.store, "c1").await);
    }
}
