//! Where HTTP tools may send requests: arguments never choose the host, names that resolve to
//! internal addresses and redirects to other origins are refused unless `allow_hosts` lists the
//! host. Every request goes to loopback; names are resolved by the test, never by DNS.

use crate::server::{Reply, Server};
use crate::support::definition;
use baton_core::ToolOutput;
use baton_tools::http::{HttpTool, HttpToolConfig, HttpToolError};
use baton_tools::Tool;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

/// The name the test resolver points at 127.0.0.1.
const NAME: &str = "orders.test";

/// Resolves [`NAME`] to 127.0.0.1 and fails for any other name.
struct TestResolver;

impl Resolve for TestResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let known = name.as_str() == NAME;
        Box::pin(async move {
            if !known {
                return Err("the test resolver knows only orders.test".into());
            }
            Ok(Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0)))) as Addrs)
        })
    }
}

/// A GET tool called `orders` on `url`, allowing `allow_hosts`, resolving with [`TestResolver`].
fn tool(url: &str, allow_hosts: &[&str]) -> HttpTool {
    let config = HttpToolConfig {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        allow_hosts: allow_hosts.iter().map(|host| host.to_string()).collect(),
    };
    HttpTool::with_resolver(definition("orders"), config, Arc::new(TestResolver)).unwrap()
}

#[test]
fn a_placeholder_in_the_host_is_refused_when_the_tool_is_built() {
    let config = HttpToolConfig {
        method: "GET".into(),
        url: "http://{host}/items".into(),
        headers: Vec::new(),
        allow_hosts: Vec::new(),
    };
    let error = HttpTool::new(definition("orders"), config).err();
    let Some(HttpToolError::Template { detail, .. }) = &error else { panic!("{:?}", error.map(|e| e.to_string())) };
    assert!(detail.starts_with("{host} is in the scheme, host or port"), "{detail}");
    assert!(detail.contains("arguments fill only the path and the query"), "{detail}");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_unless_allow_hosts_lists_it() {
    let server = Server::start(|_| Reply::new(200, "reached")).await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let url = format!("http://{NAME}:{port}/orders/{{id}}");

    let refused = tool(&url, &[]).call(&json!({"id": "7"}), "k").await;
    assert_eq!(
        refused,
        ToolOutput::error(
            "error: 'orders' did not connect to orders.test: it resolves to 127.0.0.1, a loopback address, and an \
             HTTP tool reaches such addresses only for the hosts in its allow_hosts; tell the user the tool cannot \
             be used now (if orders.test is meant to be internal, the team file can add allow_hosts = \
             [\"orders.test\"] to tool 'orders')"
        )
    );
    assert!(server.received().is_empty(), "nothing reached the server: {:?}", server.received());

    let allowed = tool(&url, &[NAME]).call(&json!({"id": "7"}), "k").await;
    assert_eq!(allowed, ToolOutput::ok("reached"));
    assert_eq!(server.only_request().target, "/orders/7");
}

#[tokio::test]
async fn redirects_are_followed_within_the_origin_or_to_an_allowed_host() {
    let other = Server::start(|_| Reply::new(200, "other origin")).await;
    let elsewhere = format!("{}/stolen", other.base);
    let server = Server::start(move |request| match request.target.as_str() {
        "/start" => Reply::redirect("/end"),
        "/end" => Reply::new(200, "same origin"),
        _ => Reply::redirect(&elsewhere),
    })
    .await;
    let url = format!("{}/{{step}}", server.base);

    assert_eq!(tool(&url, &[]).call(&json!({"step": "start"}), "k").await, ToolOutput::ok("same origin"));
    let refused = tool(&url, &[]).call(&json!({"step": "away"}), "k").await;
    assert_eq!(
        refused,
        ToolOutput::error(format!(
            "error: 'orders' was redirected from {} to {}, another origin, and an HTTP tool follows redirects only \
             within an origin or to the hosts in its allow_hosts; tell the user the tool cannot be used now (if \
             127.0.0.1 is to be trusted, the team file can add allow_hosts = [\"127.0.0.1\"] to tool 'orders')",
            server.base, other.base
        ))
    );
    assert!(other.received().is_empty(), "nothing reached the other origin: {:?}", other.received());

    let allowed = tool(&url, &["127.0.0.1"]).call(&json!({"step": "away"}), "k").await;
    assert_eq!(allowed, ToolOutput::ok("other origin"));
    assert_eq!(other.only_request().target, "/stolen");
}
