//! [`HttpTool`]: one request per call, built from the URL template and the arguments, sent by a
//! reqwest client whose resolver and redirect policy are `egress`.

use super::egress::{self, AllowHosts, Guard, Refused, SystemResolver};
use super::{fixed_origin, parse_url, HttpToolConfig, Part};
use crate::Tool;
use async_trait::async_trait;
use baton_core::env_template;
use baton_core::{ToolDef, ToolOutput};
use reqwest::dns::Resolve;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an answer's body is read; the rest is left unread.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How much of the body of a failed answer the error result quotes.
const ERROR_EXCERPT_BYTES: usize = 2000;

/// The methods that send the arguments as a JSON body.
const BODY_METHODS: [Method; 3] = [Method::POST, Method::PUT, Method::PATCH];

/// The methods that send the arguments as query parameters.
const QUERY_METHODS: [Method; 3] = [Method::GET, Method::DELETE, Method::HEAD];

/// Why an HTTP tool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpToolError {
    /// The method is not one an HTTP tool can use.
    #[error("the HTTP method '{0}' is not supported; use GET, POST, PUT, PATCH, DELETE or HEAD")]
    Method(String),
    /// The URL template has a malformed placeholder, or one in the scheme, host or port.
    #[error("the URL '{url}' is not a valid template: {detail}")]
    Template {
        /// The URL template.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// The URL is not an http or https address.
    #[error("the URL '{url}' is not a valid http:// or https:// address: {detail}")]
    Url {
        /// The URL template.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// A header name is not a valid HTTP header name.
    #[error("'{0}' is not a valid HTTP header name; use letters, digits and '-'")]
    HeaderName(String),
    /// A header value has a malformed `${VAR}`.
    #[error("the value of the header '{name}' is not valid: {detail}")]
    HeaderValue {
        /// The header.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// An entry of `allow_hosts` is not a bare host.
    #[error("allow_hosts: {0}")]
    AllowHost(String),
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// A tool that answers a call with one HTTP request.
pub struct HttpTool {
    definition: ToolDef,
    method: Method,
    sends_body: bool,
    url: Vec<Part>,
    headers: Vec<HeaderTemplate>,
    client: reqwest::Client,
}

/// A configured header: its name as written, for messages, and its value, whose `${VAR}`
/// are expanded at each call.
struct HeaderTemplate {
    name: HeaderName,
    written: String,
    value: String,
}

impl HttpTool {
    /// An HTTP tool offering `definition` that sends requests as `config` says.
    pub fn new(definition: ToolDef, config: HttpToolConfig) -> Result<Self, HttpToolError> {
        Self::with_resolver(definition, config, Arc::new(SystemResolver))
    }

    /// Like [`HttpTool::new`], resolving host names with `resolver` instead of the system's; the
    /// addresses it gives are kept from internal ones all the same.
    pub fn with_resolver(
        definition: ToolDef,
        config: HttpToolConfig,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Self, HttpToolError> {
        let Some(method) =
            BODY_METHODS.iter().chain(&QUERY_METHODS).find(|m| m.as_str().eq_ignore_ascii_case(&config.method))
        else {
            return Err(HttpToolError::Method(config.method));
        };
        let (method, sends_body) = (method.clone(), BODY_METHODS.contains(method));
        let url =
            parse_url(&config.url).map_err(|detail| HttpToolError::Template { url: config.url.clone(), detail })?;
        check_url(&url).map_err(|detail| HttpToolError::Url { url: config.url.clone(), detail })?;
        fixed_origin(&url)
            .map_err(|error| HttpToolError::Template { url: config.url.clone(), detail: error.to_string() })?;
        let allow = Arc::new(AllowHosts::new(&config.allow_hosts).map_err(HttpToolError::AllowHost)?);
        let mut headers = Vec::new();
        for (name, value) in &config.headers {
            let header =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| HttpToolError::HeaderName(name.clone()))?;
            env_template::pieces(value)
                .map_err(|error| HttpToolError::HeaderValue { name: name.clone(), detail: format!("it {error}") })?;
            headers.push(HeaderTemplate { name: header, written: name.clone(), value: value.clone() });
        }
        let tool = definition.name.clone();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .dns_resolver(Arc::new(Guard { tool: tool.clone(), allow: allow.clone(), inner: resolver }))
            .redirect(egress::redirects(tool, allow))
            .build()
            .map_err(HttpToolError::Client)?;
        Ok(HttpTool { definition, method, sends_body, url, headers, client })
    }

    /// The request for a call, or the error result that explains why none can be sent.
    fn request(&self, arguments: &Map<String, Value>, idempotency_key: &str) -> Result<reqwest::Request, String> {
        let filled = fill_url(&self.url, arguments, |var| std::env::var(var))?;
        let mut url = Url::parse(&filled).map_err(|e| self.invalid_url(arguments, &format!("is not valid ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.invalid_url(arguments, "is not an http:// or https:// address"));
        }
        let used: Vec<&str> = self
            .url
            .iter()
            .filter_map(|part| if let Part::Slot(name) = part { Some(name.as_str()) } else { None })
            .collect();
        let rest: Map<String, Value> = arguments
            .iter()
            .filter(|(name, _)| !used.contains(&name.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !self.sends_body {
            add_query(&mut url, &rest);
        }
        let mut builder = self.client.request(self.method.clone(), url).headers(self.headers(idempotency_key)?);
        if self.sends_body {
            builder = builder.json(&Value::Object(rest));
        }
        builder
            .build()
            .map_err(|e| format!("error: cannot build the request of '{}': {}", self.definition.name, reason(&e)))
    }

    /// Why the URL a call fills in cannot be sent. The URL is quoted with its environment
    /// variables as written, never their values (they may be secrets, and the message is a
    /// journaled result the model reads); the arguments are percent-encoded, so a URL that does
    /// not parse comes from a variable's value when the URL uses any.
    fn invalid_url(&self, arguments: &Map<String, Value>, what: &str) -> String {
        let as_written = fill_url(&self.url, arguments, |var| Ok(format!("${{{var}}}"))).unwrap_or_default();
        let variables: Vec<String> = self
            .url
            .iter()
            .filter_map(|part| if let Part::Variable(var) = part { Some(format!("${{{var}}}")) } else { None })
            .collect();
        let check = if variables.is_empty() {
            "check the arguments".to_string()
        } else {
            format!("check the value of {} in the environment", variables.join(", "))
        };
        format!("error: the URL '{as_written}' {what} once it is filled in; {check}")
    }

    /// The headers of a request: the idempotency key, then the configured ones with their
    /// environment variables expanded now.
    fn headers(&self, idempotency_key: &str) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        let key = HeaderValue::from_str(idempotency_key)
            .map_err(|_| format!("error: the idempotency key {idempotency_key:?} cannot be sent in an HTTP header"))?;
        headers.insert(HeaderName::from_static("idempotency-key"), key);
        for HeaderTemplate { name: header, written: name, value: template } in &self.headers {
            let text = env_template::expand(template, |var| std::env::var(var))
                .map_err(|error| format!("error: the header {name} {error}"))?;
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                format!("error: the value of the header {name} contains characters that cannot be sent in a header")
            })?;
            value.set_sensitive(template.contains("${"));
            headers.insert(header.clone(), value);
        }
        Ok(headers)
    }
}

#[async_trait]
impl Tool for HttpTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, arguments: &Value, idempotency_key: &str) -> ToolOutput {
        let name = &self.definition.name;
        let Some(arguments) = arguments.as_object() else {
            return ToolOutput::error(format!("error: the arguments of '{name}' must be a JSON object"));
        };
        let request = match self.request(arguments, idempotency_key) {
            Ok(request) => request,
            Err(message) => return ToolOutput::error(message),
        };
        let origin = request.url().origin().ascii_serialization();
        let mut response = match self.client.execute(request).await {
            Ok(response) => response,
            Err(e) => return ToolOutput::error(not_answered(name, &origin, &e)),
        };
        let status = response.status();
        let (body, complete) = match read_body(&mut response).await {
            Ok(body) => body,
            Err(e) => {
                return ToolOutput::error(format!(
                    "error: the answer of {origin} to '{name}' (HTTP {status}) broke off: {}",
                    reason(&e)
                ))
            }
        };
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            return ToolOutput::error(format!(
                "error: '{name}' returned HTTP {status}: {}{}",
                head(text.trim(), ERROR_EXCERPT_BYTES),
                hint(status)
            ));
        }
        if !complete {
            return ToolOutput::ok(format!("{text}\n[… body cut: only the first {MAX_BODY_BYTES} bytes were read]"));
        }
        let text = text.trim();
        if text.is_empty() {
            return ToolOutput::ok(format!("ok (HTTP {})", status.as_u16()));
        }
        ToolOutput::ok(serde_json::from_str::<Value>(text).map_or_else(|_| text.to_string(), |json| json.to_string()))
    }
}

/// Checks that the template makes an http or https URL whatever fills its slots. With `${VAR}`
/// in it, only its scheme is checked (when a variable does not give it): the variables' values
/// make the rest, checked at each call once they are read.
fn check_url(template: &[Part]) -> Result<(), String> {
    if template.iter().any(|part| matches!(part, Part::Variable(_))) {
        return match template.first() {
            Some(Part::Text(text)) if !text.starts_with("http://") && !text.starts_with("https://") => {
                Err("it does not start with http:// or https://".to_string())
            }
            _ => Ok(()),
        };
    }
    let sample: String =
        template.iter().map(|part| if let Part::Text(text) = part { text.as_str() } else { "x" }).collect();
    let url = Url::parse(&sample).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(()),
        scheme => Err(format!("the scheme is '{scheme}'")),
    }
}

