//! Keys and roles: a request without a known key is turned away, a client sees only its own
//! conversations (another's answer exactly as one that does not exist), an operator reads every
//! conversation and works the queue as its key's name but does not talk as a user, and an admin
//! does everything. Without keys the server serves loopback only.

use crate::api::{create, error_of, expect_error, say, SseReader, OUTAGE};
use crate::server::{client, get, post, TestServer};
use baton_server::check_address;
use baton_server::keys::{new_key, Keys, Role};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// The secrets of a server's keys, one per role (and a second client and operator).
struct Secrets {
    alice: String,
    bruno: String,
    anna: String,
    bob: String,
    root: String,
}

/// A server with the keys of [`Secrets`]: clients alice and bruno, operators anna and bob,
/// admin root.
async fn server() -> (TestServer, Secrets) {
    let mut tables = String::new();
    let mut make = |name: &str, role: Role| {
        let (secret, table) = new_key(name, role).unwrap();
        tables.push_str(&table);
        secret
    };
    let secrets = Secrets {
        alice: make("alice", Role::Client),
        bruno: make("bruno", Role::Client),
        anna: make("anna", Role::Operator),
        bob: make("bob", Role::Operator),
        root: make("root", Role::Admin),
    };
    (TestServer::with_keys(&tables).await, secrets)
}

/// The error answer's body with every mention of `id` replaced, to compare answers about two ids.
fn without(id: &str, answer: &(u16, Value)) -> (u16, String) {
    (answer.0, answer.1.to_string().replace(id, "ID"))
}

