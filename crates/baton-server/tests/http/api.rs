//! The API without keys, on the support desk's offline model: conversations, messages answered
//! or streamed, the trace, events that resume and follow, approvals, the operator queue, health
//! and metrics, one JSON shape for every error, and a shutdown that open streams do not hold.

use crate::server::{client, get, post, support, team, TestServer};
use baton::store::{MemoryStore, Store};
use baton_server::{NotServable, Options, Server};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The support desk's outage report: technical checks the line and names the fault ticket.
pub const OUTAGE: &str = "Hi, my internet has been down since this morning. My customer number is 7.";

/// A refund above the desk's 50 EUR limit: it waits for approval. The desk's refund tool runs
/// `python3`, so the test that sends it is in the external tier.
#[cfg(feature = "external-tests")]
const REFUND: &str = "Please refund invoice INV-2041, the 89.99 EUR router fee";

/// A user who asks for a person: a trigger hands the conversation to the human agent.
const PERSON: &str = "The router fee on INV-2041 is wrong. I want to talk to a person.";

/// How long a test waits for something that should come before it calls the server hung. Not
/// a measure of speed: only a guard against waiting for ever.
pub const HUNG: Duration = Duration::from_secs(300);

/// The members of a turn's result, as `baton run --json` prints them.
const RESULT_FIELDS: [&str; 14] = [
    "conversation",
    "turn",
    "status",
    "agent",
    "reply",
    "handoffs",
    "limit",
    "model_calls",
    "tool_calls",
    "error",
    "routed",
    "malformed_calls",
    "usage",
    "pending",
];

/// One server-sent event.
#[derive(Clone, Debug)]
pub struct SseEvent {
    /// The event's name (`message` when it has none).
    pub event: String,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// Its data lines, joined.
    pub data: String,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|error| panic!("event data is not JSON ({error}): {self:?}"))
    }
}

/// Reads the server-sent events of a response as they arrive.
pub struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl SseReader {
    /// Reads `response`, which must be a 200 event stream.
    pub fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.status().as_u16(), 200, "an event stream answers 200");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/event-stream"), "content-type {content_type}");
        SseReader { response, buffer: Vec::new() }
    }

    /// The next event, skipping keep-alive comments; `None` once the stream has ended. Panics if
    /// the connection fails or nothing comes for [`HUNG`].
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                match parse_event(&String::from_utf8(block).unwrap()) {
                    Some(event) => return Some(event),
                    None => continue,
                }
            }
            let chunk = tokio::time::timeout(HUNG, self.response.chunk()).await.expect("no event came: hung?");
            match chunk.expect("the event stream broke off") {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    assert!(self.buffer.iter().all(u8::is_ascii_whitespace), "a partial event at the end");
                    return None;
                }
            }
        }
    }

    /// The events until one named `name` (included).
    pub async fn until(&mut self, name: &str) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let last = event.event == name;
            events.push(event);
            if last {
                return events;
            }
        }
        panic!("the stream ended without a '{name}' event: {events:?}");
    }

    /// Every event until the stream ends.
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// One event block; `None` for a comment alone (a keep-alive).
fn parse_event(block: &str) -> Option<SseEvent> {
    let (mut event, mut id, mut data) = (None, None, Vec::new());
    for line in block.lines().filter(|line| !line.is_empty() && !line.starts_with(':')) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match field {
            "event" => event = Some(value),
            "id" => id = Some(value),
            "data" => data.push(value),
            _ => {}
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    Some(SseEvent { event: event.unwrap_or_else(|| "message".into()), id, data: data.join("\n") })
}

/// Starts a conversation of the support team with the id `id`.
pub async fn create(server: &TestServer, key: Option<&str>, id: &str) {
    let (status, body) = post(&server.url("/v1/conversations"), key, &json!({"team": "support", "id": id})).await;
    assert_eq!(status, 201, "{body}");
}

/// Sends `content` to conversation `id`; the status and the answer.
pub async fn say(server: &TestServer, key: Option<&str>, id: &str, content: &str) -> (u16, Value) {
    post(&server.url(&format!("/v1/conversations/{id}/messages")), key, &json!({"content": content})).await
}

/// Like [`say`], for a message that must be answered: the turn's result.
pub async fn answered(server: &TestServer, id: &str, content: &str) -> Value {
    let (status, result) = say(server, None, id, content).await;
    assert_eq!(status, 200, "{result}");
    result
}

/// The journal entries of conversation `id`.
pub async fn entries(server: &TestServer, id: &str) -> Vec<Value> {
    let (status, trace) = get(&server.url(&format!("/v1/conversations/{id}/trace")), None).await;
    assert_eq!(status, 200, "{trace}");
    trace["entries"].as_array().unwrap().clone()
}

/// Where conversation `id` stands.
async fn view(server: &TestServer, id: &str) -> Value {
    let (status, view) = get(&server.url(&format!("/v1/conversations/{id}")), None).await;
    assert_eq!(status, 200, "{view}");
    view
}

/// The kinds of `entries`.
fn kinds(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|entry| entry["kind"].as_str().unwrap().to_string()).collect()
}

