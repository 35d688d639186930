//! Fencing on Postgres with real processes: two `baton resume` processes finish 1,000
//! interrupted turns together; one is frozen (SIGSTOP) mid-turn until its leases run out, the
//! other takes its conversations over, and when the frozen one wakes (SIGCONT) its late writes
//! are refused and it stops advancing them. No conversation is advanced by both, every journal
//! is gap-free, and every turn is finished exactly once.

use crate::mock::{calls, text, Answer, MockServer};
use crate::support::{postgres_url, temp_dir};
use baton::core::{Input, JournalEntry};
use baton::store::{ConversationInfo, PostgresStore, Store};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONVERSATIONS: usize = 1000;
const LEASE_SECONDS: u64 = 2;

fn team(base_url: &str) -> String {
    format!(
        r#"name = "zombie"
entry = "triage"

[limits]
on_limit = "fail"

[store]
lease_seconds = {LEASE_SECONDS}

[models.slow]
provider = "openai"
model = "gpt-test"
base_url = "{base_url}"
api_key_env = "BATON_TEST_KEY"
timeout_secs = 60

[agents.triage]
model = "slow"
handoffs = ["billing"]

[agents.billing]
model = "slow"
"#
    )
}

/// Triage hands off to billing, which answers; each answer takes a while.
fn slow_model() -> MockServer {
    MockServer::start_with(|_, body| {
        let offers_billing = body["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|tool| tool["function"]["name"] == "transfer_to_billing"));
        let answer = match offers_billing {
            true => calls(&[("call_1", "transfer_to_billing", json!({"reason": "a refund"}))]),
            false => text("Your refund is on its way."),
        };
        Answer::Slow(Duration::from_millis(40), Box::new(answer))
    })
}

/// A `baton resume` process whose stdout lines are collected as they come.
struct Resuming {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Resuming {
    fn start(db: &str) -> Resuming {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["resume", "--db", db, "--json", "--concurrency", "32"])
            .env("BATON_TEST_KEY", "k")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (stdout, collected) = (child.stdout.take().unwrap(), lines.clone());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        Resuming { child, lines, reader }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("sh").args(["-c", &format!("kill -{signal} {}", self.child.id())]).status().unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits for the exit; returns the exit code, the finished turns and stderr.
    fn finish(mut self) -> (Option<i32>, Vec<Value>, String) {
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap().iter().map(|line| serde_json::from_str(line).unwrap()).collect();
        (status.code(), lines, stderr)
    }
}

#[test]
fn a_frozen_process_is_fenced_off_and_every_turn_finishes_exactly_once() {
    let model = slow_model();
    let dir = temp_dir("zombie");
    let team_file = dir.join("team.toml");
    std::fs::write(&team_file, team(&model.base_url)).unwrap();
    let team_file = std::path::absolute(&team_file).unwrap().display().to_string();
    let db = postgres_url("zombie");
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let store = tokio.block_on(PostgresStore::connect(&db)).unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    tokio.block_on(interrupt_turns(store.clone(), &team_file));

    let mut frozen = Resuming::start(&db);
    let other = Resuming::start(&db);
    let waited = Instant::now();
    // Freeze it once it has finished some turns, at a moment it is mid-turn: it holds a lease
    // under which it has journaled part of a turn (a lease it just took, or holds on a turn that
    // is already over, would not show fencing: waking up, it would find nothing to write).
    let mid_way = loop {
        if frozen.child.try_wait().unwrap().is_some() || waited.elapsed() > Duration::from_secs(60) {
            let (exit, turns, stderr) = frozen.finish();
            panic!("the first process stopped (exit {exit:?}) after {} turns:\n{stderr}", turns.len());
        }
        if frozen.lines.lock().unwrap().len() >= 50 {
            frozen.signal("STOP");
            let found = tokio.block_on(turns_mid_way(&db, frozen.child.id()));
            if !found.is_empty() {
                break found;
            }
            frozen.signal("CONT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Its leases run out; wake it once the other process has taken all those turns over.
    let frozen_at = Instant::now();
    while tokio.block_on(still_held(&db, frozen.child.id(), &mid_way)) > 0 {
        assert!(frozen_at.elapsed() < Duration::from_secs(60), "the other process took nothing over");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(frozen_at.elapsed() >= Duration::from_secs(LEASE_SECONDS), "taken over before the lease ran out");
    frozen.signal("CONT");
    let (frozen_exit, frozen_turns, frozen_err) = frozen.finish();
    let (other_exit, other_turns, other_err) = other.finish();
    assert_eq!(frozen_exit, Some(0), "{frozen_err}");
    assert_eq!(other_exit, Some(0), "{other_err}");

    // Every turn finished exactly once, by one process or the other.
    let ids = |turns: &[Value]| -> Vec<String> {
        turns.iter().map(|turn| turn["conversation"].as_str().unwrap().to_string()).collect()
    };
    let (by_frozen, by_other) = (ids(&frozen_turns), ids(&other_turns));
    let all: BTreeSet<&String> = by_frozen.iter().chain(&by_other).collect();
    assert_eq!(by_frozen.len() + by_other.len(), CONVERSATIONS, "a turn was reported twice");
    assert_eq!(all.len(), CONVERSATIONS);
    assert!(frozen_turns
        .iter()
        .chain(&other_turns)
        .all(|turn| turn["status"] == "answered" && turn["agent"] == "billing"));

    // The frozen process held conversations mid-turn; the other took them over and the frozen
    // one's late writes were refused.
    let taken_over: Vec<&str> = frozen_err
        .lines()
        .filter_map(|line| {
            line.strip_prefix("conversation ")?.strip_suffix(" was taken over by another process, which finishes it")
        })
        .collect();
    assert!(
        !taken_over.is_empty(),
        "the frozen process was fenced off nowhere:\n{frozen_err}\nthe other:\n{other_err}"
    );
    eprintln!(
        "the frozen process finished {} turns and was fenced off {} conversations; the other finished {}",
        by_frozen.len(),
        taken_over.len(),
        by_other.len()
    );

    // Every journal is gap-free, in the clean order, its lease epochs never going back.
    let expected = [
        "user_message",
        "turn_started",
        "model_call_started",
        "model_replied",
        "handoff_taken",
        "model_call_started",
        "model_replied",
        "turn_ended",
    ];
    let mut resumed_mid_turn = 0;
    for n in 0..CONVERSATIONS {
        let journal = tokio.block_on(store.journal(&format!("z-{n}"))).unwrap();
        let kinds: Vec<&str> = journal.iter().map(|entry| entry.entry.kind()).collect();
        assert_eq!(kinds, expected, "z-{n}");
        assert!(journal.iter().enumerate().all(|(seq, entry)| entry.seq == seq as u64), "z-{n} has a gap");
        assert!(journal.windows(2).all(|pair| pair[0].epoch <= pair[1].epoch), "z-{n} was advanced by both");
        resumed_mid_turn += usize::from(journal[1..].windows(2).any(|pair| pair[0].epoch < pair[1].epoch));
    }
    for id in &taken_over {
        assert!(by_other.iter().any(|other| other == id), "{id} was taken over, so the other process finished it");
    }
    // (A conversation taken over before the frozen process wrote to it shows one epoch only.)
    eprintln!("{resumed_mid_turn} journals show entries of both processes, the other's after the frozen one's");
}

/// The conversations the process `pid` is advancing mid-turn: it holds their lease, and the
/// journal's last entry, not the end of a turn, was written under that lease.
async fn turns_mid_way(db: &str, pid: u32) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(db, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let holder = format!("%:{pid}:%");
    let row = client
        .query(
            "SELECT l.conversation FROM baton_leases l
             JOIN LATERAL (
                SELECT kind, epoch FROM baton_journal j WHERE j.conversation = l.conversation ORDER BY seq DESC LIMIT 1
             ) last ON true
             WHERE l.holder LIKE $1 AND l.expires_at > clock_timestamp()
               AND last.epoch = l.epoch AND last.kind <> 'turn_ended'",
            &[&holder],
        )
        .await
        .unwrap();
    row.iter().map(|row| row.get(0)).collect()
}

/// How many of `conversations` the process `pid` still holds the lease of (run out or not).
async fn still_held(db: &str, pid: u32, conversations: &[String]) -> i64 {
    let (client, connection) = tokio_postgres::connect(db, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let holder = format!("%:{pid}:%");
    let row = client
        .query_one(
            "SELECT count(*) FROM baton_leases WHERE holder LIKE $1 AND conversation = ANY($2)",
            &[&holder, &conversations],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Writes `CONVERSATIONS` conversations whose first message was journaled and nothing else: the
/// process that took them died.
async fn interrupt_turns(store: Arc<dyn Store>, team_file: &str) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CONVERSATIONS {
        let (store, team_file) = (store.clone(), team_file.to_string());
        tasks.spawn(async move {
            let id = format!("z-{n}");
            let info = ConversationInfo {
                id: id.clone(),
                team: "zombie".into(),
                created_ms: n as u64,
                team_file: Some(team_file),
                owner: None,
            };
            store.create(&info).await.unwrap();
            let lease = store.acquire(&id, "a process that died", Duration::from_secs(60)).await.unwrap();
            let message = JournalEntry::Input(Input::user("I was charged twice, please refund me"));
            store.append(&lease, 0, &[(n as u64, message)]).await.unwrap();
            store.release(&lease).await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}
