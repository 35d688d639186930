//! Model settings: how the shell reaches each model the team names, checked per provider.

use super::diagnostic::Report;
use super::files::existing_file;
use super::raw::RawModel;
use baton_core::names::closest;
use baton_core::LOCAL_MODEL;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The base URL of an `openai` model when the team file gives none.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The timeout of an `openai` model call when the team file gives none, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The providers a model may use.
const PROVIDERS: [&str; 3] = ["openai", "script", "local"];

/// What to write for `provider`.
const PROVIDER_HELP: &str =
    "use \"openai\" (Chat Completions), \"local\" (the built-in offline model) or \"script\" (scripted replies)";

/// How the shell reaches one model of the team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelConfig {
    /// A Chat Completions endpoint (`provider = "openai"`).
    OpenAi {
        /// The provider's model id (`model`).
        model: String,
        /// The API base URL (`base_url`, default [`DEFAULT_BASE_URL`]).
        base_url: String,
        /// The environment variable read for the API key when a call is made; if it is unset
        /// (or this is `None`), no Authorization header is sent.
        api_key_env: Option<String>,
        /// Seconds before a call times out (`timeout_secs`, default [`DEFAULT_TIMEOUT_SECS`]).
        timeout_secs: u64,
    },
    /// Scripted replies (`provider = "script"`), for tests and demos.
    Script {
        /// The replies file, resolved relative to the team file's directory.
        script: PathBuf,
    },
    /// The built-in offline model (`provider = "local"`); the model `local` is always this.
    Local,
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
            "openai" => openai(name, raw, report),
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
}

/// `provider = "openai"`.
fn openai(name: &Spanned<String>, raw: &RawModel, report: &mut Report<'_>) -> Option<ModelConfig> {
    reject(&raw.script, "script", "openai", report);
    let mut ok = true;
    if let Some(timeout) = &raw.timeout_secs {
        if *timeout.get_ref() == 0 {
            report.error(
                timeout.span().start,
                "timeout_secs = 0 leaves no time for a model call",
                format!("set it to 1 or more (the default is {DEFAULT_TIMEOUT_SECS})"),
            );
            ok = false;
        }
    }
    if let Some(base_url) = &raw.base_url {
        let url = base_url.get_ref();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            report.error(
                base_url.span().start,
                format!("base_url '{url}' is not an http(s) URL"),
                format!("use a URL like \"{DEFAULT_BASE_URL}\", or remove the line for that default"),
            );
            ok = false;
        }
    }
    let Some(model) = &raw.model else {
        report.error(
            name.span().start,
            format!("model '{}' (provider \"openai\") has no model id", name.get_ref()),
            "add model = \"<the provider's model id>\", e.g. model = \"gpt-4.1-mini\"",
        );
        return None;
    };
    ok.then(|| ModelConfig::OpenAi {
        model: model.get_ref().clone(),
        base_url: raw.base_url.as_ref().map_or_else(|| DEFAULT_BASE_URL.to_string(), |url| url.get_ref().clone()),
        api_key_env: raw.api_key_env.as_ref().map(|env| env.get_ref().clone()),
        timeout_secs: raw.timeout_secs.as_ref().map_or(DEFAULT_TIMEOUT_SECS, |timeout| *timeout.get_ref()),
    })
}

/// `provider = "script"`.
fn script(name: &Spanned<String>, raw: &RawModel, dir: &Path, report: &mut Report<'_>) -> Option<ModelConfig> {
    reject(&raw.model, "model", "script", report);
    reject(&raw.base_url, "base_url", "script", report);
    reject(&raw.api_key_env, "api_key_env", "script", report);
    reject(&raw.timeout_secs, "timeout_secs", "script", report);
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
    reject(&raw.model, "model", "local", report);
    reject(&raw.base_url, "base_url", "local", report);
    reject(&raw.api_key_env, "api_key_env", "local", report);
    reject(&raw.timeout_secs, "timeout_secs", "local", report);
    reject(&raw.script, "script", "local", report);
    Some(ModelConfig::Local)
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
