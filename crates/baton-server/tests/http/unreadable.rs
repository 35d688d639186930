//! One broken journal does not take the queue down: `GET /v1/queue` leaves out a ticket whose
//! conversation cannot be read (an entry that no longer decodes, or a journal that no longer
//! replays, each edited directly in the SQLite file) and lists it under `unreadable` with the
//! error, while every other ticket is listed and worked as before.

use crate::api::{create, say};
use crate::server::{get, post, support, team, TestServer};
use baton::store::{SqliteStore, Store};
use baton_server::Options;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn the_queue_skips_and_reports_a_ticket_whose_journal_cannot_be_read() {
    let dir = std::env::temp_dir().join(format!("baton-unreadable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("journal.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let server = TestServer::serving(vec![team(&support(), store.clone()).await], store, Options::default()).await;
    for id in ["healthy", "undecodable", "unreplayable"] {
        create(&server, None, id).await;
        let (status, escalated) = say(&server, None, id, "I want to talk to a human").await;
        assert_eq!((status, &escalated["status"]), (200, &json!("escalated")), "{escalated}");
    }
    let (status, queue) = get(&server.url("/v1/queue"), None).await;
    assert_eq!((status, queue["tickets"].as_array().map(Vec::len)), (200, Some(3)), "{queue}");
    assert_eq!(queue["unreadable"], json!([]), "{queue}");

    // Another program edits the file the server journals to.
    let db = rusqlite::Connection::open(&path).unwrap();
    let edit = |sql: &str| {
        let changed = db.execute(sql, []).unwrap();
        assert_eq!(changed, 1, "{sql}");
    };
    edit("UPDATE journal SET body = substr(body, 1, length(body) / 2) WHERE conversation = 'undecodable' AND seq = 0");
    edit(
        "UPDATE journal SET body = json_set(body, '$.body.reason', 'edited by hand') \
         WHERE conversation = 'unreplayable' AND kind = 'ticket_opened'",
    );

    let (status, queue) = get(&server.url("/v1/queue"), None).await;
    assert_eq!(status, 200, "one broken journal does not fail the queue: {queue}");
    let listed: Vec<&Value> = queue["tickets"].as_array().unwrap().iter().map(|t| &t["conversation"]).collect();
    assert_eq!(listed, [&json!("healthy")], "{queue}");
    let unreadable = queue["unreadable"].as_array().unwrap();
    let reported: Vec<(&Value, &Value, &Value)> =
        unreadable.iter().map(|u| (&u["conversation"], &u["team"], &u["error"]["code"])).collect();
    assert_eq!(
        reported,
        [
            (&json!("undecodable"), &json!("support"), &json!("journal_entry_unreadable")),
            (&json!("unreplayable"), &json!("support"), &json!("journal_does_not_replay")),
        ],
        "{queue}"
    );
    for broken in unreadable {
        let fields: Vec<&String> = broken.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["conversation", "team", "error"], "{broken}");
        let fields: Vec<&String> = broken["error"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["code", "message"], "{broken}");
        let message = broken["error"]["message"].as_str().unwrap();
        let id = broken["conversation"].as_str().unwrap();
        assert!(message.contains(&format!("'{id}'")), "the message names the conversation: {message}");
    }
    let (_, again) = get(&server.url("/v1/queue"), None).await;
    assert_eq!(again, queue, "the same answer each time");

    // The broken ticket itself says its journal is damaged, not that the journal does not answer.
    let (status, ticket) = get(&server.url("/v1/queue/undecodable"), None).await;
    assert_eq!((status, &ticket["error"]["code"]), (500, &json!("journal_entry_unreadable")), "{ticket}");

    // The healthy ticket is still worked.
    let (status, claimed) = post(&server.url("/v1/queue/healthy/claim"), None, &json!({"operator": "anna"})).await;
    assert_eq!((status, &claimed["operator"]), (200, &json!("anna")), "{claimed}");
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
