//! The service above the runtimes: a conversation's team found (served, or rebuilt from the team
//! file it recorded), interrupted turns finished by a sweep, another process's lease waited out
//! for a bounded time, one conversation's work run in order in its lane, and the queue read
//! across teams.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::core::{JournalEntry, TurnStatus};
use baton::service::{wait_for_lease, LeaseNotice, Resumed, Sweep, Waited};
use baton::store::{ConversationInfo, MemoryStore, Store};
use baton::{Observer, Service, ServiceError, Unobserved};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn support_file() -> PathBuf {
    std::path::absolute(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml")).unwrap()
}

fn unobserved(_: &ConversationInfo) -> Arc<dyn Observer> {
    Arc::new(Unobserved)
}

#[tokio::test]
async fn a_conversation_is_run_by_its_served_team_or_from_the_file_it_recorded() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let served = Service::new(store.clone());
    let runtime = served.serve_file(&support_file()).await.unwrap();
    let report = runtime.send(Some("c-1"), "hello").await.unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Answered);
    assert!(Arc::ptr_eq(&served.conversation("c-1").await.unwrap().1, &runtime));
    assert_eq!(served.team_names(), ["support"]);
    assert_eq!(served.team("billing").err().unwrap().kind(), "unknown_team");

    // Another service on the same journal serving nothing: the server's refuses, the CLI's
    // rebuilds the team from the file, once.
    let other = Service::new(store.clone());
    let refused = other.conversation("c-1").await.err().unwrap();
    assert!(matches!(refused, ServiceError::TeamNotServed { .. }), "{refused}");
    let cli = Service::new(store.clone()).running_recorded_team_files();
    let first = cli.conversation("c-1").await.unwrap().1;
    runtime.send(Some("c-2"), "hello").await.unwrap();
    assert!(Arc::ptr_eq(&first, &cli.conversation("c-2").await.unwrap().1), "one runtime per team file");

    let unknown = cli.conversation("c-404").await.err().unwrap();
    let expected = "conversation 'c-404' does not exist in this journal (check the id and the --db path)";
    assert_eq!(unknown.to_string(), expected, "{unknown:?}");
}

#[tokio::test]
async fn a_conversation_a_rust_program_created_has_no_team_file_to_rebuild() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let info = ConversationInfo { id: "c-1".into(), team: "leads".into(), created_ms: 0, team_file: None, owner: None };
    store.create(&info).await.unwrap();
    let cli = Service::new(store).running_recorded_team_files();
    let error = cli.conversation("c-1").await.err().unwrap();
    assert_eq!(error.kind(), "no_team_file");
    assert_eq!(error.to_string(), "no team file was recorded for it (it was created by a Rust program)");
}

#[tokio::test]
async fn a_sweep_finishes_interrupted_turns_and_says_what_became_of_each() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let service = Service::new(store.clone()).running_recorded_team_files();
    let runtime = service.serve_file(&support_file()).await.unwrap();
    let full = runtime.send(Some("done"), "My internet is down (customer 42)").await.unwrap();
    let journal: Vec<JournalEntry> = store.journal("done").await.unwrap().into_iter().map(|s| s.entry).collect();
    // The same turn, cut short by a crash after its first three entries, in another conversation.
    let info = ConversationInfo {
        id: "cut".into(),
        team: "support".into(),
        created_ms: 0,
        team_file: Some(support_file().display().to_string()),
        owner: None,
    };
    store.create(&info).await.unwrap();
    let lease = store.acquire("cut", "a crashed process", Duration::from_millis(1)).await.unwrap();
    let prefix: Vec<(u64, JournalEntry)> = journal[..3].iter().map(|entry| (0, entry.clone())).collect();
    store.append(&lease, 0, &prefix).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let interrupted = service.interrupted().await.unwrap();
    assert_eq!(interrupted.iter().map(|info| info.id.as_str()).collect::<Vec<_>>(), ["cut"]);
    let mut sweeping = service.sweep(interrupted, Sweep { concurrency: 4, wait: Duration::ZERO }, unobserved).await;
    let mut finished = Vec::new();
    while let Some(resumed) = sweeping.next().await {
        match resumed {
            Resumed::Finished { info, report, .. } => finished.push((info.id, report.outcome.reply)),
            _ => panic!("only a finished turn is expected"),
        }
    }
    assert_eq!(finished, [("cut".to_string(), full.outcome.reply.clone())]);
    assert_eq!(sweeping.totals().finished, 1);
    assert!(service.interrupted().await.unwrap().is_empty());
}

/// Remembers what a wait said.
#[derive(Default)]
struct Told(Mutex<Vec<String>>);

impl LeaseNotice for Told {
    fn held(&self, conversation: &str, holder: &str, _expires_in_ms: u64, wait: Duration) {
        self.0.lock().unwrap().push(format!("{conversation} held by {holder}, waiting {wait:?}"));
    }

    fn free(&self, conversation: &str) {
        self.0.lock().unwrap().push(format!("{conversation} free"));
    }
}