/// The URL with each slot replaced by its argument, percent-encoded, and each variable by its
/// value from `lookup`, as it is; the error result names a missing argument or an unset
/// variable.
fn fill_url(
    template: &[Part],
    arguments: &Map<String, Value>,
    mut lookup: impl FnMut(&str) -> Result<String, std::env::VarError>,
) -> Result<String, String> {
    let mut url = String::new();
    for part in template {
        match part {
            Part::Text(text) => url.push_str(text),
            Part::Variable(var) => {
                let value =
                    env_template::value_of(var, &mut lookup).map_err(|error| format!("error: the url {error}"))?;
                url.push_str(&value);
            }
            Part::Slot(name) => match arguments.get(name) {
                None | Some(Value::Null) => {
                    return Err(format!("error: the argument \"{name}\" is required: it fills {{{name}}} in the URL"))
                }
                // "." and ".." would climb out of the template's path once the URL is parsed.
                Some(value) if matches!(plain(value).as_str(), "." | "..") => {
                    return Err(format!(
                        "error: the argument \"{name}\" cannot be \"{}\": it is part of the URL path",
                        plain(value)
                    ))
                }
                Some(value) => url.push_str(&encode(&plain(value))),
            },
        }
    }
    Ok(url)
}

/// Appends the arguments as query parameters; null arguments are left out.
fn add_query(url: &mut Url, arguments: &Map<String, Value>) {
    let pairs: Vec<(&String, String)> =
        arguments.iter().filter(|(_, value)| !value.is_null()).map(|(name, value)| (name, plain(value))).collect();
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
}

