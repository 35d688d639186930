//! A two-agent desk defined in code, on the built-in offline model: no key, no network.
use baton::store::MemoryStore;
use baton::{Agent, Limits, Runtime, TeamBuilder};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let team = TeamBuilder::new("desk", "triage")
        .limits(Limits::default().fail_on_limit())
        .agent(
            Agent::local("triage")
                .description("Front desk: opening hours, plans and prices.")
                .instructions("Opening hours: Monday to Saturday, 8:00 to 20:00.")
                .handoff("billing"),
        )
        .agent(
            Agent::local("billing")
                .description("Billing: invoices, charges, payments and refunds.")
                .instructions("Refunds reach your account in 3 to 5 working days.")
                .handoff("triage"),
        )
        .build()?;
    let runtime = Runtime::new(team, Arc::new(MemoryStore::new()));

    let report = runtime.send(None, "I was charged twice: when will my refund reach my account?").await?;
    let mut chain = vec!["triage"];
    chain.extend(report.outcome.handoffs.iter().map(|step| step.to.as_str()));
    println!("{}: {}", report.outcome.agent, report.outcome.reply.as_deref().unwrap_or(""));
    println!("handoff chain: {}", chain.join(" → "));
    Ok(())
}
