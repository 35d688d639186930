//! Size limits the core keeps: a handoff's reason and summary are cut to a bound wherever they
//! are recorded, and a team with a runaway name or a message limit of 0 is refused.

use crate::support::{calls, team, text, Sim};
use baton_core::handoff::{MAX_REASON_CHARS, MAX_SUMMARY_CHARS};
use baton_core::{validate, ContextPolicy, Input, ModelRequest, Record, Severity, Site, ToolInvocation, ToolOutput};
use serde_json::json;

fn two_agents() -> baton_core::Team {
    team(
        "triage",
        &[("triage", &[], &[("technical", ContextPolicy::Full, None)]), ("technical", &[], &[]), ("human", &[], &[])],
    )
}

#[test]
fn a_long_handoff_reason_and_summary_are_cut_where_they_are_recorded() {
    let reason = "because ".repeat(20_000);
    let summary = "the user wrote a lot. ".repeat(10_000);
    let arguments = json!({"reason": reason, "summary": summary}).to_string();
    let handoff = calls(&[("h", "transfer_to_technical", &arguments)]);
    let mut sim = Sim::new(two_agents());
    let mut receiver_saw = String::new();
    let mut model = |request: &ModelRequest| {
        let reply = match request.agent.as_str() {
            "triage" => handoff.clone(),
            _ => {
                receiver_saw = request.system.clone();
                text("On it.")
            }
        };
        Input::ModelReplied { reply }
    };
    let mut tools = |_: &ToolInvocation| ToolOutput::ok("unused");
    let outcome = sim.turn("help", &mut model, &mut tools, 20);

    let cut_reason = format!("{}…", &reason.trim()[..MAX_REASON_CHARS - 1]);
    let taken = sim.records.iter().find_map(|record| match record {
        Record::HandoffTaken { payload, .. } => Some(payload.clone()),
        _ => None,
    });
    let taken = taken.expect("the handoff was taken");
    assert_eq!(taken.reason, cut_reason);
    let kept_summary = taken.summary.expect("a summary");
    assert_eq!(kept_summary.chars().count(), MAX_SUMMARY_CHARS);
    assert!(kept_summary.ends_with('…'));
    assert_eq!(outcome.handoffs.len(), 1);
    assert_eq!(outcome.handoffs[0].reason, cut_reason, "the turn's end records the cut reason too");
    assert!(receiver_saw.contains(&format!("Reason: {cut_reason}\n")), "the receiver reads the cut reason");
    assert!(!receiver_saw.contains(&reason.trim()[..MAX_REASON_CHARS + 10]));
    let journal = serde_json::to_string(&sim.journal).unwrap().len();
    let model_reply = arguments.len();
    assert!(
        journal < model_reply + 3 * (MAX_REASON_CHARS + MAX_SUMMARY_CHARS) * 2,
        "beyond the model's own reply, the journal holds the reason and summary only cut: {journal} bytes"
    );
    sim.check_replay();
}

#[test]
fn a_journal_written_before_the_cuts_still_replays() {
    let reason = "because ".repeat(500);
    let summary = "the user wrote a lot. ".repeat(400);
    let arguments = json!({"reason": reason, "summary": summary}).to_string();
    let handoff = calls(&[("h", "transfer_to_technical", &arguments)]);
    let mut sim = Sim::new(two_agents());
    let mut model = |request: &ModelRequest| {
        let reply = if request.agent == "triage" { handoff.clone() } else { text("On it.") };
        Input::ModelReplied { reply }
    };
    let mut tools = |_: &ToolInvocation| ToolOutput::ok("unused");
    sim.turn("help", &mut model, &mut tools, 20);
    // Put back what an older baton journaled: the whole reason and summary.
    let mut old = sim.journal.clone();
    for entry in &mut old {
        match entry {
            baton_core::JournalEntry::Record(Record::HandoffTaken { payload, .. }) => {
                payload.reason = reason.trim().to_string();
                payload.summary = Some(summary.trim().to_string());
            }
            baton_core::JournalEntry::Record(Record::TurnEnded(outcome)) => {
                outcome.handoffs[0].reason = reason.trim().to_string();
            }
            _ => {}
        }
    }
    assert_ne!(old, sim.journal, "the old journal differs from what is decided now");
    let replayed = baton_core::replay(std::sync::Arc::new(two_agents()), "c1", &old).expect("an old journal replays");
    assert_eq!(replayed.conversation, sim.conversation);
    // A reason changed in another way is still a changed team.
    for entry in &mut old {
        if let baton_core::JournalEntry::Record(Record::HandoffTaken { payload, .. }) = entry {
            payload.reason = "something else entirely".into();
        }
    }
    let Err(error) = baton_core::replay(std::sync::Arc::new(two_agents()), "c1", &old) else {
        panic!("a reason changed in another way replayed");
    };
    assert!(error.to_string().len() < 2_000, "a replay error quotes records by their start");
}

#[test]
fn a_team_name_longer_than_a_name_is_refused_without_echoing_it() {
    let mut team = two_agents();
    team.name = "n".repeat(20_000_000);
    let problems = validate(&team);
    let problem = problems.iter().find(|problem| problem.site == Site::Team).expect("the name is refused");
    assert_eq!(problem.severity, Severity::Error);
    assert!(problem.message.contains("20000000 characters"), "{}", problem.message);
    assert!(problem.message.len() < 200, "the name is quoted by its start: {}", problem.message.len());
    assert!(problem.help.as_deref().unwrap_or_default().contains("at most 128 characters"));
    team.name = "é".repeat(128);
    assert!(validate(&team).iter().all(|problem| problem.site != Site::Team));
}

#[test]
fn a_message_limit_of_zero_is_a_team_error() {
    let mut team = two_agents();
    team.limits.max_message_bytes = 0;
    let problems = validate(&team);
    assert!(problems.iter().any(|problem| problem.site == Site::Limit("max_message_bytes")
        && problem.severity == Severity::Error
        && problem.help.as_deref().unwrap_or_default().contains("65536")));
}

#[test]
fn a_turn_deadline_of_zero_is_a_team_error() {
    let mut team = two_agents();
    team.limits.turn_seconds = 0;
    let problems = validate(&team);
    assert!(problems.iter().any(|problem| problem.site == Site::Limit("turn_seconds")
        && problem.severity == Severity::Error
        && problem.help.as_deref().unwrap_or_default().contains("300")));
}