/// A value as text for a URL: a string as is, anything else as its JSON text.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` percent-encoded so it stays one path segment or query value: only the unreserved
/// characters of RFC 3986 are kept as they are.
fn encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
    encoded
}

/// Reads the body, at most [`MAX_BODY_BYTES`] of it; the flag says whether it was read whole.
async fn read_body(response: &mut reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// The first `max_bytes` of `text` (cut at a char boundary, marked with "…").
fn head(text: &str, max_bytes: usize) -> String {
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What the model can do about a failed answer, for the statuses with an obvious cause.
fn hint(status: reqwest::StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 404 | 409 | 422 => "; check the arguments",
        401 | 403 => "; the service refused the tool's credentials: tell the user the tool cannot be used now",
        429 | 500..=599 => "; the service is busy or failing: try again later or tell the user",
        _ => "",
    }
}

/// The error result of a request to `origin` that got no answer: refused here, or failed.
fn not_answered(tool: &str, origin: &str, error: &reqwest::Error) -> String {
    if let Some(refused) = refusal(error) {
        return format!("error: {refused}");
    }
    if error.is_connect() {
        return format!(
            "error: the server at {origin} could not be reached for '{tool}': {}; the service may be down: try \
             again later or tell the user",
            reason(error)
        );
    }
    format!("error: the request of '{tool}' to {origin} failed: {}", reason(error))
}

/// The refusal among the causes of `error`, when a request was kept from where it would go.
fn refusal<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refused> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<Refused>() {
            return Some(refused);
        }
        cause = error.source();
    }
    None
}

