//! Bounded waits for a conversation another process holds (`--wait SECONDS`): a lease held by a
//! live process of another machine (taken here through the store, under a holder id no process
//! of this machine has) is waited for up to the bound, then `run`, `chat` and `resume` give up
//! with exit 3 and say who holds it; a lease let go during the wait lets the command go on.

use crate::mock::{text, MockServer};
use crate::support::{baton, baton_with_input, support_team, temp_dir};
use baton::store::{open, Durability, Lease, Store, StoreError, StoreLocation};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A holder id of a process on another machine: never known to be gone.
const ELSEWHERE: &str = "elsewhere/boot/ns:4242:1700000000000";

struct Journal {
    tokio: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
}

impl Journal {
    fn open(db: &Path) -> Journal {
        let tokio = tokio::runtime::Runtime::new().unwrap();
        let store = tokio.block_on(open(&StoreLocation::Sqlite(db.to_path_buf()), Durability::Full)).unwrap();
        Journal { tokio, store }
    }

    /// Takes the conversation's lease for a process of another machine, for `ttl`; a lease of a
    /// process that crashed here is broken first.
    fn hold(&self, conversation: &str, ttl: Duration) -> Lease {
        self.tokio.block_on(async {
            match self.store.acquire(conversation, ELSEWHERE, ttl).await {
                Err(StoreError::Leased { holder, .. }) => {
                    self.store.break_lease(conversation, &holder).await.unwrap();
                    self.store.acquire(conversation, ELSEWHERE, ttl).await.unwrap()
                }
                acquired => acquired.unwrap(),
            }
        })
    }

    fn entries(&self, conversation: &str) -> usize {
        self.tokio.block_on(self.store.journal(conversation)).unwrap().len()
    }
}

/// A support team answering "Hello." to everything, a conversation `held` with one turn, and
/// its journal.
fn answered_conversation(name: &str) -> (MockServer, String, String, Journal) {
    let server = MockServer::start(vec![text("Hello.")]);
    let dir = temp_dir(name);
    let team = support_team(&dir, &server.base_url, "fallback = \"human\"");
    let db = dir.join("baton.db");
    let (team, db) = (team.to_str().unwrap().to_string(), db.to_str().unwrap().to_string());
    let first = baton(&["run", &team, "hi", "--db", &db, "--conversation", "held"], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let journal = Journal::open(Path::new(&db));
    (server, team, db, journal)
}

#[test]
fn run_waits_for_a_lease_held_elsewhere_up_to_wait_then_fails_saying_who_holds_it() {
    let (_server, team, db, journal) = answered_conversation("wait-held");
    journal.hold("held", Duration::from_secs(120));
    let before = journal.entries("held");

    let started = Instant::now();
    let output = baton(&["run", &team, "again", "--db", &db, "--conversation", "held", "--wait", "2"], &[]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "waited {took:?}");
    assert!(stderr.contains(&format!("conversation held is held by another process ({ELSEWHERE})")), "{stderr}");
    assert!(stderr.contains("waiting up to 2 s for it (--wait)"), "{stderr}");
    assert!(stderr.contains("is still held by another process") && stderr.contains("after waiting 2 s"), "{stderr}");
    assert!(stderr.contains("try again later, or wait longer with --wait SECONDS"), "{stderr}");
    assert_eq!(journal.entries("held"), before, "nothing was journaled");

    // --wait 0 fails at once, saying how long the lease runs and how to wait for it.
    let started = Instant::now();
    let output = baton(&["run", &team, "again", "--db", &db, "--conversation", "held", "--wait", "0"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(stderr.contains("whose lease runs ") && stderr.contains(" s more unless renewed"), "{stderr}");
    assert!(stderr.contains("pass --wait SECONDS to wait for it"), "{stderr}");

    // chat takes the same wait before it starts.
    let output = baton_with_input(&["chat", &team, "--db", &db, "--conversation", "held", "--wait", "1"], "hello\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("after waiting 1 s"), "{stderr}");
}

#[test]
fn run_goes_on_once_the_lease_is_let_go_during_the_wait() {
    let (_server, team, db, journal) = answered_conversation("wait-released");
    let lease = journal.hold("held", Duration::from_secs(120));
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["run", &team, "again", "--db", &db, "--conversation", "held", "--wait", "30", "--json"])
        .env_remove("BATON_TEST_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    journal.tokio.block_on(journal.store.release(&lease)).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(
        stderr.contains("waiting up to 30 s") && stderr.contains("conversation held is free now: going on"),
        "{stderr}"
    );
    let out: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((out["turn"].as_u64(), out["reply"].as_str()), (Some(2), Some("Hello.")));
}

#[test]
fn resume_skips_a_conversation_whose_lease_another_process_keeps_renewing() {
    let server = MockServer::start(vec![text("Hello.")]);
    let dir = temp_dir("wait-resume");
    let team = support_team(&dir, &server.base_url, "fallback = \"human\"");
    let db = dir.join("baton.db");
    let (team, db) = (team.to_str().unwrap(), db.to_str().unwrap());
    // Crashed after the message and the turn's start were journaled: the turn is interrupted.
    let crashed = baton(&["run", team, "hi", "--db", db, "--conversation", "stuck"], &[("BATON_CRASH_AT", "2")]);
    assert_ne!(crashed.status.code(), Some(0));
    let journal = Journal::open(Path::new(db));
    let lease = journal.hold("stuck", Duration::from_secs(1));
    // Another process keeps renewing its lease.
    let renewing = Arc::new(AtomicBool::new(true));
    let (store, still) = (journal.store.clone(), renewing.clone());
    let renewer = journal.tokio.spawn(async move {
        while still.load(Ordering::SeqCst) {
            store.renew(&lease).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        store.release(&lease).await.unwrap();
    });

    let started = Instant::now();
    let output = baton(&["resume", "--db", db, "--wait", "2"], &[]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "waited {took:?}");
    assert!(stderr.contains("up to 2 s each: --wait"), "{stderr}");
    assert!(
        stderr
            .contains(&format!("conversation stuck is still held by another process ({ELSEWHERE}) after waiting 2 s")),
        "{stderr}"
    );
    assert!(stderr.contains("1 still held by another process after waiting 2 s (skipped)"), "{stderr}");
    assert!(stderr.contains("run baton resume again later to finish stuck"), "{stderr}");

    // Once the other process lets go, resume finishes the turn.
    renewing.store(false, Ordering::SeqCst);
    journal.tokio.block_on(renewer).unwrap();
    let output = baton(&["resume", "--db", db], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("resumed 1 conversation of 1"), "{stderr}");
}
