//! baton's OpenTelemetry spans in a backend written by others: Arize Phoenix (PyPI
//! `arize-phoenix`, installed by `cargo xtask test`; the external tier), started on loopback with
//! an in-memory database, receiving OTLP over HTTP and gRPC. The spans are read back through
//! Phoenix's REST API: their names, their parents (turn → agents → model calls, tool calls and
//! transfers), their GenAI attributes, one trace per turn with the id `baton trace` prints. A
//! collector that is down costs the turn nothing. The binary is `BATON_TEST_PHOENIX`; the test
//! fails, never skips, without it.

use crate::support::{baton, copy_of_example, run_json};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Phoenix server, stopped on drop.
struct Phoenix {
    child: Child,
    http: u16,
    grpc: u16,
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Phoenix {
    fn start(dir: &Path) -> Phoenix {
        let binary = std::env::var("BATON_TEST_PHOENIX")
            .unwrap_or_else(|_| panic!("BATON_TEST_PHOENIX is not set: run this test with `cargo xtask test`"));
        let (http, grpc) = (free_port(), free_port());
        let log = std::fs::File::create(dir.join("phoenix.log")).unwrap();
        let child = Command::new(&binary)
            .arg("serve")
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http.to_string())
            .env("PHOENIX_GRPC_PORT", grpc.to_string())
            .env("PHOENIX_WORKING_DIR", dir.join("phoenix"))
            .env("PHOENIX_SQL_DATABASE_URL", "sqlite:///:memory:")
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs Arize Phoenix ({binary}: {e}); run it with `cargo xtask test`")
            });
        let mut phoenix = Phoenix { child, http, grpc };
        let started = Instant::now();
        while get(http, "/healthz").0 != 200 {
            if let Ok(Some(status)) = phoenix.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("phoenix.log")).unwrap_or_default();
                panic!("Phoenix exited ({status}) before it was ready:\n{log}");
            }
            assert!(started.elapsed() < Duration::from_secs(120), "Phoenix did not start within 120 s");
            std::thread::sleep(Duration::from_millis(250));
        }
        phoenix
    }

    /// The spans of `project` once there are at least `roots` root spans and nothing new came in
    /// for a moment (every span of a trace is in).
    fn spans(&self, project: &str, roots: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        loop {
            let (status, body) = get(self.http, &format!("/v1/projects/{project}/spans?limit=1000"));
            let spans = if status == 200 { body["data"].as_array().cloned().unwrap_or_default() } else { Vec::new() };
            let found = spans.iter().filter(|span| span["parent_id"].is_null()).count();
            if found >= roots && spans.len() == seen {
                return spans;
            }
            seen = spans.len();
            assert!(Instant::now() < deadline, "{found} of {roots} root spans in '{project}' after 30 s: {body}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// A GET on loopback; the status and the JSON answer.
fn get(port: u16, path: &str) -> (u16, Value) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return (0, Value::Null) };
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Value::Null);
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| dechunk(body)).unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The body of a chunked answer, or the body as it is.
fn dechunk(body: &str) -> String {
    if body.trim_start().starts_with('{') {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|span| span["name"] == name).collect()
}

fn one<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let found = named(spans, name);
    let names: Vec<&Value> = spans.iter().map(|span| &span["name"]).collect();
    assert_eq!(found.len(), 1, "one span '{name}' in {names:?}");
    found[0]
}

fn id(span: &Value) -> &Value {
    &span["context"]["span_id"]
}

