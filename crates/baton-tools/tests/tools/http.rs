//! HTTP tools: what reaches the server, and how its answers read.

use crate::server::{refused_base, Reply, Server};
use crate::support::{definition, with_timeout};
use baton_core::ToolOutput;
use baton_tools::http::{HttpTool, HttpToolConfig};
use baton_tools::Tool;
use serde_json::{json, Value};
use std::time::Duration;

/// A tool called `orders` sending `method` to `url` (a path on `server`) with `headers`.
fn tool(method: &str, base: &str, path: &str, headers: &[(&str, &str)]) -> HttpTool {
    let config = HttpToolConfig {
        method: method.to_string(),
        url: format!("{base}{path}"),
        headers: headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect(),
        allow_hosts: Vec::new(),
    };
    HttpTool::new(definition("orders"), config).unwrap()
}

/// A server answering every request with `status` and `body`.
async fn answering(status: u16, body: &'static str) -> Server {
    Server::start(move |_| Reply::new(status, body)).await
}

#[tokio::test]
async fn placeholders_are_filled_and_encoded_and_the_other_arguments_become_the_query() {
    let server = answering(200, r#"{ "status" : "shipped" }"#).await;
    let tool = tool("GET", &server.base, "/shops/{shop}/orders/{id}", &[]);
    let arguments = json!({"shop": "a b/c?", "id": 42, "q": "x&y z", "limit": 10, "open": true, "gone": null});
    let output = tool.call(&arguments, "key-1").await;
    assert_eq!(output, ToolOutput::ok(r#"{"status":"shipped"}"#));
    let request = server.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/shops/a%20b%2Fc%3F/orders/42?q=x%26y+z&limit=10&open=true");
    assert_eq!(request.body, "");
}

#[tokio::test]
async fn a_post_sends_the_arguments_not_in_the_url_as_a_json_body() {
    let server = answering(201, "created").await;
    let tool = tool("POST", &server.base, "/orders/{id}/refunds", &[]);
    let output = tool.call(&json!({"id": "A-1", "amount": 5, "reason": {"code": "late"}}), "key-1").await;
    assert_eq!(output, ToolOutput::ok("created"));
    let request = server.only_request();
    assert_eq!((request.method.as_str(), request.target.as_str()), ("POST", "/orders/A-1/refunds"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body, json!({"amount": 5, "reason": {"code": "late"}}));
}

#[tokio::test]
async fn a_post_whose_arguments_all_fill_the_url_sends_an_empty_object() {
    let server = answering(200, "{}").await;
    let tool = tool("PUT", &server.base, "/orders/{id}/close", &[]);
    tool.call(&json!({"id": "7"}), "key-1").await;
    assert_eq!(server.only_request().body, "{}");
}

#[tokio::test]
async fn every_request_carries_the_idempotency_key_and_the_user_agent() {
    let server = answering(200, "{}").await;
    let tool = tool("DELETE", &server.base, "/orders/{id}", &[("X-Shop", "main")]);
    tool.call(&json!({"id": "7"}), "turn-3-call-1").await;
    let request = server.only_request();
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.header("idempotency-key"), Some("turn-3-call-1"));
    assert_eq!(request.header("user-agent"), Some(concat!("baton/", env!("CARGO_PKG_VERSION"))));
    assert_eq!(request.header("x-shop"), Some("main"));
}

#[tokio::test]
async fn header_values_read_environment_variables_at_each_call() {
    let server = answering(200, "{}").await;
    let tool = tool("GET", &server.base, "/me", &[("Authorization", "Bearer ${BATON_TOOLS_TEST_TOKEN_1}")]);
    std::env::set_var("BATON_TOOLS_TEST_TOKEN_1", "first");
    tool.call(&json!({}), "k").await;
    std::env::set_var("BATON_TOOLS_TEST_TOKEN_1", "second");
    tool.call(&json!({}), "k").await;
    let sent: Vec<_> = server.received().iter().map(|r| r.header("authorization").unwrap().to_string()).collect();
    assert_eq!(sent, ["Bearer first", "Bearer second"]);
}

#[tokio::test]
async fn an_unset_environment_variable_is_an_error_and_nothing_is_sent() {
    let server = answering(200, "{}").await;
    let tool = tool("GET", &server.base, "/me", &[("Authorization", "Bearer ${BATON_TOOLS_TEST_NEVER_SET}")]);
    let output = tool.call(&json!({}), "k").await;
    assert_eq!(
        output,
        ToolOutput::error(
            "error: the header Authorization uses ${BATON_TOOLS_TEST_NEVER_SET}, which is not set: set the environment \
             variable BATON_TOOLS_TEST_NEVER_SET"
        )
    );
    let tool = self::tool("GET", "http://${BATON_TOOLS_TEST_NEVER_SET_HOST}", "/me", &[]);
    let output = tool.call(&json!({}), "k").await;
    assert_eq!(
        output,
        ToolOutput::error(
            "error: the url uses ${BATON_TOOLS_TEST_NEVER_SET_HOST}, which is not set: set the environment variable \
             BATON_TOOLS_TEST_NEVER_SET_HOST"
        )
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn the_url_reads_environment_variables_at_each_call() {
    let first = answering(200, "first").await;
    let second = answering(200, "second").await;
    let tool = tool("GET", "${BATON_TOOLS_TEST_BASE_1}", "/orders/{id}?key=${BATON_TOOLS_TEST_KEY_1}", &[]);
    std::env::set_var("BATON_TOOLS_TEST_KEY_1", "k&1");
    std::env::set_var("BATON_TOOLS_TEST_BASE_1", &first.base);
    assert_eq!(tool.call(&json!({"id": "7"}), "k").await, ToolOutput::ok("first"));
    std::env::set_var("BATON_TOOLS_TEST_BASE_1", &second.base);
    assert_eq!(tool.call(&json!({"id": "8"}), "k").await, ToolOutput::ok("second"));
    assert_eq!(first.only_request().target, "/orders/7?key=k&1", "a variable's value is put in as it is");
    assert_eq!(second.only_request().target, "/orders/8?key=k&1");
    std::env::set_var("BATON_TOOLS_TEST_BASE_1", "ftp://example.com");
    let output = tool.call(&json!({"id": "9"}), "k").await;
    assert!(output.content.contains("is not an http:// or https:// address"), "{}", output.content);
}

#[tokio::test]
async fn a_url_made_invalid_by_a_variable_quotes_the_variables_never_their_values() {
    let tool = tool("GET", "https://${BATON_TOOLS_TEST_HOST_2}", "/find/{q}?key=${BATON_TOOLS_TEST_SECRET_2}", &[]);
    std::env::set_var("BATON_TOOLS_TEST_HOST_2", "bad host");
    std::env::set_var("BATON_TOOLS_TEST_SECRET_2", "s3cr3t-token");
    let output = tool.call(&json!({"q": "x"}), "k").await;
    assert!(output.is_error);
    assert!(!output.content.contains("s3cr3t-token"), "a secret reached the result: {}", output.content);
    assert!(!output.content.contains("bad host"), "{}", output.content);
    assert!(
        output.content.contains(
            "the URL 'https://${BATON_TOOLS_TEST_HOST_2}/find/x?key=${BATON_TOOLS_TEST_SECRET_2}' is not valid"
        ),
        "{}",
        output.content
    );
    assert!(output.content.contains("check the value of ${BATON_TOOLS_TEST_HOST_2}"), "{}", output.content);
}

#[tokio::test]
async fn a_missing_placeholder_argument_is_an_error_naming_it_and_nothing_is_sent() {
    let server = answering(200, "{}").await;
    let tool = tool("GET", &server.base, "/orders/{id}", &[]);
    let output = tool.call(&json!({"ids": "7"}), "k").await;
    assert!(output.is_error);
    assert!(output.content.contains("the argument \"id\" is required"), "{}", output.content);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_failed_answer_is_an_error_with_the_status_and_the_body() {
    let server = Server::start(|request| match request.target.as_str() {
        "/orders/404" => Reply::new(404, r#"{"error": "no order 404"}"#),
        _ => Reply::new(500, "database is down"),
    })
    .await;
    let tool = tool("GET", &server.base, "/orders/{id}", &[]);
    let missing = tool.call(&json!({"id": 404}), "k").await;
    assert!(missing.is_error);
    assert!(missing.content.starts_with("error: 'orders' returned HTTP 404 Not Found: "), "{}", missing.content);
    assert!(missing.content.contains(r#"{"error": "no order 404"}"#), "{}", missing.content);
    let failing = tool.call(&json!({"id": 1}), "k").await;
    assert!(failing.is_error);
    assert!(failing.content.contains("HTTP 500 Internal Server Error: database is down"), "{}", failing.content);
    assert!(failing.content.contains("try again later"), "{}", failing.content);
}

#[tokio::test]
async fn a_long_error_body_is_quoted_in_part() {
    let server = Server::start(|_| Reply::new(400, &"e".repeat(10_000))).await;
    let output = tool("GET", &server.base, "/x", &[]).call(&json!({}), "k").await;
    assert!(output.is_error);
    assert!(output.content.contains(&format!("{}…", "e".repeat(2000))), "{}", output.content);
    assert!(!output.content.contains(&"e".repeat(2001)));
}

#[tokio::test]
async fn an_empty_answer_says_ok_with_the_status() {
    let server = answering(204, "").await;
    let output = tool("POST", &server.base, "/ping", &[]).call(&json!({}), "k").await;
    assert_eq!(output, ToolOutput::ok("ok (HTTP 204)"));
}

#[tokio::test]
async fn a_server_that_does_not_listen_is_reported_as_unreachable() {
    let base = refused_base().await;
    let output = tool("GET", &base, "/x", &[]).call(&json!({}), "k").await;
    assert!(output.is_error);
    let expected = format!("error: the server at {base} could not be reached for 'orders': ");
    assert!(output.content.starts_with(&expected), "{}", output.content);
    assert!(output.content.to_lowercase().contains("refused"), "{}", output.content);
}

#[tokio::test]
async fn a_slow_server_is_stopped_by_the_guard() {
    let server = Server::start(|_| Reply { delay: Duration::from_secs(60), ..Reply::new(200, "{}") }).await;
    let guarded = with_timeout(tool("GET", &server.base, "/slow", &[]), Duration::from_millis(200));
    let output = guarded.call(&json!({}), "k").await;
    assert_eq!(
        output,
        ToolOutput::error(
            "error: 'orders' did not answer within 200 ms; it was stopped (it may or may not have taken effect)"
        )
    );
}
