//! Without keys every caller is an admin, so a web page must not reach the server through the
//! developer's browser: a request for a host that is not this machine (DNS rebinding) and a
//! request from another site's page are refused; with keys both are the key's business.

use crate::server::TestServer;
use baton_server::keys::{new_key, Keys, Role};
use baton_server::Options;
use reqwest::header::{HOST, ORIGIN};

/// GET /healthz with these headers; the status and the error code, if any.
async fn health(server: &TestServer, headers: &[(reqwest::header::HeaderName, &str)]) -> (u16, String) {
    let mut request = reqwest::Client::new().get(server.url("/healthz"));
    for (name, value) in headers {
        request = request.header(name.clone(), *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn without_keys_only_this_machine_s_names_and_pages_are_served() {
    let server = TestServer::start().await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    assert_eq!(health(&server, &[]).await.0, 200, "the address it listens on");
    assert_eq!(health(&server, &[(HOST, &format!("localhost:{port}"))]).await.0, 200);
    let rebound = health(&server, &[(HOST, &format!("rebind.attacker.example:{port}"))]).await;
    assert_eq!(rebound, (403, "host_not_allowed".to_string()), "a DNS-rebound name");
    let from_page = health(&server, &[(ORIGIN, "https://attacker.example")]).await;
    assert_eq!(from_page, (403, "cross_site_request".to_string()), "another site's page");
    let fetch = health(&server, &[(reqwest::header::HeaderName::from_static("sec-fetch-site"), "cross-site")]).await;
    assert_eq!(fetch, (403, "cross_site_request".to_string()));
    assert_eq!(health(&server, &[(ORIGIN, "http://localhost:3000")]).await.0, 200, "a page on this machine");
    let sandboxed = health(&server, &[(ORIGIN, "null")]).await;
    assert_eq!(sandboxed, (403, "cross_site_request".to_string()), "a sandboxed frame or data: page");
}

#[tokio::test]
async fn with_keys_the_host_and_origin_are_the_key_s_business() {
    let (_, table) = new_key("web", Role::Client).unwrap();
    let keys = Keys::parse(&table, "keys.toml").unwrap();
    let server = TestServer::with(Options { keys: Some(keys), ..Options::default() }).await;
    let headers = [(HOST, "baton.example.com"), (ORIGIN, "https://app.example.com")];
    assert_eq!(health(&server, &headers).await.0, 200);
}
