//! Failures both providers share: what is retried, what is not, and messages that say what to
//! do; configured headers and extra body members.

use crate::anthropic::text_message;
use crate::server::{data, done, unreachable, Answer, Server};
use crate::{anthropic_at, bounded, hello, openai_at, Heard};
use baton_core::ModelReply;
use baton_models::{AnthropicModel, Endpoint, Model, ModelError, OpenAiModel};
use serde_json::json;
use std::time::Duration;

/// The two wire formats.
#[derive(Clone, Copy, Debug)]
enum Provider {
    OpenAi,
    Anthropic,
}

const BOTH: [Provider; 2] = [Provider::OpenAi, Provider::Anthropic];

impl Provider {
    /// A model at `base` (`http://HOST:PORT`), after `change` to its endpoint.
    fn model(self, base: &str, change: impl FnOnce(&mut Endpoint)) -> Box<dyn Model> {
        match self {
            Provider::OpenAi => Box::new(openai_at(base, change)),
            Provider::Anthropic => Box::new(anthropic_at(base, change)),
        }
    }

    /// A successful unstreamed answer whose text is "hi there".
    fn ok(self) -> Answer {
        let body = match self {
            Provider::OpenAi => {
                json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}]})
                    .to_string()
            }
            Provider::Anthropic => text_message("hi there"),
        };
        Answer::json(200, body)
    }

    /// An error answer in the provider's own shape.
    fn error(self, status: u16, kind: &str, message: &str) -> Answer {
        let body = match self {
            Provider::OpenAi => json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
            Provider::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
        };
        Answer::json(status, body.to_string())
    }

    /// The path requests go to.
    fn path(self) -> &'static str {
        match self {
            Provider::OpenAi => "/v1/chat/completions",
            Provider::Anthropic => "/v1/messages",
        }
    }
}

/// The reply of `provider`'s model at `server`, after `change` to its endpoint.
async fn ask(
    provider: Provider,
    server: &Server,
    change: impl FnOnce(&mut Endpoint),
) -> Result<ModelReply, ModelError> {
    let model = provider.model(&server.base, change);
    bounded(model.complete(&hello(), &Heard::default())).await
}

/// The message of the error of `provider`'s model at `server`, checking that it is of `kind`.
async fn fail(provider: Provider, server: &Server, kind: &str, change: impl FnOnce(&mut Endpoint)) -> String {
    match ask(provider, server, change).await {
        Ok(reply) => panic!("{provider:?}: expected an error, got {reply:?}"),
        Err(error) => {
            assert_eq!(error.kind(), kind, "{provider:?}: {error}");
            error.to_string()
        }
    }
}

fn retries(n: u32) -> impl FnOnce(&mut Endpoint) {
    move |endpoint| endpoint.retries = n
}

#[tokio::test]
async fn a_bad_request_shows_the_providers_message_and_is_not_retried() {
    for provider in BOTH {
        let answer = provider.error(400, "invalid_request_error", "messages: roles must alternate");
        let server = Server::start(vec![answer, provider.ok()]).await;
        let message = fail(provider, &server, "refused", retries(2)).await;
        assert!(message.starts_with(&format!("HTTP 400 from {}{}", server.base, provider.path())), "{message}");
        assert!(message.contains("messages: roles must alternate"), "{message}");
        assert_eq!(server.count(), 1, "{provider:?}");
    }
}

#[tokio::test]
async fn a_refused_key_names_its_variable() {
    let set = "BATON_WIRE_REFUSED_KEY_8b20";
    std::env::set_var(set, "sk-wrong");
    for provider in BOTH {
        for var in [set, "BATON_WIRE_NEVER_SET_KEY_8b20"] {
            let server = Server::start(vec![provider.error(401, "authentication_error", "invalid x-api-key")]).await;
            let message = fail(provider, &server, "auth", |endpoint| {
                endpoint.api_key_env = Some(var.into());
                endpoint.retries = 2;
            })
            .await;
            assert!(message.contains("invalid x-api-key"), "{message}");
            assert!(message.contains(&format!("set {var}")), "{provider:?} {var}: {message}");
            assert_eq!(server.count(), 1);
        }
    }
}

