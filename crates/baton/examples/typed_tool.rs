//! A Rust function as a tool: its arguments' type derives `Deserialize` and `JsonSchema`, so
//! models are offered its schema, and the offline model fills it from the user's message.

use baton::store::MemoryStore;
use baton::tools::typed::{typed_tool, CallContext};
use baton::{Agent, Limits, Runtime, TeamBuilder};
use std::sync::Arc;

/// What the tool takes.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Parcel {
    /// The parcel's tracking number, as printed on the receipt.
    #[schemars(pattern(r"^PK[0-9]{6}$"))]
    tracking_number: String,
}

/// What the tool answers; the agent's reply template reads it.
#[derive(serde::Serialize)]
struct Whereabouts {
    status: &'static str,
    depot: &'static str,
}

async fn track(parcel: Parcel, call: CallContext) -> Result<Whereabouts, String> {
    eprintln!("track_parcel {} (idempotency key {})", parcel.tracking_number, call.idempotency_key);
    match parcel.tracking_number.as_str() {
        "PK123456" => Ok(Whereabouts { status: "out for delivery", depot: "Leeds" }),
        other => Err(format!("no parcel {other}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tool = typed_tool("track_parcel", "Where a parcel is, by its tracking number.", track);
    let team = TeamBuilder::new("parcels", "tracking")
        .limits(Limits::default().fail_on_limit())
        .tool(tool)
        .agent(
            Agent::local("tracking")
                .description("Tracks parcels: where is my parcel, delivery status.")
                .tool("track_parcel")
                .reply(
                    "track_parcel",
                    "Parcel {{ args.tracking_number }} is {{ result.status }} from {{ result.depot }}.",
                ),
        )
        .build()?;
    let runtime = Runtime::new(team, Arc::new(MemoryStore::new()));
    let report = runtime.send(None, "Where is my parcel PK123456?").await?;
    println!("{}: {}", report.outcome.agent, report.outcome.reply.as_deref().unwrap_or(""));
    assert_eq!(report.outcome.tool_calls, 1, "the tool was called");
    Ok(())
}
