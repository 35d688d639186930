//! `kind = "command"`: a program run without a shell, the arguments as JSON on its stdin, in a
//! clean environment: `env` is a table of variables to set (`{ NAME = "value with ${VAR}" }`)
//! or a list of baton's variables to pass through (`["NAME", ...]`).

use super::super::diagnostic::Report;
use super::super::raw::RawTool;
use super::{env, program, schema, working_dir, ToolKind};
use baton_core::ToolDef;
use baton_tools::command::CommandToolConfig;
use std::path::Path;
use toml::Spanned;

/// The command tool's settings.
pub(super) fn build(
    name: &Spanned<String>,
    raw: &RawTool,
    dir: &Path,
    definition: &mut ToolDef,
    report: &mut Report<'_>,
) -> Option<ToolKind> {
    let Some(command) = &raw.command else {
        report.error(
            name.span().start,
            format!("command tool '{}' has no command", name.get_ref()),
            "add command = [\"python3\", \"refund.py\"] (the program and its arguments; no shell)",
        );
        return None;
    };
    if let Some(args) = &raw.args {
        definition.parameters = schema(args, report)?;
    }
    let (program, args) = program(command, dir, report)?;
    let cwd = working_dir(raw, dir, report)?;
    let env = env(name, raw, report)?;
    Some(ToolKind::Command(CommandToolConfig { program, args, cwd: Some(cwd), env: env.set, pass_env: env.pass }))
}
