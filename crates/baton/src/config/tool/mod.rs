//! Tool settings: how the shell builds each tool the team declares, and the definition models
//! see. The keys every kind shares (`description`, `args`, `timeout`, `idempotent`,
//! `approval`, `max_result_bytes`, `examples`) are read here; each kind's own keys in its module.

mod command;
mod http;
mod lookup;
mod mcp;

use super::diagnostic::Report;
use super::raw::{RawEnv, RawTool};
use super::templates;
use baton_core::names::closest;
use baton_core::{Approval, Rule, Severity, ToolDef};
use baton_tools::command::CommandToolConfig;
use baton_tools::guard::ToolSettings;
use baton_tools::http::HttpToolConfig;
use baton_tools::mcp::McpConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The tool kinds a team file may use.
const KINDS: [&str; 5] = ["lookup", "http", "command", "mcp", "rust"];

/// The longest `timeout`, in seconds.
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// The bounds of `max_result_bytes`.
const RESULT_BYTES: std::ops::RangeInclusive<i64> = 64..=16 * 1024 * 1024;

/// How the shell builds one tool of the team.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolConfig {
    /// What kind of tool it is, with that kind's settings.
    pub kind: ToolKind,
    /// The time limit and result cap every call gets.
    pub settings: ToolSettings,
}

/// A tool's kind and its own settings.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolKind {
    /// Answers from a JSON object keyed by the tool's one string argument (`kind = "lookup"`).
    Lookup {
        /// The JSON data file, resolved relative to the team file's directory.
        data: PathBuf,
        /// The name of the tool's one required string argument.
        key: String,
    },
    /// Calls an HTTP API (`kind = "http"`).
    Http(HttpToolConfig),
    /// Runs a program (`kind = "command"`).
    Command(CommandToolConfig),
    /// Offers the tools of an MCP server (`kind = "mcp"`); the entry's name stands for all of
    /// them until the server is asked which it has.
    Mcp(McpConfig),
    /// Supplied by the Rust program that embeds baton (`kind = "rust"`).
    Rust,
}

impl ToolConfig {
    /// The settings of tool `name` and the definition models see of it, after reporting what is
    /// wrong with them. The definition is there even when the settings are not, so that agents
    /// naming the tool are not reported too.
    pub(crate) fn from_raw(
        name: &Spanned<String>,
        raw: &RawTool,
        dir: &Path,
        report: &mut Report<'_>,
    ) -> (Option<ToolConfig>, ToolDef) {
        let tool = name.get_ref();
        let mut definition = ToolDef::new(
            tool.clone(),
            raw.description.as_ref().map(|d| d.get_ref().clone()).unwrap_or_default(),
            json!({ "type": "object" }),
        );
        definition.examples = raw.examples.as_ref().map(|e| e.get_ref().clone()).unwrap_or_default();
        definition.idempotent = raw.idempotent.as_ref().is_none_or(|i| *i.get_ref());
        let errors = report.error_count();
        definition.approval = raw.approval.as_ref().and_then(|a| approval(a, report)).unwrap_or_default();
        let settings = settings(raw, report);
        let Some(kind) = &raw.kind else {
            report.error(
                name.span().start,
                format!("tool '{tool}' has no kind"),
                format!("add kind = \"...\", one of {}", baton_core::names::list(KINDS)),
            );
            return (None, definition);
        };
        let kind_name = kind.get_ref().as_str();
        if !KINDS.contains(&kind_name) {
            let help = match closest(kind_name, KINDS) {
                Some(suggestion) => format!("did you mean '{suggestion}'?"),
                None => format!("use one of {}", baton_core::names::list(KINDS)),
            };
            report.error(kind.span().start, format!("unknown tool kind '{kind_name}'"), help);
            return (None, definition);
        }
        refuse_foreign_keys(kind_name, raw, report);
        let built = match kind_name {
            "lookup" => lookup::build(name, raw, dir, &mut definition, report),
            "http" => http::build(name, raw, &mut definition, report),
            "command" => command::build(name, raw, dir, &mut definition, report),
            "mcp" => mcp::build(name, raw, dir, report),
            _ => Some(ToolKind::Rust),
        };
        let config = built.filter(|_| report.error_count() == errors).map(|kind| ToolConfig { kind, settings });
        (config, definition)
    }
}

/// The keys each kind takes besides the shared ones.
fn own_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "lookup" => &["data", "key", "pattern"],
        "http" => &["args", "method", "url", "headers", "allow_hosts"],
        "command" => &["args", "command", "cwd", "env"],
        "mcp" => &["url", "headers", "command", "cwd", "env", "include", "exclude"],
        _ => &[],
    }
}

