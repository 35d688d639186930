//! `baton eval TEAM CASES.jsonl`: measures routing with [`baton::evaluation`]. Each case is one
//! or more user turns run in a fresh in-memory conversation; it passes when the agent in control
//! after the last turn (and the status, when the case names one) is the one expected. Prints
//! accuracy, per-agent precision and recall, a confusion matrix and the failures.

use crate::paint::print_error;
use crate::plural::count;
use crate::stdout::println;
use crate::transcript::chain;
use crate::{progress, setup, Exit};
use baton::evaluation::{evaluate, read_cases, CaseMessages, CaseResult, Evaluation, COULD_NOT_RUN};
use baton::store::StoreLocation;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The arguments of `baton eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The team file (team.toml).
    pub team: PathBuf,
    /// The cases: one {"input"|"turns", "expect_agent", "expect_status"?} object per line.
    pub cases: PathBuf,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when the accuracy, a fraction from 0 to 1 (0.9 for 90 %), is below this.
    #[arg(long, value_name = "FRACTION", value_parser = fraction)]
    pub min_accuracy: Option<f64>,
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
    measure(args).unwrap_or_else(|exit| exit)
}

fn measure(args: &EvalArgs) -> Result<Exit, Exit> {
    let config = setup::team(&args.team)?;
    let agents: Vec<&str> = config.team.agents.keys().map(String::as_str).collect();
    let cases = read_cases(&args.cases, &agents).map_err(|errors| {
        for error in &errors {
            print_error!("{error}");
        }
        Exit::Usage
    })?;
    let tokio = setup::tokio()?;
    let runtime = setup::runtime(&config, &StoreLocation::Memory, &tokio)?;
    let bar = progress::bar(cases.len(), "cases");
    let evaluation = tokio.block_on(evaluate(&runtime, cases, |progress| {
        bar.set_message(format!("cases ({} correct)", progress.correct));
        bar.inc(1);
    }));
    bar.finish_and_clear();
    if args.json {
        println!("{}", to_json(&evaluation));
    } else {
        print(&evaluation);
    }
    Ok(match args.min_accuracy {
        Some(min) if evaluation.accuracy() < min => {
            print_error!("accuracy {:.3} is below --min-accuracy {min}", evaluation.accuracy());
            Exit::Failed
        }
        _ => Exit::Ok,
    })
}

/// The handoff chain of a case's last turn; empty when it did not run.
fn case_chain(result: &CaseResult) -> String {
    result.outcome.turn().map(chain).unwrap_or_default()
}

fn to_json(evaluation: &Evaluation) -> Value {
    let per_agent: serde_json::Map<String, Value> = evaluation
        .per_agent()
        .into_iter()
        .map(|(agent, score)| {
            let value = json!({
                "precision": score.precision(),
                "recall": score.recall(),
                "support": score.support,
                "predicted": score.predicted,
            });
            (agent, value)
        })
        .collect();
    let failures: Vec<Value> = evaluation
        .failures()
        .map(|result| {
            let (case, outcome) = (&result.case, &result.outcome);
            let mut failure = json!({"line": case.line});
            match &case.messages {
                CaseMessages::Input(input) => failure["input"] = json!(input),
                CaseMessages::Turns(turns) => failure["turns"] = json!(turns),
            }
            failure["expect_agent"] = json!(case.expect_agent);
            failure["got_agent"] = json!(outcome.agent());
            failure["expect_status"] = json!(case.expect_status);
            failure["got_status"] = json!(outcome.status());
            failure["chain"] = json!(case_chain(result));
            failure["error"] = json!(outcome.error());
            failure
        })
        .collect();
    json!({
        "cases": evaluation.cases(),
        "correct": evaluation.correct(),
        "accuracy": evaluation.accuracy(),
        "per_agent": per_agent,
        "confusion": evaluation.confusion(),
        "failures": failures,
        "seconds": evaluation.seconds(),
    })
}

fn print(evaluation: &Evaluation) {
    println!(
        "accuracy {:.1}% ({}/{}) in {:.2} s\n",
        evaluation.accuracy() * 100.0,
        evaluation.correct(),
        count(evaluation.cases(), "case", "cases"),
        evaluation.seconds()
    );
    let per_agent = evaluation.per_agent();
    let width = per_agent.keys().map(String::len).max().unwrap_or(5).max(8);
    println!("{:width$}  precision  recall  support", "agent");
    for (agent, score) in &per_agent {
        let percent = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
        println!(
            "{agent:width$}  {:>9}  {:>6}  {:>7}",
            percent(score.precision()),
            percent(score.recall()),
            score.support
        );
    }
    let confusion = evaluation.confusion();
    let columns: Vec<&str> =
        per_agent.keys().map(String::as_str).chain(confusion.has_errors().then_some(COULD_NOT_RUN)).collect();
    println!("\nconfusion (rows: expected, columns: got)");
    let header: Vec<String> = columns.iter().map(|c| format!("{c:>width$}")).collect();
    println!("{:width$}  {}", "", header.join(" "));
    for (expected, row) in confusion.rows() {
        let cells: Vec<String> =
            columns.iter().map(|c| format!("{:>width$}", row.get(*c).copied().unwrap_or(0))).collect();
        println!("{expected:width$}  {}", cells.join(" "));
    }
    let mut failures = evaluation.failures().peekable();
    if failures.peek().is_some() {
        println!("\nfailures");
    }
    for result in failures {
        let (case, outcome) = (&result.case, &result.outcome);
        let said = case.turns().iter().map(|turn| format!("{turn:?}")).collect::<Vec<_>>().join(" / ");
        let got = match (outcome.agent(), outcome.status()) {
            (Some(agent), Some(status)) => format!("{agent} ({})", status.as_str()),
            _ => format!("an error: {}", outcome.error().as_deref().unwrap_or("unknown")),
        };
        let expected = match case.expect_status {
            Some(status) => format!("{} ({})", case.expect_agent, status.as_str()),
            None => case.expect_agent.clone(),
        };
        println!("  line {}: {said}\n    expected {expected}, got {got}; chain {}", case.line, case_chain(result));
    }
}
