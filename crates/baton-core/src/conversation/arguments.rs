//! Tool arguments checked against the tool's declared JSON schema before a call is sent for
//! approval or run: a call that does not fit is answered with an error the model can correct, so
//! no tool receives a malformed call and no person is asked to approve one.
//!
//! A team's schemas are compiled once, when a call of the team is first checked, and kept while
//! the team is in use: every conversation of one `Arc<Team>` shares them (the runtime loads a
//! conversation again for each turn, so compiling per conversation would compile per turn). The
//! compiler has no resolver: a `$ref` outside the schema does not compile, and nothing is fetched.

use crate::team::Team;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// How many violations of one call the model is told; the rest are counted.
const SHOWN: usize = 5;

/// How many characters of one violation the model is told (a violation may quote the value).
const MAX_CHARS: usize = 200;

/// A tool's arguments schema that does not compile: what is wrong (cut to 200 characters), and
/// where in the schema.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}{}", if at.is_empty() { String::new() } else { format!(", at {at}") })]
pub struct InvalidSchema {
    /// What is wrong.
    pub error: String,
    /// Where in the schema, as a JSON pointer; empty for the schema itself.
    pub at: String,
}

/// Whether `schema` is a JSON schema calls can be checked against; the error says what is wrong
/// and where in the schema. A tool whose schema does not compile cannot be called.
pub fn check_schema(schema: &Value) -> Result<(), InvalidSchema> {
    compile(schema).map(drop)
}

/// What checking a call's arguments found.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Verdict {
    /// They fit the tool's schema.
    Fits,
    /// They do not: the error the model is told.
    Violates(String),
    /// The tool's schema does not compile, so no call of it is made: the error the model is told.
    Uncheckable(String),
}

/// What the journal shows a call of a model reply came to, for replay (see
/// `Conversation::follow_journal`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Journaled {
    /// It was sent for approval or run: its arguments were let through.
    LetThrough,
    /// It was rejected with this error.
    Rejected(String),
}

/// Checks `arguments` of a call of `tool` against the tool's schema (a tool the team does not
/// define has none to check: the shell answers its call).
pub(super) fn check(team: &Arc<Team>, tool: &str, arguments: &Value) -> Verdict {
    let schemas = compiled(team);
    match schemas.get(tool) {
        None => Verdict::Fits,
        Some(Err(error)) => Verdict::Uncheckable(format!(
            "error: '{tool}' cannot be called: its arguments' schema is not valid ({error}), so no call of it can \
             be checked. Tell the user it cannot be done now."
        )),
        Some(Ok(validator)) => {
            let mut violations: Vec<String> = validator.iter_errors(arguments).map(|e| describe(&e)).collect();
            if violations.is_empty() {
                return Verdict::Fits;
            }
            // Sorted, so the error (which is journaled) never depends on the validator's order.
            violations.sort();
            violations.dedup();
            let more = violations.len().saturating_sub(SHOWN);
            violations.truncate(SHOWN);
            let mut list = violations.join("; ");
            if more > 0 {
                list.push_str(&format!("; and {more} more"));
            }
            Verdict::Violates(format!(
                "error: the arguments of '{tool}' do not fit its schema: {list}. Call '{tool}' again with \
                 arguments that fit."
            ))
        }
    }
}

/// The compiled schemas of each team in use, known by its `Arc`, which is held weakly: an entry
/// whose team is no longer in use is dropped at the next look-up. (A weak pointer keeps the
/// team's allocation, so no other team can take its address while the entry exists.)
static COMPILED: Mutex<Vec<(Weak<Team>, Arc<Schemas>)>> = Mutex::new(Vec::new());

/// Each tool's compiled schema, or why it does not compile, by tool name.
type Schemas = BTreeMap<String, Result<Validator, InvalidSchema>>;

/// The compiled schemas of `team`, compiling them on its first look-up.
fn compiled(team: &Arc<Team>) -> Arc<Schemas> {
    let mut teams = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    teams.retain(|(held, _)| held.strong_count() > 0);
    if let Some((_, schemas)) = teams.iter().find(|(held, _)| std::ptr::eq(held.as_ptr(), Arc::as_ptr(team))) {
        return schemas.clone();
    }
    let schemas: Arc<Schemas> =
        Arc::new(team.tools.iter().map(|(name, tool)| (name.clone(), compile(&tool.parameters))).collect());
    teams.push((Arc::downgrade(team), schemas.clone()));
    schemas
}

fn compile(schema: &Value) -> Result<Validator, InvalidSchema> {
    jsonschema::validator_for(schema)
        .map_err(|error| InvalidSchema { at: error.instance_path().to_string(), error: clip(&error.to_string()) })
}

/// One violation: where in the arguments (`items.0.price`; nothing for the object itself) and
/// what is wrong, in the validator's words, which say what was expected.
fn describe(error: &ValidationError<'_>) -> String {
    let path: Vec<String> = error.instance_path().segments().map(|segment| segment.to_string()).collect();
    let message = clip(&error.to_string());
    if path.is_empty() {
        message
    } else {
        format!("{}: {message}", path.join("."))
    }
}

/// `text`, cut to [`MAX_CHARS`] characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
