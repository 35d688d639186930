//! The CLI's rough edges, each fixed and held by a test: the help, completions and manual, what
//! `--db` accepts, colours only where they can be seen, progress bars only on a terminal, counts
//! in the singular for one, a model error printed once, the `--db memory` footer, dated trace
//! times, `RESUMED` only after a real interruption, and `--min-accuracy` as a fraction. Also the
//! pseudo-terminal the terminal-only behaviour is tested under.

use crate::mock::{Answer, MockServer};
use crate::support::{
    baton, baton_in, baton_with_stdout_closed, example, run_json, support_team, temp_dir, text, trace_json,
    DEFAULT_LIMITS,
};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a terminal test waits for text it expects before failing with what it saw (it only
/// bounds a hang: the text normally comes in well under a second).
const PATIENCE: Duration = Duration::from_secs(60);

/// `baton` run with its stdin, stdout and stderr on a pseudo-terminal, as in a terminal window.
pub struct Terminal {
    child: Child,
    /// What the keys are typed into; `None` once the process has ended.
    keyboard: Option<std::fs::File>,
    screen: Receiver<Vec<u8>>,
    /// Everything the terminal has shown so far.
    seen: Vec<u8>,
    /// Where in `seen` the last [`Terminal::wait_for`] found its text.
    found: usize,
}

impl Terminal {
    /// Starts `baton args` in `dir` on a fresh 80×24 terminal, with `TERM=xterm-256color`, its data
    /// directory (chat history) under `dir`, no colour settings inherited, and `env` set.
    pub fn start(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Terminal {
        Terminal::start_with_stdout(args, dir, env, None)
    }

    /// The same, with stdout sent to `stdout` instead of the terminal when given (a pipe, as in
    /// `baton chat TEAM --json | jq`).
    pub fn start_with_stdout(args: &[&str], dir: &Path, env: &[(&str, &str)], stdout: Option<Stdio>) -> Terminal {
        let size = nix::pty::Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = nix::pty::openpty(Some(&size), None).unwrap();
        // Copies that are closed on exec, so that processes started by other tests meanwhile do not
        // keep the terminal open.
        let (master, slave) = (pty.master.try_clone().unwrap(), pty.slave.try_clone().unwrap());
        drop(pty);
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        command
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(stdout.unwrap_or_else(|| Stdio::from(slave.try_clone().unwrap())))
            .stderr(Stdio::from(slave))
            .env("TERM", "xterm-256color")
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data-home"))
            .env_remove("BATON_TEST_KEY");
        for variable in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "BATON_DB"] {
            command.env_remove(variable);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start the baton binary");
        drop(command);
        let keyboard = std::fs::File::from(master.try_clone().unwrap());
        let (sender, screen) = std::sync::mpsc::channel();
        let mut reader = std::fs::File::from(master);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // Reading fails (EIO) once every process holding the terminal has ended.
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                if sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal { child, keyboard: Some(keyboard), screen, seen: Vec::new(), found: 0 }
    }

    /// Types `keys` (raw bytes: `\r` is Enter, `\x1b[D` the left arrow).
    pub fn type_keys(&mut self, keys: &str) {
        let keyboard = self.keyboard.as_mut().expect("the terminal is still open");
        keyboard.write_all(keys.as_bytes()).unwrap();
        keyboard.flush().unwrap();
    }

    /// Waits until the screen shows `text` after what the last wait found, and moves past it: so
    /// that `wait_for("you> ")` after a reply waits for the prompt that follows that reply.
    /// (Keys typed before rustyline's prompt would reach a terminal still in line mode.)
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(at) = self.seen[self.found..].windows(text.len()).position(|shown| shown == text.as_bytes()) {
                self.found += at + text.len();
                return;
            }
            match self.screen.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("{text:?} was not shown; the screen:\n{}", self.screen_text())
                }
            }
        }
    }

    /// Waits for the process to end; returns its exit code and everything it showed. A process
    /// still running after [`PATIENCE`] is killed and the test fails with its screen.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            // Killed by `Drop` as the test fails.
            assert!(Instant::now() < deadline, "baton did not end; the screen:\n{}", self.screen_text());
            match self.screen.recv_timeout(Duration::from_millis(50)) {
                Ok(bytes) => self.seen.extend(bytes),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        self.keyboard = None;
        // The reader ends once nothing holds the terminal any more.
        while let Ok(bytes) = self.screen.recv_timeout(PATIENCE) {
            self.seen.extend(bytes);
        }
        (status.code(), self.screen_text())
    }

    fn screen_text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}