#[tokio::test]
async fn a_lease_is_waited_out_within_the_bound_and_not_past_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let service = Service::new(store.clone());
    let runtime = service.serve_file(&support_file()).await.unwrap();
    runtime.send(Some("c-1"), "hello").await.unwrap();

    let _held = store.acquire("c-1", "another process", Duration::from_secs(60)).await.unwrap();
    let told = Told::default();
    let busy = wait_for_lease("c-1", Duration::ZERO, &told, || runtime.send(Some("c-1"), "hi")).await;
    let Err(Waited::Busy(busy)) = busy else { panic!("still held: {busy:?}") };
    assert_eq!((busy.holder.as_str(), busy.waited), ("another process", Duration::ZERO));
    assert!(busy.to_string().starts_with("conversation c-1 is held by another process (another process)"), "{busy}");
    assert!(told.0.lock().unwrap().is_empty(), "no wait, nothing said");

    runtime.send(Some("c-2"), "hello").await.unwrap();
    let _short = store.acquire("c-2", "a dying process", Duration::from_millis(300)).await.unwrap();
    let told = Told::default();
    let done = wait_for_lease("c-2", Duration::from_secs(5), &told, || runtime.send(Some("c-2"), "hi")).await;
    assert!(done.is_ok(), "the lease ran out within the wait: {:?}", done.err());
    assert_eq!(*told.0.lock().unwrap(), ["c-2 held by a dying process, waiting 5s", "c-2 free"]);
}

#[tokio::test]
async fn one_conversations_work_runs_one_at_a_time_in_arrival_order_beside_other_conversations() {
    let service = Arc::new(Service::new(Arc::new(MemoryStore::new())));
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (release, released) = tokio::sync::watch::channel(false);
    let work = |name: &'static str, hold: bool| {
        let (log, released) = (log.clone(), released.clone());
        move || {
            let (log, mut released) = (log.clone(), released.clone());
            async move {
                log.lock().unwrap().push(format!("{name} starts"));
                if hold {
                    let _ = released.wait_for(|go| *go).await;
                }
                log.lock().unwrap().push(format!("{name} ends"));
                Ok::<_, baton::RuntimeError>(name)
            }
        }
    };
    let lanes = service.lanes().clone();
    let first = tokio::spawn({
        let (lanes, work) = (lanes.clone(), work("a1", true));
        async move { lanes.run("a", Duration::ZERO, work).await }
    });
    while log.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let second = tokio::spawn({
        let (lanes, work) = (lanes.clone(), work("a2", false));
        async move { lanes.run("a", Duration::ZERO, work).await }
    });
    while lanes.in_flight() < 2 {
        tokio::task::yield_now().await;
    }
    // Another conversation is not held up by the first one's work.
    assert_eq!(lanes.run("b", Duration::ZERO, work("b1", false)).await.unwrap(), "b1");
    assert!(lanes.is_busy("a") && !lanes.is_busy("b"));
    release.send_replace(true);
    assert_eq!(first.await.unwrap().unwrap(), "a1");
    assert_eq!(second.await.unwrap().unwrap(), "a2");
    lanes.drained().await;
    assert_eq!(lanes.in_flight(), 0);
    let log = log.lock().unwrap().clone();
    assert_eq!(log, ["a1 starts", "b1 starts", "b1 ends", "a1 ends", "a2 starts", "a2 ends"]);
}

#[tokio::test]
async fn stopped_lanes_refuse_work_that_has_not_started() {
    let service = Service::new(Arc::new(MemoryStore::new()));
    service.lanes().stop();
    let ran = Arc::new(Mutex::new(false));
    let work = {
        let ran = ran.clone();
        move || {
            let ran = ran.clone();
            async move {
                *ran.lock().unwrap() = true;
                Ok::<_, baton::RuntimeError>(())
            }
        }
    };
    let refused = service.lanes().run("a", Duration::ZERO, work).await.err().unwrap();
    assert_eq!(refused.kind(), "stopping");
    assert!(!*ran.lock().unwrap(), "work refused must not run");
    assert_eq!(service.lanes().in_flight(), 0);
}

#[tokio::test]
async fn a_reload_replaces_a_served_team_and_refuses_a_file_naming_another() {
    let service = Service::new(Arc::new(MemoryStore::new()));
    let dir = std::env::temp_dir().join(format!("baton-service-reload-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let data = support_file().with_file_name("data");
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("data").join(entry.file_name())).unwrap();
    }
    let file = dir.join("team.toml");
    let text = std::fs::read_to_string(support_file()).unwrap();
    std::fs::write(&file, &text).unwrap();
    let first = service.serve_file(&file).await.unwrap();

    std::fs::write(&file, text.replace("entry = \"triage\"", "entry = \"billing\"")).unwrap();
    let reloaded = service.reload_file(&file, "support").await.unwrap();
    assert!(!Arc::ptr_eq(&first, &reloaded));
    assert!(Arc::ptr_eq(&service.team("support").unwrap(), &reloaded));
    assert_eq!(reloaded.team().entry, "billing");

    std::fs::write(&file, text.replace("name = \"support\"", "name = \"other\"")).unwrap();
    let refused = service.reload_file(&file, "support").await.err().unwrap();
    assert_eq!(refused.kind(), "new_team_on_reload", "{refused}");
    assert_eq!(service.team_names(), ["support"]);
    assert!(Arc::ptr_eq(&service.team("support").unwrap(), &reloaded));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn work_waiting_out_another_process_lease_is_not_started_once_the_lanes_stop() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let service = Service::new(store.clone());
    let runtime = service.serve_file(&support_file()).await.unwrap();
    runtime.send(Some("c-1"), "hello").await.unwrap();
    let _held = store.acquire("c-1", "another process", Duration::from_secs(60)).await.unwrap();

    let lanes = service.lanes().clone();
    let waiting = tokio::spawn({
        let (lanes, runtime) = (lanes.clone(), runtime.clone());
        async move {
            let work = move || {
                let runtime = runtime.clone();
                async move { runtime.send(Some("c-1"), "hi").await }
            };
            lanes.run("c-1", Duration::from_secs(60), work).await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    lanes.stop();
    let stopped = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("the wait ends when stopped");
    assert_eq!(stopped.unwrap().err().unwrap().kind(), "stopping");
    lanes.drained().await;
}
