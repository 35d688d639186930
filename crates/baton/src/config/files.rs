//! Files a team file refers to (lookup data, model scripts): resolved relative to the team file's
//! directory and checked to exist, so a wrong path is reported at load time, not at the first call.

use super::diagnostic::Report;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The help for every missing or unreadable referenced file.
pub(crate) const FILE_HELP: &str = "create the file or fix the path (relative to the team file)";

/// `value` resolved against `dir`, if it names an existing file; otherwise reports why not at the
/// value. `what` names the file in messages ("data file", "script file").
pub(crate) fn existing_file(
    dir: &Path,
    value: &Spanned<String>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let written = value.get_ref();
    let resolved = dir.join(written);
    let at = value.span().start;
    match std::fs::metadata(&resolved) {
        Ok(metadata) if metadata.is_file() => Some(resolved),
        Ok(_) => {
            report.error(
                at,
                format!("the {what} '{written}' is not a file (looked at {})", resolved.display()),
                FILE_HELP,
            );
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let message = format!("the {what} '{written}' does not exist (looked for {})", resolved.display());
            report.error(at, message, FILE_HELP);
            None
        }
        Err(e) => {
            report.error(at, format!("cannot read the {what} '{written}': {e}"), FILE_HELP);
            None
        }
    }
}
