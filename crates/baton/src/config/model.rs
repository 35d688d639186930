//! Model settings: how the shell reaches each model the team names, checked per provider.

use super::diagnostic::Report;
use super::files::existing_file;
use super::raw::{RawModel, RawPrice};
use super::templates;
use baton_core::names::closest;
use baton_core::{Usage, LOCAL_MODEL};
use baton_models::{anthropic, openai, Endpoint, Sampling};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The base URL of an `openai` model when the team file gives none.
pub const DEFAULT_BASE_URL: &str = openai::DEFAULT_BASE_URL;

/// The timeout of a model call when the team file gives none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = baton_models::DEFAULT_TIMEOUT.as_secs();

/// The connect timeout of a model call when the team file gives none, in seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = baton_models::DEFAULT_CONNECT_TIMEOUT.as_secs();

/// The providers a model may use.
const PROVIDERS: [&str; 4] = ["openai", "anthropic", "script", "local"];

/// What to write for `provider`.
const PROVIDER_HELP: &str = "use \"openai\" (Chat Completions: OpenAI and every compatible server), \"anthropic\" \
                             (the Messages API), \"local\" (the built-in offline model) or \"script\" (scripted replies)";

/// How the shell reaches one model of the team.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    /// A model behind an HTTP API (`provider = "openai"` or `"anthropic"`).
    Http {
        /// Which wire format.
        api: Api,
        /// Where and how to ask it.
        endpoint: Box<Endpoint>,
        /// What its tokens cost (`price`), if the team file says.
        price: Option<Price>,
    },
    /// Scripted replies (`provider = "script"`), for tests and demos.
    Script {
        /// The replies file, resolved relative to the team file's directory.
        script: PathBuf,
    },
    /// The built-in offline model (`provider = "local"`); the model `local` is always this.
    Local,
}

/// The wire format of an HTTP model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// OpenAI Chat Completions (`provider = "openai"`).
    OpenAi,
    /// Anthropic Messages (`provider = "anthropic"`).
    Anthropic,
}

impl Api {
    /// The `provider` value.
    pub fn name(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
        }
    }
}

/// US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Per million input tokens.
    pub input_per_mtok: f64,
    /// Per million output tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// What `usage` cost, in US dollars.
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_mtok + usage.output_tokens as f64 * self.output_per_mtok) / 1e6
    }
}

impl ModelConfig {
    /// The settings of model `name`, or `None` after reporting what is wrong with them.
    pub(crate) fn from_raw(
        name: &Spanned<String>,
        raw: &RawModel,
        dir: &Path,
        report: &mut Report<'_>,
    ) -> Option<ModelConfig> {
        let Some(provider) = &raw.provider else {
            report.error(name.span().start, format!("model '{}' has no provider", name.get_ref()), PROVIDER_HELP);
            return None;
        };
        if name.get_ref() == LOCAL_MODEL && provider.get_ref() != "local" {
            report.error(
                provider.span().start,
                "the model name 'local' is reserved for the built-in offline model",
                "give this model another name, or set provider = \"local\"",
            );
            return None;
        }
        match provider.get_ref().as_str() {
            "openai" => http(Api::OpenAi, name, raw, report),
            "anthropic" => http(Api::Anthropic, name, raw, report),
            "script" => script(name, raw, dir, report),
            "local" => local(raw, report),
            unknown => {
                let help = match closest(unknown, PROVIDERS) {
                    Some(suggestion) => format!("did you mean '{suggestion}'?"),
                    None => PROVIDER_HELP.to_string(),
                };
                report.error(provider.span().start, format!("unknown model provider '{unknown}'"), help);
                None
            }
        }
    }

    /// The price of this model's tokens, if the team file gives one.
    pub fn price(&self) -> Option<Price> {
        match self {
            ModelConfig::Http { price, .. } => *price,
            _ => None,
        }
    }
}