/// Reports every key set that the tool's kind does not take.
fn refuse_foreign_keys(kind: &str, raw: &RawTool, report: &mut Report<'_>) {
    let set: [(&str, Option<usize>); 14] = [
        ("args", raw.args.as_ref().map(|v| v.span().start)),
        ("data", raw.data.as_ref().map(|v| v.span().start)),
        ("key", raw.key.as_ref().map(|v| v.span().start)),
        ("pattern", raw.pattern.as_ref().map(|v| v.span().start)),
        ("method", raw.method.as_ref().map(|v| v.span().start)),
        ("url", raw.url.as_ref().map(|v| v.span().start)),
        ("headers", raw.headers.as_ref().map(|v| v.span().start)),
        ("allow_hosts", raw.allow_hosts.as_ref().map(|v| v.span().start)),
        ("command", raw.command.as_ref().map(|v| v.span().start)),
        ("cwd", raw.cwd.as_ref().map(|v| v.span().start)),
        ("env", raw.env.as_ref().map(|v| v.span().start)),
        ("include", raw.include.as_ref().map(|v| v.span().start)),
        ("exclude", raw.exclude.as_ref().map(|v| v.span().start)),
        ("description", raw.description.as_ref().filter(|_| kind == "mcp").map(|v| v.span().start)),
    ];
    for (key, at) in set {
        let Some(at) = at else { continue };
        if key == "description" {
            report.error(
                at,
                "an MCP entry takes its tools' descriptions from the server",
                "remove the description line",
            );
        } else if !own_keys(kind).contains(&key) {
            let takes = own_keys(kind).join(", ");
            report.error(
                at,
                format!("'{key}' does not apply to a {kind} tool"),
                format!("remove it ({kind} tools take {takes})"),
            );
        }
    }
}

/// `approval = "never" | "required" | { when = "RULE" | ["RULE", ...] }`.
fn approval(value: &Spanned<Value>, report: &mut Report<'_>) -> Option<Approval> {
    const HELP: &str =
        "write approval = \"never\", \"required\", or { when = \"amount > 100\" } (a rule on an argument)";
    let at = value.span().start;
    let rules = match value.get_ref() {
        Value::String(word) if word == "never" => return Some(Approval::Never),
        Value::String(word) if word == "required" => return Some(Approval::Required),
        Value::Object(table) if table.len() == 1 => match table.get("when") {
            Some(Value::String(rule)) => vec![rule.clone()],
            Some(Value::Array(rules)) if !rules.is_empty() && rules.iter().all(Value::is_string) => {
                rules.iter().filter_map(|rule| rule.as_str().map(String::from)).collect()
            }
            _ => {
                report.error(at, "approval needs when = \"RULE\" or a list of rules", HELP);
                return None;
            }
        },
        other => {
            report.error(at, format!("approval cannot be {other}"), HELP);
            return None;
        }
    };
    let wanted = rules.len();
    let mut parsed = Vec::new();
    for rule in rules {
        match Rule::parse(&rule) {
            Ok(rule) => parsed.push(rule),
            Err(why) => report.error(at, format!("approval rule {why}"), HELP),
        }
    }
    (parsed.len() == wanted).then_some(Approval::When(parsed))
}

/// `timeout` and `max_result_bytes`, checked.
fn settings(raw: &RawTool, report: &mut Report<'_>) -> ToolSettings {
    let mut settings = ToolSettings::default();
    if let Some(timeout) = &raw.timeout {
        let secs = *timeout.get_ref();
        if secs > 0.0 && secs <= MAX_TIMEOUT_SECS {
            settings.timeout = Duration::from_secs_f64(secs);
        } else {
            report.error(
                timeout.span().start,
                format!("timeout = {secs} is out of range"),
                "give the seconds a call may take, more than 0 and at most 86400 (default 30)",
            );
        }
    }
    if let Some(bytes) = &raw.max_result_bytes {
        match usize::try_from(*bytes.get_ref()) {
            Ok(n) if RESULT_BYTES.contains(bytes.get_ref()) => settings.max_result_bytes = n,
            _ => report.error(
                bytes.span().start,
                format!("max_result_bytes = {} is out of range", bytes.get_ref()),
                "give at least 64 and at most 16777216 (default 32768)",
            ),
        }
    }
    settings
}

/// The arguments' JSON schema: an object schema (`type` defaults to "object").
fn schema(args: &Spanned<Value>, report: &mut Report<'_>) -> Option<Value> {
    const HELP: &str =
        "write the JSON schema of the arguments, e.g. args = { properties = { amount = { type = \"number\" } }, required = [\"amount\"] }";
    let at = args.span().start;
    let Value::Object(schema) = args.get_ref() else {
        report.error(at, "args must be a table (the JSON schema of the arguments object)", HELP);
        return None;
    };
    let mut schema = schema.clone();
    match schema.get("type") {
        None => {
            schema.insert("type".into(), json!("object"));
        }
        Some(Value::String(kind)) if kind == "object" => {}
        Some(other) => {
            report.error(at, format!("args must describe an object, not type = {other}"), HELP);
            return None;
        }
    }
    let properties = match schema.get("properties") {
        None => serde_json::Map::new(),
        Some(Value::Object(properties)) if properties.values().all(Value::is_object) => properties.clone(),
        Some(_) => {
            report.error(at, "args.properties must be a table of one schema per argument", HELP);
            return None;
        }
    };
    if let Some(required) = schema.get("required") {
        let names: Option<Vec<&str>> = required.as_array().and_then(|r| r.iter().map(Value::as_str).collect());
        match names {
            Some(names) => {
                if let Some(missing) = names.iter().find(|name| !properties.contains_key(**name)) {
                    report.error(
                        at,
                        format!("args.required names '{missing}', which args.properties does not declare"),
                        HELP,
                    );
                    return None;
                }
            }
            None => {
                report.error(at, "args.required must be a list of argument names", HELP);
                return None;
            }
        }
    }
    Some(Value::Object(schema))
}

