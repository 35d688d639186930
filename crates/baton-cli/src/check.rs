//! `baton check TEAM`: every problem of a team file at once, with file, line and column, and the
//! settings the loader chose because the file left them out (a team with no human agent fails a
//! turn on a tripped limit).

use crate::paint::{self, paint};
use crate::plural::count;
use crate::stdout::println;
use crate::Exit;
use anstream::eprintln;
use baton::config::{load_team, Defaulted, Diagnostic, TeamConfig};
use baton::core::Severity;
use serde_json::json;
use std::path::Path;

/// Checks `team` and prints the result.
pub fn run(team: &Path, json: bool) -> Exit {
    let (diagnostics, defaulted, summary) = match load_team(team) {
        Ok(loaded) => {
            let summary = summary(team, &loaded.config);
            (loaded.warnings, loaded.defaulted, Some(summary))
        }
        Err(error) => (error.diagnostics, Vec::new(), None),
    };
    let n_errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    if json {
        let items: Vec<_> = diagnostics.iter().map(diagnostic_json).collect();
        let chosen: Vec<_> = defaulted.iter().map(defaulted_json).collect();
        let file = team.display().to_string();
        println!("{}", json!({"file": file, "valid": summary.is_some(), "diagnostics": items, "defaulted": chosen}));
    } else {
        for diagnostic in &diagnostics {
            eprintln!("{}\n", paint::diagnostic(diagnostic));
        }
        match &summary {
            Some(summary) => {
                println!("{summary}");
                for chosen in &defaulted {
                    println!("{} {chosen}", paint(paint::NOTE, "note:"));
                }
            }
            None => eprintln!("{}: {} found", team.display(), paint(paint::ERROR, count(n_errors, "error", "errors"))),
        }
    }
    if summary.is_some() {
        Exit::Ok
    } else {
        Exit::Usage
    }
}

/// `team.toml: team 'support' is valid: 5 agents, 9 handoff edges, entry 'triage'`.
fn summary(team: &Path, config: &TeamConfig) -> String {
    let edges = config.team.agents.values().map(|agent| agent.handoffs.len()).sum::<usize>();
    format!(
        "{}: team '{}' is valid: {}, {}, entry '{}'",
        team.display(),
        config.team.name,
        count(config.team.agents.len(), "agent", "agents"),
        count(edges, "handoff edge", "handoff edges"),
        config.team.entry
    )
}

fn diagnostic_json(diagnostic: &Diagnostic) -> serde_json::Value {
    json!({
        "severity": if diagnostic.severity == Severity::Error { "error" } else { "warning" },
        "file": diagnostic.file.display().to_string(),
        "line": diagnostic.line,
        "column": diagnostic.column,
        "message": diagnostic.message,
        "help": diagnostic.help,
    })
}

fn defaulted_json(defaulted: &Defaulted) -> serde_json::Value {
    json!({
        "setting": defaulted.setting,
        "value": defaulted.value,
        "reason": defaulted.reason,
        "help": defaulted.help,
    })
}
