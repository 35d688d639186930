//! `baton new`: write a working team directory from a template (the examples under
//! `examples/`, embedded in the binary through the `templates` link), with the team renamed
//! after the directory. What it writes passes `baton check` and `baton eval` at once and runs
//! offline on the built-in model.

use crate::paint::print_error;
use crate::stdout::println;
use crate::{shell, Exit};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The templates `baton new` can start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// Two agents and a handoff each way, no tools, no human: the smallest useful team.
    Minimal,
    /// The telecom support desk: specialists, tools, approvals, a language trigger, a human queue.
    Support,
    /// The business-analysis desk: a front-door router and four specialists.
    BaTriage,
}

/// One file of a template: its path inside the team directory and its contents.
type TemplateFile = (&'static str, &'static str);

macro_rules! template_files {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../templates/", $dir, "/", $file)))),+]
    };
}

impl Template {
    /// The example directory the template comes from.
    fn example(self) -> &'static str {
        match self {
            Template::Minimal => "minimal",
            Template::Support => "support",
            Template::BaTriage => "ba-triage",
        }
    }

    /// Every file the template writes.
    fn files(self) -> &'static [TemplateFile] {
        match self {
            Template::Minimal => template_files!("minimal": "team.toml", "eval.jsonl", "README.md"),
            Template::Support => template_files!("support":
                "team.toml", "eval.jsonl", "README.md", "data/invoices.json", "data/line_status.json",
                "data/refunds.json", "tools/refund.py"),
            Template::BaTriage => template_files!("ba-triage": "team.toml", "eval.jsonl", "README.md"),
        }
    }
}

/// Writes the team directory `directory` from `template` and prints what was written.
pub fn run(directory: &Path, template: Template, json: bool) -> Exit {
    match write_team(directory, template) {
        Ok(written) => {
            print_written(&written, template, json);
            Exit::Ok
        }
        Err(NotWritten::Refused(message)) => {
            print_error!("{message}");
            Exit::Usage
        }
        Err(NotWritten::Failed(message)) => {
            print_error!("{message}");
            Exit::Failed
        }
    }
}

/// What `baton new` wrote.
struct Written {
    directory: PathBuf,
    team: String,
    files: Vec<PathBuf>,
}

/// Why `baton new` wrote nothing, or not everything.
enum NotWritten {
    /// The name or the directory cannot be used: a usage error, and nothing was written.
    Refused(String),
    /// Creating a directory or writing a file failed.
    Failed(String),
}

fn write_team(directory: &Path, template: Template) -> Result<Written, NotWritten> {
    let team = team_name(directory).map_err(NotWritten::Refused)?;
    if let Ok(mut entries) = std::fs::read_dir(directory) {
        if entries.next().is_some() {
            return Err(NotWritten::Refused(format!(
                "{} already exists and is not empty: choose another name, or remove it first",
                directory.display()
            )));
        }
    } else if directory.exists() {
        return Err(NotWritten::Refused(format!(
            "{} exists and is not a directory: choose another name",
            directory.display()
        )));
    }
    let shown = directory.display().to_string();
    let mut files = Vec::new();
    for (relative, contents) in template.files() {
        let contents = adapt(relative, contents, template, &team, shown.trim_end_matches('/'));
        let path = directory.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| NotWritten::Failed(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| NotWritten::Failed(format!("cannot write {}: {e}", path.display())))?;
        files.push(path);
    }
    Ok(Written { directory: directory.to_path_buf(), team, files })
}

/// The team's name: the directory's last part, which must be a valid name (the OpenAI endpoint
/// and the journal name teams by it). A path that ends in `.` or `..` (`baton new .` in an empty
/// directory) is named after the directory it resolves to.
fn team_name(directory: &Path) -> Result<String, String> {
    let resolved = match directory.file_name() {
        Some(_) => None,
        None => std::fs::canonicalize(directory).ok(),
    };
    let named = resolved.as_deref().unwrap_or(directory);
    let name = named.file_name().and_then(|name| name.to_str()).unwrap_or_default();
    if baton::core::names::is_valid_name(name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "'{}' cannot name a team: the directory's last part names it, and a team name is 1 to 52 \
             ASCII letters, digits, '_' and '-' (e.g. baton new my-desk)",
            named.display()
        ))
    }
}

/// A template file as written for this team: the team renamed, and the example's own paths
/// in its README turned into the new directory's.
fn adapt(relative: &str, contents: &str, template: Template, team: &str, directory: &str) -> String {
    match relative {
        "team.toml" => {
            contents
                .lines()
                .map(|line| if line.starts_with("name = ") { format!("name = \"{team}\"") } else { line.to_string() })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        "README.md" => contents.replace(&format!("examples/{}", template.example()), directory),
        _ => contents.to_string(),
    }
}

fn print_written(written: &Written, template: Template, json: bool) {
    let directory = written.directory.display();
    if json {
        let files: Vec<String> = written.files.iter().map(|path| path.display().to_string()).collect();
        let report = json!({
            "directory": directory.to_string(),
            "team": written.team,
            "template": template.example(),
            "files": files,
        });
        println!("{report}");
        return;
    }
    println!("created team '{}' in {directory} from the {} template:", written.team, template.example());
    for path in &written.files {
        println!("  {}", path.display());
    }
    let team_file = written.directory.join("team.toml").display().to_string();
    let eval_file = written.directory.join("eval.jsonl").display().to_string();
    let (team_file, eval_file) = (shell::quote(&team_file), shell::quote(&eval_file));
    println!("\nnext:");
    println!("  baton check {team_file}");
    println!("  baton eval {team_file} {eval_file}");
    println!("  baton chat {team_file}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// Every file of every example is in its template, so a file added to an example is not
    /// silently left out of `baton new`.
    #[test]
    fn each_template_embeds_every_file_of_its_example() {
        for template in Template::value_variants() {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").join(template.example());
            let mut on_disk = Vec::new();
            collect_files(&root, &root, &mut on_disk);
            on_disk.sort();
            let mut embedded: Vec<String> = template.files().iter().map(|(path, _)| path.to_string()).collect();
            embedded.sort();
            assert_eq!(embedded, on_disk, "the {} template", template.example());
        }
    }

    fn collect_files(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_files(root, &path, found);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }

    #[test]
    fn the_team_is_renamed_after_the_directory() {
        let adapted =
            adapt("team.toml", "# a\nname = \"support\"\nentry = \"triage\"\n", Template::Support, "desk", "x");
        assert_eq!(adapted, "# a\nname = \"desk\"\nentry = \"triage\"\n");
        let readme =
            adapt("README.md", "baton run examples/support/team.toml", Template::Support, "desk", "teams/desk");
        assert_eq!(readme, "baton run teams/desk/team.toml");
    }
}
