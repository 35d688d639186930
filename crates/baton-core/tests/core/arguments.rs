//! Tool arguments are checked against the tool's declared JSON schema before a call runs: a call
//! that does not fit is answered with an error the model can correct, counted as malformed and
//! journaled, and a journal replays as it was written.

use crate::support::{calls, team, text, Sim};
use baton_core::conversation::check_schema;
use baton_core::{
    replay, ChatMessage, Entry, Input, JournalEntry, ModelReply, ModelRequest, Record, Team, ToolInvocation,
    ToolOutput, TurnStatus,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// The refund schema: an amount in euros (a number) and an invoice (a string), both required.
fn refund_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"amount_eur": {"type": "number"}, "invoice": {"type": "string"}},
        "required": ["amount_eur", "invoice"]
    })
}

/// `billing` may call `t1`, whose arguments have `schema`.
fn billing_team(schema: Value) -> Team {
    let mut team = team("billing", &[("billing", &["t1"], &[]), ("human", &[], &[])]);
    team.tools.get_mut("t1").unwrap().parameters = schema;
    team
}

/// A model that answers with `replies` in order, then "Done." forever.
fn replies(replies: Vec<ModelReply>) -> impl FnMut(&ModelRequest) -> Input {
    let mut replies = replies.into_iter();
    move |_| Input::ModelReplied { reply: replies.next().unwrap_or_else(|| text("Done.")) }
}

fn ok(invocation: &ToolInvocation) -> ToolOutput {
    ToolOutput::ok(format!("{} ran with {}", invocation.tool, invocation.arguments))
}

