//! `baton resume [--db PATH] [--json]`: finishes every turn a crash interrupted. Each
//! conversation's team is rebuilt from the team file it was created with; each finished turn is
//! printed like `baton run` prints one (one JSON line each with `--json`).

use crate::run::report_json;
use crate::transcript::{chain, lines, turn_entries};
use crate::{setup, Exit};
use baton::assemble;
use baton::config::load_team;
use baton::store::{ConversationInfo, SqliteStore, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Resumes every interrupted conversation in the journal at `db`.
pub fn run(db: &Path, json: bool) -> Exit {
    if !db.exists() {
        eprintln!("error: no journal at {} (pass the --db the conversations were run with)", db.display());
        return Exit::Usage;
    }
    let store: Arc<dyn Store> = match SqliteStore::open(db) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::Failed;
        }
    };
    let interrupted = match store.interrupted() {
        Ok(interrupted) => interrupted,
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::Failed;
        }
    };
    if interrupted.is_empty() {
        eprintln!("nothing to resume: every conversation in {} ended its last turn", db.display());
        return Exit::Ok;
    }
    let tokio = match setup::tokio() {
        Ok(tokio) => tokio,
        Err(exit) => return exit,
    };
    let mut by_team: BTreeMap<Option<String>, Vec<ConversationInfo>> = BTreeMap::new();
    for info in interrupted {
        by_team.entry(info.team_file.clone()).or_default().push(info);
    }
    let (mut resumed, mut failed) = (0, 0);
    for (team_file, conversations) in by_team {
        let runtime = match team_file.as_deref().map(|file| team_runtime(file, store.clone())) {
            Some(Ok(runtime)) => runtime,
            problem => {
                let why = match problem {
                    Some(Err(why)) => why,
                    _ => "no team file was recorded for it (it was created by a Rust program)".to_string(),
                };
                for info in &conversations {
                    eprintln!("error: cannot resume conversation {}: {why}", info.id);
                }
                failed += conversations.len();
                continue;
            }
        };
        for info in conversations {
            match tokio.block_on(runtime.resume(&info.id)) {
                Ok(Some(report)) => {
                    resumed += 1;
                    if json {
                        println!("{}", report_json(&report));
                    } else {
                        println!("── resumed conversation {} (team {})", info.id, info.team);
                        let journal = store.journal(&info.id).unwrap_or_default();
                        for line in lines(turn_entries(&journal, report.outcome.turn), true) {
                            println!("{line}");
                        }
                        println!("handoff chain: {}\n", chain(&report.outcome));
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    failed += 1;
                    eprintln!("error: cannot resume conversation {}: {error}", info.id);
                }
            }
        }
    }
    eprintln!("resumed {resumed} conversation{}, {failed} failed", if resumed == 1 { "" } else { "s" });
    if failed == 0 {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// A runtime for the team in `file`, journaling to `store`.
fn team_runtime(file: &str, store: Arc<dyn Store>) -> Result<baton::Runtime, String> {
    let loaded = load_team(Path::new(file)).map_err(|error| format!("its team file does not load:\n{error}"))?;
    assemble::runtime(&loaded.config, store).map_err(|error| error.to_string())
}
