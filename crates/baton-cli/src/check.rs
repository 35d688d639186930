//! `baton check TEAM`: every problem of a team file at once, with file, line and column.

use crate::Exit;
use baton::config::{load_team, Diagnostic};
use baton::core::Severity;
use serde_json::json;
use std::path::Path;

/// Checks `team` and prints the result.
pub fn run(team: &Path, json: bool) -> Exit {
    let (diagnostics, summary) = match load_team(team) {
        Ok(loaded) => {
            let config = &loaded.config;
            let summary = format!(
                "{}: team '{}' is valid: {} agents, {} handoff edges, entry '{}'",
                team.display(),
                config.team.name,
                config.team.agents.len(),
                config.team.agents.values().map(|a| a.handoffs.len()).sum::<usize>(),
                config.team.entry
            );
            (loaded.warnings, Some(summary))
        }
        Err(error) => (error.diagnostics, None),
    };
    let n_errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    if json {
        let items: Vec<_> = diagnostics.iter().map(diagnostic_json).collect();
        println!("{}", json!({"file": team.display().to_string(), "valid": summary.is_some(), "diagnostics": items}));
    } else {
        for diagnostic in &diagnostics {
            eprintln!("{diagnostic}\n");
        }
        match &summary {
            Some(summary) => println!("{summary}"),
            None => eprintln!("{}: {n_errors} error{} found", team.display(), if n_errors == 1 { "" } else { "s" }),
        }
    }
    if summary.is_some() {
        Exit::Ok
    } else {
        Exit::Usage
    }
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
