//! Colours for what people read: agent names, changes of control, the user's words, errors and
//! warnings. The styles are written into the text, and every human-readable line goes out
//! through `anstream`'s `println!`/`eprintln!`, which keep them on a terminal and strip them when
//! the stream is piped or redirected, when `NO_COLOR` is set or `TERM` is `dumb` (`CLICOLOR_FORCE`
//! keeps them anyway). JSON output is never styled: nothing here is applied to it.

use anstyle::{AnsiColor, Style};
use baton::config::Diagnostic;
use baton::core::Severity;
use std::fmt::Display;

/// An agent's name.
pub const AGENT: Style = AnsiColor::Cyan.on_default().bold();
/// A change of control: a handoff's or a routing's arrow.
pub const HANDOFF: Style = AnsiColor::Magenta.on_default().bold();
/// The user's words (`you:`).
pub const USER: Style = AnsiColor::Green.on_default().bold();
/// `error:` and what failed.
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
/// `warning:` and what waits for a person.
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
/// What to type next, and other asides.
pub const NOTE: Style = Style::new().dimmed();
/// A heading, such as a turn's opening line in a trace.
pub const HEADING: Style = Style::new().bold();

/// `text` in `style` (plain wherever the output is not a colour terminal).
pub fn paint(style: Style, text: impl Display) -> String {
    format!("{style}{text}{style:#}")
}

/// An agent's name, coloured.
pub fn agent(name: &str) -> String {
    paint(AGENT, name)
}

/// A team file's diagnostic with its `error:` or `warning:` coloured.
pub fn diagnostic(diagnostic: &Diagnostic) -> String {
    let text = diagnostic.to_string();
    let (word, style) = match diagnostic.severity {
        Severity::Error => ("error:", ERROR),
        Severity::Warning => ("warning:", WARNING),
    };
    match text.strip_prefix(word) {
        Some(rest) => format!("{}{rest}", paint(style, word)),
        None => text,
    }
}

/// Prints `error: …` on stderr, `error:` in red.
macro_rules! print_error {
    ($($message:tt)*) => {
        anstream::eprintln!("{} {}", $crate::paint::paint($crate::paint::ERROR, "error:"), format_args!($($message)*))
    };
}

/// Prints `warning: …` on stderr, `warning:` in yellow.
macro_rules! print_warning {
    ($($message:tt)*) => {
        anstream::eprintln!("{} {}", $crate::paint::paint($crate::paint::WARNING, "warning:"), format_args!($($message)*))
    };
}

/// Prints `note: …` on stderr, `note:` dimmed.
macro_rules! print_note {
    ($($message:tt)*) => {
        anstream::eprintln!("{} {}", $crate::paint::paint($crate::paint::NOTE, "note:"), format_args!($($message)*))
    };
}

pub(crate) use {print_error, print_note, print_warning};