/// The trace ids `baton trace` prints, one per turn.
fn printed_traces(conversation: &str, db: &Path) -> Vec<String> {
    let output = baton(&["trace", conversation, "--db", db.to_str().unwrap()], &[("NO_COLOR", "1")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    text.lines().filter_map(|line| line.split("OpenTelemetry trace ").nth(1)).map(|id| id.trim().to_string()).collect()
}

#[test]
fn phoenix_receives_each_turn_as_one_trace_over_http_and_grpc_and_a_dead_collector_costs_nothing() {
    let support = copy_of_example("support");
    let phoenix = Phoenix::start(&support);
    let team = support.join("team.toml");

    // OTLP over HTTP, configured by the standard variables: a handoff and a tool call.
    let db = support.join("http.db");
    let endpoint = format!("http://127.0.0.1:{}", phoenix.http);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_RESOURCE_ATTRIBUTES", "openinference.project.name=baton-http"),
    ];
    let (code, report) = run_json(&team, &db, "My internet is down, customer 42", &[], &env);
    assert_eq!((code, report["status"].as_str()), (0, Some("answered")), "{report}");
    let conversation = report["conversation"].as_str().unwrap();
    let spans = phoenix.spans("baton-http", 1);

    let traces: BTreeSet<&str> = spans.iter().filter_map(|span| span["context"]["trace_id"].as_str()).collect();
    assert_eq!(traces.len(), 1, "one trace per turn: {traces:?}");
    assert_eq!(printed_traces(conversation, &db), [*traces.first().unwrap()], "baton trace names it");
    let root = one(&spans, "turn support");
    assert!(root["parent_id"].is_null());
    let attributes = &root["attributes"];
    assert_eq!(
        (attributes["gen_ai.conversation.id"].as_str(), attributes["baton.turn"].as_i64()),
        (Some(conversation), Some(1))
    );
    assert_eq!(attributes["baton.turn.status"], "answered");

    let triage = one(&spans, "invoke_agent triage");
    let technical = one(&spans, "invoke_agent technical");
    for agent in [triage, technical] {
        assert_eq!(agent["parent_id"], *id(root), "{agent}");
        assert_eq!(agent["attributes"]["gen_ai.operation.name"], "invoke_agent");
    }
    assert_eq!(technical["attributes"]["gen_ai.agent.name"], "technical");
    let transfer = one(&spans, "execute_tool transfer_to_technical");
    assert_eq!(transfer["parent_id"], *id(triage));
    let transfer = &transfer["attributes"];
    assert_eq!(
        (transfer["gen_ai.transfer.mode"].as_str(), transfer["gen_ai.transfer.target.name"].as_str()),
        (Some("pass_control"), Some("technical"))
    );
    assert_eq!(
        (transfer["gen_ai.transfer.target.type"].as_str(), transfer["baton.handoff.kind"].as_str()),
        (Some("agent"), Some("model"))
    );
    let tool = one(&spans, "execute_tool check_line_status");
    assert_eq!(tool["parent_id"], *id(technical));
    assert_eq!(
        (tool["attributes"]["gen_ai.tool.name"].as_str(), tool["attributes"]["baton.outcome"].as_str()),
        (Some("check_line_status"), Some("ok"))
    );
    let chats = named(&spans, "chat local");
    assert_eq!(chats.len() as u64, report["model_calls"].as_u64().unwrap());
    assert!(chats.iter().all(|chat| chat["parent_id"] == *id(triage) || chat["parent_id"] == *id(technical)));
    assert!(chats.iter().all(|chat| chat["attributes"]["gen_ai.provider.name"] == "baton.local"));

    // OTLP over gRPC from `baton serve`, configured by the team file: a turn that waits for an
    // approval, which shows as an event of the agent's span.
    let text = std::fs::read_to_string(&team).unwrap();
    let section = format!("\n[telemetry]\nendpoint = \"http://127.0.0.1:{}\"\nprotocol = \"grpc\"\n", phoenix.grpc);
    std::fs::write(&team, format!("{text}{section}")).unwrap();
    let port = free_port();
    let mut serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(["serve", team.to_str().unwrap(), "--db", support.join("grpc.db").to_str().unwrap()])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .env("OTEL_RESOURCE_ATTRIBUTES", "openinference.project.name=baton-grpc")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(port, "/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "baton serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let created = post(port, "/v1/conversations", &json!({"team": "support", "id": "g-1"}));
    assert_eq!(created["id"], "g-1", "{created}");
    let answer =
        post(port, "/v1/conversations/g-1/messages", &json!({"content": "I was charged twice, invoice INV-2042"}));
    assert_eq!(answer["status"], "awaiting_approval", "{answer}");
    let stopped = Command::new("kill").args(["-s", "TERM", &serve.0.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let mut log = String::new();
    serve.0.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(serve.0.wait().unwrap().success(), "{log}");
    assert!(log.contains(&format!("sending spans to http://127.0.0.1:{} (grpc)", phoenix.grpc)), "{log}");
    let spans = phoenix.spans("baton-grpc", 1);
    let root = one(&spans, "turn support");
    assert_eq!(root["attributes"]["baton.turn.status"], "awaiting_approval");
    let billing = one(&spans, "invoke_agent billing");
    let events: Vec<&Value> = billing["events"].as_array().unwrap().iter().collect();
    assert!(
        events
            .iter()
            .any(|event| event["name"] == "approval_requested"
                && event["attributes"]["gen_ai.tool.name"] == "issue_refund"),
        "{billing}"
    );

    // A collector that is down: the turn is answered and journaled all the same.
    let db = support.join("down.db");
    let down = format!("http://127.0.0.1:{}", free_port());
    let (code, report) = run_json(
        &team,
        &db,
        "My internet is down, customer 42",
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &down), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
    );
    assert_eq!((code, report["status"].as_str()), (0, Some("answered")), "{report}");
    assert_eq!(printed_traces(report["conversation"].as_str().unwrap(), &db).len(), 1, "the turn is in the journal");
}

/// A process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A POST of JSON on loopback; the JSON answer.
fn post(port: u16, path: &str, body: &Value) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    serde_json::from_str(answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)).unwrap_or(Value::Null)
}
