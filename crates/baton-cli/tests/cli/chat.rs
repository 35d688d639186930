//! `baton chat`: a session on piped input, one message per line, with handoffs shown inline.

use crate::support::{baton_with_input, example, temp_dir, trace_json};

fn chat(input: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = temp_dir("chat");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let mut args = vec!["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = baton_with_input(&args, input);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn piped_messages_are_answered_in_turn_with_handoffs_inline() {
    let input = "My internet is down, customer 7\n\nand I was charged twice on invoice INV-2042, 39.90 EUR\n/quit\nnever read\n";
    let (code, out, err) = chat(input, &[]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "you: My internet is down, customer 7", "{out}");
    assert!(lines[1].starts_with("→ technical: "), "{out}");
    assert!(out.contains("technical: ") && out.contains("NET-1187"), "the line status is in the reply: {out}");
    assert!(out.contains("→ billing: "), "{out}");
    assert!(out.contains("39.9"), "the refund is in the reply: {out}");
    assert!(!out.contains("never read"), "/quit ends the session: {out}");
    assert!(err.contains("continue: baton chat"), "{err}");
}

#[test]
fn slash_commands_show_the_trace_and_start_a_new_conversation() {
    let (code, out, err) = chat("hello\n/trace\n/new\nhola, no tengo internet\n/bogus\n", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("── turn 1 ── triage has control"), "/trace prints the timeline: {out}");
    assert!(err.contains("a new conversation starts"), "{err}");
    assert!(out.contains("→ spanish: trigger: language"), "the language trigger shows inline: {out}");
    assert!(err.contains("unknown command /bogus"), "{err}");
    assert_eq!(err.matches("continue: baton chat").count(), 1, "one conversation is reported at the end: {err}");
}

#[test]
fn a_line_that_is_not_utf8_does_not_end_the_session() {
    let dir = temp_dir("chat-bytes");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let input: &[u8] = b"hello \xff\xfe there\nwhen are you open?\n";
    let output = baton_with_input(&["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap()], input);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("you: hello \u{fffd}\u{fffd} there"), "{stdout}");
    assert!(stdout.contains("Opening hours:"), "the next line is answered: {stdout}");
}

#[test]
fn json_prints_one_object_per_turn_and_a_person_can_be_asked_for() {
    let dir = temp_dir("chat-json");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let args = ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--json"];
    let output = baton_with_input(&args, "hi\nI want to talk to a real person\n");
    assert_eq!(output.status.code(), Some(0));
    let turns: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0]["conversation"], turns[1]["conversation"]);
    assert_eq!((turns[1]["status"].as_str(), turns[1]["agent"].as_str()), (Some("escalated"), Some("human")));
    assert_eq!(turns[1]["model_calls"], 0, "a trigger costs no model call");
    let reason = turns[1]["handoffs"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("trigger: asks_for_human"), "{reason}");
    let trace = trace_json(db.to_str().unwrap(), turns[0]["conversation"].as_str().unwrap());
    let handoff = trace.iter().find(|line| line["kind"] == "handoff_taken").unwrap();
    assert_eq!(handoff["data"]["trigger"], "asks_for_human");
}
