//! `${NAME}` in the team-file strings that may hold a secret or an address (model `base_url`
//! and `headers`, HTTP tool `url` and `headers`, MCP `url`, `headers` and `env`, command tool
//! `env`): the one reading of that syntax every setting shares.
//!
//! `${NAME}` is replaced by the environment variable `NAME` (letters, digits and `_`, not
//! starting with a digit); `$${` is a literal `${`; any other `$` stays as it is (`$HOME`,
//! `$5`, a lone `$`), so that a value without `${` never changes. An unset variable is an error
//! naming it. This module reads no environment: the caller passes the lookup (`std::env::var`
//! in the shell), and decides when to expand (the shell does it each time the value is used,
//! so a rotated secret is picked up without a restart).

use std::env::VarError;
use std::fmt;

/// A piece of a template: text kept as it is, or a variable to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text (an escaped `$${` is the text `${`).
    Text(&'a str),
    /// The name of an environment variable.
    Variable(&'a str),
}

/// What is wrong with a template, or with a variable it uses. Displayed as a phrase that
/// follows the setting it is about: "the header 'Authorization' " + "uses ${TOKEN}, which is
/// not set: set the environment variable TOKEN".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// A `${` with no `}` after it.
    Unclosed {
        /// The byte offset of the `${`.
        at: usize,
    },
    /// `${}`, or `${ NAME }` and other names that are not variable names.
    BadName {
        /// The byte offset of the `${`.
        at: usize,
        /// What is between the braces.
        name: String,
    },
    /// The variable is not set.
    Unset {
        /// The variable.
        name: String,
    },
    /// The variable's value is not valid Unicode.
    NotUnicode {
        /// The variable.
        name: String,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unclosed { at } => write!(
                f,
                "has a '${{' at byte {at} without its closing '}}': write ${{NAME}} for a variable, or $${{ for a \
                 literal '${{'"
            ),
            TemplateError::BadName { at, name } if name.is_empty() => {
                write!(f, "has '${{}}' at byte {at}, which names no variable: write ${{NAME}}")
            }
            TemplateError::BadName { at, name } => write!(
                f,
                "has '${{{name}}}' at byte {at}, and '{name}' is not a variable name: use letters, digits and '_', \
                 not starting with a digit"
            ),
            TemplateError::Unset { name } => {
                write!(f, "uses ${{{name}}}, which is not set: set the environment variable {name}")
            }
            TemplateError::NotUnicode { name } => {
                write!(f, "uses ${{{name}}}, whose value is not valid Unicode: set {name} to text")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// The pieces of `template`, each with the byte offset where it is written (an escaped `$${`
/// is a piece of its own: the text `${` written at the offset of its first `$`), or what is
/// wrong with its `${…}`.
pub fn pieces(template: &str) -> Result<Vec<(usize, Piece<'_>)>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut at = 0;
    while let Some(found) = template[at..].find('$') {
        let dollar = at + found;
        let rest = &template[dollar..];
        if rest.starts_with("$${") {
            push_text(&mut pieces, template, text_start, dollar);
            pieces.push((dollar, Piece::Text(&rest[1..3])));
            at = dollar + 3;
            text_start = at;
        } else if let Some(after) = rest.strip_prefix("${") {
            let Some(length) = after.find('}') else { return Err(TemplateError::Unclosed { at: dollar }) };
            let name = &after[..length];
            if !is_variable_name(name) {
                return Err(TemplateError::BadName { at: dollar, name: name.to_string() });
            }
            push_text(&mut pieces, template, text_start, dollar);
            pieces.push((dollar, Piece::Variable(name)));
            at = dollar + 3 + length;
            text_start = at;
        } else {
            at = dollar + 1;
        }
    }
    push_text(&mut pieces, template, text_start, template.len());
    Ok(pieces)
}

/// The variables `template` uses, each once, in the order they first appear.
pub fn variables(template: &str) -> Result<Vec<&str>, TemplateError> {
    let mut names: Vec<&str> = Vec::new();
    for (_, piece) in pieces(template)? {
        if let Piece::Variable(name) = piece {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// `template` with each `${NAME}` replaced by `lookup(NAME)` and each `$${` by `${`.
pub fn expand(
    template: &str,
    mut lookup: impl FnMut(&str) -> Result<String, VarError>,
) -> Result<String, TemplateError> {
    let mut expanded = String::with_capacity(template.len());
    for (_, piece) in pieces(template)? {
        match piece {
            Piece::Text(text) => expanded.push_str(text),
            Piece::Variable(name) => expanded.push_str(&value_of(name, &mut lookup)?),
        }
    }
    Ok(expanded)
}

/// The value of the variable `name` from `lookup`; the error says it is not set (or not text).
pub fn value_of(name: &str, mut lookup: impl FnMut(&str) -> Result<String, VarError>) -> Result<String, TemplateError> {
    lookup(name).map_err(|error| match error {
        VarError::NotPresent => TemplateError::Unset { name: name.to_string() },
        VarError::NotUnicode(_) => TemplateError::NotUnicode { name: name.to_string() },
    })
}

/// Whether `name` is an environment variable name: letters, digits and `_`, not starting with
/// a digit.
fn is_variable_name(name: &str) -> bool {
    name.chars().next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Adds `template[start..end]` as a text piece, unless it is empty.
fn push_text<'a>(pieces: &mut Vec<(usize, Piece<'a>)>, template: &'a str, start: usize, end: usize) {
    if start < end {
        pieces.push((start, Piece::Text(&template[start..end])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup that knows `TOKEN` and `HOST` only.
    fn lookup(name: &str) -> Result<String, VarError> {
        match name {
            "TOKEN" => Ok("s3cret".into()),
            "HOST" => Ok("api.example.com".into()),
            _ => Err(VarError::NotPresent),
        }
    }

    fn check(template: &str, expected: Result<&str, TemplateError>) {
        assert_eq!(expand(template, lookup), expected.map(str::to_string), "{template:?}");
    }

    #[test]
    fn variables_are_replaced_and_everything_else_is_kept() {
        check("Bearer ${TOKEN}", Ok("Bearer s3cret"));
        check(
            "https://${HOST}/v1?key=${TOKEN}&again=${TOKEN}",
            Ok("https://api.example.com/v1?key=s3cret&again=s3cret"),
        );
        check("plain", Ok("plain"));
        check("", Ok(""));
        check("$HOME, $5, a lone $ and a trailing $", Ok("$HOME, $5, a lone $ and a trailing $"));
        check("{not a variable} $ {TOKEN}", Ok("{not a variable} $ {TOKEN}"));
        check("price: $$5", Ok("price: $$5"));
    }

    #[test]
    fn a_doubled_dollar_before_a_brace_is_a_literal_dollar_brace() {
        check("$${TOKEN}", Ok("${TOKEN}"));
        check("a $${ b", Ok("a ${ b"));
    }

    #[test]
    fn malformed_and_unset_variables_say_what_and_where() {
        check("Bearer ${TOKEN", Err(TemplateError::Unclosed { at: 7 }));
        check("${}", Err(TemplateError::BadName { at: 0, name: String::new() }));
        check("x ${ TOKEN }", Err(TemplateError::BadName { at: 2, name: " TOKEN ".into() }));
        check("${1ST}", Err(TemplateError::BadName { at: 0, name: "1ST".into() }));
        check("Bearer ${MISSING}", Err(TemplateError::Unset { name: "MISSING".into() }));
        let said = |error: TemplateError| format!("the header 'Authorization' {error}");
        assert_eq!(
            said(TemplateError::Unset { name: "MISSING".into() }),
            "the header 'Authorization' uses ${MISSING}, which is not set: set the environment variable MISSING"
        );
        assert_eq!(
            said(TemplateError::Unclosed { at: 7 }),
            "the header 'Authorization' has a '${' at byte 7 without its closing '}': write ${NAME} for a variable, \
             or $${ for a literal '${'"
        );
        assert_eq!(
            said(TemplateError::BadName { at: 0, name: String::new() }),
            "the header 'Authorization' has '${}' at byte 0, which names no variable: write ${NAME}"
        );
        let not_unicode = expand("${TOKEN}", |_| Err(VarError::NotUnicode("\u{FFFD}".into())));
        assert_eq!(not_unicode, Err(TemplateError::NotUnicode { name: "TOKEN".into() }));
    }

    #[test]
    fn the_variables_used_are_listed_once_in_order() {
        assert_eq!(variables("${B} ${A} ${B} $${C}"), Ok(vec!["B", "A"]));
        assert_eq!(variables("none"), Ok(vec![]));
        assert_eq!(
            pieces("a${X}$${b"),
            Ok(vec![(0, Piece::Text("a")), (1, Piece::Variable("X")), (5, Piece::Text("${")), (8, Piece::Text("b"))])
        );
    }
}
