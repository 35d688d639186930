//! `baton eval TEAM CASES.jsonl`: measures routing. Each case is one or more user turns run in a
//! fresh in-memory conversation; it passes when the agent in control after the last turn (and
//! the status, when the case names one) is the one expected. Prints accuracy, per-agent
//! precision and recall, a confusion matrix and the failures.

use crate::paint::print_error;
use crate::plural::count;
use crate::stdout::println;
use crate::transcript::chain;
use crate::{progress, setup, Exit};
use baton::core::names::closest;
use baton::core::TurnStatus;
use baton::store::StoreLocation;
use baton::Runtime;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The arguments of `baton eval`.
pub struct EvalArgs {
    /// The team file.
    pub team: PathBuf,
    /// The cases, one JSON object per line.
    pub cases: PathBuf,
    /// Print one JSON object.
    pub json: bool,
    /// Exit 1 when the accuracy is below this.
    pub min_accuracy: Option<f64>,
}

/// One line of the cases file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    input: Option<String>,
    turns: Option<Vec<String>>,
    expect_agent: String,
    expect_status: Option<TurnStatus>,
}

/// One case to run.
struct Case {
    line: usize,
    turns: Vec<String>,
    single: bool,
    expect_agent: String,
    expect_status: Option<TurnStatus>,
}

/// What running a case gave.
struct Outcome {
    agent: Option<String>,
    status: Option<TurnStatus>,
    chain: String,
    error: Option<String>,
}

/// A `--min-accuracy`: a fraction from 0 to 1. A percentage (`99`, `90%`) is refused with the
/// fraction it stands for.
pub fn fraction(text: &str) -> Result<f64, String> {
    let (number, percent) = match text.trim().strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (text.trim(), false),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a number: pass a fraction from 0 to 1, e.g. 0.9 for 90 %"))?;
    if !percent && (0.0..=1.0).contains(&value) {
        return Ok(value);
    }
    if (0.0..=100.0).contains(&value) {
        return Err(format!("the accuracy is a fraction from 0 to 1: did you mean {}?", value / 100.0));
    }
    Err(format!("the accuracy is a fraction from 0 to 1, not {text}: e.g. 0.9 for 90 %"))
}

/// Runs every case and prints the figures.
pub fn run(args: &EvalArgs) -> Exit {
    evaluate(args).unwrap_or_else(|exit| exit)
}

