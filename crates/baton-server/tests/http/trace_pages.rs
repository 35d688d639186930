//! `GET /v1/conversations/{id}/trace` answers a page at a time: the entries after `after`, at
//! most `limit` of them (1,000 unless it says, 5,000 at most), and `next`, the `after` of the next
//! page. Following `next` reads the whole journal exactly once; a client that ignores it gets the
//! first page, well formed.

use crate::api::{create, say, OUTAGE};
use crate::server::{get, TestServer};
use baton::core::{Input, JournalEntry};
use serde_json::{json, Value};
use std::time::Duration;

/// GETs the trace of `id` with `query` (`""` for none), requiring 200: the page.
async fn page(server: &TestServer, id: &str, query: &str) -> Value {
    let (status, page) = get(&server.url(&format!("/v1/conversations/{id}/trace{query}")), None).await;
    assert_eq!(status, 200, "{query}: {page}");
    page
}

/// The positions of a page's entries.
fn seqs(page: &Value) -> Vec<u64> {
    page["entries"].as_array().unwrap().iter().map(|entry| entry["seq"].as_u64().unwrap()).collect()
}

/// Every entry of `id`, read by following `next` from the start with pages of `limit`; each
/// page is checked to hold at most `limit` entries.
async fn follow(server: &TestServer, id: &str, limit: u64) -> Vec<Value> {
    let (mut entries, mut after) = (Vec::new(), None::<u64>);
    for _ in 0..100 {
        let query = match after {
            Some(after) => format!("?limit={limit}&after={after}"),
            None => format!("?limit={limit}"),
        };
        let page = page(server, id, &query).await;
        let held = page["entries"].as_array().unwrap();
        assert!(held.len() as u64 <= limit, "{query}: {} entries", held.len());
        entries.extend(held.iter().cloned());
        match page["next"].as_u64() {
            Some(next) => {
                assert_eq!(Some(next), seqs(&page).last().copied(), "next is the page's last entry: {query}");
                after = Some(next);
            }
            None => {
                assert_eq!(page["next"], Value::Null, "{query}");
                return entries;
            }
        }
    }
    panic!("{id}: 100 pages and no end");
}

#[tokio::test]
async fn a_short_journal_is_one_page_and_pages_of_any_size_read_it_exactly_once() {
    let server = TestServer::start().await;
    create(&server, None, "short").await;
    for message in [OUTAGE, "Thanks. And my invoice is wrong too."] {
        assert_eq!(say(&server, None, "short", message).await.0, 200);
    }
    let whole = page(&server, "short", "").await;
    let all = whole["entries"].as_array().unwrap().clone();
    assert!(all.len() > 5, "{whole}");
    assert_eq!(
        (&whole["conversation"], &whole["team"], &whole["next"]),
        (&json!("short"), &json!("support"), &Value::Null)
    );
    assert_eq!(seqs(&whole), (0..all.len() as u64).collect::<Vec<_>>());

    for limit in [1, 2, 5, all.len() as u64 - 1, all.len() as u64, 5000] {
        assert_eq!(follow(&server, "short", limit).await, all, "pages of {limit}");
    }
    let last = all.len() as u64 - 1;
    let middle = page(&server, "short", "?after=2&limit=2").await;
    assert_eq!((seqs(&middle), &middle["next"]), (vec![3, 4], &json!(4)));
    for after in [last, last + 1, u64::MAX] {
        let beyond = page(&server, "short", &format!("?after={after}")).await;
        assert_eq!((&beyond["entries"], &beyond["next"]), (&json!([]), &Value::Null), "after={after}");
    }
}

#[tokio::test]
async fn a_long_journal_is_answered_a_bounded_page_at_a_time() {
    let server = TestServer::start().await;
    create(&server, None, "long").await;
    assert_eq!(say(&server, None, "long", OUTAGE).await.0, 200);
    // 6,000 more entries, written straight to the journal (the trace reads them as they are).
    let first = server.store.journal("long").await.unwrap().len() as u64;
    let lease = server.store.acquire("long", "the test", Duration::from_secs(60)).await.unwrap();
    let more: Vec<(u64, JournalEntry)> =
        (0..6000).map(|n| (0, JournalEntry::Input(Input::user(format!("message {n}"))))).collect();
    server.store.append(&lease, first, &more).await.unwrap();
    server.store.release(&lease).await.unwrap();
    let total = first + 6000;

    let head = page(&server, "long", "").await;
    let shown = seqs(&head);
    let span = |seqs: &[u64]| (seqs.len(), seqs.first().copied(), seqs.last().copied());
    assert_eq!(span(&shown), (1000, Some(0), Some(999)), "the first 1,000 without a query");
    assert!(shown.windows(2).all(|pair| pair[1] == pair[0] + 1), "in order, without a gap");
    assert_eq!(head["next"], 999);
    let largest = page(&server, "long", "?limit=5000").await;
    assert_eq!((span(&seqs(&largest)), &largest["next"]), ((5000, Some(0), Some(4999)), &json!(4999)));
    let all = follow(&server, "long", 5000).await;
    let all: Vec<u64> = all.iter().map(|entry| entry["seq"].as_u64().unwrap()).collect();
    assert!(all.iter().copied().eq(0..total), "every entry once, in order: {:?}", span(&all));
    let (_, last) = get(&server.url(&format!("/v1/conversations/long/trace?after={}", total - 2)), None).await;
    assert_eq!((&last["entries"][0]["data"]["text"], &last["next"]), (&json!("message 5999"), &Value::Null), "{last}");
}

#[tokio::test]
async fn a_page_outside_the_limits_is_refused() {
    let server = TestServer::start().await;
    create(&server, None, "c").await;
    for query in ["?limit=0", "?limit=5001", "?limit=-1", "?limit=ten", "?after=-1", "?after=x", "?page=2"] {
        let (status, body) = get(&server.url(&format!("/v1/conversations/c/trace{query}")), None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{query}: {body}");
    }
    let (_, body) = get(&server.url("/v1/conversations/c/trace?limit=5001"), None).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("1 to 5000"), "the message says the range: {message}");
}
