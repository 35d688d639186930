//! `baton chat TEAM`: an interactive session. Each turn shows its changes of control inline
//! (`→ billing: invoice dispute`) and the reply; `/trace`, `/new` and `/quit` are commands.
//! On a terminal (stdin and stdout both), lines are read with `rustyline`: they can be edited (the
//! arrow keys move the cursor, they never reach the message) and earlier ones recalled, from a
//! history kept in the user's data directory (`~/.local/share/baton/history` on Linux). Otherwise
//! it reads one message per line and echoes each into the transcript, so a session can be
//! scripted, and its output piped (`baton chat TEAM --json | jq`) stays free of prompts; the
//! session ends once whoever read its output has gone.

use crate::lease_wait::{self, Wait, Waited};
use crate::live::Live;
use crate::paint::{self, paint, print_error, print_warning};
use crate::run::{exit_for, finish_interrupted_turn, print_interrupted_turn, print_unseen, MEMORY_IS_GONE};
use crate::stdout::{self, println};
use crate::trace::print_journal;
use crate::transcript::{turn_lines, Transcript};
use crate::{db, setup, shell, Exit};
use anstream::{eprint, eprintln};
use baton::store::StoreError;
use baton::{Observer, Runtime, Unobserved};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The arguments of `baton chat`.
#[derive(clap::Args)]
pub struct ChatArgs {
    /// The team file (team.toml).
    pub team: PathBuf,
    /// Continue this conversation instead of starting a new one.
    #[arg(long)]
    pub conversation: Option<String>,
    #[command(flatten)]
    pub db: db::Db,
    /// Print each turn as one JSON line (the object `baton run --json` prints); a turn a crash
    /// interrupted, finished first, is a line of its own: {"interrupted_turn": {…}}.
    #[arg(long)]
    pub json: bool,
    /// Stream the answers of every HTTP model (whatever the team file says) and print each
    /// turn as it happens.
    #[arg(long)]
    pub stream: bool,
    /// Wait up to this long for the conversation while another process holds it, at the start
    /// and for each message.
    #[arg(long, value_name = "SECONDS", default_value_t = lease_wait::DEFAULT_WAIT_SECONDS)]
    pub wait: u64,
}

const COMMANDS: &str = "/trace shows the conversation's journal, /new starts a new conversation, /quit ends";

/// How many lines the history keeps.
const HISTORY_LINES: usize = 1000;

/// Runs the session until `/quit` or the end of input.
pub fn run(args: &ChatArgs) -> Exit {
    session(args).unwrap_or_else(|exit| exit)
}

fn session(args: &ChatArgs) -> Result<Exit, Exit> {
    let mut config = setup::team(&args.team)?;
    if args.stream {
        config.stream_all();
    }
    let tokio = setup::tokio()?;
    let runtime = setup::runtime(&config, args.db.location(), &tokio)?;
    // Line editing draws on stdout, so it needs stdout on the terminal too; someone typing with
    // stdout redirected is prompted on stderr instead.
    let typing = std::io::stdin().is_terminal();
    let interactive = typing && std::io::stdout().is_terminal();
    let prompted = typing && std::io::stderr().is_terminal();
    let mut input = if interactive { Input::terminal() } else { Input::lines(prompted) };
    if interactive || prompted {
        eprintln!("baton chat · team {} · {COMMANDS}", paint::agent(&runtime.team().name));
    }
    let mut session = Session {
        runtime: &runtime,
        tokio: &tokio,
        conversation: args.conversation.clone(),
        json: args.json,
        live: args.stream && !args.json,
        interactive,
        wait: args.wait,
    };
    let exit = match session.finish_interrupted_turn() {
        Some(exit) => exit,
        None => session.read_loop(&mut input),
    };
    if let Some(conversation) = &session.conversation {
        let next = match args.db.is_memory() {
            true => MEMORY_IS_GONE.to_string(),
            false => {
                let team = args.team.display().to_string();
                format!("continue: baton chat {} --conversation {conversation}{}", shell::quote(&team), args.db.flag())
            }
        };
        eprintln!("{}", paint(paint::NOTE, format!("conversation {conversation} · {next}")));
    }
    Ok(exit)
}

