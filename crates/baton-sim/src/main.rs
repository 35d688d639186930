//! `baton-sim`: runs the fault simulator over a range of seeds (or one seed, with its trace)
//! and prints the throughput, the faults injected and every failure. `cargo xtask simulate`
//! runs it.

use baton_sim::sweep::sweep;
use baton_sim::{simulate, Planted};
use std::process::ExitCode;

const HELP: &str = "\
baton-sim: baton's seeded fault simulator

Usage: baton-sim [--seeds N] [--from SEED] [--jobs J] [--plant BUG]
       baton-sim --seed SEED [--plant BUG]

  --seeds N     how many seeds to run (default 1000)
  --from SEED   the first seed (default 0)
  --jobs J      threads (default: the number of CPUs)
  --seed SEED   run one seed and print its trace
  --plant BUG   plant a bug on purpose, to see the simulator catch it: forgetful-store (a store
                that acknowledges an append it does not write), unfenced-store (one that lets a
                writer whose lease was taken over write), idempotence-ignored (a runtime that runs
                a non-idempotent tool again after a crash). Succeeds if some seed catches it.
";

/// How many failures are printed in full.
const SHOWN: usize = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut seeds, mut from, mut jobs, mut one, mut planted) = (1000u64, 0u64, None, None, None);
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let text = words.next().ok_or_else(|| format!("{name} needs a number"))?;
            text.parse().map_err(|_| format!("{name} takes a whole number, not '{text}'"))
        };
        let parsed = match word.as_str() {
            "--plant" => {
                planted = words.next().and_then(|name| Planted::named(name));
                match planted {
                    Some(_) => Ok(()),
                    None => Err(format!("--plant takes one of {}", Planted::NAMES.join(", "))),
                }
            }
            "--seeds" => value("--seeds").map(|n| seeds = n),
            "--from" => value("--from").map(|n| from = n),
            "--jobs" => value("--jobs").map(|n| jobs = Some(n.max(1) as usize)),
            "--seed" => value("--seed").map(|n| one = Some(n)),
            "--help" | "-h" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument '{other}'")),
        };
        if let Err(why) = parsed {
            eprint!("baton-sim: {why}\n\n{HELP}");
            return ExitCode::from(2);
        }
    }
    if let Some(seed) = one {
        return match simulate(seed, planted) {
            Ok(outcome) => {
                for line in &outcome.trace {
                    println!("{line}");
                }
                println!(
                    "\nseed {seed} kept every invariant: {} conversation(s), {} actions, faults {:?}",
                    outcome.conversations, outcome.actions, outcome.faults
                );
                ExitCode::SUCCESS
            }
            Err(failure) => {
                println!("{failure}");
                ExitCode::FAILURE
            }
        };
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!("simulating seeds {from}..{} on {jobs} thread(s)", from.saturating_add(seeds));
    let step = (seeds / 10).max(1);
    let summary = sweep(from, seeds, jobs, planted, &|_, so_far| {
        if so_far.seeds % step == 0 {
            eprintln!(
                "  {} / {seeds} seeds, {:.1} conversations/s, {} failed",
                so_far.seeds,
                so_far.conversations as f64 / so_far.elapsed.as_secs_f64().max(1e-9),
                so_far.failures.len()
            );
        }
    });
    for failure in summary.failures.iter().take(SHOWN) {
        println!("{failure}\n");
    }
    println!("{summary}");
    match (planted, summary.failures.len()) {
        (None, 0) => ExitCode::SUCCESS,
        (None, _) => ExitCode::FAILURE,
        (Some(bug), 0) => {
            println!("no seed caught the planted bug {}", bug.name());
            ExitCode::FAILURE
        }
        (Some(bug), caught) => {
            println!("{caught} of {} seeds caught the planted bug {}", summary.seeds, bug.name());
            ExitCode::SUCCESS
        }
    }
}
