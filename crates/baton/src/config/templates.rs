//! `${VAR}` in the team file's strings that may hold a secret or an address (model `base_url`
//! and `headers`, tool `url`, `headers` and `env`), checked when the file is loaded: a malformed
//! `${…}` is an error at its value; a variable not set in this environment is a warning there,
//! since baton reads it only when the team runs (each time it uses the value; a `base_url`
//! when the model is built), so it may well be set by then.

use super::diagnostic::Report;
use super::raw::Strings;
use baton_core::env_template;
use baton_core::Severity;
use toml::Spanned;

/// What to write instead of a malformed `${…}`.
const SYNTAX_HELP: &str =
    "write ${NAME} for an environment variable (letters, digits and '_'), or $${ for a literal '${'";

/// Checks the `${VAR}` of `value`, which `setting` names ("the header 'X-Org' of model 'm'");
/// whether it is well-formed.
pub(crate) fn check(value: &Spanned<String>, setting: &str, report: &mut Report<'_>) -> bool {
    let at = value.span().start;
    let variables = match env_template::variables(value.get_ref()) {
        Ok(variables) => variables,
        Err(error) => {
            report.error(at, format!("{setting} {error}"), SYNTAX_HELP);
            return false;
        }
    };
    for name in variables {
        if let Err(error) = env_template::value_of(name, |var| std::env::var(var)) {
            let help = format!("baton reads {name} when the team runs: set it in that environment, or fix the name");
            report.push(Severity::Warning, at, format!("{setting} {error}"), Some(help));
        }
    }
    true
}

/// Checks each value of a table of strings (`headers`, `env`), each named by `setting` from its
/// key; whether all are well-formed.
pub(crate) fn check_each(
    table: &Option<Spanned<Strings>>,
    setting: impl Fn(&str) -> String,
    report: &mut Report<'_>,
) -> bool {
    let Some(table) = table else { return true };
    let mut well_formed = true;
    for (key, value) in table.get_ref() {
        well_formed &= check(value, &setting(key), report);
    }
    well_formed
}

/// A table of strings as pairs, in key order.
pub(crate) fn pairs(table: &Option<Spanned<Strings>>) -> Vec<(String, String)> {
    table.as_ref().map_or_else(Vec::new, |table| {
        table.get_ref().iter().map(|(key, value)| (key.clone(), value.get_ref().clone())).collect()
    })
}

/// Whether `url` is an http(s) address, or starts with a variable that will give one.
pub(crate) fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://") || url.starts_with("${")
}