#[tokio::test]
async fn not_found_points_at_the_base_url() {
    for provider in BOTH {
        let server = Server::start(vec![provider.error(404, "not_found_error", "model: claude-nope")]).await;
        let message = fail(provider, &server, "not_found", retries(2)).await;
        assert!(message.contains("HTTP 404"), "{message}");
        assert!(message.contains("model: claude-nope"), "{message}");
        assert!(message.contains("base_url"), "{provider:?}: {message}");
        assert_eq!(server.count(), 1);
    }
}

#[tokio::test]
async fn a_rate_limit_with_a_short_retry_after_is_retried() {
    for provider in BOTH {
        for (name, value) in [("retry-after", "0"), ("retry-after-ms", "50")] {
            let limited = provider.error(429, "rate_limit_error", "slow down").header(name, value);
            let server = Server::start(vec![limited, provider.ok()]).await;
            let reply = ask(provider, &server, retries(1)).await.unwrap();
            assert_eq!(reply.text.as_deref(), Some("hi there"), "{provider:?} {name}");
            assert_eq!(server.count(), 2, "{provider:?} {name}");
        }
    }
}

#[tokio::test]
async fn a_long_retry_after_fails_at_once() {
    for provider in BOTH {
        let limited = provider.error(429, "rate_limit_error", "slow down").header("retry-after", "3600");
        let server = Server::start(vec![limited, provider.ok()]).await;
        let message = fail(provider, &server, "rate_limited", retries(2)).await;
        assert!(message.contains("slow down"), "{message}");
        assert!(message.contains("try again later"), "{provider:?}: {message}");
        assert_eq!(server.count(), 1);
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_given_up() {
    for provider in BOTH {
        for status in [500, 503, 529] {
            let server = Server::start(vec![provider.error(status, "overloaded_error", "Overloaded")]).await;
            let message = fail(provider, &server, "unavailable", retries(1)).await;
            assert!(message.starts_with(&format!("HTTP {status} from ")), "{message}");
            assert!(message.contains("Overloaded"), "{message}");
            assert!(message.contains("gave up after 2 attempts"), "{provider:?} {status}: {message}");
            assert_eq!(server.count(), 2, "{provider:?} {status}");
        }
    }
}

#[tokio::test]
async fn a_server_error_then_an_answer_is_a_reply() {
    for provider in BOTH {
        let server = Server::start(vec![provider.error(503, "api_error", "try later"), provider.ok()]).await;
        let reply = ask(provider, &server, retries(2)).await.unwrap();
        assert_eq!(reply.text.as_deref(), Some("hi there"));
        assert_eq!(server.count(), 2);
    }
}

#[tokio::test]
async fn a_silent_server_times_out_without_a_retry() {
    for provider in BOTH {
        let server = Server::start(vec![Answer::Silence]).await;
        let message = fail(provider, &server, "timed_out", |endpoint| {
            endpoint.timeout = Duration::from_millis(300);
            endpoint.retries = 2;
        })
        .await;
        assert!(message.contains("within 0.3 s"), "{provider:?}: {message}");
        assert_eq!(server.count(), 1);
    }
}

#[tokio::test]
async fn an_unreachable_server_says_so() {
    for provider in BOTH {
        let base = unreachable().await;
        let model = provider.model(&base, retries(1));
        let error = bounded(model.complete(&hello(), &Heard::default())).await.unwrap_err();
        assert_eq!(error.kind(), "unreachable", "{error}");
        let message = error.to_string();
        assert!(message.starts_with(&format!("cannot reach {base}{}", provider.path())), "{message}");
        assert!(message.contains("is the server running?"), "{message}");
        assert!(message.contains("gave up after 2 attempts"), "{message}");
    }
}

#[tokio::test]
async fn header_templates_are_expanded_at_each_call() {
    let var = "BATON_WIRE_TENANT_3c7f";
    std::env::set_var(var, "acme");
    for provider in BOTH {
        let server = Server::start(vec![provider.ok()]).await;
        ask(provider, &server, |endpoint| {
            endpoint.headers = vec![("X-Tenant".into(), format!("team-${{{var}}}-eu")), ("X-Plain".into(), "1".into())];
        })
        .await
        .unwrap();
        let seen = server.only();
        assert_eq!(seen.header("x-tenant"), Some("team-acme-eu"), "{provider:?}");
        assert_eq!(seen.header("x-plain"), Some("1"), "{provider:?}");
    }
}

#[tokio::test]
async fn an_unset_header_variable_fails_before_anything_is_sent() {
    let var = "BATON_WIRE_NEVER_SET_HEADER_3c7f";
    for provider in BOTH {
        let server = Server::start(vec![provider.ok()]).await;
        let message = fail(provider, &server, "config", |endpoint| {
            endpoint.headers = vec![("X-Tenant".into(), format!("${{{var}}}"))];
        })
        .await;
        assert!(message.contains(var), "{message}");
        assert!(message.contains("X-Tenant") || message.contains("x-tenant"), "{message}");
        assert_eq!(server.count(), 0, "{provider:?}: nothing is sent");
    }
}

#[tokio::test]
async fn a_base_url_variable_is_expanded_when_the_model_is_built() {
    for (provider, var) in
        [(Provider::OpenAi, "BATON_WIRE_BASE_OPENAI_3c7f"), (Provider::Anthropic, "BATON_WIRE_BASE_ANTHROPIC_3c7f")]
    {
        let server = Server::start(vec![provider.ok()]).await;
        std::env::set_var(var, &server.base);
        let model = provider.model(&format!("${{{var}}}"), |_| {});
        let reply = bounded(model.complete(&hello(), &Heard::default())).await.unwrap();
        assert_eq!(reply.text.as_deref(), Some("hi there"), "{provider:?}");
        let request_line = server.only().request_line;
        assert!(request_line.starts_with(&format!("POST {} ", provider.path())), "{provider:?}: {request_line}");
    }
    let unset = "BATON_WIRE_NEVER_SET_BASE_3c7f";
    let endpoint = || Endpoint::new("m", format!("http://${{{unset}}}/v1"), None);
    for error in [OpenAiModel::new(endpoint()).unwrap_err(), AnthropicModel::new(endpoint()).unwrap_err()] {
        assert_eq!(error.kind(), "config", "{error}");
        assert_eq!(
            error.to_string(),
            format!("the base_url 'http://${{{unset}}}/v1' uses ${{{unset}}}, which is not set: set the environment variable {unset}")
        );
    }
}

#[tokio::test]
async fn extra_body_members_are_added_replaced_and_removed() {
    // Chat Completions, streamed: a server that rejects stream_options can be served.
    let frames = vec![
        data(&json!({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]})),
        data(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
        done(),
    ];
    let server = Server::start(vec![Answer::events(&frames)]).await;
    let reply = ask(Provider::OpenAi, &server, |endpoint| {
        endpoint.stream = true;
        endpoint.sampling.temperature = Some(0.1);
        let extra = json!({"stream_options": null, "temperature": 0.5, "metadata": {"ticket": "T-1"}});
        endpoint.extra_body = extra.as_object().unwrap().clone();
    })
    .await
    .unwrap();
    assert_eq!(reply.text.as_deref(), Some("hi"));
    assert_eq!(reply.usage, None);
    let body = server.only().json();
    assert_eq!(body.get("stream_options"), None);
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["temperature"], json!(0.5));
    assert_eq!(body["metadata"], json!({"ticket": "T-1"}));

    // Messages API.
    let server = Server::start(vec![Provider::Anthropic.ok()]).await;
    ask(Provider::Anthropic, &server, |endpoint| {
        let extra = json!({"system": null, "max_tokens": 777, "top_k": 5});
        endpoint.extra_body = extra.as_object().unwrap().clone();
    })
    .await
    .unwrap();
    let body = server.only().json();
    assert_eq!(body.get("system"), None);
    assert_eq!(body["max_tokens"], json!(777));
    assert_eq!(body["top_k"], json!(5));
    assert_eq!(body["model"], json!("claude-sonnet-4-5"));
}
