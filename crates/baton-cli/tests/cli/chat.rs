//! `baton chat`: a session on piped input, one message per line, with handoffs shown inline; on a
//! terminal, with line editing and a history; what an operator wrote, and a turn a crash
//! interrupted, shown when the chat continues.

use crate::ergonomics::Terminal;
use crate::support::{
    baton, baton_with_input, baton_with_stdout_closed, example, pipe, run_json, temp_dir, trace_json,
};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// The user's messages in the journal of `conversation`.
fn journaled_messages(db: &Path, conversation: &str) -> Vec<String> {
    trace_json(db.to_str().unwrap(), conversation)
        .iter()
        .filter(|line| line["kind"] == "user_message")
        .map(|line| line["data"]["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn on_a_terminal_the_arrow_keys_edit_the_line_and_never_reach_the_journal() {
    let dir = temp_dir("chat-terminal");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let args =
        |conversation| ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", conversation];
    let mut terminal = Terminal::start(&args("pty-1"), &dir, &[]);
    terminal.wait_for("you> ");
    // "helo", two to the left, "l", two to the right: "hello".
    terminal.type_keys("helo\x1b[D\x1b[Dl\x1b[C\x1b[C\r");
    terminal.wait_for("I can help with");
    terminal.wait_for("you> ");
    // The up arrow brings the line back from the history.
    terminal.type_keys("\x1b[A\r");
    terminal.wait_for("I can help with");
    terminal.wait_for("you> ");
    terminal.type_keys("/quit\r");
    let (code, screen) = terminal.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(journaled_messages(&db, "pty-1"), ["hello", "hello"], "{screen}");

    let history = std::fs::read_to_string(dir.join("data-home/baton/history")).unwrap();
    assert!(history.lines().any(|line| line == "hello"), "the history is kept in the data directory: {history}");
    assert!(!history.contains('\u{1b}'), "{history:?}");
    // A new session recalls the last one's lines: up twice is "hello" (once is "/quit").
    let mut terminal = Terminal::start(&args("pty-2"), &dir, &[]);
    terminal.wait_for("you> ");
    terminal.type_keys("\x1b[A\x1b[A\r");
    terminal.wait_for("I can help with");
    terminal.wait_for("you> ");
    terminal.type_keys("\x04");
    let (code, screen) = terminal.finish();
    assert_eq!(code, Some(0), "Ctrl-D ends the session: {screen}");
    assert_eq!(journaled_messages(&db, "pty-2"), ["hello"], "{screen}");
}

#[test]
fn piped_input_leaves_the_history_alone() {
    let dir = temp_dir("chat-piped-history");
    let team = example("support", "team.toml");
    let db = dir.join("baton.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", "piped-1"])
        .env("XDG_DATA_HOME", dir.join("data-home"))
        .env("HOME", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\x1b[D\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(!dir.join("data-home").exists(), "no history is written for piped input");
    assert_eq!(journaled_messages(&db, "piped-1"), ["hello\u{1b}[D"], "piped bytes are the message, as sent");
}

#[test]
fn the_operator_s_replies_are_shown_on_the_user_s_next_turn() {
    let dir = temp_dir("chat-operator");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let (code, _) = run_json(&team, &db, "I want to talk to a person", &["--conversation", "q-1"], &[]);
    assert_eq!(code, 0);
    for action in [vec!["claim", "q-1", "--operator", "anna"], vec!["reply", "q-1", "Hi, I'm Anna: I removed the fee."]]
    {
        let output = baton(&[&["queue"], action.as_slice(), &["--db", db.to_str().unwrap()]].concat(), &[]);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let args = ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", "q-1"];
    let output = baton_with_input(&args, "are you there?\nhello?\n");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "human (anna): Hi, I'm Anna: I removed the fee.", "{stdout}");
    assert_eq!(lines[1], "you: are you there?", "{stdout}");
    assert_eq!(stdout.matches("I removed the fee").count(), 1, "shown once: {stdout}");
}

#[test]
fn the_closing_line_repeats_the_journal_or_says_a_conversation_in_memory_is_gone() {
    let (code, _, err) = chat("hello\n", &[]);
    assert_eq!(code, 0);
    assert!(err.contains("continue: baton chat") && err.contains(" --db "), "the --db to continue with: {err}");
    let team = example("support", "team.toml");
    let output = baton_with_input(&["chat", team.to_str().unwrap(), "--db", "memory"], "hello\n");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("continue:") && err.contains("in memory: it is gone"), "{err}");
}

#[test]
fn a_turn_a_crash_interrupted_is_finished_and_shown_when_the_chat_continues() {
    let dir = temp_dir("chat-crash");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let crashed = baton(
        &[
            "run",
            team.to_str().unwrap(),
            "My internet is down, customer 42",
            "--conversation",
            "c-1",
            "--db",
            db.to_str().unwrap(),
        ],
        &[("BATON_CRASH_AT", "4")],
    );
    assert_ne!(crashed.status.code(), Some(0), "the crash is injected (debug builds)");
    let args = ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", "c-1"];
    let output = baton_with_input(&args, "/quit\n");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("turn 1 was interrupted by a crash; finished now:"), "{stdout}");
    assert!(stdout.contains("technical: I checked the line of customer 42: it is up"), "{stdout}");
}

#[test]
fn typing_on_a_terminal_with_stdout_piped_gives_clean_json_lines_and_a_prompt_on_the_terminal() {
    let dir = temp_dir("chat-terminal-piped");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let args = ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", "tty-1", "--json"];
    let (reader, writer) = pipe();
    let mut terminal = Terminal::start_with_stdout(&args, &dir, &[], Some(Stdio::from(writer)));
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    terminal.wait_for("baton chat · team");
    terminal.type_keys("hello\r");
    let mut stdout = Vec::new();
    while !stdout.iter().any(|line: &String| line.contains("\"conversation\"")) {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => stdout.push(line),
            Err(error) => panic!("no turn on stdout ({error}): {stdout:?}"),
        }
    }
    terminal.type_keys("\x04");
    let (code, screen) = terminal.finish();
    stdout.extend(lines.iter());
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(stdout.len(), 1, "one turn, one line, nothing else: {stdout:?}");
    let turn: serde_json::Value = serde_json::from_str(&stdout[0]).unwrap();
    assert_eq!(turn["conversation"], "tty-1", "{turn}");
    assert!(screen.contains("you> "), "the prompt is on the terminal: {screen:?}");
}

