//! `baton chat TEAM`: an interactive session. Each turn shows its changes of control inline
//! (`→ billing: invoice dispute`) and the reply; `/trace`, `/new` and `/quit` are commands.
//! On piped input it reads one message per line and echoes each, so a session can be scripted.

use crate::live::Live;
use crate::trace::print_journal;
use crate::transcript::{lines, turn_entries};
use crate::{setup, Exit};
use baton::store::StoreError;
use baton::{Observer, Runtime, RuntimeError, Unobserved};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The arguments of `baton chat`.
pub struct ChatArgs {
    /// The team file.
    pub team: PathBuf,
    /// The conversation to continue.
    pub conversation: Option<String>,
    /// The journal.
    pub db: setup::Db,
    /// Print each turn as one JSON line (the `baton run --json` object).
    pub json: bool,
    /// Stream every HTTP model's answers and print each turn as it happens.
    pub stream: bool,
}

const COMMANDS: &str = "/trace shows the conversation's journal, /new starts a new conversation, /quit ends";

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
    let runtime = setup::runtime(&config, &args.db.location(), &tokio)?;
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("baton chat · team {} · {COMMANDS}", runtime.team().name);
    }
    let mut session = Session {
        runtime: &runtime,
        tokio: &tokio,
        conversation: args.conversation.clone(),
        json: args.json,
        live: args.stream && !args.json,
    };
    let exit = session.read_loop(interactive);
    if let Some(conversation) = &session.conversation {
        eprintln!(
            "conversation {conversation} · continue: baton chat {} --conversation {conversation}",
            args.team.display()
        );
    }
    Ok(exit)
}

/// The state of a chat session.
struct Session<'a> {
    runtime: &'a Runtime,
    tokio: &'a tokio::runtime::Runtime,
    conversation: Option<String>,
    json: bool,
    /// Print each turn as it happens.
    live: bool,
}

impl Session<'_> {
    /// Reads lines until `/quit` or the end of input.
    fn read_loop(&mut self, interactive: bool) -> Exit {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut bytes = Vec::new();
        loop {
            if interactive {
                eprint!("you> ");
                let _ = std::io::stderr().flush();
            }
            bytes.clear();
            match input.read_until(b'\n', &mut bytes) {
                Ok(0) => return Exit::Ok,
                Ok(_) => {}
                Err(error) => {
                    eprintln!("error: cannot read the input: {error}");
                    return Exit::Failed;
                }
            }
            // A line that is not UTF-8 is read with replacement characters rather than ending the session.
            let line = String::from_utf8_lossy(&bytes);
            let message = line.trim();
            match message {
                "" => continue,
                "/quit" | "/exit" => return Exit::Ok,
                "/new" => {
                    self.conversation = None;
                    eprintln!("(a new conversation starts with your next message)");
                }
                "/trace" => self.trace(),
                command if command.starts_with('/') => eprintln!("unknown command {command}: {COMMANDS}"),
                message => {
                    let observer: Arc<dyn Observer> =
                        if self.live { Arc::new(Live::new(!interactive)) } else { Arc::new(Unobserved) };
                    let send = self.runtime.send_observed(self.conversation.as_deref(), message, observer);
                    let result = self.tokio.block_on(send);
                    if let Some(exit) = self.show(result, interactive) {
                        return exit;
                    }
                }
            }
        }
    }

    /// Prints a turn; returns an exit code when the session cannot go on.
    fn show(&mut self, result: Result<baton::TurnReport, RuntimeError>, interactive: bool) -> Option<Exit> {
        let report = match result {
            Ok(report) => report,
            Err(error) if setup::is_usage_error(&error) => {
                eprintln!("error: {error}");
                return Some(Exit::Usage);
            }
            Err(error) => {
                eprintln!("error: {error} (the message was not answered; try again)");
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
                eprintln!("error: cannot read the turn back: {error}");
                return None;
            }
        };
        let shown = lines(turn_entries(&journal, report.outcome.turn), false);
        // On a terminal the user's words are already on screen.
        for line in shown.iter().skip(usize::from(interactive && shown.first().is_some_and(|l| l.starts_with("you: "))))
        {
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
                let _ = print_journal(&info, &journal, false, &mut std::io::stdout().lock());
            }
            Ok((None, _)) => eprintln!("conversation {conversation} has no journal yet"),
            Err(error) => eprintln!("error: {error}"),
        }
    }
}