/// `provider = "openai"` or `"anthropic"`.
fn http(api: Api, name: &Spanned<String>, raw: &RawModel, report: &mut Report<'_>) -> Option<ModelConfig> {
    let provider = api.name();
    reject(&raw.script, "script", provider, report);
    let errors_before = report.error_count();
    let (default_url, default_key, example) = match api {
        Api::OpenAi => (openai::DEFAULT_BASE_URL, openai::DEFAULT_API_KEY_ENV, "gpt-4.1-mini"),
        Api::Anthropic => (anthropic::DEFAULT_BASE_URL, anthropic::DEFAULT_API_KEY_ENV, "claude-sonnet-4-5"),
    };
    for (value, key, default) in [
        (&raw.timeout_secs, "timeout_secs", DEFAULT_TIMEOUT_SECS),
        (&raw.connect_timeout_secs, "connect_timeout_secs", DEFAULT_CONNECT_TIMEOUT_SECS),
    ] {
        if let Some(value) = value.as_ref().filter(|value| *value.get_ref() == 0) {
            report.error(
                value.span().start,
                format!("{key} = 0 leaves no time for a model call"),
                format!("set it to 1 or more (the default is {default})"),
            );
        }
    }
    if let Some(base_url) = &raw.base_url {
        let url = base_url.get_ref();
        if !templates::is_http_url(url) {
            report.error(
                base_url.span().start,
                format!("base_url '{url}' is not an http(s) URL"),
                format!("use a URL like \"{default_url}\", or remove the line for that default"),
            );
        }
        templates::check(base_url, &format!("the base_url of model '{}'", name.get_ref()), report);
    }
    let max_temperature = if api == Api::Anthropic { 1.0 } else { 2.0 };
    in_range(&raw.temperature, "temperature", 0.0, max_temperature, report);
    in_range(&raw.top_p, "top_p", 0.0, 1.0, report);
    if let Some(max_tokens) = raw.max_tokens.as_ref().filter(|value| *value.get_ref() == 0) {
        report.error(max_tokens.span().start, "max_tokens = 0 leaves no room for a reply", "set it to 1 or more");
    }
    if api == Api::Anthropic {
        if let Some(seed) = &raw.seed {
            report.error(
                seed.span().start,
                "Anthropic's Messages API has no seed",
                "remove the 'seed' line (it applies to provider \"openai\")",
            );
        }
    }
    if let Some(retries) = raw.retries.as_ref().filter(|value| *value.get_ref() > MAX_RETRIES) {
        report.error(
            retries.span().start,
            format!("retries = {} is more than baton allows", retries.get_ref()),
            format!("use 0 to {MAX_RETRIES} (the default is {})", baton_models::DEFAULT_RETRIES),
        );
    }
    if let Some(headers) = &raw.headers {
        for name in headers.get_ref().keys().filter(|name| !is_header_name(name)) {
            report.error(
                headers.span().start,
                format!("'{name}' is not a valid HTTP header name"),
                "use letters, digits and '-', e.g. \"X-Title\"",
            );
        }
    }
    let model_name = name.get_ref();
    templates::check_each(&raw.headers, |header| format!("the header '{header}' of model '{model_name}'"), report);
    let price = raw.price.as_ref().and_then(|price| read_price(price, report));
    let Some(model) = &raw.model else {
        report.error(
            name.span().start,
            format!("model '{}' (provider \"{provider}\") has no model id", name.get_ref()),
            format!("add model = \"<the provider's model id>\", e.g. model = \"{example}\""),
        );
        return None;
    };
    if report.error_count() > errors_before {
        return None;
    }
    let base_url = raw.base_url.as_ref().map_or(default_url, |url| url.get_ref().as_str());
    // The provider's own key variable is read only when base_url is not set (the provider's own
    // address), so that a key is never sent to another server unless the team file says so.
    let api_key_env = match &raw.api_key_env {
        Some(env) => Some(env.get_ref().as_str()),
        None if raw.base_url.is_none() => Some(default_key),
        None => None,
    };
    let mut endpoint = Endpoint::new(model.get_ref().clone(), base_url, api_key_env);
    let secs =
        |value: &Option<Spanned<u64>>, default| Duration::from_secs(value.as_ref().map_or(default, |v| *v.get_ref()));
    endpoint.timeout = secs(&raw.timeout_secs, DEFAULT_TIMEOUT_SECS);
    endpoint.connect_timeout = secs(&raw.connect_timeout_secs, DEFAULT_CONNECT_TIMEOUT_SECS);
    if let Some(retries) = &raw.retries {
        endpoint.retries = *retries.get_ref();
    }
    endpoint.stream = raw.stream.as_ref().is_some_and(|stream| *stream.get_ref());
    endpoint.headers = templates::pairs(&raw.headers);
    if let Some(extra) = &raw.extra_body {
        match serde_json::to_value(extra.get_ref()) {
            Ok(serde_json::Value::Object(members)) => endpoint.extra_body = members,
            _ => {
                report.error(extra.span().start, "extra_body cannot be sent as JSON", "use plain TOML values");
                return None;
            }
        }
    }
    endpoint.sampling = Sampling {
        temperature: raw.temperature.as_ref().map(|value| *value.get_ref()),
        top_p: raw.top_p.as_ref().map(|value| *value.get_ref()),
        max_tokens: raw.max_tokens.as_ref().map(|value| *value.get_ref()),
        seed: raw.seed.as_ref().map(|value| *value.get_ref()),
        parallel_tool_calls: raw.parallel_tool_calls.as_ref().map(|value| *value.get_ref()),
    };
    Some(ModelConfig::Http { api, endpoint: Box::new(endpoint), price })
}