#[test]
fn typing_on_a_terminal_with_stdout_redirected_keeps_the_user_s_lines_in_the_transcript() {
    let dir = temp_dir("chat-terminal-redirected");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let args = ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap()];
    let transcript = dir.join("transcript.txt");
    let file = std::fs::File::create(&transcript).unwrap();
    let mut terminal = Terminal::start_with_stdout(&args, &dir, &[], Some(Stdio::from(file)));
    terminal.wait_for("baton chat · team");
    terminal.type_keys("hello\r\x04");
    let (code, screen) = terminal.finish();
    assert_eq!(code, Some(0), "{screen}");
    let written = std::fs::read_to_string(&transcript).unwrap();
    assert!(written.starts_with("you: hello\n"), "{written:?}");
    assert!(!written.contains('\u{1b}') && !written.contains("you> "), "{written:?}");
}

#[test]
fn the_session_ends_once_nobody_reads_its_output() {
    let dir = temp_dir("chat-closed-stdout");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    for (conversation, json) in [("closed-text", None), ("closed-json", Some("--json"))] {
        let mut args =
            vec!["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", conversation];
        args.extend(json);
        let output = baton_with_stdout_closed(&dir, &args, b"hello\nwhen are you open?\nmy internet is down\n");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert_eq!(journaled_messages(&db, conversation), ["hello"], "no turn after the output was closed: {stderr}");
    }
}

#[test]
fn json_shows_a_turn_a_crash_interrupted_under_interrupted_turn() {
    let dir = temp_dir("chat-crash-json");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let message = "My internet is down, customer 42";
    let run = ["run", team.to_str().unwrap(), message, "--conversation", "cj-1", "--db", db.to_str().unwrap()];
    assert_ne!(baton(&run, &[("BATON_CRASH_AT", "4")]).status.code(), Some(0), "the crash is injected");
    let args = ["chat", team.to_str().unwrap(), "--db", db.to_str().unwrap(), "--conversation", "cj-1", "--json"];
    let output = baton_with_input(&args, "hello\n");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let interrupted = &lines[0]["interrupted_turn"];
    assert_eq!(
        (interrupted["turn"].as_u64(), interrupted["agent"].as_str()),
        (Some(1), Some("technical")),
        "{lines:?}"
    );
    assert!(lines[0].get("turn").is_none(), "the finished turn is not taken for a new one: {}", lines[0]);
    assert_eq!(lines[1]["turn"], 2, "{}", lines[1]);
}
