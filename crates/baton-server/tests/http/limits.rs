//! Connection limits against a slowloris client (requests whose headers never finish): each is
//! closed once the header deadline passes, and at the connection cap new clients take the place
//! of the half-sent requests, so `/healthz` and a keyed request are answered while the attack
//! holds. Bounded: a few hundred loopback connections, a few seconds.

use crate::server::TestServer;
use baton_server::keys::{new_key, Keys, Role};
use baton_server::{ConnectionLimits, Options};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection and sends the start of a request, never its end.
async fn half_sent(base: &str) -> TcpStream {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    stream
}

/// Whether the server has closed `stream`, waiting up to `patience` for it to.
async fn closed_by_server(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut buffer = [0u8; 256];
    matches!(tokio::time::timeout(patience, stream.read(&mut buffer)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn a_request_whose_headers_never_finish_is_closed_after_the_header_timeout() {
    let limits = ConnectionLimits { header_timeout: Duration::from_millis(500), ..ConnectionLimits::default() };
    let server = TestServer::with(Options { connections: limits, ..Options::default() }).await;
    let mut slow = half_sent(&server.base).await;
    assert!(closed_by_server(&mut slow, Duration::from_secs(10)).await, "the half-sent request was held open");
    // A keep-alive connection left idle is closed the same way.
    let mut idle = TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"), "the request is answered");
    assert!(closed_by_server(&mut idle, Duration::from_secs(10)).await, "the idle keep-alive connection was held open");
}

#[tokio::test]
async fn at_the_connection_cap_half_sent_requests_give_way_to_real_clients() {
    let (secret, table) = new_key("alice", Role::Client).unwrap();
    let keys = Keys::parse(&table, "keys.toml").unwrap();
    // A header deadline far longer than the test: only the cap can free places.
    let limits = ConnectionLimits { max_connections: 50, header_timeout: Duration::from_secs(60) };
    let server = TestServer::with(Options { keys: Some(keys), connections: limits, ..Options::default() }).await;
    let mut attack = Vec::new();
    for _ in 0..300 {
        attack.push(half_sent(&server.base).await);
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200, "/healthz answers while 300 half-sent requests are held");
    let created = client
        .post(format!("{}/v1/conversations", server.base))
        .bearer_auth(&secret)
        .json(&json!({ "team": "support" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "a keyed request is served while the attack holds");

    let mut still_open = 0;
    for stream in &mut attack {
        if !closed_by_server(stream, Duration::from_millis(20)).await {
            still_open += 1;
        }
    }
    assert!(still_open <= 50, "{still_open} of the 300 half-sent requests are still open; the cap is 50");
}

#[tokio::test]
async fn invented_method_names_do_not_grow_the_metrics() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    for n in 0..200 {
        let method = reqwest::Method::from_bytes(format!("X{n:04}SPAM").as_bytes()).unwrap();
        client.request(method, format!("{}/healthz", server.base)).send().await.unwrap();
    }
    let metrics = client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("SPAM"), "an invented method became a label");
    assert!(
        metrics.contains(r#"baton_http_requests_total{method="other",route="/healthz",status="405"} 200"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn private_metrics_need_an_operator_or_admin_key() {
    let mut tables = String::new();
    let mut make = |name: &str, role: Role| {
        let (secret, table) = new_key(name, role).unwrap();
        tables.push_str(&table);
        secret
    };
    let (client_key, operator_key) = (make("web", Role::Client), make("ops", Role::Operator));
    let keys = || Some(Keys::parse(&tables, "keys.toml").unwrap());
    let metrics = |server: &TestServer, key: Option<&str>| {
        let mut request = reqwest::Client::new().get(format!("{}/metrics", server.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let public = TestServer::with(Options { keys: keys(), ..Options::default() }).await;
    assert_eq!(metrics(&public, None).await, 200, "public by default");
    let private = TestServer::with(Options { keys: keys(), private_metrics: true, ..Options::default() }).await;
    assert_eq!(metrics(&private, None).await, 401);
    assert_eq!(metrics(&private, Some(&client_key)).await, 403);
    assert_eq!(metrics(&private, Some(&operator_key)).await, 200);
}

#[tokio::test]
async fn at_the_cap_half_sent_requests_give_way_before_a_kept_alive_client() {
    let limits = ConnectionLimits { max_connections: 10, header_timeout: Duration::from_secs(60) };
    let server = TestServer::with(Options { connections: limits, ..Options::default() }).await;
    let mut kept = TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut answer = vec![0u8; 4096];
    kept.write_all(request).await.unwrap();
    let read = kept.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
    let mut attack = Vec::new();
    for _ in 0..30 {
        attack.push(half_sent(&server.base).await);
    }
    // Let the server take in every connection before asking again on the kept one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    kept.write_all(request).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(10), kept.read(&mut answer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"), "the kept-alive client was evicted");
}