/// Where the user's lines come from.
enum Input {
    /// A terminal: lines are edited with `rustyline`, and kept in the history file (if there is
    /// a data directory to keep it in).
    Terminal { editor: Box<Editor<(), DefaultHistory>>, history: Option<PathBuf> },
    /// A pipe or a file (one message per line, as they come), or a terminal without line
    /// editing, which `prompt`s.
    Lines { stdin: std::io::StdinLock<'static>, prompt: bool },
}

/// What reading the next line gave.
enum Line {
    /// A line (possibly blank).
    Read(String),
    /// The end: end of input, Ctrl-D or Ctrl-C.
    End,
}

impl Input {
    /// Line editing on the terminal, with the history loaded; plain lines if the editor cannot
    /// start.
    fn terminal() -> Input {
        let config = Config::builder().max_history_size(HISTORY_LINES).map(|builder| builder.auto_add_history(false));
        let editor = config.and_then(|builder| Editor::with_config(builder.build()));
        let mut editor = match editor {
            Ok(editor) => editor,
            Err(error) => {
                print_warning!("no line editing: {error}");
                return Input::lines(true);
            }
        };
        let history = history_file();
        if let Some(path) = &history {
            match editor.load_history(path) {
                Err(ReadlineError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => print_warning!("cannot read the history {}: {error}", path.display()),
                Ok(()) => {}
            }
        }
        Input::Terminal { editor: Box::new(editor), history }
    }

    /// Plain lines from stdin, with a prompt on stderr before each if `prompt`.
    fn lines(prompt: bool) -> Input {
        Input::Lines { stdin: std::io::stdin().lock(), prompt }
    }

    /// The next line, or the end.
    fn next(&mut self) -> Result<Line, String> {
        match self {
            Input::Terminal { editor, history } => match editor.readline("you> ") {
                Ok(line) => {
                    if !line.trim().is_empty() && editor.add_history_entry(line.as_str()).unwrap_or(false) {
                        if let Some(path) = history {
                            if let Err(error) = editor.append_history(path) {
                                print_warning!("cannot keep the history in {}: {error}", path.display());
                            }
                        }
                    }
                    Ok(Line::Read(line))
                }
                Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(Line::End),
                Err(error) => Err(error.to_string()),
            },
            Input::Lines { stdin, prompt } => {
                if *prompt {
                    eprint!("you> ");
                    let _ = std::io::stderr().flush();
                }
                let mut bytes = Vec::new();
                match stdin.read_until(b'\n', &mut bytes) {
                    Ok(0) => Ok(Line::End),
                    // A line that is not UTF-8 is read with replacement characters rather than
                    // ending the session.
                    Ok(_) => Ok(Line::Read(String::from_utf8_lossy(&bytes).into_owned())),
                    Err(error) => Err(error.to_string()),
                }
            }
        }
    }
}

/// The history file, `DATA_DIR/baton/history`, its directory made; `None` (with a warning) when
/// there is no data directory or it cannot be made.
fn history_file() -> Option<PathBuf> {
    let Some(data) = dirs::data_dir() else {
        print_warning!("no history: no data directory for it (set HOME or XDG_DATA_HOME)");
        return None;
    };
    let directory = data.join("baton");
    match std::fs::create_dir_all(&directory) {
        Ok(()) => Some(directory.join("history")),
        Err(error) => {
            print_warning!("no history: cannot create {}: {error}", directory.display());
            None
        }
    }
}

/// The state of a chat session.
struct Session<'a> {
    runtime: &'a Runtime,
    tokio: &'a tokio::runtime::Runtime,
    conversation: Option<String>,
    json: bool,
    /// Print each turn as it happens.
    live: bool,
    /// Whether the user types on the terminal that shows the transcript, which already shows
    /// their words.
    interactive: bool,
    /// How long to wait for the conversation while another process holds it, in seconds.
    wait: u64,
}

impl Session<'_> {
    /// Finishes and prints the turn of the conversation to continue that a crash interrupted
    /// (with `--json`, as `{"interrupted_turn": {…}}`, the key `baton run --json` puts it under);
    /// returns an exit code when the session cannot go on.
    fn finish_interrupted_turn(&mut self) -> Option<Exit> {
        let conversation = self.conversation.clone()?;
        let finished = Wait::new(self.wait).run(&conversation, || finish_interrupted_turn(self.runtime, &conversation));
        match self.tokio.block_on(finished) {
            Ok(Some(report)) if self.json => println!("{}", json!({ "interrupted_turn": report.to_json() })),
            Ok(Some(report)) => self.tokio.block_on(print_interrupted_turn(self.runtime, &report)),
            Ok(None) => {}
            Err(waited) => return Some(exit_for(&waited)),
        }
        None
    }

