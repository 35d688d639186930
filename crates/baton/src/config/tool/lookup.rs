//! `kind = "lookup"`: a `key` argument and a `data` file holding a JSON object.

use super::super::diagnostic::Report;
use super::super::files::{existing_file, FILE_HELP};
use super::super::raw::RawTool;
use super::ToolKind;
use baton_core::ToolDef;
use baton_tools::LookupTool;
use std::path::Path;
use toml::Spanned;

/// The lookup tool's settings; sets the definition's arguments from its key and pattern.
pub(super) fn build(
    name: &Spanned<String>,
    raw: &RawTool,
    dir: &Path,
    definition: &mut ToolDef,
    report: &mut Report<'_>,
) -> Option<ToolKind> {
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
    let key = key?;
    definition.parameters =
        LookupTool::definition_for(name.get_ref(), &definition.description, &key, pattern.as_deref()).parameters;
    Some(ToolKind::Lookup { data: data?, key })
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
