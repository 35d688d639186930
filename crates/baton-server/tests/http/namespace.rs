//! A client key picks ids in its own space (`NAME:…`), so another client's id answers as an
//! unused one does: no client learns that an id is taken by creating it (409) while reading it
//! answers 404. Admins pick any id; the chat endpoint checks the role before the body.

use crate::server::{client, get, post, TestServer};
use baton_server::keys::{new_key, Keys, Role};
use baton_server::Options;
use serde_json::json;

#[tokio::test]
async fn another_clients_id_answers_as_an_unused_one_does() {
    let (anna, anna_table) = new_key("anna", Role::Client).unwrap();
    let (ben, ben_table) = new_key("ci@corp.example", Role::Client).unwrap();
    let (admin, admin_table) = new_key("root", Role::Admin).unwrap();
    let (operator, operator_table) = new_key("olga", Role::Operator).unwrap();
    let keys =
        Keys::parse(&format!("{anna_table}\n{ben_table}\n{admin_table}\n{operator_table}"), "keys.toml").unwrap();
    let server = TestServer::with(Options { keys: Some(keys), ..Options::default() }).await;
    let create = |id: &str| json!({ "team": "support", "id": id });
    let url = server.url("/v1/conversations");

    let (status, answer) = post(&url, Some(&anna), &create("anna:order-17")).await;
    assert_eq!((status, answer["id"].as_str()), (201, Some("anna:order-17")), "{answer}");
    let (status, _) = post(&url, Some(&ben), &create("ci@corp.example:7")).await;
    assert_eq!(status, 201, "a key name with '@' makes ids too");

    // Ben asks for anna's id and for an unused id in her space: the same answer, before any lookup.
    let (taken_status, taken) = post(&url, Some(&ben), &create("anna:order-17")).await;
    let (unused_status, unused) = post(&url, Some(&ben), &create("anna:order-18")).await;
    assert_eq!((taken_status, unused_status), (400, 400));
    assert_eq!(taken["error"]["code"], "id_outside_namespace", "{taken}");
    assert_eq!(taken, unused, "a taken id and an unused one answer alike");
    assert!(taken["error"]["message"].as_str().unwrap().contains("'ci@corp.example:"), "{taken}");
    let (status, _) = post(&url, Some(&anna), &create("order-19")).await;
    assert_eq!(status, 400, "a client's id outside its space is refused");
    let (status, _) = post(&url, Some(&anna), &create("anna-x")).await;
    assert_eq!(status, 400, "the name must be followed by ':'");

    // Her own id again is hers to know about; a generated id and an admin's id are free.
    let (status, answer) = post(&url, Some(&anna), &create("anna:order-17")).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("conversation_exists")));
    let (status, _) = post(&url, Some(&anna), &json!({ "team": "support" })).await;
    assert_eq!(status, 201);
    let (status, _) = post(&url, Some(&admin), &create("any-id")).await;
    assert_eq!(status, 201, "an admin picks any id");
    let (status, _) = get(&server.url("/v1/conversations/anna:order-17"), Some(&ben)).await;
    assert_eq!(status, 404);

    // The chat endpoint checks the role before it reads the body.
    let response = client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&operator)
        .header("content-type", "application/json")
        .body("[not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "an operator key is refused before its body is read");
}
