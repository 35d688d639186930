//! The key and its role are checked before the body is read: a key whose role may not call an
//! endpoint is answered 403 whatever it sends (no body, broken JSON, an array, a wrong field, a
//! body over the limit, the wrong content type), never 400, 413, 415 or 422, and nothing changes.

use crate::api::{create, error_of, say};
use crate::server::{client, get, TestServer};
use baton_server::keys::{new_key, Keys, Role};
use baton_server::Options;
use serde_json::json;

/// The largest body the test's server accepts.
const MAX_BODY: usize = 4 * 1024;

/// The bodies a caller may send wrong: a name for the assertion, the content type, the bytes.
fn bad_bodies() -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    vec![
        ("no body", None, Vec::new()),
        ("an empty JSON body", json, Vec::new()),
        ("broken JSON", json, b"{\"text\": ".to_vec()),
        ("an array", json, b"[\"anna\"]".to_vec()),
        ("an unknown field", json, b"{\"bogus\": 1}".to_vec()),
        ("a wrong type", json, b"{\"text\": 7, \"approve\": \"yes\", \"content\": []}".to_vec()),
        ("text, not JSON", Some("text/plain"), b"claim it".to_vec()),
        ("a body over the limit", json, format!("{{\"text\": \"{}\"}}", "x".repeat(2 * MAX_BODY)).into_bytes()),
    ]
}

/// POSTs `body` to `path` with `key`, and requires 403 `forbidden` in the API's error shape.
async fn refused(
    server: &TestServer,
    key: &str,
    path: &str,
    (what, content_type, body): &(&str, Option<&str>, Vec<u8>),
) {
    let mut request = client().post(server.url(path)).bearer_auth(key).body(body.clone());
    if let Some(content_type) = content_type {
        request = request.header("content-type", *content_type);
    }
    let (status, code, message) = error_of(request.send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"), "POST {path} with {what}: {message}");
}

#[tokio::test]
async fn a_key_whose_role_may_not_call_an_endpoint_is_refused_before_its_body_is_read() {
    let (alice, alice_table) = new_key("alice", Role::Client).unwrap();
    let (anna, anna_table) = new_key("anna", Role::Operator).unwrap();
    let keys = Keys::parse(&format!("{alice_table}{anna_table}"), "keys.toml").unwrap();
    let server = TestServer::with(Options { keys: Some(keys), max_body: MAX_BODY, ..Options::default() }).await;
    create(&server, Some(&alice), "alice:help").await;
    let (status, escalated) = say(&server, Some(&alice), "alice:help", "I want to talk to a human").await;
    assert_eq!((status, &escalated["status"]), (200, &json!("escalated")), "{escalated}");

    // A client on every operator endpoint.
    let operators = [
        "/v1/queue/alice:help/claim",
        "/v1/queue/alice:help/reply",
        "/v1/queue/alice:help/handback",
        "/v1/queue/alice:help/close",
        "/v1/conversations/alice:help/approvals/call_1",
    ];
    for body in &bad_bodies() {
        for path in operators {
            refused(&server, &alice, path, body).await;
        }
        // An operator on the endpoints that talk as a user.
        for path in ["/v1/conversations", "/v1/conversations/alice:help/messages"] {
            refused(&server, &anna, path, body).await;
        }
    }
    for path in ["/v1/queue", "/v1/queue/alice:help"] {
        let response = client().get(server.url(path)).bearer_auth(&alice).send().await.unwrap();
        assert_eq!(error_of(response).await.0, 403, "GET {path}");
    }

    // Nothing changed: the ticket is still open and unclaimed, and no turn ran.
    let (status, ticket) = get(&server.url("/v1/queue/alice:help"), Some(&anna)).await;
    assert_eq!((status, &ticket["status"], &ticket["operator"]), (200, &json!("open"), &json!(null)), "{ticket}");
    let (_, conversation) = get(&server.url("/v1/conversations/alice:help"), Some(&alice)).await;
    assert_eq!(conversation["turns"], 1, "{conversation}");

    // Without a key, 401 comes first as before, whatever the body.
    for (what, content_type, body) in bad_bodies() {
        let mut request = client().post(server.url("/v1/queue/alice:help/claim")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let (status, code, _) = error_of(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{what}");
    }
}
