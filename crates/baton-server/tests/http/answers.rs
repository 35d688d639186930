//! The answers' JSON byte for byte: field names, their order, nulls and absent fields, for a
//! conversation handed to the human agent, its ticket, the queue, a page of its trace, an error
//! and the health check. The times (`*_ms`) are zeroed; everything else is what the server sent.

use crate::api::{create, say};
use crate::server::{get, post, TestServer};
use serde_json::{json, Value};

/// `value` with every member whose name ends in `_ms` set to 0.
fn without_times(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, member)| match name.ends_with("_ms") && member.is_u64() {
                    true => (name.clone(), json!(0)),
                    false => (name.clone(), without_times(member)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_times).collect()),
        other => other.clone(),
    }
}

/// Checks that the answer `(status, body)` has this status and, times zeroed, this text.
fn pinned((status, body): &(u16, Value), expected_status: u16, expected: &str) {
    let text = without_times(body).to_string();
    assert_eq!((*status, text.as_str()), (expected_status, expected), "\n{text}\n");
}

#[tokio::test]
async fn the_answers_keep_their_json_byte_for_byte() {
    let server = TestServer::start().await;
    let url = |path: &str| server.url(path);
    let created = post(&url("/v1/conversations"), None, &json!({"team": "support", "id": "pin-1"})).await;
    pinned(&created, 201, CREATED);
    create(&server, None, "pin-calm").await;
    pinned(&say(&server, None, "pin-1", "I want to talk to a human").await, 200, ESCALATED);
    pinned(&get(&url("/v1/conversations/pin-1"), None).await, 200, CONVERSATION);
    pinned(&get(&url("/v1/queue"), None).await, 200, QUEUE);
    pinned(&get(&url("/v1/queue/pin-1"), None).await, 200, TICKET);
    pinned(&post(&url("/v1/queue/pin-1/claim"), None, &json!({"operator": "anna"})).await, 200, CLAIMED);
    pinned(&get(&url("/v1/conversations/pin-1/trace?after=0&limit=1"), None).await, 200, TRACE);
    pinned(&get(&url("/v1/conversations/pin-2"), None).await, 404, NOT_FOUND);
    pinned(&get(&url("/healthz"), None).await, 200, HEALTH);
    server.stop().await;
}

const CREATED: &str = r#"{"id":"pin-1","team":"support","created_ms":0,"owner":null,"agent":"triage","turns":0,"status":"idle","pending":null,"ticket":null,"facts":{},"transcript":[]}"#;
const ESCALATED: &str = r#"{"conversation":"pin-1","turn":1,"status":"escalated","agent":"human","reply":null,"handoffs":[{"from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person"}],"limit":null,"model_calls":0,"tool_calls":0,"error":null,"routed":null,"malformed_calls":0,"usage":{"input_tokens":0,"output_tokens":0},"pending":null}"#;
const CONVERSATION: &str = r#"{"id":"pin-1","team":"support","created_ms":0,"owner":null,"agent":"human","turns":1,"status":"idle","pending":null,"ticket":{"conversation":"pin-1","team":"support","status":"open","queue":"human","operator":null,"reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","last_user_message":"I want to talk to a human"},"facts":{},"transcript":[{"type":"user","turn":1,"text":"I want to talk to a human"},{"type":"handoff","from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person","summary":null,"facts":{},"request":"I want to talk to a human","first_request":null,"context":"full","escalation":null}]}"#;
const QUEUE: &str = r#"{"tickets":[{"conversation":"pin-1","team":"support","status":"open","queue":"human","operator":null,"reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","last_user_message":"I want to talk to a human"}],"unreadable":[]}"#;
const TICKET: &str = r#"{"conversation":"pin-1","team":"support","status":"open","queue":"human","operator":null,"reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","note":{"from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person","summary":null,"facts":{},"request":"I want to talk to a human","first_request":null,"context":"full","escalation":null},"last_user_message":"I want to talk to a human","facts":{},"transcript":[{"type":"user","turn":1,"text":"I want to talk to a human"},{"type":"handoff","from":"triage","to":"human","reason":"trigger: asks_for_human: the user asked for a person","summary":null,"facts":{},"request":"I want to talk to a human","first_request":null,"context":"full","escalation":null}]}"#;
const CLAIMED: &str = r#"{"conversation":"pin-1","team":"support","status":"claimed","queue":"human","operator":"anna","reason":"trigger: asks_for_human: the user asked for a person","opened_turn":1,"opened_ms":0,"agent":"human","last_user_message":"I want to talk to a human"}"#;
const TRACE: &str = r#"{"conversation":"pin-1","team":"support","entries":[{"seq":1,"at_ms":0,"epoch":1,"kind":"turn_started","data":{"type":"turn_started","turn":1,"agent":"triage"}}],"next":1}"#;
const NOT_FOUND: &str = r#"{"error":{"code":"not_found","message":"there is no conversation 'pin-2': check the id (a client key sees only the conversations it started)"}}"#;
const HEALTH: &str = r#"{"status":"ok","teams":["support"],"turns_in_flight":0}"#;