/// GETs the events of `id` with `key`: the status, and the body unless it is a stream.
async fn events(server: &TestServer, key: &str, id: &str) -> (u16, Value) {
    let response =
        client().get(server.url(&format!("/v1/conversations/{id}/events"))).bearer_auth(key).send().await.unwrap();
    if response.status().as_u16() == 200 {
        SseReader::new(response);
        return (200, Value::Null);
    }
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_request_without_a_known_key_is_unauthorized() {
    let (server, secrets) = server().await;
    let no_key = client().post(server.url("/v1/conversations")).json(&json!({"team": "support"})).send().await;
    let no_key = no_key.unwrap();
    assert_eq!(no_key.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
    let (status, code, message) = error_of(no_key).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"), "{message}");
    assert!(message.contains("Authorization: Bearer"), "{message}");

    let wrong = format!("{}0", secrets.alice);
    let answer = post(&server.url("/v1/conversations"), Some(&wrong), &json!({"team": "support"})).await;
    expect_error(&answer, 401, "unauthorized");
    let basic = client().get(server.url("/v1/queue")).basic_auth("anna", Some(&secrets.anna)).send().await.unwrap();
    assert_eq!(error_of(basic).await.0, 401, "a key is sent as a bearer token");
    expect_error(&get(&server.url("/v1/queue"), Some("")).await, 401, "unauthorized");
    assert_eq!(get(&server.url("/v1/queue"), Some(&secrets.anna)).await.0, 200, "the right key passes");
}

#[tokio::test]
async fn a_client_sees_only_its_own_conversations() {
    let (server, secrets) = server().await;
    let (alice, bruno) = (Some(secrets.alice.as_str()), Some(secrets.bruno.as_str()));
    create(&server, alice, "alice:s").await;
    let (status, owned) = get(&server.url("/v1/conversations/alice:s"), alice).await;
    assert_eq!((status, &owned["owner"]), (200, &json!("alice")), "{owned}");
    let (status, result) = say(&server, alice, "alice:s", OUTAGE).await;
    assert_eq!((status, &result["status"]), (200, &json!("answered")), "{result}");
    assert_eq!(get(&server.url("/v1/conversations/alice:s/trace"), alice).await.0, 200);
    assert_eq!(events(&server, &secrets.alice, "alice:s").await.0, 200);

    let before = entries_as(&server, &secrets.alice, "alice:s").await;
    for path in ["", "/trace"] {
        let theirs = get(&server.url(&format!("/v1/conversations/alice:s{path}")), bruno).await;
        let nobodys = get(&server.url(&format!("/v1/conversations/nobodys{path}")), bruno).await;
        expect_error(&theirs, 404, "not_found");
        assert_eq!(without("alice:s", &theirs), without("nobodys", &nobodys), "GET {path}: no telling them apart");
    }
    let theirs = events(&server, &secrets.bruno, "alice:s").await;
    let nobodys = events(&server, &secrets.bruno, "nobodys").await;
    expect_error(&theirs, 404, "not_found");
    assert_eq!(without("alice:s", &theirs), without("nobodys", &nobodys), "events: no telling them apart");
    let theirs = say(&server, bruno, "alice:s", "Let me in").await;
    let nobodys = say(&server, bruno, "nobodys", "Let me in").await;
    expect_error(&theirs, 404, "not_found");
    assert_eq!(without("alice:s", &theirs), without("nobodys", &nobodys), "messages: no telling them apart");
    assert_eq!(entries_as(&server, &secrets.alice, "alice:s").await, before, "bruno's message was not journaled");
}

/// The journal entries of `id`, read with `key`.
async fn entries_as(server: &TestServer, key: &str, id: &str) -> Vec<Value> {
    let (status, trace) = get(&server.url(&format!("/v1/conversations/{id}/trace")), Some(key)).await;
    assert_eq!(status, 200, "{trace}");
    trace["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_operator_reads_every_conversation_but_does_not_talk_as_a_user() {
    let (server, secrets) = server().await;
    let (alice, anna) = (Some(secrets.alice.as_str()), Some(secrets.anna.as_str()));
    create(&server, alice, "alice:s").await;
    assert_eq!(say(&server, alice, "alice:s", OUTAGE).await.0, 200);
    assert_eq!(get(&server.url("/v1/conversations/alice:s"), anna).await.0, 200);
    let trace = get(&server.url("/v1/conversations/alice:s/trace"), anna).await;
    assert_eq!(trace.1["entries"], json!(entries_as(&server, &secrets.alice, "alice:s").await));
    assert_eq!(events(&server, &secrets.anna, "alice:s").await.0, 200);

    let talk = say(&server, anna, "alice:s", "Hello from the operator").await;
    assert!(expect_error(&talk, 403, "forbidden").contains("only the client that created"), "{talk:?}");
    let start = post(&server.url("/v1/conversations"), anna, &json!({"team": "support"})).await;
    assert!(expect_error(&start, 403, "forbidden").contains("operator"), "the message names the role: {start:?}");
    assert_eq!(get(&server.url("/v1/conversations/alice:s"), alice).await.1["turns"], 1, "nothing was added");
}

#[tokio::test]
async fn a_client_neither_reads_the_queue_nor_decides_on_approvals() {
    let (server, secrets) = server().await;
    let alice = Some(secrets.alice.as_str());
    create(&server, alice, "alice:refund").await;
    let (status, waiting) =
        say(&server, alice, "alice:refund", "Please refund invoice INV-2041, the 89.99 EUR router fee").await;
    assert_eq!((status, &waiting["status"]), (200, &json!("awaiting_approval")), "{waiting}");
    let call_id = waiting["pending"]["call_id"].as_str().unwrap();

    expect_error(&get(&server.url("/v1/queue"), alice).await, 403, "forbidden");
    expect_error(&get(&server.url("/v1/queue/alice:refund"), alice).await, 403, "forbidden");
    expect_error(&post(&server.url("/v1/queue/alice:refund/claim"), alice, &json!({})).await, 403, "forbidden");
    let approval = server.url(&format!("/v1/conversations/alice:refund/approvals/{call_id}"));
    let decided = post(&approval, alice, &json!({"approve": true})).await;
    assert!(expect_error(&decided, 403, "forbidden").contains("client"), "{decided:?}");
    let (_, view) = get(&server.url("/v1/conversations/alice:refund"), alice).await;
    assert_eq!(view["status"], "awaiting_approval", "the call still waits: {view}");

    let (status, done) = post(&approval, Some(&secrets.anna), &json!({"approve": true})).await;
    assert_eq!((status, &done["status"]), (200, &json!("answered")), "an operator decides: {done}");
    let journal = entries_as(&server, &secrets.alice, "alice:refund").await;
    let decided = journal.iter().find(|entry| entry["kind"] == "approval_decided").unwrap();
    assert_eq!(decided["data"]["by"], "anna", "the decision is the key's: {decided}");
}

#[tokio::test]
async fn an_admin_does_everything() {
    let (server, secrets) = server().await;
    let root = Some(secrets.root.as_str());
    create(&server, Some(&secrets.alice), "alice:s").await;
    create(&server, root, "roots").await;
    assert_eq!(get(&server.url("/v1/conversations/alice:s"), root).await.0, 200, "reads a client's conversation");
    assert_eq!(say(&server, root, "alice:s", OUTAGE).await.0, 200, "talks in it");
    assert_eq!(events(&server, &secrets.root, "alice:s").await.0, 200);

    let refund = say(&server, root, "roots", "Please refund invoice INV-2041, the 89.99 EUR router fee").await;
    assert_eq!(refund.1["status"], "awaiting_approval", "{refund:?}");
    let call_id = refund.1["pending"]["call_id"].as_str().unwrap();
    let approval = server.url(&format!("/v1/conversations/roots/approvals/{call_id}"));
    let (status, done) = post(&approval, root, &json!({"approve": true})).await;
    assert_eq!((status, &done["status"]), (200, &json!("answered")), "{done}");

    assert_eq!(say(&server, root, "roots", "I want to talk to a human").await.1["status"], "escalated");
    let (status, list) = get(&server.url("/v1/queue"), root).await;
    assert_eq!((status, &list["tickets"][0]["conversation"]), (200, &json!("roots")), "{list}");
    let (status, claimed) = post(&server.url("/v1/queue/roots/claim"), root, &json!({})).await;
    assert_eq!((status, &claimed["operator"]), (200, &json!("root")), "{claimed}");
    let (status, closed) = post(&server.url("/v1/queue/roots/close"), root, &json!({})).await;
    assert_eq!((status, &closed["status"]), (200, &json!("closed")), "{closed}");
}

#[tokio::test]
async fn an_operator_acts_on_the_queue_as_its_key() {
    let (server, secrets) = server().await;
    let (alice, anna, bob) = (Some(secrets.alice.as_str()), Some(secrets.anna.as_str()), Some(secrets.bob.as_str()));
    create(&server, alice, "alice:help").await;
    assert_eq!(say(&server, alice, "alice:help", "I want to talk to a human").await.1["status"], "escalated");
    let queue = |path: &str| server.url(&format!("/v1/queue{path}"));

    let (status, claimed) = post(&queue("/alice:help/claim"), anna, &json!({})).await;
    assert_eq!((status, &claimed["operator"]), (200, &json!("anna")), "the key's name claims: {claimed}");
    let posing = post(&queue("/alice:help/reply"), anna, &json!({"text": "Hi, Bob here.", "operator": "bob"})).await;
    assert!(expect_error(&posing, 403, "forbidden").contains("acts as operator 'anna'"), "{posing:?}");
    let posing = post(&queue("/alice:help/claim"), bob, &json!({"operator": "anna"})).await;
    expect_error(&posing, 403, "forbidden");
    let taken = post(&queue("/alice:help/claim"), bob, &json!({})).await;
    assert!(expect_error(&taken, 409, "refused").contains("claimed by anna"), "{taken:?}");
    let late = post(&queue("/alice:help/reply"), bob, &json!({"text": "Hi, Bob here."})).await;
    expect_error(&late, 409, "refused");

    let text = "Hi, I'm Anna. How can I help?";
    let (status, _) = post(&queue("/alice:help/reply"), anna, &json!({"text": text, "operator": "anna"})).await;
    assert_eq!(status, 200);
    let (_, view) = get(&server.url("/v1/conversations/alice:help"), alice).await;
    let last = view["transcript"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["agent"], &last["text"]), (&json!("human"), &json!(text)), "alice reads anna's reply: {view}");
    let journal = entries_as(&server, &secrets.anna, "alice:help").await;
    let replied = journal.iter().find(|entry| entry["kind"] == "operator_replied").unwrap();
    assert_eq!(replied["data"]["operator"], "anna", "{replied}");
}

#[test]
fn without_keys_only_loopback_is_served() {
    let addr = |text: &str| text.parse::<SocketAddr>().unwrap();
    let refused = check_address(&addr("0.0.0.0:8080"), None).unwrap_err().to_string();
    assert!(refused.contains("0.0.0.0:8080") && refused.contains("--keys"), "{refused}");
    assert_eq!(check_address(&addr("127.0.0.1:8080"), None), Ok(()));
    assert_eq!(check_address(&addr("[::1]:8080"), None), Ok(()));
    let (_, table) = new_key("ops", Role::Admin).unwrap();
    let keys = Keys::parse(&table, "keys.toml").unwrap();
    assert_eq!(check_address(&addr("0.0.0.0:8080"), Some(&keys)), Ok(()));
    assert_eq!(check_address(&addr("[::]:8080"), Some(&keys)), Ok(()));
}