/// The most retries a model may have: more would hold a turn for minutes on a server that is down.
const MAX_RETRIES: u32 = 10;

/// Whether `name` is an HTTP header name (an RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// Reports a number outside `low..=high`.
fn in_range(value: &Option<Spanned<f64>>, key: &str, low: f64, high: f64, report: &mut Report<'_>) {
    if let Some(value) = value {
        if !(low..=high).contains(value.get_ref()) {
            report.error(
                value.span().start,
                format!("{key} = {} is out of range", value.get_ref()),
                format!("use a number from {low} to {high}"),
            );
        }
    }
}

/// `price = { input_per_mtok = ..., output_per_mtok = ... }`.
fn read_price(price: &Spanned<RawPrice>, report: &mut Report<'_>) -> Option<Price> {
    let help = "give both, in US dollars per million tokens: price = { input_per_mtok = 0.4, output_per_mtok = 1.6 }";
    let (Some(input), Some(output)) = (&price.get_ref().input_per_mtok, &price.get_ref().output_per_mtok) else {
        report.error(price.span().start, "the price needs input_per_mtok and output_per_mtok", help);
        return None;
    };
    for value in [input, output] {
        if !value.get_ref().is_finite() || *value.get_ref() < 0.0 {
            report.error(value.span().start, "a price cannot be negative", help);
            return None;
        }
    }
    Some(Price { input_per_mtok: *input.get_ref(), output_per_mtok: *output.get_ref() })
}

/// The keys that only HTTP models take, with where they are set.
fn http_keys(raw: &RawModel) -> Vec<(&'static str, usize)> {
    fn at<T>(value: &Option<Spanned<T>>) -> Option<usize> {
        value.as_ref().map(|value| value.span().start)
    }
    [
        ("model", at(&raw.model)),
        ("base_url", at(&raw.base_url)),
        ("api_key_env", at(&raw.api_key_env)),
        ("timeout_secs", at(&raw.timeout_secs)),
        ("connect_timeout_secs", at(&raw.connect_timeout_secs)),
        ("retries", at(&raw.retries)),
        ("stream", at(&raw.stream)),
        ("temperature", at(&raw.temperature)),
        ("top_p", at(&raw.top_p)),
        ("max_tokens", at(&raw.max_tokens)),
        ("seed", at(&raw.seed)),
        ("parallel_tool_calls", at(&raw.parallel_tool_calls)),
        ("headers", at(&raw.headers)),
        ("extra_body", at(&raw.extra_body)),
        ("price", at(&raw.price)),
    ]
    .into_iter()
    .filter_map(|(key, offset)| Some((key, offset?)))
    .collect()
}

/// `provider = "script"`.
fn script(name: &Spanned<String>, raw: &RawModel, dir: &Path, report: &mut Report<'_>) -> Option<ModelConfig> {
    reject_http_keys(raw, "script", report);
    let Some(script) = &raw.script else {
        report.error(
            name.span().start,
            format!("model '{}' (provider \"script\") has no script file", name.get_ref()),
            "add script = \"<file>\" (relative to the team file)",
        );
        return None;
    };
    let path = existing_file(dir, script, "script file", report)?;
    if let Err(error) = baton_models::ScriptModel::load(&path) {
        report.error(script.span().start, error.to_string(), "fix the script file: see examples/support/replies.toml");
        return None;
    }
    Some(ModelConfig::Script { script: path })
}

/// `provider = "local"`: takes no settings.
fn local(raw: &RawModel, report: &mut Report<'_>) -> Option<ModelConfig> {
    reject_http_keys(raw, "local", report);
    reject(&raw.script, "script", "local", report);
    Some(ModelConfig::Local)
}

/// Reports every HTTP-only key set on a model of `provider`.
fn reject_http_keys(raw: &RawModel, provider: &str, report: &mut Report<'_>) {
    for (key, offset) in http_keys(raw) {
        report.error(
            offset,
            format!("'{key}' does not apply to provider \"{provider}\""),
            format!("remove the '{key}' line, or change the provider"),
        );
    }
}

/// Reports `key` as not applying to `provider` if the team file sets it.
fn reject<T>(value: &Option<Spanned<T>>, key: &str, provider: &str, report: &mut Report<'_>) {
    if let Some(value) = value {
        report.error(
            value.span().start,
            format!("'{key}' does not apply to provider \"{provider}\""),
            format!("remove the '{key}' line, or change the provider"),
        );
    }
}
