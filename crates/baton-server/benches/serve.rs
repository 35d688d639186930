//! Server throughput and memory: `baton serve` (the release binary, run as a child process so its
//! memory is its own) serving a one-agent team whose model is a mock OpenAI-compatible server in
//! this process, answering every `POST /v1/chat/completions` at once with the same short text.
//! Clients in this process talk to the server over loopback. Prints one JSON object per run on
//! stdout and a markdown table row on stderr; `bench/serve.sh` runs every configuration.
//!
//! ```text
//! cargo build --release -p baton-cli
//! cargo bench -p baton-server --bench serve -- turns sqlite 100 5000
//! cargo bench -p baton-server --bench serve -- idle sqlite 10000
//! ```
//!
//! `turns DB CONCURRENCY TURNS`: CONCURRENCY clients at once, each running conversations of
//! [`TURNS_PER_CONVERSATION`] turns back to back until TURNS turns are done (the conversations are
//! started before the clock starts); the latency of each turn is the whole HTTP request as the
//! client sees it. `idle DB CONVERSATIONS`: the server's resident memory after a warm-up, then
//! after that many conversations of one turn each, twice over, to find what an idle
//! conversation costs.
//!
//! DB is `sqlite` (a fresh file, default durability) or a URL `baton serve --db` takes, such as
//! a Postgres schema of its own. The server binary is `BATON_BIN`, by default
//! `target/release/baton`; the mock model's key is set for the child only.

#![allow(clippy::unwrap_used, missing_docs)]

use axum::body::Bytes;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many turns each conversation runs in `turns`, so every configuration replays journals of
/// the same lengths.
const TURNS_PER_CONVERSATION: usize = 10;

/// How many conversations at once make the idle conversations.
const IDLE_CONCURRENCY: usize = 100;

/// How long the idle conversations sit before the server's memory is read.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// What every user message says.
const MESSAGE: &str = "Hi, my internet has been down since this morning. My customer number is 7.";

/// The mock model's answer to every request.
fn completion() -> Value {
    json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "mock",
        "choices": [{
            "index": 0,
            "finish_reason": "stop",
            "message": { "role": "assistant", "content": "Sorry to hear that. An engineer is on the fault; service returns by 18:00 today." },
        }],
        "usage": { "prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80 },
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    let usage = "usage: serve (turns DB CONCURRENCY TURNS | idle DB CONVERSATIONS); DB is sqlite or a --db URL";
    let [mode, db, numbers @ ..] = args.as_slice() else { panic!("{usage}") };
    let numbers: Vec<usize> = numbers.iter().map(|n| n.parse().expect(usage)).collect();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let journal = if db.starts_with("postgres") { "postgres" } else { "sqlite" };
    let result = tokio.block_on(async {
        let model = Model::start().await;
        let mut server = ServedTeam::start(db, &model.base_url);
        server.ready().await;
        let result = match (mode.as_str(), numbers.as_slice()) {
            ("turns", [concurrency, turns]) => turns_bench(&server, *concurrency, *turns).await,
            ("idle", [conversations]) => idle_bench(&server, *conversations).await,
            _ => panic!("{usage}"),
        };
        let mut result = result.as_object().cloned().unwrap_or_default();
        result.insert("model_calls".into(), json!(model.calls.load(Ordering::SeqCst)));
        result.insert("model_request_bytes".into(), json!(model.request_bytes.load(Ordering::SeqCst)));
        result
    });
    let mut line = serde_json::Map::new();
    line.insert("mode".into(), json!(mode));
    line.insert("journal".into(), json!(journal));
    line.extend(result);
    let line = Value::Object(line);
    eprintln!("{}", row(&line));
    println!("{line}");
}

/// The markdown table row of a run.
fn row(line: &Value) -> String {
    let number = |key: &str| line[key].as_f64().unwrap_or(f64::NAN);
    match line["mode"].as_str() {
        Some("turns") => format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            line["journal"].as_str().unwrap_or_default(),
            line["concurrency"],
            line["turns"],
            number("turns_per_s"),
            number("p50_ms"),
            number("p99_ms"),
            number("max_ms"),
            line["errors"],
        ),
        _ => format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
            line["journal"].as_str().unwrap_or_default(),
            line["conversations"],
            number("rss_warm_kib"),
            number("rss_first_kib"),
            number("rss_second_kib"),
            number("first_bytes_per_conversation"),
            number("second_bytes_per_conversation"),
        ),
    }
}

/// The mock model: a Chat Completions endpoint on a loopback port answering at once.
struct Model {
    base_url: String,
    calls: Arc<AtomicU64>,
    request_bytes: Arc<AtomicU64>,
}

