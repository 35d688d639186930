//! Typed tools: the schema derived from the arguments type, and calls of the function.

use crate::support::with_timeout;
use baton_core::{Approval, ToolOutput};
use baton_tools::typed::{typed_tool, CallContext, TypedTool};
use baton_tools::Tool;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Refunds part of an order.
#[derive(Deserialize, JsonSchema)]
struct Refund {
    /// The order to refund.
    order: Order,
    reason: Reason,
    amount_cents: u32,
    note: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Order {
    id: String,
    shop: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Reason {
    Damaged,
    Late,
}

#[derive(Serialize)]
struct Receipt {
    order: String,
    refunded_cents: u32,
    late: bool,
    note: Option<String>,
    key: String,
}

async fn refund(arguments: Refund, call: CallContext) -> Result<Receipt, String> {
    if arguments.amount_cents == 0 {
        return Err(format!("nothing to refund on {} of {}", arguments.order.id, arguments.order.shop));
    }
    Ok(Receipt {
        order: arguments.order.id,
        refunded_cents: arguments.amount_cents,
        late: matches!(arguments.reason, Reason::Late),
        note: arguments.note,
        key: call.idempotency_key,
    })
}

fn refund_tool() -> TypedTool {
    typed_tool("refund", "Refund part of an order.", refund)
}

#[test]
fn the_schema_is_an_object_with_every_subschema_inlined() {
    let tool = refund_tool();
    let parameters = &tool.definition().parameters;
    let text = parameters.to_string();
    assert!(!text.contains("$ref") && !text.contains("$defs") && !text.contains("$schema"), "{text}");
    assert_eq!(parameters["type"], "object");
    assert!(parameters.get("title").is_none(), "{text}");
    assert_eq!(parameters["properties"]["order"]["properties"]["id"]["type"], "string");
    assert_eq!(parameters["properties"]["order"]["description"], "The order to refund.");
    assert_eq!(parameters["properties"]["reason"]["enum"], json!(["damaged", "late"]));
    assert_eq!(parameters["required"], json!(["order", "reason", "amount_cents"]));
    assert_eq!(
        (tool.definition().name.as_str(), tool.definition().description.as_str()),
        ("refund", "Refund part of an order.")
    );
}

#[tokio::test]
async fn a_call_runs_the_function_with_the_arguments_and_the_idempotency_key() {
    let arguments = json!({"order": {"id": "A-1", "shop": "main"}, "reason": "late", "amount_cents": 500});
    let output = refund_tool().call(&arguments, "turn-4-call-2").await;
    assert_eq!(
        output,
        ToolOutput::ok(r#"{"order":"A-1","refunded_cents":500,"late":true,"note":null,"key":"turn-4-call-2"}"#)
    );
}

#[tokio::test]
async fn an_err_is_an_error_result_with_its_text() {
    let arguments = json!({"order": {"id": "A-1", "shop": "main"}, "reason": "damaged", "amount_cents": 0});
    let output = refund_tool().call(&arguments, "k").await;
    assert_eq!(output, ToolOutput::error("nothing to refund on A-1 of main"));
}

#[tokio::test]
async fn arguments_that_do_not_fit_are_an_error_and_the_function_is_not_called() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let tool = typed_tool("refund", "Refund.", move |arguments: Refund, call| {
        counted.fetch_add(1, Ordering::SeqCst);
        refund(arguments, call)
    });
    let missing = json!({"order": {"id": "A-1"}, "reason": "late", "amount_cents": 5});
    let output = tool.call(&missing, "k").await;
    assert_eq!(output, ToolOutput::error("error: the arguments do not fit refund's parameters: missing field `shop`"));
    let unknown = json!({"order": {"id": "A-1", "shop": "main"}, "reason": "lost", "amount_cents": 5});
    let output = tool.call(&unknown, "k").await;
    assert!(output.is_error);
    assert!(output.content.contains("unknown variant `lost`, expected `damaged` or `late`"), "{}", output.content);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[derive(Deserialize, JsonSchema)]
struct Greeting {
    name: String,
}

#[tokio::test]
async fn a_string_result_is_the_text_itself() {
    let tool = typed_tool("greet", "Greet someone.", |greeting: Greeting, _call| async move {
        Ok::<_, String>(format!("Hello, {}!", greeting.name))
    });
    assert_eq!(tool.call(&json!({"name": "Ada"}), "k").await, ToolOutput::ok("Hello, Ada!"));
}

#[tokio::test]
async fn a_panic_in_the_function_is_an_error_result() {
    let tool = typed_tool("explode", "Panics.", |_: Greeting, _call| async move {
        if true {
            panic!("the ledger is locked");
        }
        Ok::<String, String>(String::new())
    });
    let output = tool.call(&json!({"name": "Ada"}), "k").await;
    assert!(output.is_error);
    assert!(output.content.starts_with("error: 'explode' failed: "), "{}", output.content);
    assert!(output.content.contains("the ledger is locked"), "{}", output.content);
}

#[tokio::test]
async fn a_call_stopped_by_the_guard_stops_the_function() {
    /// Sets its flag when the function's future is dropped.
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let tool = typed_tool("wait", "Waits.", move |_: Greeting, _call| {
        let guard = Dropped(flag.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(guard);
            Ok::<_, String>("woke up")
        }
    });
    let output = with_timeout(tool, Duration::from_millis(200)).call(&json!({"name": "Ada"}), "k").await;
    assert!(output.content.contains("did not answer within 200 ms"), "{}", output.content);
    // The task is aborted at once but dropped by the runtime soon after; wait up to ten seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(dropped.load(Ordering::SeqCst), "the function still runs after the call was stopped");
}

#[test]
fn the_builder_sets_idempotence_and_approval() {
    let tool = refund_tool();
    assert!(tool.definition().idempotent);
    assert_eq!(tool.definition().approval, Approval::Never);
    let tool = refund_tool().idempotent(false).approval(Approval::Required);
    assert!(!tool.definition().idempotent);
    assert_eq!(tool.definition().approval, Approval::Required);
}
