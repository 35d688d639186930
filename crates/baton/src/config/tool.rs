//! Tool settings: how the shell builds each tool the team declares, and the definition models see.

use super::diagnostic::Report;
use super::files::{existing_file, FILE_HELP};
use super::raw::RawTool;
use baton_core::names::closest;
use baton_core::ToolDef;
use baton_tools::LookupTool;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The tool kinds a team file may use.
const KINDS: [&str; 1] = ["lookup"];

/// How the shell builds one tool of the team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolConfig {
    /// Answers from a JSON object keyed by the tool's one string argument (`kind = "lookup"`).
    Lookup {
        /// What the tool does, offered to models.
        description: String,
        /// The JSON data file, resolved relative to the team file's directory.
        data: PathBuf,
        /// The name of the tool's one required string argument.
        key: String,
        /// The JSON-schema pattern a valid key matches.
        pattern: Option<String>,
    },
}

impl ToolConfig {
    /// The definition models see of this tool, called `name`.
    pub fn definition(&self, name: &str) -> ToolDef {
        match self {
            ToolConfig::Lookup { description, key, pattern, .. } => {
                LookupTool::definition_for(name, description, key, pattern.as_deref())
            }
        }
    }

    /// The settings of tool `name` and the definition models see of it, after reporting what is
    /// wrong with them. The definition is there even when the settings are not, so that agents
    /// naming the tool are not reported too.
    pub(crate) fn from_raw(
        name: &Spanned<String>,
        raw: &RawTool,
        dir: &Path,
        report: &mut Report<'_>,
    ) -> (Option<ToolConfig>, ToolDef) {
        let description = raw.description.clone().unwrap_or_default();
        let placeholder = ToolDef {
            name: name.get_ref().clone(),
            description: description.clone(),
            parameters: serde_json::json!({ "type": "object" }),
            examples: raw.examples.clone(),
            idempotent: raw.idempotent.unwrap_or(true),
            approval: Default::default(),
        };
        let Some(kind) = &raw.kind else {
            report.error(
                name.span().start,
                format!("tool '{}' has no kind", name.get_ref()),
                "add kind = \"lookup\" (the only tool kind for now)",
            );
            return (None, placeholder);
        };
        match kind.get_ref().as_str() {
            "lookup" => match lookup(name, raw, description, dir, report) {
                Some(config) => {
                    let definition = ToolDef {
                        examples: raw.examples.clone(),
                        idempotent: raw.idempotent.unwrap_or(true),
                        ..config.definition(name.get_ref())
                    };
                    (Some(config), definition)
                }
                None => (None, placeholder),
            },
            unknown => {
                let help = match closest(unknown, KINDS) {
                    Some(suggestion) => format!("did you mean '{suggestion}'?"),
                    None => "use kind = \"lookup\" (the only tool kind for now)".to_string(),
                };
                report.error(kind.span().start, format!("unknown tool kind '{unknown}'"), help);
                (None, placeholder)
            }
        }
    }
}

/// `kind = "lookup"`: needs a `key` and a `data` file holding a JSON object.
fn lookup(
    name: &Spanned<String>,
    raw: &RawTool,
    description: String,
    dir: &Path,
    report: &mut Report<'_>,
) -> Option<ToolConfig> {
    let key = match &raw.key {
        None => {
            report.error(
                name.span().start,
                format!("lookup tool '{}' has no key", name.get_ref()),
                "add key = \"<argument name>\", e.g. key = \"customer_id\"",
            );
            None
        }
        Some(key) if key.get_ref().trim().is_empty() => {
            report.error(
                key.span().start,
                "the lookup key is empty",
                "name the tool's argument, e.g. key = \"customer_id\"",
            );
            None
        }
        Some(key) => Some(key.get_ref().clone()),
    };
    let data = match &raw.data {
        None => {
            report.error(
                name.span().start,
                format!("lookup tool '{}' has no data file", name.get_ref()),
                "add data = \"<file>.json\" (relative to the team file)",
            );
            None
        }
        Some(data) => existing_file(dir, data, "data file", report).filter(|file| is_json_object(file, data, report)),
    };
    let pattern = match &raw.pattern {
        Some(pattern) => match regex::Regex::new(pattern.get_ref()) {
            Ok(_) => Some(pattern.get_ref().clone()),
            Err(e) => {
                let detail = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                report.error(
                    pattern.span().start,
                    format!("pattern '{}' is not a valid regular expression: {detail}", pattern.get_ref()),
                    "fix the pattern, e.g. pattern = \"^INV-\\\\d{4}$\" (in a basic string, a backslash is written twice)",
                );
                return None;
            }
        },
        None => None,
    };
    Some(ToolConfig::Lookup { description, data: data?, key: key?, pattern })
}

/// Whether `file` holds a JSON object; reports at `value` why not.
fn is_json_object(file: &Path, value: &Spanned<String>, report: &mut Report<'_>) -> bool {
    let written = value.get_ref();
    let at = value.span().start;
    let help = "the file must hold one JSON object keyed by the lookup argument, like {\"42\": {\"name\": \"Ada\"}}";
    match std::fs::read_to_string(file).map(|text| serde_json::from_str::<serde_json::Value>(&text)) {
        Ok(Ok(serde_json::Value::Object(_))) => true,
        Ok(Ok(_)) => {
            report.error(at, format!("the data file '{written}' is not a JSON object"), help);
            false
        }
        Ok(Err(e)) => {
            report.error(at, format!("the data file '{written}' is not valid JSON: {e}"), help);
            false
        }
        Err(e) => {
            report.error(at, format!("cannot read the data file '{written}': {e}"), FILE_HELP);
            false
        }
    }
}
