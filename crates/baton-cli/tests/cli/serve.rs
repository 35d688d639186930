//! `baton serve` as deployed: real processes, real HTTP. Two servers share one Postgres (the
//! external tier): a conversation started on one continues on the other, and when one is killed
//! mid-turn the other finishes the turn once the lease runs out. A server stopped with SIGTERM
//! finishes its turn first; a server killed mid-turn finishes it when it starts again. SIGHUP
//! reloads the team files, and a broken one leaves its team as it was.

use crate::mock::{calls, text, Answer, MockServer};
#[cfg(feature = "external-tests")]
use crate::support::postgres_url;
use crate::support::{copy_of_example, support_team, temp_dir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long each model call takes: long enough to kill a server during one.
const DELAY: Duration = Duration::from_millis(1500);

/// The team's limits, with a short lease so a dead server's conversations are taken over soon.
const LIMITS_AND_LEASE: &str = "fallback = \"human\"\n\n[store]\nlease_seconds = 2";

/// A model answering by what each request asks (a re-issued call gets the same answer), slowly:
/// triage looks customer 42 up and hands off to technical, which checks the line and answers.
fn slow_model() -> MockServer {
    MockServer::start_with(|_, body| {
        let offers = |name: &str| {
            body["tools"].as_array().is_some_and(|tools| tools.iter().any(|tool| tool["function"]["name"] == name))
        };
        let answered = |id: &str| {
            body["messages"].as_array().is_some_and(|messages| messages.iter().any(|m| m["tool_call_id"] == id))
        };
        let user_turns = body["messages"].as_array().map_or(0, |m| m.iter().filter(|m| m["role"] == "user").count());
        let answer = match (offers("check_line_status"), answered("call_lookup")) {
            (true, _) if !answered("call_line") => {
                calls(&[("call_line", "check_line_status", json!({"customer_id": "42"}))])
            }
            (true, _) => text(&format!("Your line is up (answer to message {user_turns}).")),
            (false, false) => calls(&[("call_lookup", "lookup_customer", json!({"customer_id": "42"}))]),
            (false, true) => calls(&[(
                "call_handoff",
                "transfer_to_technical",
                json!({"reason": "the line is down", "facts": {"customer_id": "42"}}),
            )]),
        };
        Answer::Slow(DELAY, Box::new(answer))
    })
}

/// A `baton serve` process.
struct Node {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Node {
    /// Starts `baton serve TEAM --db DB` on a free port and waits until it answers.
    fn start(team: &Path, db: &str) -> Node {
        Node::start_with(team, db, &[])
    }

    /// Like [`Node::start`], with more environment variables.
    fn start_with(team: &Path, db: &str, env: &[(&str, &str)]) -> Node {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", team.to_str().unwrap(), "--db", db, "--addr", &addr, "--grace", "20"])
            .env("BATON_TEST_KEY", "k")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baton serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let node = Node { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(&node.addr, "GET", "/healthz", None).0 != 200 {
            assert!(Instant::now() < deadline, "the server did not start:\n{}", node.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request; the status and the JSON answer (status 0 when the server is gone).
fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let Ok(mut stream) = TcpStream::connect(addr) else { return (0, Value::Null) };
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Value::Null);
    }
    let mut answer = String::new();
    if stream.read_to_string(&mut answer).is_err() {
        return (0, Value::Null);
    }
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let json = answer.split_once("\r\n\r\n").and_then(|(_, body)| serde_json::from_str(body).ok());
    (status, json.unwrap_or(Value::Null))
}

/// Sends a message; the status and the turn's result.
fn say(addr: &str, conversation: &str, content: &str) -> (u16, Value) {
    http(addr, "POST", &format!("/v1/conversations/{conversation}/messages"), Some(&json!({ "content": content })))
}

/// The trace's entries.
fn trace(addr: &str, conversation: &str) -> Vec<Value> {
    let (status, trace) = http(addr, "GET", &format!("/v1/conversations/{conversation}/trace"), None);
    assert_eq!(status, 200, "{trace}");
    trace["entries"].as_array().unwrap().clone()
}

fn kinds<'a>(entries: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    entries.iter().filter(move |entry| entry["kind"] == kind)
}

/// Waits until `conversation` has `turns` ended turns (read on `addr`), or fails after a minute.
fn wait_for_turns(addr: &str, conversation: &str, turns: usize, log: impl Fn() -> String) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let entries = trace(addr, conversation);
        if kinds(&entries, "turn_ended").count() >= turns {
            return entries;
        }
        assert!(Instant::now() < deadline, "turn {turns} never ended; server log:\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the journal's last entry is `kind` in turn `turn` or later.
fn wait_until_last_is(addr: &str, conversation: &str, kind: &str, turns_before: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entries = trace(addr, conversation);
        let ended = kinds(&entries, "turn_ended").count();
        if ended == turns_before && entries.last().is_some_and(|last| last["kind"] == kind) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {kind}: {entries:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(feature = "external-tests")]
#[test]
fn two_servers_share_a_postgres_journal_and_one_finishes_the_turn_the_other_was_killed_in() {
    let model = slow_model();
    let dir = temp_dir("serve-nodes");
    let team = support_team(&dir, &model.base_url, LIMITS_AND_LEASE);
    let db = postgres_url("serve_nodes");
    let a = Node::start(&team, &db);
    let b = Node::start(&team, &db);

    let (status, created) = http(&a.addr, "POST", "/v1/conversations", Some(&json!({"team": "support", "id": "n1"})));
    assert_eq!(status, 201, "{created}");
    let (status, first) = say(&a.addr, "n1", "My line is down (customer 42)");
    assert_eq!((status, first["status"].as_str(), first["agent"].as_str()), (200, Some("answered"), Some("technical")));

    // The conversation continues on the other server, with the specialist still in control.
    let (status, second) = say(&b.addr, "n1", "It is still down");
    assert_eq!((status, second["turn"].as_u64(), second["status"].as_str()), (200, Some(2), Some("answered")));
    assert_eq!(second["agent"], "technical", "control stays with the specialist across servers");
    assert!(second["handoffs"].as_array().unwrap().is_empty());

    // Server A is killed while its model call of turn 3 is under way.
    let addr_a = a.addr.clone();
    let sent = std::thread::spawn(move || say(&addr_a, "n1", "Still nothing"));
    wait_until_last_is(&b.addr, "n1", "model_call_started", 2);
    let killed_log = a.log();
    drop(a); // SIGKILL
    let (status, _) = sent.join().unwrap();
    assert_eq!(status, 0, "the client of the killed server gets no answer");

    // Server B finishes the turn once A's lease has run out, without anyone asking.
    let entries = wait_for_turns(&b.addr, "n1", 3, || format!("A:\n{killed_log}\nB:\n{}", b.log()));
    let ended: Vec<&Value> = kinds(&entries, "turn_ended").collect();
    assert_eq!(ended.len(), 3, "the turn ended once");
    assert_eq!(ended[2]["data"]["status"], "answered");
    assert_eq!(ended[2]["data"]["reply"], "Your line is up (answer to message 3).");
    assert_eq!(kinds(&entries, "user_message").count(), 3, "the message was not lost nor repeated");
    let epochs: Vec<u64> = entries.iter().map(|entry| entry["epoch"].as_u64().unwrap()).collect();
    assert!(epochs.windows(2).all(|pair| pair[0] <= pair[1]), "epochs never go back: {epochs:?}");
    let asked = entries.iter().rposition(|entry| entry["kind"] == "user_message").unwrap();
    assert!(
        entries.last().unwrap()["epoch"].as_u64() > entries[asked]["epoch"].as_u64(),
        "B finished the turn under a newer lease than the one A started it under"
    );
    assert!(b.log().contains("resumed conversation n1"), "B says it resumed the turn:\n{}", b.log());
    let (_, view) = http(&b.addr, "GET", "/v1/conversations/n1", None);
    assert_eq!((view["turns"].as_u64(), view["status"].as_str()), (Some(3), Some("idle")));
}

#[test]
fn sigterm_lets_the_turn_in_flight_finish_and_a_killed_server_finishes_it_on_start() {
    let model = slow_model();
    let dir = temp_dir("serve-stop");
    let team = support_team(&dir, &model.base_url, LIMITS_AND_LEASE);
    let db = dir.join("baton.db").to_str().unwrap().to_string();

    // SIGTERM during a turn: the turn finishes, its client gets the answer, then the server exits.
    let mut node = Node::start(&team, &db);
    let (status, _) = http(&node.addr, "POST", "/v1/conversations", Some(&json!({"team": "support", "id": "t1"})));
    assert_eq!(status, 201);
    let addr = node.addr.clone();
    let sent = std::thread::spawn(move || say(&addr, "t1", "My line is down (customer 42)"));
    wait_until_last_is(&node.addr, "t1", "model_call_started", 0);
    let terminated = Command::new("kill").args(["-s", "TERM", &node.pid().to_string()]).status().unwrap();
    assert!(terminated.success());
    let (status, answer) = sent.join().unwrap();
    assert_eq!((status, answer["status"].as_str()), (200, Some("answered")), "{}", node.log());
    let exit = node.child.wait().unwrap();
    assert!(exit.success(), "a stopped server exits 0: {exit:?}\n{}", node.log());
    assert!(node.log().contains("baton serve: stopped"), "{}", node.log());
    drop(node);

    // kill -9 during a turn: the next server on the journal finishes it as it starts.
    let node = Node::start(&team, &db);
    let addr = node.addr.clone();
    let sent = std::thread::spawn(move || say(&addr, "t1", "Still nothing"));
    wait_until_last_is(&node.addr, "t1", "model_call_started", 1);
    drop(node);
    assert_eq!(sent.join().unwrap().0, 0);
    let node = Node::start(&team, &db);
    let entries = wait_for_turns(&node.addr, "t1", 2, || node.log());
    let ended: Vec<&Value> = kinds(&entries, "turn_ended").collect();
    assert_eq!((ended.len(), ended[1]["data"]["status"].as_str()), (2, Some("answered")));
    assert_eq!(kinds(&entries, "user_message").count(), 2);
    assert!(node.log().contains("resumed conversation t1"), "{}", node.log());
}

/// Sends SIGHUP to `node` and waits until its log has `said` one more time than before.
fn hang_up(node: &Node, said: &str) {
    let before = node.log().matches(said).count();
    let sent = Command::new("kill").args(["-s", "HUP", &node.pid().to_string()]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.log().matches(said).count() == before {
        assert!(Instant::now() < deadline, "never said {said:?}:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The agent a new conversation starts with.
fn entry_agent(node: &Node, id: &str) -> String {
    let (status, created) = http(&node.addr, "POST", "/v1/conversations", Some(&json!({"team": "support", "id": id})));
    assert_eq!(status, 201, "{created}");
    let (status, conversation) = http(&node.addr, "GET", &format!("/v1/conversations/{id}"), None);
    assert_eq!(status, 200, "{conversation}");
    conversation["agent"].as_str().unwrap().to_string()
}

#[test]
fn sighup_reloads_the_team_files_and_a_broken_one_changes_nothing() {
    let support = copy_of_example("support");
    let team = support.join("team.toml");
    let db = support.join("baton.db").to_str().unwrap().to_string();
    let node = Node::start(&team, &db);
    assert_eq!(entry_agent(&node, "before"), "triage");

    let text = std::fs::read_to_string(&team).unwrap();
    assert!(text.contains("entry = \"triage\""), "the example's entry changed: update this test");
    std::fs::write(&team, text.replace("entry = \"triage\"", "entry = \"technical\"")).unwrap();
    hang_up(&node, "baton serve: reloaded team support from");
    assert_eq!(entry_agent(&node, "after"), "technical");

    std::fs::write(&team, "name = \"support\"\nentry = [\n").unwrap();
    hang_up(&node, "its team goes on as it was");
    assert!(node.log().contains("team.toml"), "the warning names the file:\n{}", node.log());
    assert_eq!(entry_agent(&node, "broken"), "technical");
}

#[test]
fn json_logs_tell_each_request_and_the_turn_it_ran_and_no_message_text() {
    let support = copy_of_example("support");
    let db = support.join("baton.db").to_str().unwrap().to_string();
    let node = Node::start_with(&support.join("team.toml"), &db, &[("BATON_LOG_FORMAT", "json")]);
    let (status, created) =
        http(&node.addr, "POST", "/v1/conversations", Some(&json!({"team": "support", "id": "l1"})));
    assert_eq!(status, 201, "{created}");
    let (status, answer) = say(&node.addr, "l1", "my internet is down, customer 42, PURPLE-ELEPHANT");
    assert_eq!((status, answer["status"].as_str()), (200, Some("answered")), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let log = node.log();
        let lines: Vec<Value> = log.lines().map(|line| serde_json::from_str(line).expect("a JSON log line")).collect();
        // The health checks are answered too: wait for the message's own line and its turn's.
        let route = "/v1/conversations/{id}/messages";
        let answered = |line: &&Value| line["fields"]["message"] == "answered" && line["span"]["route"] == route;
        let ended = |line: &&Value| line["fields"]["message"] == "turn ended";
        if (lines.iter().any(|line| answered(&line)) && lines.iter().any(|line| ended(&line)))
            || Instant::now() > deadline
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = node.log();
    assert!(!log.contains("PURPLE-ELEPHANT"), "no message text in the log:\n{log}");
    let message_route = "/v1/conversations/{id}/messages";
    let request = lines
        .iter()
        .find(|line| line["fields"]["message"] == "answered" && line["span"]["route"] == message_route)
        .unwrap_or_else(|| panic!("no answered line for the message:\n{log}"));
    assert_eq!((request["level"].as_str(), request["fields"]["status"].as_u64()), (Some("INFO"), Some(200)));
    assert_eq!(request["span"]["method"], "POST");
    assert!(request["fields"]["latency_ms"].as_f64().is_some(), "{request}");
    let id = request["span"]["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 16, "a random id: {request}");
    let turn = lines
        .iter()
        .find(|line| line["fields"]["message"] == "turn ended")
        .unwrap_or_else(|| panic!("no turn ended line:\n{log}"));
    assert_eq!(turn["span"]["request_id"], id, "the turn is logged inside its request: {turn}");
    let fields = &turn["fields"];
    assert_eq!((fields["conversation"].as_str(), fields["status"].as_str()), (Some("l1"), Some("answered")));
    assert_eq!((fields["agent"].as_str(), fields["handoffs"].as_u64()), (Some("technical"), Some(1)));
    let handoff = lines.iter().find(|line| line["fields"]["message"] == "handoff").expect("a handoff line");
    assert_eq!(
        (handoff["fields"]["from"].as_str(), handoff["fields"]["to"].as_str()),
        (Some("triage"), Some("technical"))
    );
}
