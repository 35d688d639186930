//! Size limits of a team file: the whole file, every name (the team's and every table key: agents,
//! tools, models, arguments, headers) and every string. A runaway or hostile file is refused at
//! load, each breach at its line with what to do, before its sizes reach the journal, every model
//! request and memory.

use super::diagnostic::Report;
use baton_core::names::{shown, MAX_TEAM_NAME_CHARS};
use std::io::Read;
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// The largest team file, in bytes (1 MiB): a team's settings and prompts fit in a few KB; data
/// belongs in a lookup tool's data file.
pub(crate) const MAX_FILE_BYTES: usize = 1024 * 1024;

/// The longest name, in characters: the team's and every table key (agents, tools, models,
/// arguments, headers, variables).
pub(crate) const MAX_NAME_CHARS: usize = MAX_TEAM_NAME_CHARS;

/// The longest string, in bytes (64 KiB, about 16,000 tokens): instructions, descriptions,
/// examples, templates, URLs. Each is sent to models or journaled again and again.
pub(crate) const MAX_STRING_BYTES: usize = 64 * 1024;

/// Reads the team file at `path`, at most one byte past [`MAX_FILE_BYTES`]: a larger file is
/// read only as far as [`too_large`] needs to refuse it.
pub(crate) fn read(path: &Path) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_FILE_BYTES {
        // Only where the limit is passed matters now; the cut may split a character.
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reports a team file over [`MAX_FILE_BYTES`] where it passes the limit; true if it is.
pub(crate) fn too_large(text: &str, report: &mut Report<'_>) -> bool {
    if text.len() <= MAX_FILE_BYTES {
        return false;
    }
    report.error(
        MAX_FILE_BYTES,
        format!("the team file is larger than 1 MiB ({MAX_FILE_BYTES} bytes), the most a team file may be"),
        "a team file holds settings and prompts: shorten the long value that reaches this line, and put data in a \
         lookup tool's data file",
    );
    true
}

/// Reports every name and string of `root` over its limit; true if any is.
pub(crate) fn check_sizes(root: &DeTable<'_>, report: &mut Report<'_>) -> bool {
    let before = report.error_count();
    if let Some(value) = root.get("name") {
        if let DeValue::String(name) = value.get_ref() {
            let chars = name.chars().count();
            if chars > MAX_NAME_CHARS {
                report.error(
                    value.span().start,
                    format!("the team name '{}' is {chars} characters long", shown(name)),
                    format!(
                        "use a short name, at most {MAX_NAME_CHARS} characters: it picks the team (in the server's \
                         API, in the journal); say what the team does in its agents' descriptions"
                    ),
                );
            }
        }
    }
    check_table(root, true, report);
    report.error_count() > before
}

/// Checks the keys and values of `table`; `top` skips the team's `name`, checked as a name.
fn check_table(table: &DeTable<'_>, top: bool, report: &mut Report<'_>) {
    for (key, value) in table.iter() {
        let chars = key.get_ref().chars().count();
        if chars > MAX_NAME_CHARS {
            report.error(
                key.span().start,
                format!("the name '{}' is {chars} characters long", shown(key.get_ref())),
                format!("use a name of at most {MAX_NAME_CHARS} characters"),
            );
        }
        if !(top && key.get_ref() == "name") {
            check_value(value.get_ref(), value.span().start, report);
        }
    }
}

/// Checks a value, and what it holds.
fn check_value(value: &DeValue<'_>, at: usize, report: &mut Report<'_>) {
    match value {
        DeValue::String(text) if text.len() > MAX_STRING_BYTES => report.error(
            at,
            format!(
                "this string is {} bytes, over the {MAX_STRING_BYTES} bytes (64 KiB) a team-file string may be",
                text.len()
            ),
            "shorten it: it is sent to models or journaled again and again; reference material belongs in a tool (a \
             lookup data file, an HTTP service), which is asked only when needed",
        ),
        DeValue::Array(items) => {
            for item in items {
                check_value(item.get_ref(), item.span().start, report);
            }
        }
        DeValue::Table(table) => check_table(table, false, report),
        _ => {}
    }
}