fn result_of(sim: &Sim, call_id: &str) -> ToolOutput {
    sim.conversation
        .transcript()
        .iter()
        .find_map(|entry| match entry {
            Entry::ToolResult { call_id: id, output, .. } if id == call_id => Some(output.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no result for {call_id}"))
}

#[test]
fn a_wrong_typed_argument_is_answered_to_the_model_and_its_corrected_call_runs() {
    let mut sim = Sim::new(billing_team(refund_schema()));
    let mut model = replies(vec![
        calls(&[("a", "t1", r#"{"amount_eur": "lots", "invoice": "INV-7"}"#)]),
        calls(&[("b", "t1", r#"{"amount_eur": 40, "invoice": "INV-7"}"#)]),
        text("Refunded 40 EUR."),
    ]);
    let outcome = sim.turn("refund invoice 7", &mut model, &mut ok, 20);
    assert_eq!(outcome.status, TurnStatus::Answered, "{outcome:?}");
    assert_eq!(outcome.reply.as_deref(), Some("Refunded 40 EUR."));
    assert_eq!(outcome.malformed_calls, Some(1), "the call that did not fit counts as malformed");
    assert_eq!((outcome.tool_calls, outcome.model_calls), (1, 3));

    let run: Vec<&Value> = sim.invocations.iter().map(|i| &i.arguments).collect();
    assert_eq!(run, [&json!({"amount_eur": 40, "invoice": "INV-7"})], "only the corrected call ran");

    let error = result_of(&sim, "a");
    assert!(error.is_error, "{error:?}");
    assert_eq!(
        error.content,
        "error: the arguments of 't1' do not fit its schema: amount_eur: \"lots\" is not of type \"number\". \
         Call 't1' again with arguments that fit."
    );
    let rejected = sim.records.iter().any(
        |r| matches!(r, Record::ToolCallRejected { call_id, error: e, .. } if call_id == "a" && *e == error.content),
    );
    assert!(rejected, "the rejection is journaled: {:?}", sim.records);
    assert!(!sim.records.iter().any(|r| matches!(r, Record::ToolCallStarted { call_id, .. } if call_id == "a")));

    // The model's next request carries the error as the call's result, which it corrects.
    let told = sim.requests[1].messages.iter().any(
        |m| matches!(m, ChatMessage::Tool { call_id, output } if call_id == "a" && output.content == error.content),
    );
    assert!(told, "{:#?}", sim.requests[1].messages);
    assert_eq!(result_of(&sim, "b"), ok(&sim.invocations[0]));
    sim.check_replay();
}

#[test]
fn every_violation_is_named_with_where_it_is() {
    let schema = json!({
        "type": "object",
        "properties": {
            "invoice": {"type": "string", "pattern": "^INV-[0-9]+$"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"quantity": {"minimum": 1}}}}
        },
        "required": ["invoice", "amount_eur"],
        "additionalProperties": false
    });
    let mut sim = Sim::new(billing_team(schema));
    let arguments = r#"{"invoice": "7", "items": [{"quantity": 0}], "note": "x"}"#;
    let mut model = replies(vec![calls(&[("a", "t1", arguments), ("b", "t1", "")])]);
    let outcome = sim.turn("refund", &mut model, &mut ok, 20);
    assert_eq!(outcome.malformed_calls, Some(2));
    assert!(sim.invocations.is_empty());
    let error = result_of(&sim, "a").content;
    for part in [
        "\"amount_eur\" is a required property",
        "Additional properties are not allowed ('note' was unexpected)",
        "invoice: \"7\" does not match \"^INV-[0-9]+$\"",
        "items.0.quantity: 0 is less than the minimum of 1",
    ] {
        assert!(error.contains(part), "{part} is not in {error}");
    }
    // Empty arguments are an empty object, which lacks both required arguments.
    let error = result_of(&sim, "b").content;
    assert!(error.contains("\"amount_eur\" is a required property; \"invoice\" is a required property"), "{error}");
    sim.check_replay();
}

#[test]
fn a_long_value_is_not_quoted_whole() {
    let mut sim = Sim::new(billing_team(refund_schema()));
    let long = "x".repeat(10_000);
    let arguments = json!({"amount_eur": long, "invoice": "INV-7"}).to_string();
    let mut model = replies(vec![calls(&[("a", "t1", &arguments)])]);
    sim.turn("refund", &mut model, &mut ok, 20);
    let error = result_of(&sim, "a").content;
    assert!(error.starts_with("error: the arguments of 't1' do not fit its schema: amount_eur: \"xxx"), "{error}");
    assert!(error.len() < 400, "{} bytes", error.len());
}

#[test]
fn a_journal_written_before_arguments_were_checked_replays_and_later_calls_are_checked() {
    // Written when any object was let through: the call that does not fit ran.
    let mut before = Sim::new(billing_team(json!({"type": "object"})));
    let mut model = replies(vec![calls(&[("a", "t1", r#"{"amount_eur": "lots", "invoice": "INV-7"}"#)])]);
    let outcome = before.turn("refund", &mut model, &mut ok, 20);
    assert_eq!((outcome.tool_calls, outcome.malformed_calls), (1, Some(0)));

    let team = Arc::new(billing_team(refund_schema()));
    let replayed = replay(team.clone(), "c1", &before.journal).expect("an old journal replays as it was written");
    assert!(replayed.unfinished.is_empty(), "{:?}", replayed.unfinished);
    assert_eq!(replayed.conversation.transcript(), before.conversation.transcript());

    // The next turn's call is checked.
    let mut sim = Sim { conversation: replayed.conversation, ..Sim::new(billing_team(refund_schema())) };
    (sim.journal, sim.records) = (before.journal.clone(), before.records.clone());
    let mut model = replies(vec![calls(&[("b", "t1", r#"{"amount_eur": "lots", "invoice": "INV-7"}"#)])]);
    let outcome = sim.turn("again", &mut model, &mut ok, 20);
    assert_eq!((outcome.tool_calls, outcome.malformed_calls), (0, Some(1)));
    assert!(result_of(&sim, "b").content.contains("do not fit its schema"));
    sim.check_replay();
}

#[test]
fn replay_takes_a_journaled_rejection_as_it_was_written() {
    let mut sim = Sim::new(billing_team(refund_schema()));
    let mut model = replies(vec![calls(&[("a", "t1", r#"{"amount_eur": "lots"}"#)])]);
    sim.turn("refund", &mut model, &mut ok, 20);
    // As another version of the validator might have worded it.
    let mut journal = sim.journal.clone();
    let worded = "error: amount_eur must be a number";
    for entry in &mut journal {
        if let JournalEntry::Record(Record::ToolCallRejected { error, .. }) = entry {
            *error = worded.into();
        }
    }
    let replayed = replay(Arc::new(billing_team(refund_schema())), "c1", &journal).expect("replays as written");
    let answered =
        replayed.conversation.transcript().iter().any(
            |e| matches!(e, Entry::ToolResult { call_id, output, .. } if call_id == "a" && output.content == worded),
        );
    assert!(answered, "{:?}", replayed.conversation.transcript());
    // The turn's end still has to match: the rejection counts as a malformed call.
    let Some(JournalEntry::Record(Record::TurnEnded(ended))) = journal.last_mut() else { panic!("no turn end") };
    ended.malformed_calls = Some(0);
    assert!(replay(Arc::new(billing_team(refund_schema())), "c1", &journal).is_err());
}

#[test]
fn a_schema_that_does_not_compile_is_refused_and_no_call_of_its_tool_runs() {
    let error = check_schema(&json!({"type": "object", "properties": {"n": {"type": "numbr"}}})).unwrap_err();
    assert!(error.error.contains("\"numbr\"") && error.at == "/properties/n/type", "{error:?}");
    assert!(error.to_string().ends_with(", at /properties/n/type"), "{error}");
    let error =
        check_schema(&json!({"properties": {"n": {"$ref": "https://example.com/n.json"}}})).unwrap_err().to_string();
    assert!(error.contains("https://example.com/n.json"), "nothing is fetched: {error}");
    assert!(check_schema(&json!({"properties": {"n": {"pattern": "("}}})).is_err());
    assert!(check_schema(&refund_schema()).is_ok());
    assert!(check_schema(&json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})).is_ok());

    let mut sim = Sim::new(billing_team(json!({"type": "numbr"})));
    let mut model = replies(vec![calls(&[("a", "t1", "{}")])]);
    let outcome = sim.turn("refund", &mut model, &mut ok, 20);
    assert!(sim.invocations.is_empty());
    assert_eq!(outcome.malformed_calls, Some(0), "not the model's fault");
    let error = result_of(&sim, "a");
    assert!(error.is_error && error.content.starts_with("error: 't1' cannot be called"), "{error:?}");
    sim.check_replay();
}

#[test]
fn a_team_whose_tool_schema_does_not_compile_is_a_team_error() {
    let problems =
        baton_core::validate(&billing_team(json!({"type": "object", "properties": {"n": {"type": "numbr"}}})));
    let problem = problems
        .iter()
        .find(|problem| problem.site == baton_core::Site::Tool("t1".into()))
        .expect("the tool's schema is refused at load");
    assert_eq!(problem.severity, baton_core::Severity::Error);
    assert!(problem.message.contains("does not compile") && problem.message.contains("numbr"), "{}", problem.message);
    assert!(baton_core::validate(&billing_team(refund_schema()))
        .iter()
        .all(|problem| problem.site != baton_core::Site::Tool("t1".into())));
}