/// Checks that `response` is an error in the API's one shape, `{"error": {"code", "message"}}`
/// with a JSON content type, and returns its status, code and message.
pub async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(content_type.starts_with("application/json"), "{status}: content-type {content_type:?}: {body}");
    let shape = body.as_object().filter(|members| members.len() == 1).and_then(|members| members["error"].as_object());
    let error =
        shape.filter(|error| error.len() == 2).unwrap_or_else(|| panic!("{status}: not the error shape: {body}"));
    match (&error["code"], &error["message"]) {
        (Value::String(code), Value::String(message)) if !message.is_empty() => (status, code.clone(), message.clone()),
        _ => panic!("{status}: code and message must be strings: {body}"),
    }
}

/// Checks that a JSON answer `(status, body)` is an error with this status and code; its message.
pub fn expect_error((status, body): &(u16, Value), expected: u16, code: &str) -> String {
    assert_eq!((*status, body["error"]["code"].as_str()), (expected, Some(code)), "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_conversation_starts_idle_at_the_entry_agent_with_a_fresh_or_chosen_id() {
    let server = TestServer::start().await;
    let url = server.url("/v1/conversations");
    let (status, fresh) = post(&url, None, &json!({"team": "support"})).await;
    assert_eq!(status, 201, "{fresh}");
    let id = fresh["id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(
        (&fresh["team"], &fresh["agent"], &fresh["turns"], &fresh["status"], &fresh["pending"], &fresh["ticket"]),
        (&json!("support"), &json!("triage"), &json!(0), &json!("idle"), &Value::Null, &Value::Null),
        "{fresh}"
    );
    assert_eq!(view(&server, id).await["id"], id, "the new conversation can be read");

    let (status, chosen) = post(&url, None, &json!({"team": "support", "id": "ticket-4711"})).await;
    assert_eq!((status, chosen["id"].as_str()), (201, Some("ticket-4711")), "{chosen}");
    let again = post(&url, None, &json!({"team": "support", "id": "ticket-4711"})).await;
    expect_error(&again, 409, "conversation_exists");
    let unknown = post(&url, None, &json!({"team": "sales"})).await;
    assert!(expect_error(&unknown, 404, "unknown_team").contains("support"), "the message names the teams served");
    let malformed = post(&url, None, &json!({"team": "support", "id": "two words"})).await;
    expect_error(&malformed, 400, "bad_id");
    assert_eq!(get(&server.url("/v1/conversations/two%20words"), None).await.0, 404);
}

#[tokio::test]
async fn a_message_is_answered_with_the_turn_result_and_journaled() {
    let server = TestServer::start().await;
    create(&server, None, "net-1").await;
    let result = answered(&server, "net-1", OUTAGE).await;
    let fields: BTreeSet<&str> = result.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, BTreeSet::from(RESULT_FIELDS), "the fields of `baton run --json`");
    assert_eq!(
        (&result["conversation"], &result["turn"], &result["status"], &result["agent"]),
        (&json!("net-1"), &json!(1), &json!("answered"), &json!("technical")),
        "{result}"
    );
    assert!(result["reply"].as_str().unwrap().contains("NET-1187"), "{result}");
    assert_eq!((&result["tool_calls"], &result["pending"], &result["error"]), (&json!(1), &Value::Null, &Value::Null));
    assert!(result["handoffs"].as_array().unwrap().iter().any(|handoff| handoff["to"] == "technical"), "{result}");

    let view = view(&server, "net-1").await;
    assert_eq!((&view["turns"], &view["agent"], &view["status"]), (&json!(1), &json!("technical"), &json!("idle")));
    let last = view["transcript"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["text"], result["reply"], "the reply ends the transcript: {view}");

    let entries = entries(&server, "net-1").await;
    let seqs: Vec<u64> = entries.iter().map(|entry| entry["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..entries.len() as u64).collect::<Vec<_>>(), "positions 0..n without gaps");
    let kinds = kinds(&entries);
    for kind in ["user_message", "handoff_taken", "turn_ended"] {
        assert!(kinds.contains(&kind.to_string()), "{kind} is journaled: {kinds:?}");
    }
    let journal = server.store.journal("net-1").await.unwrap();
    assert_eq!(journal.len(), entries.len(), "the trace is the whole journal");
    let user = entries.iter().find(|entry| entry["kind"] == "user_message").unwrap();
    assert_eq!(user["data"]["text"], OUTAGE, "{user}");
}

#[tokio::test]
async fn a_message_to_no_conversation_or_without_content_is_refused_and_journals_nothing() {
    let server = TestServer::start().await;
    let unknown = say(&server, None, "nobody-here", "hello").await;
    assert!(expect_error(&unknown, 404, "not_found").contains("nobody-here"));
    assert_eq!(get(&server.url("/v1/conversations/nobody-here"), None).await.0, 404, "nor is it created");

    create(&server, None, "quiet").await;
    let before = entries(&server, "quiet").await;
    let empty = say(&server, None, "quiet", "   ").await;
    assert!(expect_error(&empty, 400, "bad_request").contains("content"));
    assert_eq!(entries(&server, "quiet").await, before, "an empty message journals nothing");
    assert_eq!(view(&server, "quiet").await["turns"], 0);
}

#[tokio::test]
async fn every_error_has_one_json_shape() {
    let server = TestServer::with(Options { max_body: 1024, ..Options::default() }).await;
    let http = client();
    let conversations = server.url("/v1/conversations");
    let json_body =
        |text: &str| http.post(&conversations).header("content-type", "application/json").body(text.to_string());
    let cases = [
        ("unknown route", http.get(server.url("/v2/nothing")), 404, "not_found"),
        ("wrong method", http.delete(&conversations), 405, "method_not_allowed"),
        (
            "not JSON",
            http.post(&conversations).header("content-type", "text/plain").body("team=support"),
            415,
            "unsupported_media_type",
        ),
        ("no content type", http.post(&conversations).body(r#"{"team": "support"}"#), 415, "unsupported_media_type"),
        ("broken JSON", json_body(r#"{"team": "#), 400, "bad_request"),
        ("a number for a string", json_body(r#"{"team": 5}"#), 422, "invalid_body"),
        ("an unknown member", json_body(r#"{"team": "support", "colour": "red"}"#), 422, "invalid_body"),
        (
            "over max_body",
            http.post(&conversations).json(&json!({"team": "support", "id": "x".repeat(2000)})),
            413,
            "body_too_large",
        ),
        ("unknown conversation", http.get(server.url("/v1/conversations/nope/trace")), 404, "not_found"),
        ("unknown team", http.post(&conversations).json(&json!({"team": "sales"})), 404, "unknown_team"),
        ("unknown ticket", http.get(server.url("/v1/queue/nope")), 404, "not_found"),
    ];
    for (what, request, status, code) in cases {
        let (got_status, got_code, message) = error_of(request.send().await.unwrap()).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{what}: {message}");
    }
    let (_, _, message) =
        error_of(http.post(&conversations).json(&json!({"id": "x".repeat(2000)})).send().await.unwrap()).await;
    assert!(message.contains("--max-body"), "a body too large says which limit: {message}");
}

#[tokio::test]
async fn a_streamed_message_sends_the_journal_as_it_is_written_then_the_result() {
    let server = TestServer::start().await;
    create(&server, None, "streamed").await;
    create(&server, None, "plain").await;
    let before = entries(&server, "streamed").await;
    let response = client()
        .post(server.url("/v1/conversations/streamed/messages"))
        .json(&json!({"content": OUTAGE, "stream": true}))
        .send()
        .await
        .unwrap();
    let events = SseReader::new(response).rest().await;
    let names: Vec<&str> = events.iter().map(|event| event.event.as_str()).collect();
    assert!(names.contains(&"user_message") && names.contains(&"turn_ended"), "{names:?}");
    assert_eq!(names.last(), Some(&"result"), "the result comes last: {names:?}");
    assert_eq!(names.iter().filter(|name| **name == "result").count(), 1);

    let after = entries(&server, "streamed").await;
    let journaled: Vec<&SseEvent> =
        events.iter().filter(|event| !matches!(event.event.as_str(), "delta" | "result")).collect();
    let streamed: Vec<Value> = journaled.iter().map(|event| event.json()).collect();
    assert_eq!(streamed, after[before.len()..], "every entry of the turn, as the trace has it, in order");
    for event in &journaled {
        let entry = event.json();
        assert_eq!(event.id.as_deref(), Some(entry["seq"].to_string().as_str()), "the id is the position");
        assert_eq!(event.event, entry["kind"].as_str().unwrap(), "the event is named by the entry's kind");
    }

    let result = events.last().unwrap().json();
    let view = view(&server, "streamed").await;
    assert_eq!((&result["turn"], &result["agent"]), (&view["turns"], &view["agent"]), "{result}");
    assert_eq!(view["transcript"].as_array().unwrap().last().unwrap()["text"], result["reply"]);
    let ended = after.iter().rev().find(|entry| entry["kind"] == "turn_ended").unwrap();
    assert_eq!(ended["data"]["status"], result["status"], "{ended}");
    let mut unstreamed = answered(&server, "plain", OUTAGE).await;
    unstreamed["conversation"] = json!("streamed");
    assert_eq!(result, unstreamed, "the same turn streamed or not ends with the same result");
}

/// Checks the events of a conversation that has had one turn, resumed after position 2 by
/// `resume_at` (the request for the stream given the position), and followed while a second
/// message is answered.
async fn resume_then_follow(id: &str, resume_at: impl Fn(&TestServer, u64) -> reqwest::RequestBuilder) {
    let server = TestServer::start().await;
    create(&server, None, id).await;
    answered(&server, id, OUTAGE).await;
    let first = entries(&server, id).await;
    assert!(first.len() > 4, "a turn journals several entries: {first:?}");

    let mut stream = SseReader::new(resume_at(&server, 2).send().await.unwrap());
    let mut replayed = Vec::new();
    while replayed.len() < first.len() - 3 {
        replayed.push(stream.next().await.expect("the stream stays open").json());
    }
    assert_eq!(replayed, first[3..], "the entries after position 2, in order, without gaps");

    let (server, id) = (std::sync::Arc::new(server), id.to_string());
    let second = tokio::spawn({
        let (server, id) = (server.clone(), id.clone());
        async move { answered(&server, &id, "Thanks. When are your shops open?").await }
    });
    let live: Vec<Value> = stream.until("turn_ended").await.iter().map(SseEvent::json).collect();
    let result = second.await.unwrap();
    assert_eq!(result["turn"], 2, "{result}");
    let all = entries(&server, &id).await;
    assert_eq!(live, all[first.len()..], "the second turn's entries arrive on the open stream");
    assert_eq!(live[0]["kind"], "user_message");
}

#[tokio::test]
async fn events_resume_after_last_event_id_and_follow_new_entries() {
    resume_then_follow("events-header", |server, seen| {
        client().get(server.url("/v1/conversations/events-header/events")).header("Last-Event-ID", seen.to_string())
    })
    .await;
}

#[tokio::test]
async fn events_resume_after_the_after_query_and_follow_new_entries() {
    resume_then_follow("events-query", |server, seen| {
        client().get(server.url(&format!("/v1/conversations/events-query/events?after={seen}")))
    })
    .await;
}

#[tokio::test]
async fn events_refuse_a_last_event_id_that_is_not_a_position() {
    let server = TestServer::start().await;
    create(&server, None, "ids").await;
    let url = server.url("/v1/conversations/ids/events");
    let response = client().get(&url).header("Last-Event-ID", "yesterday").send().await.unwrap();
    let (status, code, message) = error_of(response).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"), "{message}");
    assert!(message.contains("Last-Event-ID"), "{message}");
    let (status, code, _) =
        error_of(client().get(server.url("/v1/conversations/none/events")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn a_refund_above_the_limit_waits_for_approval_then_goes_on() {
    let server = TestServer::start().await;
    create(&server, None, "refund").await;
    let waiting = answered(&server, "refund", REFUND).await;
    assert_eq!((&waiting["status"], &waiting["agent"]), (&json!("awaiting_approval"), &json!("billing")), "{waiting}");
    assert_eq!(waiting["pending"]["tool"], "issue_refund", "{waiting}");
    assert_eq!(waiting["pending"]["args"]["amount_eur"], 89.99, "{waiting}");
    let call_id = waiting["pending"]["call_id"].as_str().unwrap().to_string();
    let shown = view(&server, "refund").await;
    assert_eq!((&shown["status"], &shown["pending"]["call_id"]), (&json!("awaiting_approval"), &json!(call_id)));

    let meanwhile = say(&server, None, "refund", "hello?").await;
    assert!(
        expect_error(&meanwhile, 409, "refused").contains("waiting for approval of 'issue_refund'"),
        "{meanwhile:?}"
    );
    let approvals = |call: &str| server.url(&format!("/v1/conversations/refund/approvals/{call}"));
    let stray = post(&approvals("call_nope"), None, &json!({"approve": true})).await;
    assert!(expect_error(&stray, 409, "refused").contains(&format!("waiting: {call_id}")), "{stray:?}");

    let (status, done) = post(&approvals(&call_id), None, &json!({"approve": true})).await;
    assert_eq!((status, done["status"].as_str(), done["turn"].as_u64()), (200, Some("answered"), Some(1)), "{done}");
    // The refund tool's data turns this refund down: the reply tells what the approved call answered.
    assert!(done["reply"].as_str().unwrap().starts_with("I cannot refund invoice INV-2041: "), "{done}");
    assert_eq!((&done["pending"], &done["tool_calls"]), (&Value::Null, &json!(1)), "{done}");
    assert_eq!(view(&server, "refund").await["status"], "idle");
    let journal = entries(&server, "refund").await;
    let decided = journal.iter().position(|entry| entry["kind"] == "approval_decided").unwrap();
    assert_eq!(journal[decided]["data"]["approved"], true);
    assert_eq!(journal[decided + 1]["kind"], "tool_call_started", "the call runs once approved");
    let again = post(&approvals(&call_id), None, &json!({"approve": true})).await;
    expect_error(&again, 409, "refused");
}

#[tokio::test]
async fn an_operator_claims_replies_and_hands_back_a_ticket() {
    let server = TestServer::start().await;
    create(&server, None, "q-1").await;
    create(&server, None, "q-calm").await;
    let escalated = answered(&server, "q-1", PERSON).await;
    assert_eq!((&escalated["status"], &escalated["agent"]), (&json!("escalated"), &json!("human")), "{escalated}");
    answered(&server, "q-calm", "hello, anyone there?").await;

    let queue = |path: &str| server.url(&format!("/v1/queue{path}"));
    let (status, list) = get(&queue(""), None).await;
    assert_eq!(status, 200, "{list}");
    let tickets = list["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "only the escalated conversation waits: {list}");
    assert_eq!((&tickets[0]["conversation"], &tickets[0]["status"]), (&json!("q-1"), &json!("open")));
    assert_eq!((&tickets[0]["queue"], &tickets[0]["last_user_message"]), (&json!("human"), &json!(PERSON)));

    let unclaimed = post(&queue("/q-1/reply"), None, &json!({"text": "Hello"})).await;
    assert!(expect_error(&unclaimed, 409, "refused").contains("not claimed: claim it first"), "{unclaimed:?}");
    let (status, code, message) = error_of(client().post(queue("/q-1/claim")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"), "without keys a claim names the operator: {message}");

    let (status, claimed) = post(&queue("/q-1/claim"), None, &json!({"operator": "anna"})).await;
    assert_eq!((status, &claimed["status"], &claimed["operator"]), (200, &json!("claimed"), &json!("anna")));
    let second = post(&queue("/q-1/claim"), None, &json!({"operator": "bob"})).await;
    assert!(expect_error(&second, 409, "refused").contains("claimed by anna"), "claims are exclusive: {second:?}");
    assert_eq!(get(&queue(""), None).await.1["tickets"][0]["operator"], "anna");

    let text = "Hi, I'm Anna: I removed the fee.";
    let (status, replied) = post(&queue("/q-1/reply"), None, &json!({"text": text})).await;
    assert_eq!(status, 200, "{replied}");
    let (status, ticket) = get(&queue("/q-1"), None).await;
    assert_eq!((status, &ticket["note"]["request"]), (200, &json!(PERSON)), "the context package: {ticket}");
    let last = view(&server, "q-1").await["transcript"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["agent"], &last["text"]), (&json!("human"), &json!(text)), "the user reads the reply");

    let nowhere = post(&queue("/q-1/handback"), None, &json!({"agent": "spanish"})).await;
    assert_eq!(nowhere.0, 409, "{nowhere:?}");
    let body = json!({"agent": "billing", "note": "fee removed by hand"});
    let (status, back) = post(&queue("/q-1/handback"), None, &body).await;
    assert_eq!((status, &back["status"], &back["agent"]), (200, &json!("none"), &json!("billing")), "{back}");
    assert_eq!(get(&queue(""), None).await.1["tickets"], json!([]), "a handed-back ticket leaves the queue");
    assert_eq!(view(&server, "q-1").await["agent"], "billing");
    let next = answered(&server, "q-1", "thanks! what is on invoice INV-2041?").await;
    assert_eq!((&next["agent"], &next["status"]), (&json!("billing"), &json!("answered")), "{next}");
}

#[tokio::test]
async fn a_closed_ticket_leaves_the_queue_and_the_human_agent_in_control() {
    let server = TestServer::start().await;
    create(&server, None, "q-2").await;
    answered(&server, "q-2", "I want to talk to a human").await;
    let queue = |path: &str| server.url(&format!("/v1/queue{path}"));
    assert_eq!(post(&queue("/q-2/claim"), None, &json!({"operator": "anna"})).await.0, 200);
    let (status, closed) = post(&queue("/q-2/close"), None, &json!({})).await;
    assert_eq!((status, &closed["status"]), (200, &json!("closed")), "{closed}");
    assert_eq!(get(&queue(""), None).await.1["tickets"], json!([]));
    assert_eq!(view(&server, "q-2").await["agent"], "human");
    let again = answered(&server, "q-2", "one more question").await;
    assert_eq!(again["status"], "escalated", "{again}");
    assert_eq!(get(&queue(""), None).await.1["tickets"][0]["status"], "open", "the ticket opens again");
}

#[tokio::test]
async fn health_and_metrics_tell_what_the_server_did() {
    let server = TestServer::start().await;
    let (status, health) = get(&server.url("/healthz"), None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!((&health["status"], &health["teams"]), (&json!("ok"), &json!(["support"])), "{health}");

    create(&server, None, "counted").await;
    answered(&server, "counted", OUTAGE).await;
    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for line in [
        r#"baton_turns_total{team="support",status="answered"} 1"#,
        r#"baton_http_requests_total{method="POST",route="/v1/conversations/{id}/messages",status="200"} 1"#,
        r#"baton_http_requests_total{method="POST",route="/v1/conversations",status="201"} 1"#,
        r#"baton_handoffs_total{team="support",from="triage",to="technical",kind="model"} 1"#,
        r#"baton_tool_calls_total{team="support",tool="check_line_status",outcome="ok"} 1"#,
        r#"baton_turns_in_flight 0"#,
    ] {
        assert!(lines.contains(&line), "{line} is missing from:\n{text}");
    }
}

#[tokio::test]
async fn stopping_the_server_ends_open_event_streams() {
    // A grace period longer than any test: if a stream held the shutdown, `stop` would not return.
    let server = TestServer::with(Options { grace: Duration::from_secs(24 * 3600), ..Options::default() }).await;
    create(&server, None, "watched").await;
    answered(&server, "watched", "hello").await;
    let count = entries(&server, "watched").await.len();
    let response = client().get(server.url("/v1/conversations/watched/events")).send().await.unwrap();
    let mut stream = SseReader::new(response);
    for _ in 0..count {
        stream.next().await.expect("the journal so far");
    }
    tokio::time::timeout(HUNG, server.stop()).await.expect("stop returns while a stream is open");
    assert!(stream.rest().await.is_empty(), "the stream ends, with nothing more");
}

#[tokio::test]
async fn a_server_needs_teams_of_their_own_names() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (one, two) = (team(&support(), store.clone()).await, team(&support(), store.clone()).await);
    let same = Server::new(vec![one, two], store.clone(), Options::default()).err();
    assert_eq!(same, Some(NotServable::SameName("support".into())));
    assert_eq!(Server::new(Vec::new(), store, Options::default()).err(), Some(NotServable::NoTeam));
    assert_eq!(same.as_ref().map(NotServable::kind), Some("same_name"));
}
