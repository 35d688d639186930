//! The environment a command tool's program gets: not baton's, which holds API keys and the
//! store's address with its password, but a clean one made of a few variables programs need to
//! run ([`PASSED`]), the names the tool passes through, the values it sets, and the call's
//! variables.

use baton_core::env_template::{self, TemplateError};
use std::ffi::OsString;

/// The variables of baton's environment every program receives, when they are set: where to
/// find programs, the home directory, language, time zone and temporary directory.
pub const PASSED: [&str; 6] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// The variables of one run, in the order they are set (a later one wins): [`PASSED`] and
/// `pass` as baton has them (those not set are left out), then `set` with its `${VAR}`
/// expanded now, then `call` (the idempotency key, the run's mark). The error is the variable
/// of `set` that uses a `${VAR}` not set, and that error.
pub(crate) fn variables(
    pass: &[String],
    set: &[(String, String)],
    call: &[(&str, &str)],
) -> Result<Vec<(OsString, OsString)>, (String, TemplateError)> {
    let mut variables: Vec<(OsString, OsString)> = PASSED
        .iter()
        .copied()
        .chain(pass.iter().map(String::as_str))
        .filter_map(|name| std::env::var_os(name).map(|value| (name.into(), value)))
        .collect();
    for (name, template) in set {
        let value = env_template::expand(template, |var| std::env::var(var)).map_err(|error| (name.clone(), error))?;
        variables.push((name.into(), value.into()));
    }
    variables.extend(call.iter().map(|(name, value)| (OsString::from(name), OsString::from(value))));
    Ok(variables)
}
