//! The HTTP side both wire formats share: the client, the API key and extra headers, retries
//! with jittered exponential backoff and `Retry-After`, and error messages that say what to do.

use crate::{Endpoint, ModelError, ModelFailure};
use baton_core::{env_template, ModelReply};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde_json::{Map, Value};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The first wait between two attempts; each later wait doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between two attempts that baton chooses itself.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The longest `Retry-After` baton honours; a server asking for more gets an error at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The most characters of a response body quoted in an error message.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// How a provider expects its API key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyHeader {
    /// `Authorization: Bearer KEY` (OpenAI and compatible servers).
    #[cfg(feature = "openai")]
    Bearer,
    /// `x-api-key: KEY` (Anthropic).
    #[cfg(feature = "anthropic")]
    XApiKey,
}

/// One model's HTTP client and the address it posts to.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    pub(crate) endpoint: Endpoint,
    pub(crate) url: String,
    client: reqwest::Client,
    key: KeyHeader,
    /// Headers every request of this provider carries, before the configured ones.
    fixed: Vec<(HeaderName, HeaderValue)>,
    /// What to check when the server answers 404.
    not_found_hint: String,
    /// The first wait between attempts; [`FIRST_BACKOFF`] except in tests.
    pub(crate) first_backoff: Duration,
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A transient failure worth another attempt.
    Retry {
        /// What went wrong.
        error: ModelError,
        /// The wait the server asked for.
        retry_after: Option<Duration>,
    },
    /// A failure another attempt will not fix.
    Fatal(ModelError),
}

