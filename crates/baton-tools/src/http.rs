//! HTTP tools (`kind = "http"`): one request per call, built from a URL template and the
//! arguments.
//!
//! Placeholders `{name}` in the URL's path and query are filled from the arguments; the other
//! arguments become the query (GET, DELETE, HEAD) or the JSON body (POST, PUT, PATCH). The URL
//! and header values may use `${VAR}` ([`baton_core::env_template`]), read from the environment
//! at each call, so a rotated secret is picked up at once. An argument never chooses where the
//! request goes: a placeholder in the scheme, host or port is refused when the tool is built, and
//! `egress` keeps host names from internal addresses and redirects within the URL's origin
//! unless `allow_hosts` lists the host. Proxy environment variables are ignored, since a proxy
//! would resolve the host itself, out of that check's sight. There is no overall time limit here:
//! [`crate::guard::Guarded`] sets it, and dropping a call aborts its request.
//!
//! What a team file says of such a tool (its settings, the placeholders of its URL template,
//! its `allow_hosts`) is read here in every build, so a team file is checked alike in each;
//! [`HttpTool`], the client that sends the requests, is the cargo feature `http`.

#[cfg(feature = "http")]
mod address;
#[cfg(feature = "http")]
mod egress;
#[cfg(feature = "http")]
mod tool;

#[cfg(feature = "http")]
pub use tool::{HttpTool, HttpToolError};

use baton_core::env_template::{self, Piece};
use std::net::IpAddr;
use url::Url;

/// What an HTTP tool sends, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpToolConfig {
    /// The method, e.g. `"GET"`.
    pub method: String,
    /// The URL, with `{name}` placeholders (in the path and query only) filled from the arguments
    /// and `${VAR}` from the environment.
    pub url: String,
    /// Headers sent with every request; values may use `${VAR}` to read an environment variable.
    pub headers: Vec<(String, String)>,
    /// Hosts (names or IP addresses) reached even at internal addresses, and to which redirects
    /// from the URL's origin are followed.
    pub allow_hosts: Vec<String>,
}

/// What is wrong with a URL template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A brace that is not closed, a placeholder with no name or a malformed `${VAR}`.
    #[error("{0}")]
    Malformed(String),
    /// A placeholder before the end of the host: the argument would choose where requests go.
    #[error(
        "{{{0}}} is in the scheme, host or port, where an argument may not go: write the host itself \
         (https://api.example.com/items/{{id}}) or read the address from the environment \
         (${{API_BASE}}/items/{{id}}); arguments fill only the path and the query"
    )]
    InOrigin(String),
}

/// A piece of a URL template: text kept as is, a slot filled from an argument, or an
/// environment variable, each filled at each call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(String),
    Variable(String),
}