    /// Reads lines until `/quit`, the end of input, or stdout's reader is gone.
    fn read_loop(&mut self, input: &mut Input) -> Exit {
        loop {
            if stdout::reader_gone() {
                return Exit::Ok;
            }
            let line = match input.next() {
                Ok(Line::Read(line)) => line,
                Ok(Line::End) => return Exit::Ok,
                Err(error) => {
                    print_error!("cannot read the input: {error}");
                    return Exit::Failed;
                }
            };
            match line.trim() {
                "" => continue,
                "/quit" | "/exit" => return Exit::Ok,
                "/new" => {
                    self.conversation = None;
                    eprintln!("(a new conversation starts with your next message)");
                }
                "/trace" => self.trace(),
                command if command.starts_with('/') => eprintln!("unknown command {command}: {COMMANDS}"),
                message => {
                    if let Some(exit) = self.turn(message) {
                        return exit;
                    }
                }
            }
        }
    }

    /// Sends one message and prints the turn; returns an exit code when the session cannot go on.
    fn turn(&mut self, message: &str) -> Option<Exit> {
        let observer: Arc<dyn Observer> = match self.live {
            true => {
                if let Some(conversation) = &self.conversation {
                    let transcript = Transcript::new(true).echo_user(!self.interactive);
                    self.tokio.block_on(print_unseen(self.runtime, conversation, transcript));
                }
                Arc::new(Live::new(!self.interactive))
            }
            false => Arc::new(Unobserved),
        };
        let send = || self.runtime.send_observed(self.conversation.as_deref(), message, observer.clone());
        let result = match &self.conversation {
            Some(conversation) => self.tokio.block_on(Wait::new(self.wait).run(conversation, send)),
            None => self.tokio.block_on(send()).map_err(Waited::Failed),
        };
        self.show(result)
    }

    /// Prints a turn; returns an exit code when the session cannot go on.
    fn show(&mut self, result: Result<baton::TurnReport, Waited>) -> Option<Exit> {
        let report = match result {
            Ok(report) => report,
            Err(Waited::Failed(error)) if setup::is_usage_error(&error) => {
                print_error!("{error}");
                return Some(Exit::Usage);
            }
            Err(Waited::Failed(error)) => {
                print_error!("{error} (the message was not answered; try again)");
                return None;
            }
            Err(Waited::Busy(busy)) => {
                print_error!("{busy} (the message was not answered)");
                return None;
            }
        };
        self.conversation = Some(report.conversation.clone());
        if self.json {
            println!("{}", report.to_json());
            return None;
        }
        if self.live {
            return None;
        }
        let journal = match self.tokio.block_on(self.runtime.store().journal(&report.conversation)) {
            Ok(journal) => journal,
            Err(error) => {
                print_error!("cannot read the turn back: {error}");
                return None;
            }
        };
        // On a terminal the user's words are already on screen.
        let transcript = Transcript::new(false).echo_user(!self.interactive);
        for line in turn_lines(&journal, report.outcome.turn, transcript) {
            println!("{line}");
        }
        None
    }

    /// Prints the conversation's journal as a timeline.
    fn trace(&self) {
        let Some(conversation) = &self.conversation else {
            eprintln!("no conversation yet: send a message first");
            return;
        };
        let store = self.runtime.store();
        let found = self.tokio.block_on(async {
            let info = store.conversation(conversation).await?;
            Ok::<_, StoreError>((info, store.journal(conversation).await.unwrap_or_default()))
        });
        match found {
            Ok((Some(info), journal)) => {
                let printed = stdout::note(print_journal(&info, &journal, false, &mut anstream::stdout().lock()));
                if let Err(error) = printed {
                    print_error!("cannot print the trace: {error}");
                }
            }
            Ok((None, _)) => eprintln!("conversation {conversation} has no journal yet"),
            Err(error) => print_error!("{error}"),
        }
    }
}