/// A program's `env`: the variables it sets and the names it passes through from baton's
/// environment.
#[derive(Default)]
struct Env {
    set: Vec<(String, String)>,
    pass: Vec<String>,
}

/// The `env` of a program, after checking the `${VAR}` of the values a table sets, or the names
/// a list passes (one not set here is a warning); `None` when one is malformed.
fn env(name: &Spanned<String>, raw: &RawTool, report: &mut Report<'_>) -> Option<Env> {
    let tool = name.get_ref();
    match raw.env.as_ref().map(Spanned::get_ref) {
        None => Some(Env::default()),
        Some(RawEnv::Set(table)) => {
            let mut well_formed = true;
            for (variable, value) in table {
                well_formed &=
                    templates::check(value, &format!("the environment variable {variable} of tool '{tool}'"), report);
            }
            let set = table.iter().map(|(variable, value)| (variable.clone(), value.get_ref().clone())).collect();
            well_formed.then_some(Env { set, pass: Vec::new() })
        }
        Some(RawEnv::Pass(names)) => {
            let mut pass = Vec::new();
            for variable in names {
                let (at, text) = (variable.span().start, variable.get_ref());
                if !is_variable_name(text) {
                    report.error(
                        at,
                        format!("env of tool '{tool}' lists '{text}', which is not an environment variable name"),
                        "list names of letters, digits and '_', not starting with a digit, e.g. env = [\"AWS_PROFILE\"]",
                    );
                    continue;
                }
                if std::env::var_os(text).is_none() {
                    let help = format!(
                        "baton passes {text} to the program when the team runs, if it is set then: set it in that \
                         environment, or fix the name"
                    );
                    report.push(
                        Severity::Warning,
                        at,
                        format!("env of tool '{tool}' passes {text}, which is not set"),
                        Some(help),
                    );
                }
                pass.push(text.clone());
            }
            (pass.len() == names.len()).then_some(Env { set: Vec::new(), pass })
        }
    }
}

/// Whether `text` is an environment variable name as `${NAME}` reads one: letters, digits and
/// '_', not starting with a digit.
fn is_variable_name(text: &str) -> bool {
    text.chars().next().is_some_and(|first| !first.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The headers of a tool, as pairs, after checking their `${VAR}`; `None` when one is malformed.
fn headers(name: &Spanned<String>, raw: &RawTool, report: &mut Report<'_>) -> Option<Vec<(String, String)>> {
    let tool = name.get_ref();
    let setting = |header: &str| format!("the header '{header}' of tool '{tool}'");
    templates::check_each(&raw.headers, setting, report).then(|| templates::pairs(&raw.headers))
}

/// A program and its arguments: the program resolved against the team file's directory when it
/// is a path (`./refund.py`, `tools/refund`), left for `PATH` when it is a bare name.
fn program(command: &Spanned<Vec<String>>, dir: &Path, report: &mut Report<'_>) -> Option<(PathBuf, Vec<String>)> {
    let at = command.span().start;
    let Some((program, args)) = command.get_ref().split_first().filter(|(p, _)| !p.trim().is_empty()) else {
        report.error(
            at,
            "command is empty",
            "write the program and its arguments, e.g. command = [\"python3\", \"refund.py\"]",
        );
        return None;
    };
    if !program.contains('/') {
        return Some((PathBuf::from(program), args.to_vec()));
    }
    let resolved = dir.join(program);
    if !resolved.is_file() {
        report.error(
            at,
            format!("the program '{program}' does not exist (looked for {})", resolved.display()),
            "fix the path (relative to the team file), or give a program on PATH by its bare name",
        );
        return None;
    }
    Some((resolved, args.to_vec()))
}

/// The working directory: `cwd` resolved against the team file's directory, or that directory.
fn working_dir(raw: &RawTool, dir: &Path, report: &mut Report<'_>) -> Option<PathBuf> {
    let Some(cwd) = &raw.cwd else { return Some(dir.to_path_buf()) };
    let resolved = dir.join(cwd.get_ref());
    if resolved.is_dir() {
        Some(resolved)
    } else {
        let message = format!("cwd '{}' is not a directory (looked at {})", cwd.get_ref(), resolved.display());
        report.error(cwd.span().start, message, "fix the path (relative to the team file)");
        None
    }
}
