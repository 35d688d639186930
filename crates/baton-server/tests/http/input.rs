//! Bodies are JSON objects: serde would read a struct from an array (its fields in order), so an
//! array, a string or a number where an object is expected is refused with 422 and changes
//! nothing.

use crate::server::{get, post, TestServer};
use serde_json::{json, Value};

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    for body in [json!(["support", "from-an-array"]), json!("support"), json!(7), json!(null)] {
        let (status, answer) = post(&server.url("/v1/conversations"), None, &body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("invalid_body")), "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("must be a JSON object"), "{answer}");
    }
    let (status, _) = get(&server.url("/v1/conversations/from-an-array"), None).await;
    assert_eq!(status, 404, "the array started no conversation");

    let (status, _) = post(&server.url("/v1/conversations"), None, &json!({ "team": "support", "id": "c-1" })).await;
    assert_eq!(status, 201);
    let (status, answer) = post(&server.url("/v1/conversations/c-1/messages"), None, &json!(["hello"])).await;
    assert_eq!(status, 422, "{answer}");
    let (_, conversation) = get(&server.url("/v1/conversations/c-1"), None).await;
    assert_eq!(conversation["turns"], Value::from(0), "no turn ran: {conversation}");
    let (status, answer) = post(&server.url("/v1/queue/c-1/claim"), None, &json!(["anna"])).await;
    assert_eq!(status, 422, "an optional body must be an object too: {answer}");
}

#[tokio::test]
async fn dot_ids_are_refused_and_a_long_id_is_not_echoed_whole() {
    let server = TestServer::start().await;
    for id in [".", "..", ".hidden"] {
        let (status, answer) =
            post(&server.url("/v1/conversations"), None, &json!({ "team": "support", "id": id })).await;
        assert_eq!(status, 400, "{id}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("not starting with '.'"), "{answer}");
    }
    let long = "z".repeat(10_000);
    let (status, answer) =
        post(&server.url("/v1/conversations"), None, &json!({ "team": "support", "id": long })).await;
    assert_eq!(status, 400);
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.len() < 300, "the refused id is echoed whole: {} bytes", message.len());
}
