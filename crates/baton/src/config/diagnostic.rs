//! Diagnostics: one problem in a team file with its file, line, column and help, printed the way
//! compilers print them; and the collector that places problems found at byte offsets.

use super::position::line_column;
use baton_core::Severity;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a team file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The team file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// Whether this is an error (the team cannot run) rather than a warning.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// ```text
    /// error: handoff target 'techincal' is not defined
    ///   --> examples/support/team.toml:23:15
    ///   = help: did you mean 'technical'?
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: {}\n  --> {}:{}:{}", self.message, self.file.display(), self.line, self.column)?;
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Why a team file could not be loaded: every diagnostic found, errors and warnings, in file order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", paragraphs(.diagnostics))]
pub struct LoadError {
    /// The diagnostics, sorted by line and column; at least one is an error.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    /// The errors only, without the warnings.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|diagnostic| diagnostic.is_error())
    }
}

/// The diagnostics one per paragraph.
fn paragraphs(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(Diagnostic::to_string).collect::<Vec<_>>().join("\n\n")
}

/// Collects problems found at byte offsets of one team file and turns them into diagnostics.
pub(crate) struct Report<'a> {
    text: &'a str,
    file: &'a Path,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Report<'a> {
    /// An empty report for `text`, the contents of `file`.
    pub fn new(text: &'a str, file: &'a Path) -> Self {
        Report { text, file, diagnostics: Vec::new() }
    }

    /// Records a problem at byte `offset`.
    pub fn push(&mut self, severity: Severity, offset: usize, message: impl Into<String>, help: Option<String>) {
        let (line, column) = line_column(self.text, offset);
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
            help,
        });
    }

    /// Records an error at byte `offset`.
    pub fn error(&mut self, offset: usize, message: impl Into<String>, help: impl Into<String>) {
        self.push(Severity::Error, offset, message, Some(help.into()));
    }

    /// How many errors were recorded so far.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|diagnostic| diagnostic.is_error()).count()
    }

    /// Records an error the TOML parser or deserializer reported.
    pub fn toml_error(&mut self, error: &toml::de::Error, help: &str) {
        let offset = error.span().map_or(0, |span| span.start);
        self.error(offset, error.message(), help);
    }

    /// The warnings, or every diagnostic if there is an error; either way sorted by line and column.
    pub fn finish(self) -> Result<Vec<Diagnostic>, LoadError> {
        let error = self.into_error();
        if error.diagnostics.iter().any(Diagnostic::is_error) {
            Err(error)
        } else {
            Ok(error.diagnostics)
        }
    }

    /// Every diagnostic, sorted by line and column, for a load that stopped at an error.
    pub fn into_error(self) -> LoadError {
        let mut diagnostics = self.diagnostics;
        diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
        LoadError { diagnostics }
    }
}
