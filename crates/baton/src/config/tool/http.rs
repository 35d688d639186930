//! `kind = "http"`: a method, a URL template whose `{placeholders}` are arguments, in its path and
//! query only (and whose `${VAR}` are environment variables, read at each call), headers, and
//! `allow_hosts`, the hosts it may reach at internal addresses or be redirected to.

use super::super::diagnostic::Report;
use super::super::raw::RawTool;
use super::super::templates;
use super::{headers, schema, ToolKind};
use baton_core::ToolDef;
use baton_tools::http::{is_host, placeholders, HttpToolConfig, TemplateError};
use serde_json::{json, Value};
use toml::Spanned;

/// The methods an HTTP tool may use.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The HTTP tool's settings; without `args`, each placeholder is a required string argument.
pub(super) fn build(
    name: &Spanned<String>,
    raw: &RawTool,
    definition: &mut ToolDef,
    report: &mut Report<'_>,
) -> Option<ToolKind> {
    let method = match &raw.method {
        None => "GET".to_string(),
        Some(method) if METHODS.contains(&method.get_ref().to_uppercase().as_str()) => method.get_ref().to_uppercase(),
        Some(method) => {
            report.error(
                method.span().start,
                format!("unknown HTTP method '{}'", method.get_ref()),
                "use GET, POST, PUT, PATCH or DELETE",
            );
            return None;
        }
    };
    let Some(url) = &raw.url else {
        report.error(
            name.span().start,
            format!("http tool '{}' has no url", name.get_ref()),
            "add url = \"https://api.example.com/invoices/{invoice_number}\" ({name} placeholders are arguments)",
        );
        return None;
    };
    let at = url.span().start;
    let template = url.get_ref();
    if !templates::is_http_url(template) {
        report.error(
            at,
            format!("the url '{template}' is not an http(s) address"),
            "start it with https:// (or http://)",
        );
        return None;
    }
    let headers = headers(name, raw, report);
    if !templates::check(url, &format!("the url of tool '{}'", name.get_ref()), report) {
        return None;
    }
    let names = match placeholders(template) {
        Ok(names) => names,
        Err(TemplateError::Malformed(why)) => {
            report.error(at, format!("the url '{template}' is malformed: {why}"), "write placeholders as {argument}");
            return None;
        }
        Err(TemplateError::InOrigin(slot)) => {
            report.error(
                at,
                format!(
                    "the url of tool '{}' lets the argument {{{slot}}} choose the scheme, host or port",
                    name.get_ref()
                ),
                "write the host in the url, e.g. https://api.example.com/items/{id}, or read the address from the \
                 environment, e.g. ${API_BASE}/items/{id}; arguments fill only the path and the query (a tool for \
                 each host)",
            );
            return None;
        }
    };
    let allow_hosts = allow_hosts(name, raw, report)?;
    definition.parameters = match &raw.args {
        Some(args) => {
            let parameters = schema(args, report)?;
            let declared = parameters.get("properties").and_then(Value::as_object);
            if let Some(missing) = names.iter().find(|name| !declared.is_some_and(|d| d.contains_key(name.as_str()))) {
                report.error(
                    at,
                    format!("the url uses {{{missing}}}, which args does not declare"),
                    format!("add {missing} to args.properties, e.g. {missing} = {{ type = \"string\" }}"),
                );
                return None;
            }
            parameters
        }
        None => {
            let properties: serde_json::Map<String, Value> =
                names.iter().map(|name| (name.clone(), json!({ "type": "string" }))).collect();
            json!({ "type": "object", "properties": properties, "required": names })
        }
    };
    Some(ToolKind::Http(HttpToolConfig { method, url: template.clone(), headers: headers?, allow_hosts }))
}

/// `allow_hosts`, each a host name or an IP address alone; `None` when one is not.
fn allow_hosts(name: &Spanned<String>, raw: &RawTool, report: &mut Report<'_>) -> Option<Vec<String>> {
    let Some(hosts) = &raw.allow_hosts else { return Some(Vec::new()) };
    let errors = report.error_count();
    for host in hosts.get_ref().iter().filter(|host| !is_host(host.get_ref())) {
        report.error(
            host.span().start,
            format!("allow_hosts of tool '{}' lists '{}', which is not a host", name.get_ref(), host.get_ref()),
            "write a host name or an IP address alone, without scheme, port or path, e.g. allow_hosts = \
             [\"api.example.com\", \"10.0.0.5\"]",
        );
    }
    (report.error_count() == errors).then(|| hosts.get_ref().iter().map(|host| host.get_ref().clone()).collect())
}