fn evaluate(args: &EvalArgs) -> Result<Exit, Exit> {
    let config = setup::team(&args.team)?;
    let agents: Vec<&str> = config.team.agents.keys().map(String::as_str).collect();
    let cases = read_cases(&args.cases, &agents).map_err(|errors| {
        for error in errors {
            print_error!("{error}");
        }
        Exit::Usage
    })?;
    let tokio = setup::tokio()?;
    let runtime = setup::runtime(&config, &StoreLocation::Memory, &tokio)?;
    let started = Instant::now();
    let bar = progress::bar(cases.len(), "cases");
    let mut outcomes = Vec::with_capacity(cases.len());
    let mut correct = 0;
    for case in &cases {
        let outcome = tokio.block_on(run_case(&runtime, case));
        correct += usize::from(passes(case, &outcome));
        outcomes.push(outcome);
        bar.set_message(format!("cases ({correct} correct)"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let report = Report::new(&cases, &outcomes, started.elapsed().as_secs_f64());
    if args.json {
        println!("{}", report.json(&cases, &outcomes));
    } else {
        report.print(&cases, &outcomes);
    }
    Ok(match args.min_accuracy {
        Some(min) if report.accuracy < min => {
            print_error!("accuracy {:.3} is below --min-accuracy {min}", report.accuracy);
            Exit::Failed
        }
        _ => Exit::Ok,
    })
}

/// Reads the cases file; the errors name the file and line.
fn read_cases(path: &Path, agents: &[&str]) -> Result<Vec<Case>, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read the cases file {}: {e}", path.display())])?;
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), index + 1);
        if line.trim().is_empty() {
            continue;
        }
        let raw: RawCase = match serde_json::from_str(line) {
            Ok(raw) => raw,
            Err(e) => {
                errors.push(format!(
                    "{at}: {e}\n  = help: each line is {{\"input\": \"...\", \"expect_agent\": \"...\"}} or {{\"turns\": [\"...\", \"...\"], \"expect_agent\": \"...\"}}, optionally with \"expect_status\""
                ));
                continue;
            }
        };
        let (turns, single) = match (raw.input, raw.turns) {
            (Some(input), None) => (vec![input], true),
            (None, Some(turns)) if !turns.is_empty() => (turns, false),
            _ => {
                errors.push(format!("{at}: a case has either \"input\" or a non-empty \"turns\" list"));
                continue;
            }
        };
        if !agents.contains(&raw.expect_agent.as_str()) {
            let help = match closest(&raw.expect_agent, agents.iter().copied()) {
                Some(name) => format!("did you mean '{name}'?"),
                None => format!("the agents are {}", baton::core::names::list(agents)),
            };
            errors.push(format!(
                "{at}: expect_agent '{}' is not an agent of the team\n  = help: {help}",
                raw.expect_agent
            ));
            continue;
        }
        cases.push(Case {
            line: index + 1,
            turns,
            single,
            expect_agent: raw.expect_agent,
            expect_status: raw.expect_status,
        });
    }
    if cases.is_empty() && errors.is_empty() {
        errors.push(format!("{} holds no cases", path.display()));
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// Runs one case in a fresh conversation.
async fn run_case(runtime: &Runtime, case: &Case) -> Outcome {
    let mut conversation: Option<String> = None;
    let mut last = None;
    for message in &case.turns {
        match runtime.send(conversation.as_deref(), message).await {
            Ok(report) => {
                conversation = Some(report.conversation.clone());
                last = Some(report.outcome);
            }
            Err(error) => {
                return Outcome { agent: None, status: None, chain: String::new(), error: Some(error.to_string()) }
            }
        }
    }
    match last {
        Some(outcome) => Outcome {
            chain: chain(&outcome),
            agent: Some(outcome.agent),
            status: Some(outcome.status),
            error: outcome.error,
        },
        None => Outcome { agent: None, status: None, chain: String::new(), error: Some("no turn ran".into()) },
    }
}

fn passes(case: &Case, outcome: &Outcome) -> bool {
    outcome.agent.as_deref() == Some(case.expect_agent.as_str())
        && case.expect_status.is_none_or(|status| outcome.status == Some(status))
}

/// The figures of a run.
struct Report {
    cases: usize,
    correct: usize,
    accuracy: f64,
    seconds: f64,
    /// expected → got → count; "(error)" when the case could not run.
    confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Precision and recall of one agent.
struct AgentFigures {
    support: usize,
    predicted: usize,
    correct: usize,
}

impl Report {
    fn new(cases: &[Case], outcomes: &[Outcome], seconds: f64) -> Self {
        let correct = cases.iter().zip(outcomes).filter(|(case, outcome)| passes(case, outcome)).count();
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (case, outcome) in cases.iter().zip(outcomes) {
            let got = outcome.agent.clone().unwrap_or_else(|| "(error)".into());
            *confusion.entry(case.expect_agent.clone()).or_default().entry(got).or_default() += 1;
        }
        let accuracy = if cases.is_empty() { 0.0 } else { correct as f64 / cases.len() as f64 };
        Report { cases: cases.len(), correct, accuracy, seconds, confusion }
    }

    /// Per agent (expected or predicted), by the agent in control alone: a case with the right
    /// agent but not the expected status counts as right here, and as a failure in the accuracy.
    fn per_agent(&self) -> BTreeMap<String, AgentFigures> {
        let mut figures: BTreeMap<String, AgentFigures> = BTreeMap::new();
        for (expected, row) in &self.confusion {
            for (got, count) in row {
                let blank = || AgentFigures { support: 0, predicted: 0, correct: 0 };
                figures.entry(expected.clone()).or_insert_with(blank).support += count;
                if got != "(error)" {
                    figures.entry(got.clone()).or_insert_with(blank).predicted += count;
                }
                if expected == got {
                    figures.entry(got.clone()).or_insert_with(blank).correct += count;
                }
            }
        }
        figures
    }

    fn json(&self, cases: &[Case], outcomes: &[Outcome]) -> Value {
        let per_agent: serde_json::Map<String, Value> = self
            .per_agent()
            .into_iter()
            .map(|(agent, f)| {
                let value = json!({
                    "precision": ratio(f.correct, f.predicted),
                    "recall": ratio(f.correct, f.support),
                    "support": f.support,
                    "predicted": f.predicted,
                });
                (agent, value)
            })
            .collect();
        let failures: Vec<Value> = cases
            .iter()
            .zip(outcomes)
            .filter(|(case, outcome)| !passes(case, outcome))
            .map(|(case, outcome)| {
                let mut failure = json!({"line": case.line});
                if case.single {
                    failure["input"] = json!(case.turns[0]);
                } else {
                    failure["turns"] = json!(case.turns);
                }
                failure["expect_agent"] = json!(case.expect_agent);
                failure["got_agent"] = json!(outcome.agent);
                failure["expect_status"] = json!(case.expect_status);
                failure["got_status"] = json!(outcome.status);
                failure["chain"] = json!(outcome.chain);
                failure["error"] = json!(outcome.error);
                failure
            })
            .collect();
        json!({
            "cases": self.cases,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "per_agent": per_agent,
            "confusion": self.confusion,
            "failures": failures,
            "seconds": self.seconds,
        })
    }

    fn print(&self, cases: &[Case], outcomes: &[Outcome]) {
        println!(
            "accuracy {:.1}% ({}/{}) in {:.2} s\n",
            self.accuracy * 100.0,
            self.correct,
            count(self.cases, "case", "cases"),
            self.seconds
        );
        let per_agent = self.per_agent();
        let width = per_agent.keys().map(String::len).max().unwrap_or(5).max(8);
        println!("{:width$}  precision  recall  support", "agent");
        for (agent, f) in &per_agent {
            let percent = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
            println!(
                "{agent:width$}  {:>9}  {:>6}  {:>7}",
                percent(ratio(f.correct, f.predicted)),
                percent(ratio(f.correct, f.support)),
                f.support
            );
        }
        let errored = self.confusion.values().any(|row| row.contains_key("(error)"));
        let error_column = "(error)".to_string();
        let columns: Vec<&String> = per_agent.keys().chain(errored.then_some(&error_column)).collect();
        println!("\nconfusion (rows: expected, columns: got)");
        let header: Vec<String> = columns.iter().map(|c| format!("{c:>width$}")).collect();
        println!("{:width$}  {}", "", header.join(" "));
        for (expected, row) in &self.confusion {
            let cells: Vec<String> =
                columns.iter().map(|c| format!("{:>width$}", row.get(*c).copied().unwrap_or(0))).collect();
            println!("{expected:width$}  {}", cells.join(" "));
        }
        let failures: Vec<_> = cases.iter().zip(outcomes).filter(|(case, outcome)| !passes(case, outcome)).collect();
        if !failures.is_empty() {
            println!("\nfailures");
        }
        for (case, outcome) in failures {
            let said = case.turns.iter().map(|turn| format!("{turn:?}")).collect::<Vec<_>>().join(" / ");
            let got = match (&outcome.agent, outcome.status) {
                (Some(agent), Some(status)) => format!("{agent} ({})", status.as_str()),
                _ => format!("an error: {}", outcome.error.as_deref().unwrap_or("unknown")),
            };
            let expected = match case.expect_status {
                Some(status) => format!("{} ({})", case.expect_agent, status.as_str()),
                None => case.expect_agent.clone(),
            };
            println!("  line {}: {said}\n    expected {expected}, got {got}; chain {}", case.line, outcome.chain);
        }
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