impl Http {
    /// Checks `endpoint` and builds the client for `url`; nothing is sent yet.
    pub(crate) fn new(
        endpoint: Endpoint,
        url: String,
        key: KeyHeader,
        fixed: Vec<(HeaderName, HeaderValue)>,
        not_found_hint: String,
        use_proxies: bool,
    ) -> Result<Http, ModelError> {
        if endpoint.model.trim().is_empty() {
            return Err(ModelError::config(
                "the model name is empty; set it to the name the server knows, such as \"gpt-4o-mini\"",
            ));
        }
        match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            Ok(parsed) => {
                return Err(ModelError::config(format!(
                    "the base_url '{}' uses the scheme '{}'; use an http:// or https:// address",
                    endpoint.base_url,
                    parsed.scheme()
                )))
            }
            Err(error) => {
                return Err(ModelError::config(format!(
                    "the base_url '{}' is not a valid URL ({error}); use an address such as \
                     http://localhost:11434/v1",
                    endpoint.base_url
                )))
            }
        }
        for (what, value) in [("timeout", endpoint.timeout), ("connect timeout", endpoint.connect_timeout)] {
            if value.is_zero() {
                return Err(ModelError::config(format!(
                    "the {what} of model '{}' is zero; give it a positive duration",
                    endpoint.model
                )));
            }
        }
        for (name, _) in &endpoint.headers {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ModelError::config(format!("'{name}' is not a valid HTTP header name; use letters, digits and '-'"))
            })?;
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(endpoint.connect_timeout)
            .read_timeout(endpoint.timeout)
            .user_agent(concat!("baton-models/", env!("CARGO_PKG_VERSION")));
        if !use_proxies {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|error| {
            ModelError::config(format!("cannot set up the HTTP client for {url}: {}", reason(&error)))
        })?;
        Ok(Http { endpoint, url, client, key, fixed, not_found_hint, first_backoff: FIRST_BACKOFF })
    }

    /// Posts `body` until an attempt succeeds or fails for good. A streamed 2xx answer is read
    /// by `read_stream`; a whole one (also from a server that ignored `stream`) by `parse`,
    /// whose error says what is wrong with the body.
    pub(crate) async fn answer<F, Fut>(
        &self,
        body: &Value,
        parse: fn(&str) -> Result<ModelReply, String>,
        read_stream: F,
    ) -> Result<ModelReply, ModelError>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<ModelReply, Failure>>,
    {
        let read_stream = &read_stream;
        self.call(body, |response| async move {
            if self.endpoint.stream && is_event_stream(&response) {
                read_stream(response).await
            } else {
                self.read_whole(response, parse).await
            }
        })
        .await
    }

    /// Reads an unstreamed 2xx answer with `parse`.
    async fn read_whole(
        &self,
        response: reqwest::Response,
        parse: fn(&str) -> Result<ModelReply, String>,
    ) -> Result<ModelReply, Failure> {
        let text = response.text().await.map_err(|error| self.transport_failure(&error))?;
        parse(&text).map_err(|detail| {
            let message = format!("invalid response from {}: {detail}; the body was: {}", self.url, excerpt(&text));
            Failure::Fatal(ModelError::of(ModelFailure::MalformedReply, message))
        })
    }

    /// Posts `body` until an attempt succeeds or fails for good; `read` turns a 2xx response
    /// into a reply.
    async fn call<F, Fut>(&self, body: &Value, mut read: F) -> Result<ModelReply, ModelError>
    where
        F: FnMut(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<ModelReply, Failure>>,
    {
        let headers = self.headers()?;
        let attempts = self.endpoint.retries.saturating_add(1);
        let mut attempt = 1;
        loop {
            let outcome = match self.client.post(&self.url).headers(headers.clone()).json(body).send().await {
                Err(error) => Err(self.transport_failure(&error)),
                Ok(response) if response.status().is_success() => read(response).await,
                Ok(response) => Err(self.status_failure(response).await),
            };
            match outcome {
                Ok(reply) => return Ok(reply),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry { error: ModelError { failure, message }, retry_after }) => {
                    if attempt >= attempts {
                        let tries =
                            if attempts == 1 { "1 attempt".to_string() } else { format!("{attempts} attempts") };
                        return Err(ModelError::of(failure, format!("{message}; gave up after {tries}")));
                    }
                    let wait = match retry_after {
                        Some(wait) if wait > MAX_RETRY_AFTER => {
                            let message = format!(
                                "{message}; the server asks to wait {}, longer than baton waits ({}): try again later",
                                seconds(wait),
                                seconds(MAX_RETRY_AFTER)
                            );
                            return Err(ModelError::of(failure, message));
                        }
                        Some(wait) => wait,
                        None => backoff(self.first_backoff, attempt),
                    };
                    let (kind, wait_ms) = (failure.name(), wait.as_millis() as u64);
                    tracing::info!(attempt, of = attempts, failure = kind, wait_ms, "model call retried: {message}");
                    #[cfg(feature = "otel")]
                    retried_event(attempt, kind, wait_ms);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The headers of every request: the API key, the provider's own, then the configured ones.
    fn headers(&self) -> Result<HeaderMap, ModelError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = self.api_key()? {
            let (name, value) = match self.key {
                #[cfg(feature = "openai")]
                KeyHeader::Bearer => (reqwest::header::AUTHORIZATION, format!("Bearer {key}")),
                #[cfg(feature = "anthropic")]
                KeyHeader::XApiKey => (HeaderName::from_static("x-api-key"), key),
            };
            let var = self.endpoint.api_key_env.as_deref().unwrap_or_default();
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                ModelError::config(format!(
                    "the API key in the environment variable {var} contains characters that cannot be sent in an \
                     HTTP header; check that it holds only the key"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        for (name, value) in &self.fixed {
            headers.insert(name.clone(), value.clone());
        }
        for (name, template) in &self.endpoint.headers {
            let value = env_template::expand(template, |var| std::env::var(var))
                .map_err(|error| ModelError::config(format!("the header '{name}' {error}")))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ModelError::config(format!("'{name}' is not a valid HTTP header name")))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                ModelError::config(format!("the value of header '{name}' cannot be sent in an HTTP header"))
            })?;
            value.set_sensitive(template.contains("${"));
            headers.insert(name, value);
        }
        Ok(headers)
    }

    /// The API key, read from the environment now; `None` when none is configured or set.
    fn api_key(&self) -> Result<Option<String>, ModelError> {
        let Some(var) = &self.endpoint.api_key_env else { return Ok(None) };
        match std::env::var(var) {
            Ok(key) if key.trim().is_empty() => Ok(None),
            Ok(key) => Ok(Some(key.trim().to_string())),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ModelError::config(format!(
                "the environment variable {var} (the API key for {}) is not valid Unicode; set it to the key text",
                self.url
            ))),
        }
    }

    /// Classifies a failure to send the request or read the answer.
    pub(crate) fn transport_failure(&self, error: &reqwest::Error) -> Failure {
        if error.is_connect() {
            let within = if error.is_timeout() {
                format!(" within {} (connect_timeout_secs)", seconds(self.endpoint.connect_timeout))
            } else {
                String::new()
            };
            let message = format!("cannot reach {}{within}: {} (is the server running?)", self.url, reason(error));
            Failure::Retry { error: ModelError::of(ModelFailure::Unreachable, message), retry_after: None }
        } else if error.is_timeout() {
            let message = format!(
                "no answer from {} within {}; the server may be overloaded or still loading the model, \
                 or raise the model's timeout_secs",
                self.url,
                seconds(self.endpoint.timeout)
            );
            Failure::Fatal(ModelError::of(ModelFailure::TimedOut, message))
        } else {
            let message = format!("the connection to {} failed: {}", self.url, reason(error));
            Failure::Retry { error: ModelError::of(ModelFailure::ConnectionFailed, message), retry_after: None }
        }
    }

    /// The failure for a non-2xx answer, with a hint for the statuses that have an obvious cause.
    async fn status_failure(&self, response: reqwest::Response) -> Failure {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        let detail = error_detail(&body).unwrap_or_else(|| excerpt(&body));
        let mut message = format!("HTTP {} from {}: {detail}", status.as_u16(), self.url);
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => message.push_str(&self.key_hint()),
            StatusCode::NOT_FOUND => message.push_str(&format!("; {}", self.not_found_hint)),
            _ => {}
        }
        let transient =
            matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT) || status.is_server_error();
        let error = ModelError::of(status_failure(status), message);
        if transient {
            Failure::Retry { error, retry_after }
        } else {
            Failure::Fatal(error)
        }
    }

    /// What to do about a refused key.
    fn key_hint(&self) -> String {
        match &self.endpoint.api_key_env {
            Some(var) if std::env::var(var).is_ok_and(|key| !key.trim().is_empty()) => {
                format!("; the server refused the API key in {var}: set {var} to a valid key for this server")
            }
            Some(var) => format!("; no API key was sent because {var} is not set: set {var}"),
            None if !self.endpoint.headers.is_empty() => {
                "; no api_key_env is configured: check the key in the configured headers".to_string()
            }
            None => "; no API key was sent because none is configured: name the environment variable that holds \
                     it (api_key_env)"
                .to_string(),
        }
    }
}

