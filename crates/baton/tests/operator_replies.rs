//! What an operator writes to the user (`baton queue reply`) reaches the user's next turn: the
//! turn's report carries the replies written since the user's previous message, once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::load_team;
use baton::core::TurnStatus;
use baton::store::{MemoryStore, Store};
use baton::OperatorReply;
use std::path::Path;
use std::sync::Arc;

async fn support_desk() -> baton::Runtime {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    baton::assemble::runtime(&load_team(&path).unwrap().config, store).await.unwrap()
}

fn reply(operator: &str, agent: &str, text: &str) -> OperatorReply {
    OperatorReply { operator: operator.into(), agent: agent.into(), text: text.into() }
}

#[tokio::test]
async fn the_next_turn_reports_the_operator_replies_the_user_has_not_seen() {
    let desk = support_desk().await;
    let first = desk.send(Some("op-1"), "I want to talk to a person").await.unwrap();
    assert_eq!((first.outcome.status, first.outcome.agent.as_str()), (TurnStatus::Escalated, "human"));
    assert!(first.operator_replies.is_empty());

    desk.claim("op-1", "anna").await.unwrap();
    desk.reply("op-1", None, "Hi, Anna here.").await.unwrap();
    desk.reply("op-1", None, "I removed the router fee.").await.unwrap();
    let second = desk.send(Some("op-1"), "hello?").await.unwrap();
    assert_eq!(second.outcome.status, TurnStatus::Escalated, "the person still has the conversation");
    let expected = vec![reply("anna", "human", "Hi, Anna here."), reply("anna", "human", "I removed the router fee.")];
    assert_eq!(second.operator_replies, expected);

    // Shown once: the turn after has none, until the operator writes again; a reply written
    // before a handback still reaches the user, with the agent that takes the turn after.
    let third = desk.send(Some("op-1"), "thanks").await.unwrap();
    assert!(third.operator_replies.is_empty(), "{:?}", third.operator_replies);
    desk.reply("op-1", None, "Billing will take it from here.").await.unwrap();
    desk.hand_back("op-1", None, "billing", Some("fee removed")).await.unwrap();
    let fourth = desk.send(Some("op-1"), "what is on invoice INV-2041?").await.unwrap();
    assert_eq!(fourth.operator_replies, vec![reply("anna", "human", "Billing will take it from here.")]);
    assert_eq!(fourth.outcome.agent, "billing");
}