impl Drop for Terminal {
    /// A process still running when its test ends (a failed wait) is killed, so that it does not
    /// outlive the test holding its terminal.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The names of the commands `baton --help` lists, each checked to come with a description.
fn commands_in_help() -> Vec<String> {
    let help = baton(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    let listed = help.split("Commands:\n").nth(1).unwrap_or_else(|| panic!("no command list:\n{help}"));
    listed
        .lines()
        .take_while(|line| line.starts_with("  "))
        .map(|line| {
            let (name, description) = line.trim().split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(description.trim().len() > 10, "a command without its one line: {line}");
            name.to_string()
        })
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn the_help_says_what_baton_is_and_lists_every_command_on_one_line() {
    let help = text(&baton(&["--help"], &[]).stdout);
    assert!(help.starts_with("Run teams of AI agents that hand a conversation to one another"), "{help}");
    assert!(!help.contains("The baton command-line tool"), "{help}");
    let commands = commands_in_help();
    for command in ["check", "run", "chat", "eval", "resume", "approve", "queue", "serve", "bench", "new", "trace"] {
        assert!(commands.iter().any(|listed| listed == command), "{command} is not listed: {commands:?}");
    }
    assert!(commands.len() >= 14, "{commands:?}");
}

#[test]
fn a_completion_script_is_generated_for_each_shell() {
    let marks = [
        ("bash", "complete -F _baton"),
        ("zsh", "#compdef baton"),
        ("fish", "complete -c baton"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[baton]"),
    ];
    for (shell, mark) in marks {
        let output = baton(&["completions", shell], &[]);
        assert_eq!(output.status.code(), Some(0), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        assert!(script.contains(mark), "{shell}: no {mark:?} in:\n{script}");
        for word in ["chat", "completions", "min-accuracy", "conversation"] {
            assert!(script.contains(word), "the {shell} script does not complete {word}");
        }
    }
    let unknown = baton(&["completions", "tcsh"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn the_manual_names_every_command_and_has_a_page_for_each() {
    let output = baton(&["man"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let page = text(&output.stdout);
    assert!(page.starts_with(".ie") && page.contains(".TH baton 1"), "roff for baton(1):\n{page}");
    assert!(!page.contains("baton\\-help(1)"), "there is no page for help: {page}");
    let dir = temp_dir("man");
    let out = dir.join("man1");
    let written = baton(&["man", "--out", out.to_str().unwrap()], &[]);
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    for command in commands_in_help() {
        assert!(page.contains(&format!("baton\\-{command}(1)")), "baton(1) does not name {command}");
        let own = std::fs::read_to_string(out.join(format!("baton-{command}.1"))).unwrap();
        assert!(own.contains(&format!(".TH baton-{command} 1 ")), "{command}'s page:\n{own}");
        assert!(own.contains(env!("CARGO_PKG_VERSION")), "{command}'s page has the version:\n{own}");
    }
    let run_page = std::fs::read_to_string(out.join("baton-run.1")).unwrap();
    assert!(run_page.contains("\\-\\-conversation"), "a command's page has its options: {run_page}");
    assert!(out.join("baton.1").exists() && out.join("baton-queue-claim.1").exists());
}

#[test]
fn a_db_typo_is_refused_with_what_to_write_and_creates_nothing() {
    let team = example("support", "team.toml");
    let dir = temp_dir("db-typo");
    std::fs::remove_dir_all(dir.join("data")).unwrap();
    let cases = [
        (vec!["run", team.to_str().unwrap(), "hello", "--db", "postgress://x"], "did you mean postgres://x?"),
        (vec!["run", team.to_str().unwrap(), "hello", "--db", "mysql://root@db/baton"], "not MySQL"),
        (vec!["run", team.to_str().unwrap(), "hello", "--db", "http://127.0.0.1:8080"], "not a web address"),
        (vec!["chat", team.to_str().unwrap(), "--db", "sqlite:baton.db"], "write sqlite://baton.db"),
        (vec!["bench", team.to_str().unwrap(), "--input", "hi", "--db", "postgress://x"], "did you mean"),
        (vec!["serve", team.to_str().unwrap(), "--db", "Postgres://h/db"], "lower case: postgres://h/db"),
        (vec!["queue", "list", "--db", "postgress://x"], "did you mean"),
        (vec!["trace", "c-1", "--db", "pg://x"], "'pg:' is not a journal"),
    ];
    for (args, hint) in cases {
        let output = baton_in(&dir, &args, &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: no {hint:?} in {stderr}");
        assert!(stderr.contains("postgres://USER@HOST:PORT/DATABASE"), "the forms are listed: {stderr}");
    }
    let from_env = baton_in(&dir, &["trace", "c-1"], &[("BATON_DB", "postgress://x")]);
    assert_eq!(from_env.status.code(), Some(2), "BATON_DB is checked too: {}", text(&from_env.stderr));
    let created: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(created.is_empty(), "a typo created {created:?}");
}

#[test]
fn sqlite_urls_name_a_relative_or_an_absolute_file() {
    let team = example("support", "team.toml");
    let dir = temp_dir("db-sqlite-url");
    let relative = baton_in(&dir, &["run", team.to_str().unwrap(), "hello", "--db", "sqlite://relative.db"], &[]);
    assert_eq!(relative.status.code(), Some(0), "{}", text(&relative.stderr));
    assert!(dir.join("relative.db").is_file(), "sqlite://relative.db is relative to the working directory");
    let absolute = dir.join("elsewhere").join("absolute.db");
    let url = format!("sqlite://{}", absolute.display());
    assert!(url.starts_with("sqlite:///"));
    let output = baton_in(&dir, &["run", team.to_str().unwrap(), "hello", "--db", &url], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(absolute.is_file(), "sqlite:///PATH is the absolute /PATH");
    assert!(!dir.join("sqlite:").exists());
}

#[test]
fn a_conversation_in_memory_is_not_offered_to_be_continued() {
    let team = example("support", "team.toml");
    let output = baton(&["run", team.to_str().unwrap(), "hello", "--db", "memory"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("--conversation") && !stderr.contains("continue:"), "{stderr}");
    assert!(stderr.contains("in memory: it is gone with this command"), "{stderr}");
    let on_file = temp_dir("memory-footer").join("baton.db");
    let output = baton(&["run", team.to_str().unwrap(), "hello", "--db", on_file.to_str().unwrap()], &[]);
    assert!(text(&output.stderr).contains("continue: baton run"), "a file's conversation can be continued");
}

#[test]
fn a_suggested_command_repeats_the_journal_only_when_baton_db_does_not_already_say_it() {
    let team = example("support", "team.toml");
    let db = temp_dir("suggested-db").join("baton.db");
    let db = db.to_str().unwrap();
    let continued = |args: &[&str], env: &[(&str, &str)]| {
        let output = baton(&[&["run", team.to_str().unwrap(), "hello"], args].concat(), env);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        stderr.lines().find(|line| line.starts_with("continue: ")).unwrap_or_else(|| panic!("{stderr}")).to_string()
    };
    assert!(continued(&["--db", db], &[]).ends_with(&format!(" --db {db}")));
    assert!(!continued(&[], &[("BATON_DB", db)]).contains("--db"), "BATON_DB still says where the journal is");
    let other = format!("{db}.other");
    let line = continued(&["--db", &other], &[("BATON_DB", db)]);
    assert!(line.ends_with(&format!(" --db {other}")), "--db over BATON_DB is repeated: {line}");
}

#[test]
fn a_model_error_is_printed_once() {
    let server =
        MockServer::start(vec![Answer::Raw(400, r#"{"error": {"message": "no such model: gpt-test"}}"#.into())]);
    let dir = temp_dir("model-error-once");
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let db = dir.join("baton.db");
    let output =
        baton(&["run", team.to_str().unwrap(), "hello", "--db", db.to_str().unwrap()], &[("BATON_TEST_KEY", "k")]);
    assert_eq!(output.status.code(), Some(1));
    let everything = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(everything.matches("no such model: gpt-test").count(), 1, "{everything}");
    assert!(everything.contains("error: model call of agent 'triage' failed"), "{everything}");
}

#[test]
fn one_is_counted_in_the_singular() {
    let dir = temp_dir("plurals");
    std::fs::write(dir.join("replies.toml"), "[[reply]]\nagent = \"solo\"\ntext = \"Hi.\"\n").unwrap();
    let team = dir.join("team.toml");
    std::fs::write(
        &team,
        "name = \"one\"\nentry = \"solo\"\n[limits]\non_limit = \"fail\"\n[models.m]\nprovider = \"script\"\nscript = \"replies.toml\"\n[agents.solo]\nmodel = \"m\"\n",
    )
    .unwrap();
    let checked = baton(&["check", team.to_str().unwrap()], &[]);
    let summary = text(&checked.stdout);
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
    assert!(summary.contains("is valid: 1 agent, 0 handoff edges"), "{summary}");
    let db = dir.join("baton.db");
    let ran =
        baton(&["run", team.to_str().unwrap(), "hello", "--db", db.to_str().unwrap(), "--conversation", "c-1"], &[]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));
    assert!(text(&ran.stderr).contains("1 model call, 0 tool calls"), "{}", text(&ran.stderr));
    let trace = text(&baton(&["trace", "c-1", "--db", db.to_str().unwrap()], &[]).stdout);
    assert!(trace.contains("· 1 model call · 0 tool calls"), "{trace}");
    let cases = dir.join("cases.jsonl");
    std::fs::write(&cases, "{\"input\": \"hello\", \"expect_agent\": \"solo\"}\n").unwrap();
    let evaluated = text(&baton(&["eval", team.to_str().unwrap(), cases.to_str().unwrap()], &[]).stdout);
    assert!(evaluated.contains("(1/1 case)"), "{evaluated}");
    for plural in ["1 agents", "1 model calls", "1 tool calls", "1 cases", "call(s)"] {
        assert!(!format!("{summary}{trace}{evaluated}").contains(plural), "{plural}");
    }
}

#[test]
fn check_says_a_team_with_no_human_agent_fails_a_turn_on_a_tripped_limit() {
    let dir = temp_dir("check-on-limit");
    std::fs::write(dir.join("replies.toml"), "").unwrap();
    let minimal = "name = \"minimal\"\nentry = \"solo\"\n[models.m]\nprovider = \"script\"\nscript = \"replies.toml\"\n[agents.solo]\nmodel = \"m\"\n";
    let team = dir.join("team.toml");
    std::fs::write(&team, minimal).unwrap();
    let output = baton(&["check", team.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("note: limits.on_limit = \"fail\" (not written): the team has no human agent"), "{stdout}");
    let json = baton(&["check", team.to_str().unwrap(), "--json"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["defaulted"][0]["setting"], "limits.on_limit", "{json}");
    let written = minimal.replace("[models.m]", "[limits]\non_limit = \"fail\"\n[models.m]");
    std::fs::write(&team, written).unwrap();
    let stdout = text(&baton(&["check", team.to_str().unwrap()], &[]).stdout);
    assert!(stdout.contains("is valid") && !stdout.contains("note:"), "what the file writes is not a note: {stdout}");
    let support = text(&baton(&["check", example("support", "team.toml").to_str().unwrap()], &[]).stdout);
    assert!(!support.contains("on_limit"), "a team with a human agent escalates: {support}");
}

#[test]
fn trace_times_carry_the_date_and_the_time_zone() {
    let dir = temp_dir("trace-times");
    let db = dir.join("baton.db");
    let team = example("support", "team.toml");
    let ran =
        baton(&["run", team.to_str().unwrap(), "hello", "--db", db.to_str().unwrap(), "--conversation", "t-1"], &[]);
    assert_eq!(ran.status.code(), Some(0));
    let trace = text(&baton(&["trace", "t-1", "--db", db.to_str().unwrap()], &[]).stdout);
    assert!(trace.lines().next().unwrap().ends_with("times in UTC"), "{trace}");
    for line in trace.lines().skip(1) {
        let stamp = line.split("  ").next().unwrap();
        let shape: String = stamp.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
        assert_eq!(shape, "9999-99-99T99:99:99.999Z", "RFC 3339 in UTC: {line}");
    }
}

#[test]
fn resumed_is_printed_after_a_crash_and_not_after_an_operator_acts() {
    let dir = temp_dir("trace-resumed");
    let db = dir.join("baton.db");
    let db = db.to_str().unwrap();
    let team = example("support", "team.toml");
    let team = team.to_str().unwrap();
    let escalated = baton(&["run", team, "I want to talk to a person", "--conversation", "q-1", "--db", db], &[]);
    assert_eq!(escalated.status.code(), Some(0));
    for action in [
        vec!["queue", "claim", "q-1", "--operator", "anna", "--db", db],
        vec!["queue", "reply", "q-1", "Hello, Anna here.", "--db", db],
        vec!["queue", "handback", "q-1", "billing", "--db", db],
    ] {
        let output = baton(&action, &[]);
        assert_eq!(output.status.code(), Some(0), "{action:?}: {}", text(&output.stderr));
    }
    let next = baton(&["run", team, "and my invoice INV-2041?", "--conversation", "q-1", "--db", db], &[]);
    assert_eq!(next.status.code(), Some(0));
    let trace = text(&baton(&["trace", "q-1", "--db", db], &[]).stdout);
    assert!(trace.contains("operator anna: Hello, Anna here."), "{trace}");
    assert!(!trace.contains("RESUMED"), "no turn was interrupted:\n{trace}");

    let crashed = baton(
        &["run", team, "My internet is down, customer 42", "--conversation", "c-1", "--db", db],
        &[("BATON_CRASH_AT", "4")],
    );
    assert_ne!(crashed.status.code(), Some(0), "the crash is injected (debug builds)");
    let resumed = baton(&["resume", "--db", db], &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    let trace = text(&baton(&["trace", "c-1", "--db", db], &[]).stdout);
    assert_eq!(trace.matches("RESUMED: the turn was taken up again").count(), 1, "{trace}");
}

#[test]
fn min_accuracy_is_a_fraction() {
    let team = example("support", "team.toml");
    let cases = example("support", "eval.jsonl");
    let [team, cases] = [team.to_str().unwrap(), cases.to_str().unwrap()];
    for (given, hint) in
        [("99", "did you mean 0.99?"), ("90%", "did you mean 0.9?"), ("150", "not 150"), ("high", "not a number")]
    {
        let output = baton(&["eval", team, cases, "--min-accuracy", given], &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{given}: {stderr}");
        assert!(stderr.contains(hint), "{given}: no {hint:?} in {stderr}");
        assert!(output.stdout.is_empty(), "nothing was evaluated");
    }
    let output = baton(&["eval", team, cases, "--min-accuracy", "0.99", "--json"], &[]);
    assert!(matches!(output.status.code(), Some(0 | 1)), "0.99 is accepted: {}", text(&output.stderr));
}

#[test]
fn piped_or_json_output_has_no_colours_and_a_terminal_has_them_unless_no_color() {
    const ESCAPE: char = '\u{1b}';
    let team = example("support", "team.toml");
    let team = team.to_str().unwrap();
    let piped = baton(&["run", team, "I want to talk to a person", "--db", "memory"], &[]);
    let everything = format!("{}{}", text(&piped.stdout), text(&piped.stderr));
    assert!(!everything.contains(ESCAPE), "piped output is plain: {everything:?}");
    // CLICOLOR_FORCE colours even piped text; JSON stays plain, with no escape either raw or
    // written inside its strings (`\u001b`), which is how a styled field would show.
    let forced = [("CLICOLOR_FORCE", "1")];
    let args = ["run", team, "I want to talk to a person", "--db", "memory"];
    let coloured = text(&baton(&args, &forced).stdout);
    assert!(coloured.contains(ESCAPE), "CLICOLOR_FORCE colours piped text: {coloured:?}");
    let json = text(&baton(&[args.as_slice(), &["--json"]].concat(), &forced).stdout);
    assert!(json.contains("\"status\"") && !json.contains(ESCAPE) && !json.contains("\\u001b"), "--json: {json}");

    let dir = temp_dir("colours");
    let shown = Terminal::start(&["run", team, "I want to talk to a person", "--db", "memory"], &dir, &[]).finish();
    assert_eq!(shown.0, Some(0), "{}", shown.1);
    assert!(shown.1.contains("\u{1b}[1m\u{1b}[36mhuman"), "agent names are coloured on a terminal: {:?}", shown.1);
    assert!(shown.1.contains("\u{1b}[1m\u{1b}[33m[human has the conversation"), "{:?}", shown.1);
    let plain =
        Terminal::start(&["run", team, "I want to talk to a person", "--db", "memory"], &dir, &[("NO_COLOR", "1")]);
    let (code, screen) = plain.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("[human has the conversation") && !screen.contains(ESCAPE), "NO_COLOR: {screen:?}");
    let json = Terminal::start(&["run", team, "hello", "--db", "memory", "--json"], &dir, &[]).finish();
    let object = json.1.lines().find(|line| line.starts_with('{')).unwrap_or_default();
    assert!(object.contains("\"status\"") && !object.contains(ESCAPE), "--json on a terminal: {:?}", json.1);
}

#[test]
fn progress_has_an_eta_on_a_terminal_and_is_not_drawn_elsewhere() {
    let team = example("support", "team.toml");
    let cases = example("support", "eval.jsonl");
    let args = ["eval", team.to_str().unwrap(), cases.to_str().unwrap()];
    let piped = baton(&args, &[]);
    assert_eq!(piped.status.code(), Some(0));
    let stderr = text(&piped.stderr);
    assert!(!stderr.contains("ETA") && !stderr.contains("cases ("), "no progress off a terminal: {stderr}");
    let dir = temp_dir("progress");
    let (code, screen) = Terminal::start(&args, &dir, &[]).finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains(" · ETA "), "the bar shows an ETA: {screen:?}");
    assert!(screen.contains(" cases ("), "the bar counts the cases: {screen:?}");

    let bench = ["bench", args[1], "--input", "My internet is down", "-n", "20", "-c", "2", "--warmup", "0"];
    let (code, screen) = Terminal::start(&bench, &dir, &[]).finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("/20 conversations · ") && screen.contains(" · ETA "), "bench's bar: {screen:?}");

    let db = dir.join("baton.db");
    for conversation in ["c-1", "c-2"] {
        let message = "My internet is down, customer 42";
        let args = ["run", args[1], message, "--conversation", conversation, "--db", db.to_str().unwrap()];
        assert_ne!(baton(&args, &[("BATON_CRASH_AT", "4")]).status.code(), Some(0), "the crash is injected");
    }
    let (code, screen) = Terminal::start(&["resume", "--db", db.to_str().unwrap()], &dir, &[]).finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("/2 conversations · ") && screen.contains(" · ETA "), "resume's bar: {screen:?}");
    assert!(screen.contains("resumed 2 conversations of 2"), "{screen:?}");
}

/// A team whose one tool asks for approval before every call, and whose scripted model calls it.
const APPROVAL_TEAM: &str = r#"name = "refunds"
entry = "billing"

[limits]
on_limit = "fail"

[models.desk]
provider = "script"
script = "replies.toml"

[agents.billing]
model = "desk"
tools = ["issue_refund"]

[tools.issue_refund]
kind = "command"
description = "Refund an invoice."
command = ["sh", "-c", "echo '{}'"]
approval = "required"
"#;

#[test]
fn a_closed_stdout_does_not_crash_approve_after_the_decision_is_journaled() {
    let dir = temp_dir("approve-closed-stdout");
    let replies = "[[reply]]\nagent = \"billing\"\ncalls = [{ tool = \"issue_refund\", args = {} }]\n\n[[reply]]\nagent = \"billing\"\ntext = \"Not refunded.\"\n";
    std::fs::write(dir.join("replies.toml"), replies).unwrap();
    let team = dir.join("team.toml");
    std::fs::write(&team, APPROVAL_TEAM).unwrap();
    let db = dir.join("baton.db");
    let (code, turn) = run_json(&team, &db, "refund me", &["--conversation", "ap-1"], &[]);
    assert_eq!((code, turn["status"].as_str()), (0, Some("awaiting_approval")), "{turn}");
    let call_id = turn["pending"]["call_id"].as_str().unwrap();
    let args = ["approve", "ap-1", call_id, "--deny", "--reason", "no", "--db", db.to_str().unwrap(), "--json"];
    let output = baton_with_stdout_closed(&dir, &args, b"");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let trace = trace_json(db.to_str().unwrap(), "ap-1");
    assert!(trace.iter().any(|line| line["kind"] == "approval_decided"), "{trace:?}");
}
