//! The fault simulator in the normal test run: a sweep of seeds (a tenth of them crashed at
//! every journal boundary, an eighth on SQLite with a second conversation at the same time),
//! every invariant checked after every step. A longer sweep: `cargo xtask simulate --seeds N`.

use baton_sim::sweep::sweep;

/// How many seeds the normal test run simulates: about 1,200 conversations, 15 to 40 s on two
/// cores in a debug build.
const SEEDS: u64 = 500;

/// The faults every sweep of this size must have injected.
const FAULTS: [&str; 18] = [
    "crash",
    "crash_in_tool",
    "store_write_error",
    "ack_lost",
    "store_read_error",
    "model_error",
    "model_timeout",
    "empty_reply",
    "reply_bad_json",
    "reply_unknown_name",
    "tool_error",
    "tool_panic",
    "tool_timeout",
    "zombie",
    "lease_loss",
    "contended",
    "lease_held",
    "invalid_action",
];

/// What its journals must show happened.
const EXERCISED: [&str; 10] = [
    "tool_outcome_unknown",
    "approval_decided",
    "ticket_handed_back",
    "routed",
    "handoff by an escalation",
    "handoff by the asks_for_human trigger",
    "handoff by the language trigger",
    "limit max_model_calls",
    "handoff refused: PingPong",
    "turn awaiting_approval",
];

#[test]
fn a_sweep_of_seeds_keeps_every_invariant() {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let summary = sweep(0, SEEDS, jobs, None, &|_, _| {});
    eprintln!("{summary}");
    if let Some(first) = summary.failures.first() {
        panic!("{first}\n\n{summary}");
    }
    let missing: Vec<&str> = FAULTS.iter().copied().filter(|kind| !summary.faults.contains_key(kind)).collect();
    assert!(missing.is_empty(), "the sweep injected no {missing:?}\n{summary}");
    let unseen: Vec<&str> = EXERCISED.iter().copied().filter(|kind| !summary.coverage.contains_key(*kind)).collect();
    assert!(unseen.is_empty(), "no journal of the sweep shows {unseen:?}\n{summary}");
    assert!(summary.boundary_seeds >= SEEDS / 10, "{summary}");
}
