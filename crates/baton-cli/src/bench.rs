//! `baton bench TEAM --input TEXT [-n N] [-c C] [--db memory|PATH|URL] [--json]`: what a team
//! costs to run, measured in this process. N fresh conversations run C at a time (each sends
//! the inputs in order, one turn each) after a warm-up that is not counted; it reports
//! conversations/s, the latency of each turn, the calls made, the process's CPU time per
//! conversation and its peak memory. The CPU time is the whole process's (every thread: the
//! runtime, the journal's writer, the HTTP clients), so a mock model for the bench belongs in
//! another process.

use crate::db::Journal;
use crate::paint::print_error;
use crate::plural::count;
use crate::process_usage::ProcessUsage;
use crate::stdout::println;
use crate::{progress, setup, Exit};
use anstream::eprintln;
use baton::core::TurnStatus;
use baton::{Runtime, RuntimeError};
use indicatif::ProgressBar;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The arguments of `baton bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// The team file (team.toml).
    pub team: PathBuf,
    /// What the user says; repeat it for conversations of several turns.
    #[arg(long = "input", required = true, value_name = "TEXT")]
    pub inputs: Vec<String>,
    /// How many conversations to count.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub conversations: usize,
    /// How many conversations run at a time.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub concurrency: usize,
    /// The journal: memory, a SQLite file (PATH or sqlite://PATH; durable: synced as the
    /// team file says, FULL by default) or a Postgres URL.
    #[arg(long, value_name = "memory|PATH|URL", default_value = "memory", value_parser = Journal::parse)]
    pub db: Journal,
    /// Conversations run one at a time before counting (not counted).
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Worker threads of the async runtime (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What one conversation did.
#[derive(Default)]
struct ConversationRun {
    /// How long each turn took, in order.
    latencies: Vec<Duration>,
    model_calls: u64,
    tool_calls: u64,
    handoffs: u64,
    /// The agent in control at the end, and how the last turn ended.
    ended: Option<(String, TurnStatus)>,
    /// Why it failed, if a turn did.
    error: Option<String>,
}

/// Runs the benchmark and prints its figures.
pub fn run(args: &BenchArgs) -> Exit {
    bench(args).unwrap_or_else(|exit| exit)
}

fn bench(args: &BenchArgs) -> Result<Exit, Exit> {
    check(args)?;
    let config = setup::team(&args.team)?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads);
    }
    let tokio = builder.enable_all().build().map_err(|error| {
        print_error!("cannot start the async runtime: {error}");
        Exit::Failed
    })?;
    let location = args.db.location();
    let runtime = Arc::new(setup::runtime(&config, location, &tokio)?);
    let inputs: Arc<[String]> = args.inputs.clone().into();
    let team = runtime.team().name.clone();
    eprintln!(
        "baton bench: team {team}, {} of {}, {} at a time, journal {location} (+{} warm-up)",
        count(args.conversations, "conversation", "conversations"),
        count(inputs.len(), "turn", "turns"),
        args.concurrency,
        args.warmup
    );
    let warm = tokio.block_on(run_all(&runtime, &inputs, args.warmup, 1, None));
    if let Some(error) = warm.iter().find_map(|conversation| conversation.error.as_deref()) {
        print_error!("a warm-up conversation failed: {error}");
        return Err(Exit::Failed);
    }
    let before = usage()?;
    let started = Instant::now();
    let bar = progress::bar(args.conversations, "conversations");
    let conversations =
        tokio.block_on(run_all(&runtime, &inputs, args.conversations, args.concurrency, Some(bar.clone())));
    let wall = started.elapsed();
    let after = usage()?;
    bar.finish_and_clear();
    let figures = Figures::of(&conversations, wall, after.cpu.saturating_sub(before.cpu), after.max_rss_kib);
    let report = figures.to_json(&team, &location.to_string(), args);
    if args.json {
        println!("{report}");
    } else {
        figures.print();
    }
    Ok(if figures.failed > 0 { Exit::Failed } else { Exit::Ok })
}

fn check(args: &BenchArgs) -> Result<(), Exit> {
    let usage = |message: &str| {
        print_error!("{message}");
        Err(Exit::Usage)
    };
    if args.inputs.is_empty() || args.inputs.iter().any(|input| input.trim().is_empty()) {
        return usage(
            "pass what the user says with --input, e.g. --input \"My internet is down\" (repeat it for more turns)",
        );
    }
    if args.conversations == 0 {
        return usage("-n must be at least 1 conversation");
    }
    if args.concurrency == 0 {
        return usage("-c must be at least 1 (conversations at a time)");
    }
    if args.threads == Some(0) {
        return usage("--threads must be at least 1");
    }
    Ok(())
}

fn usage() -> Result<ProcessUsage, Exit> {
    ProcessUsage::now().map_err(|error| {
        print_error!("{error}");
        Exit::Failed
    })
}

/// Runs `count` conversations, `concurrency` at a time, moving `done` on as each ends (a
/// conversation that panicked included, so the bar always reaches its end).
async fn run_all(
    runtime: &Arc<Runtime>,
    inputs: &Arc<[String]>,
    count: usize,
    concurrency: usize,
    done: Option<ProgressBar>,
) -> Vec<ConversationRun> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(count) {
        let (runtime, inputs, next, done) = (Arc::clone(runtime), Arc::clone(inputs), Arc::clone(&next), done.clone());
        workers.spawn(async move {
            let mut finished = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                // Its own task, so that a panic is one failed conversation, counted like the others.
                let run = tokio::spawn(one(Arc::clone(&runtime), Arc::clone(&inputs)));
                finished.push(run.await.unwrap_or_else(|error| ConversationRun {
                    error: Some(format!("the conversation's task failed: {error}")),
                    ..Default::default()
                }));
                if let Some(done) = &done {
                    done.inc(1);
                }
            }
            finished
        });
    }
    let mut all = Vec::with_capacity(count);
    while let Some(finished) = workers.join_next().await {
        // A worker only awaits its conversations' tasks: it cannot fail by itself.
        all.extend(finished.unwrap_or_default());
    }
    all
}

/// One fresh conversation: each input a turn, until one fails.
async fn one(runtime: Arc<Runtime>, inputs: Arc<[String]>) -> ConversationRun {
    let mut conversation = ConversationRun::default();
    let mut id: Option<String> = None;
    for input in inputs.iter() {
        let started = Instant::now();
        let sent = runtime.send(id.as_deref(), input).await;
        conversation.latencies.push(started.elapsed());
        let report = match sent {
            Ok(report) => report,
            Err(error) => {
                conversation.error = Some(describe(&error, id.as_deref()));
                return conversation;
            }
        };
        let outcome = &report.outcome;
        conversation.model_calls += u64::from(outcome.model_calls);
        conversation.tool_calls += u64::from(outcome.tool_calls);
        conversation.handoffs += outcome.handoffs.len() as u64;
        conversation.ended = Some((outcome.agent.clone(), outcome.status));
        if outcome.status == TurnStatus::Failed {
            let why = outcome.error.as_deref().unwrap_or("no reason recorded");
            conversation.error = Some(format!("conversation {}: the turn failed: {why}", report.conversation));
            return conversation;
        }
        id = Some(report.conversation);
    }
    conversation
}

fn describe(error: &RuntimeError, conversation: Option<&str>) -> String {
    match conversation {
        Some(id) => format!("conversation {id}: {error}"),
        None => error.to_string(),
    }
}

/// The measured figures.
struct Figures {
    conversations: usize,
    turns: usize,
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    /// Turn latencies, sorted.
    latencies: Vec<Duration>,
    model_calls: u64,
    tool_calls: u64,
    handoffs: u64,
    failed: usize,
    first_error: Option<String>,
    /// The agent in control at the end → conversations.
    agents: BTreeMap<String, usize>,
    /// How the last turn ended → conversations.
    statuses: BTreeMap<&'static str, usize>,
}

impl Figures {
    fn of(conversations: &[ConversationRun], wall: Duration, cpu: Duration, max_rss_kib: u64) -> Self {
        let mut latencies: Vec<Duration> = conversations.iter().flat_map(|c| c.latencies.iter().copied()).collect();
        latencies.sort_unstable();
        let mut agents = BTreeMap::new();
        let mut statuses = BTreeMap::new();
        for (agent, status) in conversations.iter().filter_map(|c| c.ended.as_ref()) {
            *agents.entry(agent.clone()).or_insert(0) += 1;
            *statuses.entry(status.as_str()).or_insert(0) += 1;
        }
        Figures {
            conversations: conversations.len(),
            turns: latencies.len(),
            wall,
            cpu,
            max_rss_kib,
            latencies,
            model_calls: conversations.iter().map(|c| c.model_calls).sum(),
            tool_calls: conversations.iter().map(|c| c.tool_calls).sum(),
            handoffs: conversations.iter().map(|c| c.handoffs).sum(),
            failed: conversations.iter().filter(|c| c.error.is_some()).count(),
            first_error: conversations.iter().find_map(|c| c.error.clone()),
            agents,
            statuses,
        }
    }

    /// The latency below which `fraction` of the turns ended (nearest rank), in ms.
    fn percentile_ms(&self, fraction: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = (fraction * self.latencies.len() as f64).ceil() as usize;
        ms(self.latencies[rank.clamp(1, self.latencies.len()) - 1])
    }

    fn per_conversation(&self, total: f64) -> f64 {
        total / self.conversations.max(1) as f64
    }

    fn to_json(&self, team: &str, db: &str, args: &BenchArgs) -> Value {
        let wall = self.wall.as_secs_f64();
        json!({
            "team": team,
            "db": db,
            "conversations": self.conversations,
            "turns": self.turns,
            "concurrency": args.concurrency,
            "threads": args.threads,
            "warmup": args.warmup,
            "wall_s": round(wall, 3),
            "cpu_s": round(self.cpu.as_secs_f64(), 3),
            "cpu_ms_per_conv": round(self.per_conversation(ms(self.cpu)), 3),
            "conv_per_s": round(self.conversations as f64 / wall.max(1e-9), 1),
            "turns_per_s": round(self.turns as f64 / wall.max(1e-9), 1),
            "p50_ms": round(self.percentile_ms(0.50), 2),
            "p90_ms": round(self.percentile_ms(0.90), 2),
            "p99_ms": round(self.percentile_ms(0.99), 2),
            "max_ms": round(self.percentile_ms(1.0), 2),
            "model_calls": self.model_calls,
            "tool_calls": self.tool_calls,
            "handoffs": self.handoffs,
            "failed": self.failed,
            "first_error": self.first_error,
            "agents": self.agents,
            "statuses": self.statuses,
            "maxrss_mb": round(self.max_rss_kib as f64 / 1024.0, 1),
        })
    }

    fn print(&self) {
        let wall = self.wall.as_secs_f64();
        println!("conversations      {} ({}) in {wall:.3} s", self.conversations, count(self.turns, "turn", "turns"));
        println!("conversations/s    {:.1}", self.conversations as f64 / wall.max(1e-9));
        println!(
            "latency per turn   p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms",
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.percentile_ms(1.0)
        );
        println!(
            "calls              {} ({:.2} per conversation), {}, {}",
            count(self.model_calls, "model call", "model calls"),
            self.per_conversation(self.model_calls as f64),
            count(self.tool_calls, "tool call", "tool calls"),
            count(self.handoffs, "handoff", "handoffs")
        );
        println!(
            "CPU                {:.3} s, {:.3} ms per conversation",
            self.cpu.as_secs_f64(),
            self.per_conversation(ms(self.cpu))
        );
        println!("peak RSS           {:.1} MB", self.max_rss_kib as f64 / 1024.0);
        println!("ended with         {} ({})", counts(&self.agents), counts(&self.statuses));
        if let Some(error) = &self.first_error {
            println!("failed             {}; the first: {error}", count(self.failed, "conversation", "conversations"));
        }
    }
}

/// `name n, name n` for a count per name.
fn counts<K: std::fmt::Display>(items: &BTreeMap<K, usize>) -> String {
    items.iter().map(|(name, n)| format!("{name} {n}")).collect::<Vec<_>>().join(", ")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(latencies_ms: &[u64]) -> Figures {
        let conversations: Vec<ConversationRun> = latencies_ms
            .iter()
            .map(|&latency| ConversationRun {
                latencies: vec![Duration::from_millis(latency)],
                ended: Some(("technical".into(), TurnStatus::Answered)),
                ..Default::default()
            })
            .collect();
        Figures::of(&conversations, Duration::from_secs(1), Duration::from_millis(500), 2048)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let figures = figures(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(figures.percentile_ms(0.50), 50.0);
        assert_eq!(figures.percentile_ms(0.90), 90.0);
        assert_eq!(figures.percentile_ms(0.99), 99.0);
        assert_eq!(figures.percentile_ms(1.0), 100.0);
        let one = self::figures(&[7]);
        assert_eq!((one.percentile_ms(0.5), one.percentile_ms(0.99)), (7.0, 7.0));
    }

    #[test]
    fn per_conversation_figures_divide_by_the_conversations() {
        let figures = figures(&[1, 2, 3, 4]);
        assert_eq!(figures.per_conversation(ms(figures.cpu)), 125.0);
        assert_eq!(figures.agents["technical"], 4);
        assert_eq!(figures.statuses["answered"], 4);
    }
}