/// Which failure a non-2xx status is.
fn status_failure(status: StatusCode) -> ModelFailure {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ModelFailure::Auth,
        StatusCode::NOT_FOUND => ModelFailure::NotFound,
        StatusCode::TOO_MANY_REQUESTS => ModelFailure::RateLimited,
        StatusCode::REQUEST_TIMEOUT => ModelFailure::TimedOut,
        status if status.is_server_error() => ModelFailure::Unavailable,
        _ => ModelFailure::Refused,
    }
}

/// The wait before attempt `attempt + 1`: exponential from `first`, capped, with jitter (between
/// half and all of it) so that many clients do not retry in step.
pub(crate) fn backoff(first: Duration, attempt: u32) -> Duration {
    let full = first.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    let random = RandomState::new().hash_one(attempt);
    let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
    full.mul_f64(fraction)
}

/// Whether a response is a server-sent-events stream (and not, say, JSON from a server that
/// ignored `stream`).
fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("text/event-stream"))
}

/// The wait a 429 or 503 asks for: `retry-after-ms`, or `Retry-After` in seconds (HTTP dates
/// are ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok().filter(|n| *n >= 0.0);
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms.min(1e9) / 1000.0));
    }
    number("retry-after").map(|seconds| Duration::from_secs_f64(seconds.min(1e9)))
}