/// The `{name}` placeholders of a URL template, each once, in the order they first appear
/// (`${VAR}` are environment variables, not placeholders); the error says what is wrong with a
/// brace that is not closed, a placeholder with no name, a malformed `${VAR}` or a placeholder
/// in the scheme, host or port.
pub fn placeholders(url_template: &str) -> Result<Vec<String>, TemplateError> {
    let parts = parse_url(url_template).map_err(TemplateError::Malformed)?;
    fixed_origin(&parts)?;
    let mut names: Vec<String> = Vec::new();
    for part in parts {
        if let Part::Slot(name) = part {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Whether `text` is a host as `allow_hosts` takes one: a host name or an IP address alone, without
/// scheme, port or path.
pub fn is_host(text: &str) -> bool {
    host(text).is_some()
}

/// A host as written in `allow_hosts` or a URL.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // only the client reads which host it is
pub(crate) enum Host {
    Address(IpAddr),
    Name(String),
}

/// `text` as a host, normalised as a URL's host is (lower case, punycode, IPv4 in any notation
/// the URL standard reads), if it is a host alone.
pub(crate) fn host(text: &str) -> Option<Host> {
    let unbracketed = text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(text);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Some(Host::Address(ip));
    }
    if text.is_empty() || text.contains([':', '/', '@', '?', '#', '[', ']', '\\', '%', ' ']) {
        return None;
    }
    let url = Url::parse(&format!("http://{text}/")).ok()?;
    let normalised = url.host_str()?;
    Some(match normalised.parse::<IpAddr>() {
        Ok(ip) => Host::Address(ip),
        Err(_) => Host::Name(normalised.to_string()),
    })
}

/// Splits a URL template into text, `${VAR}` variables and `{argument}` slots.
fn parse_url(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    for (offset, piece) in env_template::pieces(template).map_err(|error| format!("it {error}"))? {
        match piece {
            Piece::Variable(name) => parts.push(Part::Variable(name.to_string())),
            // An escaped `$${` is a literal `${`, not the start of a slot.
            Piece::Text(text) if template[offset..].starts_with("$${") => parts.push(Part::Text(text.to_string())),
            Piece::Text(text) => parts.extend(parse_slots(text, offset)?),
        }
    }
    Ok(parts)
}

/// Splits `template`, written at byte `offset` of the URL, into text and `{name}` slots.
fn parse_slots(template: &str, mut offset: usize) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = match (after.find('}'), after.find('{')) {
            (Some(end), Some(nested)) if nested < end => None,
            (end, _) => end,
        };
        let Some(end) = end else {
            return Err(format!("'{{' at byte {} is not closed; write {{name}}", offset + start));
        };
        let name = &after[..end];
        if name.trim().is_empty() {
            return Err(format!("'{{}}' at byte {} has no name; write {{name}}", offset + start));
        }
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        parts.push(Part::Slot(name.to_string()));
        let consumed = start + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

/// Checks that no argument can choose where a request goes: each slot comes after the end of the
/// host, a '/', '?' or '#' written after the "://" (or after a variable, which may hold the
/// scheme and host).
fn fixed_origin(template: &[Part]) -> Result<(), TemplateError> {
    let mut in_host = false;
    for part in template {
        match part {
            Part::Slot(name) => return Err(TemplateError::InOrigin(name.clone())),
            Part::Variable(_) => in_host = true,
            Part::Text(text) => {
                let rest = match text.find("://") {
                    Some(at) => {
                        in_host = true;
                        &text[at + 3..]
                    }
                    None if in_host => text.as_str(),
                    None => continue,
                };
                if rest.contains(['/', '?', '#']) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_listed_once_in_order() {
        assert_eq!(placeholders("https://x/{org}/repos/{repo}?q={org}"), Ok(vec!["org".into(), "repo".into()]));
        assert_eq!(placeholders("https://x/plain"), Ok(vec![]));
    }

    #[test]
    fn malformed_placeholders_say_where_and_what_to_write() {
        let unclosed = placeholders("https://x/{id").unwrap_err().to_string();
        assert!(unclosed.contains("'{' at byte 10 is not closed"), "{unclosed}");
        let nested = placeholders("https://x/{a{b}").unwrap_err().to_string();
        assert!(nested.contains("at byte 10 is not closed"), "{nested}");
        let empty = placeholders("https://x/{}").unwrap_err().to_string();
        assert!(empty.contains("'{}' at byte 10 has no name"), "{empty}");
    }

    #[test]
    fn placeholders_may_fill_only_the_path_and_the_query() {
        for (template, slot) in [
            ("http://{host}/items", "host"),
            ("https://api.example.com{suffix}", "suffix"),
            ("https://api.example.com.{zone}/x", "zone"),
            ("http://127.0.0.1:{port}/items", "port"),
            ("{scheme}://api.example.com/items", "scheme"),
            ("https://{user}@api.example.com/items", "user"),
            ("https://${HOST}:{port}/items", "port"),
            ("${SCHEME}://{host}/items", "host"),
            ("${BASE}{path}", "path"),
            ("https://$${literal}{host}/", "host"),
        ] {
            assert_eq!(placeholders(template), Err(TemplateError::InOrigin(slot.into())), "{template}");
        }
        for template in [
            "https://api.example.com/{id}",
            "https://api.example.com?q={q}",
            "https://api.example.com#{fragment}",
            "https://api.example.com:8443/items/{id}/x?q={q}",
            "${BASE}/items/{id}",
            "https://${HOST}/items/{id}",
            "${BASE}?q={q}",
        ] {
            assert!(placeholders(template).is_ok(), "{template}");
        }
        let message = TemplateError::InOrigin("host".into()).to_string();
        assert!(message.starts_with("{host} is in the scheme, host or port"), "{message}");
        assert!(message.contains("(${API_BASE}/items/{id})"), "{message}");
    }
}