/// The innermost cause of an error: reqwest's own message only repeats the URL.
fn reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::placeholders;
    use super::*;
    use serde_json::json;

    /// A lookup that knows `HOST` only.
    fn lookup(name: &str) -> Result<String, std::env::VarError> {
        match name {
            "HOST" => Ok("api.example.com".into()),
            _ => Err(std::env::VarError::NotPresent),
        }
    }

    #[test]
    fn url_variables_are_not_placeholders_and_are_filled_as_they_are() {
        let template = parse_url("https://${HOST}/{org}/x$${y}?key=${KEY}").unwrap();
        assert_eq!(
            template,
            vec![
                Part::Text("https://".into()),
                Part::Variable("HOST".into()),
                Part::Text("/".into()),
                Part::Slot("org".into()),
                Part::Text("/x".into()),
                Part::Text("${".into()),
                Part::Text("y}?key=".into()),
                Part::Variable("KEY".into()),
            ]
        );
        assert_eq!(placeholders("https://${HOST}/{org}/x$${y}"), Ok(vec!["org".into()]));
        let arguments = json!({"org": "a/b"});
        let unset = fill_url(&template, arguments.as_object().unwrap(), lookup).unwrap_err();
        assert_eq!(unset, "error: the url uses ${KEY}, which is not set: set the environment variable KEY");
        let template = parse_url("https://${HOST}/{org}").unwrap();
        assert_eq!(
            fill_url(&template, arguments.as_object().unwrap(), lookup).unwrap(),
            "https://api.example.com/a%2Fb"
        );
        let unclosed = placeholders("https://x/${HOST").unwrap_err().to_string();
        assert!(unclosed.contains("has a '${' at byte 10 without its closing '}'"), "{unclosed}");
    }

    #[test]
    fn url_values_are_encoded_as_one_segment() {
        let template = parse_url("https://x/{a}/{b}/{c}").unwrap();
        let fill = |arguments: serde_json::Value| fill_url(&template, arguments.as_object().unwrap(), lookup);
        let url = fill(json!({"a": "a b/c?d#é", "b": 42, "c": true})).unwrap();
        assert_eq!(url, "https://x/a%20b%2Fc%3Fd%23%C3%A9/42/true");
        let missing = fill(json!({"a": "1", "b": null})).unwrap_err();
        assert!(missing.contains("the argument \"b\" is required"), "{missing}");
        for climbing in ["..", "."] {
            let refused = fill(json!({"a": climbing, "b": 1, "c": 2})).unwrap_err();
            assert!(refused.contains("part of the URL path"), "{refused}");
        }
        assert!(fill(json!({"a": "...", "b": "a..b", "c": 2})).is_ok());
    }

    #[test]
    fn excerpts_keep_the_start_and_cut_at_a_char_boundary() {
        assert_eq!(head("ééé", 3), "é…");
        assert_eq!(head("short", 100), "short");
        assert_eq!(head("", 100), "(empty body)");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let config = |method: &str, url: &str, header: (&str, &str)| HttpToolConfig {
            method: method.into(),
            url: url.into(),
            headers: vec![(header.0.into(), header.1.into())],
            allow_hosts: Vec::new(),
        };
        let tool = |config| HttpTool::new(ToolDef::new("t", "", json!({"type": "object"})), config);
        assert!(tool(config("get", "https://x/{id}", ("a", "b"))).is_ok());
        assert!(matches!(tool(config("FETCH", "https://x", ("a", "b"))), Err(HttpToolError::Method(_))));
        assert!(matches!(tool(config("GET", "https://x/{id", ("a", "b"))), Err(HttpToolError::Template { .. })));
        assert!(matches!(tool(config("GET", "ftp://x/{id}", ("a", "b"))), Err(HttpToolError::Url { .. })));
        assert!(matches!(tool(config("GET", "x/{id}", ("a", "b"))), Err(HttpToolError::Url { .. })));
        assert!(matches!(tool(config("GET", "https://x", ("a b", "b"))), Err(HttpToolError::HeaderName(_))));
        assert!(matches!(tool(config("GET", "https://x", ("a", "${B"))), Err(HttpToolError::HeaderValue { .. })));
        assert!(matches!(tool(config("GET", "https://x/${B", ("a", "b"))), Err(HttpToolError::Template { .. })));
        let host = tool(config("GET", "http://{host}/items", ("a", "b"))).err().map(|e| e.to_string());
        let expected = "the URL 'http://{host}/items' is not a valid template: {host} is in the scheme, host or port";
        assert!(host.as_deref().is_some_and(|e| e.starts_with(expected)), "{host:?}");
        let allow = |entry: &str| {
            let mut config = config("GET", "https://x/{id}", ("a", "b"));
            config.allow_hosts = vec![entry.to_string()];
            tool(config).map(|_| ())
        };
        for good in ["api.example.com", "API.Example.com", "10.0.0.5", "::1", "[fd00::1]", "localhost"] {
            assert!(allow(good).is_ok(), "{good}");
        }
        for bad in ["https://api.example.com", "api.example.com:8443", "api.example.com/x", "", "a b"] {
            let error = allow(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.starts_with(&format!("allow_hosts: '{bad}' is not a host: write a host name")), "{error}");
        }
        assert!(
            tool(config("GET", "${BASE}/x/{id}", ("a", "Bearer ${TOKEN}"))).is_ok(),
            "a variable may hold the address"
        );
    }
}