/// The message of an error body: `{"error": {"message": ...}}` (OpenAI, Anthropic) or
/// `{"error": "..."}` (Ollama).
pub(crate) fn error_detail(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    error_text(value.get("error")?).map(|message| excerpt(&message))
}

/// The text of an `error` member.
pub(crate) fn error_text(error: &Value) -> Option<String> {
    match error {
        Value::String(message) => Some(message.clone()),
        Value::Object(object) => object.get("message")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// At most [`EXCERPT_CHARS`] characters of `text`, on one line.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    if text.chars().count() <= EXCERPT_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    short.push('…');
    short
}

/// The innermost cause of an error: reqwest's own message only repeats the URL.
pub(crate) fn reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// A duration as "60 s" or "0.3 s".
pub(crate) fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        let text = format!("{:.3}", duration.as_secs_f64());
        format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// What building an HTTP model does with its settings.
impl Endpoint {
    /// Replaces `${VAR}` in `base_url` by the environment variable, as a model does when it is
    /// built; the error names the variable.
    pub(crate) fn expand_base_url(&mut self) -> Result<(), ModelError> {
        self.base_url = env_template::expand(&self.base_url, |var| std::env::var(var))
            .map_err(|error| ModelError::config(format!("the base_url '{}' {error}", self.base_url)))?;
        Ok(())
    }

    /// `body` with the configured extra members applied (a `null` one removes the member).
    pub(crate) fn apply_extra_body(&self, body: &mut Map<String, Value>) {
        for (key, value) in &self.extra_body {
            if value.is_null() {
                body.remove(key);
            } else {
                body.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A stream that broke off: retried while nothing was shown, final once text was.
pub(crate) fn broken(http: &Http, heard: bool, detail: &str) -> Failure {
    let message = format!("the answer streamed from {} broke off: {detail}", http.url);
    let error = ModelError::of(ModelFailure::ConnectionFailed, message);
    if heard {
        Failure::Fatal(error)
    } else {
        Failure::Retry { error, retry_after: None }
    }
}

/// Tells the OpenTelemetry span the call runs in (the runtime's `chat` span) that attempt
/// `attempt` failed with a `kind` failure and is tried again after `wait_ms`.
#[cfg(feature = "otel")]
fn retried_event(attempt: u32, kind: &'static str, wait_ms: u64) {
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry::KeyValue;
    let attributes = vec![
        KeyValue::new("baton.retry.attempt", i64::from(attempt)),
        KeyValue::new("error.type", kind),
        KeyValue::new("baton.retry.wait_ms", i64::try_from(wait_ms).unwrap_or(i64::MAX)),
    ];
    opentelemetry::Context::current().span().add_event("retry", attributes);
}
#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        for attempt in 1..=10 {
            let full = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
            for _ in 0..20 {
                let wait = backoff(FIRST_BACKOFF, attempt);
                assert!(wait >= full / 2 && wait <= full, "attempt {attempt}: {wait:?} outside {full:?}/2..={full:?}");
            }
        }
        let waits: std::collections::BTreeSet<_> = (0..50).map(|_| backoff(FIRST_BACKOFF, 3)).collect();
        assert!(waits.len() > 1, "the waits are not jittered: {waits:?}");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut dated = HeaderMap::new();
        dated.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&dated), None);
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT_CHARS);
        assert_eq!(excerpt("  a \n b "), "a b");
        assert_eq!(excerpt(""), "(empty body)");
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
