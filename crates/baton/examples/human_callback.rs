//! People in the loop, in process: a `HumanHandler` is asked when the human agent takes a
//! conversation over (here because the user asks for a person); it is asked too when a tool call
//! needs approval (`HumanHandler::approve`). It reads the context package, answers the user, and hands control back along a
//! declared edge; everything it does is journaled as `baton queue` would journal it.

use async_trait::async_trait;
use baton::store::MemoryStore;
use baton::{Agent, HumanAction, HumanHandler, Limits, Runtime, TeamBuilder, TicketView, Trigger};
use std::sync::Arc;

/// An operator at the keyboard; here, one who always answers the same.
struct Operator;

#[async_trait]
impl HumanHandler for Operator {
    fn operator(&self) -> &str {
        "lena"
    }

    async fn take_over(&self, ticket: &TicketView) -> Vec<HumanAction> {
        println!("ticket for {}: {}", ticket.queue.as_deref().unwrap_or("?"), ticket.reason.as_deref().unwrap_or(""));
        println!("  the user wrote: {}", ticket.last_user_message.as_deref().unwrap_or(""));
        vec![
            HumanAction::Reply("Hi, Lena here. I have refunded the second charge.".into()),
            HumanAction::HandBack { to: "triage".into(), note: Some("refunded the double charge".into()) },
        ]
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let team = TeamBuilder::new("desk", "triage")
        .limits(Limits::default().escalate_to("human"))
        .trigger(Trigger::AsksForHuman { to: "human".into() })
        .agent(
            Agent::local("triage")
                .description("Front desk: opening hours, plans and prices.")
                .instructions("Opening hours: Monday to Saturday, 8:00 to 20:00.")
                .handoff("human"),
        )
        .agent(Agent::human("human").description("A support operator.").handoff("triage"))
        .build()?;
    let runtime = Runtime::new(team, Arc::new(MemoryStore::new())).with_human(Operator);

    let first = runtime.send(None, "I was charged twice, let me talk to a person please").await?;
    // The reply is the operator's; the report's agent is the one she handed the conversation to.
    println!("lena: {}", first.outcome.reply.as_deref().unwrap_or(""));
    assert_eq!(first.outcome.agent, "triage");
    let next = runtime.send(Some(&first.conversation), "Thanks! When are you open?").await?;
    println!("{}: {}", next.outcome.agent, next.outcome.reply.as_deref().unwrap_or(""));
    assert_eq!(next.outcome.agent, "triage", "the operator handed the conversation back");
    Ok(())
}