impl Model {
    async fn start() -> Model {
        let calls = Arc::new(AtomicU64::new(0));
        let request_bytes = Arc::new(AtomicU64::new(0));
        let answer = completion();
        let (counted, sized) = (calls.clone(), request_bytes.clone());
        let router = Router::new().route(
            "/v1/chat/completions",
            post(move |body: Bytes| {
                counted.fetch_add(1, Ordering::Relaxed);
                sized.fetch_add(body.len() as u64, Ordering::Relaxed);
                let answer = answer.clone();
                async move { Json(answer) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Model { base_url, calls, request_bytes }
    }
}

/// `baton serve` on a one-agent team and a journal in a temporary directory; killed when dropped.
struct ServedTeam {
    child: Child,
    dir: PathBuf,
    api: Api,
}

impl ServedTeam {
    fn start(db: &str, model_url: &str) -> ServedTeam {
        let dir = std::env::temp_dir().join(format!("baton-serve-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let team = dir.join("team.toml");
        std::fs::write(&team, team_file(model_url)).unwrap();
        let db = match db {
            "sqlite" => dir.join("journal.db").display().to_string(),
            url => url.to_string(),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let child = Command::new(binary())
            .args(["serve", &team.display().to_string(), "--addr", &addr, "--db", &db])
            .env("BATON_BENCH_MODEL_KEY", "sk-bench")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start {} ({error}): build it, or set BATON_BIN", binary().display())
            });
        let client = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
        ServedTeam { child, dir, api: Api { base: format!("http://{addr}"), client } }
    }

    /// Waits until the server answers `/healthz`; fails with its log if it stops or does not.
    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && self.child.try_wait().is_ok_and(|exited| exited.is_none()) {
            let answer = self.api.client.get(format!("{}/healthz", self.api.base)).send().await;
            if answer.is_ok_and(|answer| answer.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
        panic!("baton serve did not come up:\n{log}");
    }

    /// The server's memory in KiB: resident now (`VmRSS`) and at most (`VmHWM`).
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            let line = status.lines().find(|line| line.starts_with(name)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The CPU time the server has used, in seconds.
    fn cpu_s(&self) -> f64 {
        cpu_s(&self.child.id().to_string())
    }
}

/// The CPU time (user and system) process `pid` (or `self`) has used, in seconds, from
/// `/proc/PID/stat`.
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis start with the third, the state; utime
    // and stime are the 14th and 15th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..].split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

/// The clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`; 100 where that fails).
fn clock_ticks() -> f64 {
    let answer = Command::new("getconf").arg("CLK_TCK").output().ok();
    answer.and_then(|answer| String::from_utf8(answer.stdout).ok()?.trim().parse().ok()).unwrap_or(100.0)
}

impl Drop for ServedTeam {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server's API, as the clients call it.
#[derive(Clone)]
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// Starts conversation `id`.
    async fn create(&self, id: &str) {
        let created = self
            .client
            .post(format!("{}/v1/conversations", self.base))
            .json(&json!({ "team": "bench", "id": id }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201, "{}", created.text().await.unwrap_or_default());
    }

    /// Sends `id` the message; whether it was answered, and how long the whole request took.
    async fn turn(&self, id: &str) -> (bool, Duration) {
        let started = Instant::now();
        let sent = self
            .client
            .post(format!("{}/v1/conversations/{id}/messages", self.base))
            .json(&json!({ "content": MESSAGE }))
            .send()
            .await;
        let answer = match sent {
            Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            Ok(response) => {
                eprintln!("turn of {id}: {} {}", response.status(), response.text().await.unwrap_or_default());
                None
            }
            Err(error) => {
                eprintln!("turn of {id}: {error}");
                None
            }
        };
        let answered = answer.is_some_and(|answer| answer["status"] == "answered");
        (answered, started.elapsed())
    }

    /// The server's metrics, in the Prometheus text format.
    async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap()
    }

    /// How many entries `id`'s journal holds.
    async fn entries(&self, id: &str) -> usize {
        let trace = self.client.get(format!("{}/v1/conversations/{id}/trace", self.base)).send().await.unwrap();
        let trace: Value = trace.json().await.unwrap();
        trace["entries"].as_array().map_or(0, Vec::len)
    }
}

/// The `baton` binary to serve with.
fn binary() -> PathBuf {
    match std::env::var_os("BATON_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/baton"),
    }
}

/// A team of one agent on the mock model.
fn team_file(model_url: &str) -> String {
    format!(
        r#"name = "bench"
entry = "assistant"

[limits]
on_limit = "fail"

[models.mock]
provider = "openai"
model = "mock"
base_url = "{model_url}"
api_key_env = "BATON_BENCH_MODEL_KEY"
timeout_secs = 120

[agents.assistant]
description = "Answers every question."
instructions = "You are the support desk of Northwind Telecom."
model = "mock"
"#
    )
}

/// `turns` turns by `concurrency` clients at once, in conversations of
/// [`TURNS_PER_CONVERSATION`] turns each client runs back to back.
async fn turns_bench(server: &ServedTeam, concurrency: usize, turns: usize) -> Value {
    assert!(turns % TURNS_PER_CONVERSATION == 0, "turns: a multiple of {TURNS_PER_CONVERSATION}");
    let conversations = turns / TURNS_PER_CONVERSATION;
    run_all(&server.api, concurrency, conversations, |api, n| async move {
        api.create(&format!("c{n}")).await;
        (Vec::new(), 0)
    })
    .await;
    let (server_cpu, bench_cpu) = (server.cpu_s(), cpu_s("self"));
    let started = Instant::now();
    let done = run_all(&server.api, concurrency, conversations, |api, n| async move {
        let mut latencies = Vec::new();
        let mut errors = 0;
        for _ in 0..TURNS_PER_CONVERSATION {
            let (answered, latency) = api.turn(&format!("c{n}")).await;
            latencies.push(latency);
            errors += usize::from(!answered);
        }
        (latencies, errors)
    })
    .await;
    let wall = started.elapsed();
    let (server_cpu, bench_cpu) = (server.cpu_s() - server_cpu, cpu_s("self") - bench_cpu);
    let (memory_now, memory_peak) = server.memory_kib();
    let entries = server.api.entries("c0").await;
    let metrics = server.api.metrics().await;
    let mean_ms = |name: &str, labels: &str| {
        metric(&metrics, &format!("{name}_sum"), labels) * 1e3 / metric(&metrics, &format!("{name}_count"), labels)
    };
    let server_turn_ms = mean_ms("baton_http_request_duration_seconds", r#"route="/v1/conversations/{id}/messages""#);
    let model_call_ms = mean_ms("baton_model_call_duration_seconds", r#"outcome="ok""#);
    let (mut latencies, errors) = done;
    latencies.sort();
    let ms = |at: f64| {
        let rank = ((latencies.len() as f64 * at).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1].as_secs_f64() * 1e3
    };
    let client_mean_ms = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / latencies.len() as f64;
    json!({
        "concurrency": concurrency,
        "turns": turns,
        "conversations": conversations,
        "errors": errors,
        "wall_s": wall.as_secs_f64(),
        "turns_per_s": turns as f64 / wall.as_secs_f64(),
        "p50_ms": ms(0.50),
        "p99_ms": ms(0.99),
        "max_ms": ms(1.0),
        "mean_ms": client_mean_ms,
        "server_turn_mean_ms": server_turn_ms,
        "model_call_mean_ms": model_call_ms,
        "journal_entries_per_turn": entries as f64 / TURNS_PER_CONVERSATION as f64,
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_turn": server_cpu * 1e3 / turns as f64,
        "bench_cpu_s": bench_cpu,
        "server_rss_kib": memory_now,
        "server_peak_rss_kib": memory_peak,
    })
}

/// The sum of the samples `name{...}` whose labels include `labels` in the Prometheus text
/// `metrics`.
fn metric(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with('{')) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The server's memory before and after `conversations` idle conversations of one turn each,
/// twice over: the first batch shows what the server grows by once working, the second what
/// each further conversation costs.
async fn idle_bench(server: &ServedTeam, conversations: usize) -> Value {
    let batch = |prefix: &'static str, count: usize| async move {
        let (_, errors) = run_all(&server.api, IDLE_CONCURRENCY, count, move |api, n| async move {
            let id = format!("{prefix}{n}");
            api.create(&id).await;
            let (answered, latency) = api.turn(&id).await;
            (vec![latency], usize::from(!answered))
        })
        .await;
        tokio::time::sleep(IDLE_WAIT).await;
        (server.memory_kib().0, errors)
    };
    let (fresh, _) = server.memory_kib();
    let (warm, warm_errors) = batch("warm", IDLE_CONCURRENCY).await;
    let (first, first_errors) = batch("first", conversations).await;
    let (second, second_errors) = batch("second", conversations).await;
    let per_conversation = |before: u64, after: u64| (after as f64 - before as f64) * 1024.0 / conversations as f64;
    json!({
        "conversations": conversations,
        "errors": warm_errors + first_errors + second_errors,
        "rss_fresh_kib": fresh,
        "rss_warm_kib": warm,
        "rss_first_kib": first,
        "rss_second_kib": second,
        "server_peak_rss_kib": server.memory_kib().1,
        "first_bytes_per_conversation": per_conversation(warm, first),
        "second_bytes_per_conversation": per_conversation(first, second),
    })
}

/// Runs `work(api, n)` for every n below `count` in `clients` tasks at once, each taking the next
/// n when done with one; the latencies and error counts they return, gathered.
async fn run_all<F, Fut>(api: &Api, clients: usize, count: usize, work: F) -> (Vec<Duration>, usize)
where
    F: Fn(Api, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Vec<Duration>, usize)> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (api, next, work) = (api.clone(), next.clone(), work.clone());
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= count {
                    return (latencies, errors);
                }
                let (more, failed) = work(api.clone(), n).await;
                latencies.extend(more);
                errors += failed;
            }
        });
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (more, failed) = done.unwrap();
        latencies.extend(more);
        errors += failed;
    }
    (latencies, errors)
}
