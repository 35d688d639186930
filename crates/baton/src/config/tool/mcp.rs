//! `kind = "mcp"`: an MCP server over stdio (`command`) or streamable HTTP (`url`), with
//! `include`/`exclude` lists of its tools.

use super::super::diagnostic::Report;
use super::super::raw::RawTool;
use super::super::templates;
use super::{env, headers, program, working_dir, ToolKind};
use baton_tools::mcp::{McpConfig, McpTransport};
use std::path::Path;
use toml::Spanned;

/// The MCP entry's settings.
pub(super) fn build(name: &Spanned<String>, raw: &RawTool, dir: &Path, report: &mut Report<'_>) -> Option<ToolKind> {
    let transport = match (&raw.command, &raw.url) {
        (Some(command), None) => {
            if let Some(headers) = &raw.headers {
                report.error(
                    headers.span().start,
                    "headers apply to an MCP server reached by url",
                    "remove the headers line",
                );
            }
            let (program, args) = program(command, dir, report)?;
            let command = std::iter::once(program.display().to_string()).chain(args).collect();
            let cwd = working_dir(raw, dir, report)?;
            let env = env(name, raw, report)?;
            if let (false, Some(list)) = (env.pass.is_empty(), &raw.env) {
                report.error(
                    list.span().start,
                    "an MCP server's env sets variables; it takes no list of names",
                    "pass one of baton's variables through with env = { NAME = \"${NAME}\" }, or set one with \
                     env = { NAME = \"value\" }",
                );
                return None;
            }
            McpTransport::Stdio { command, env: env.set, cwd: Some(cwd) }
        }
        (None, Some(url)) => {
            let at = url.span().start;
            if !templates::is_http_url(url.get_ref()) {
                report.error(
                    at,
                    format!("the url '{}' is not an http(s) address", url.get_ref()),
                    "start it with https:// (or http://)",
                );
                return None;
            }
            for (key, set) in
                [("env", raw.env.as_ref().map(|v| v.span().start)), ("cwd", raw.cwd.as_ref().map(|v| v.span().start))]
            {
                if let Some(at) = set {
                    report.error(
                        at,
                        format!("'{key}' applies to an MCP server started by command"),
                        format!("remove the {key} line"),
                    );
                }
            }
            let setting = format!("the url of tool '{}'", name.get_ref());
            let url_well_formed = templates::check(url, &setting, report);
            let headers = headers(name, raw, report)?;
            if !url_well_formed {
                return None;
            }
            McpTransport::Http { url: url.get_ref().clone(), headers }
        }
        (Some(command), Some(_)) => {
            report.error(
                command.span().start,
                "an MCP entry has both command and url",
                "keep command (a server over stdio) or url (over HTTP)",
            );
            return None;
        }
        (None, None) => {
            report.error(
                name.span().start,
                format!("MCP entry '{}' has neither command nor url", name.get_ref()),
                "add command = [\"npx\", \"-y\", \"@modelcontextprotocol/server-everything\"] or url = \"http://host:port/mcp\"",
            );
            return None;
        }
    };
    let list = |names: &Option<Spanned<Vec<String>>>| names.as_ref().map(|n| n.get_ref().clone()).unwrap_or_default();
    Some(ToolKind::Mcp(McpConfig {
        name: name.get_ref().clone(),
        transport,
        include: list(&raw.include),
        exclude: list(&raw.exclude),
    }))
}
