//! The human callback: a handler in the embedding program answers for the human agent and
//! decides on tool calls, and what it does is journaled as the operator commands journal it.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use async_trait::async_trait;
use baton::config::load_team;
use baton::core::{Approval, JournalEntry, PendingApproval, TurnStatus};
use baton::models::ScriptModel;
use baton::store::{MemoryStore, Store};
use baton::tools::typed::{typed_tool, CallContext};
use baton::{
    Agent, BuiltTeam, Decision, HumanAction, HumanHandler, Limits, Runtime, TeamBuilder, TicketStatus, TicketView,
};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// An operator who answers every ticket the same way and remembers what each carried.
struct Lena {
    actions: Vec<HumanAction>,
    decision: Option<Decision>,
    seen: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl HumanHandler for Lena {
    fn operator(&self) -> &str {
        "lena"
    }

    async fn take_over(&self, ticket: &TicketView) -> Vec<HumanAction> {
        let reason = ticket.reason.clone().unwrap_or_default();
        self.seen.lock().unwrap().push(format!("{} {}: {reason}", ticket.conversation, ticket.agent));
        self.actions.clone()
    }

    async fn approve(&self, conversation: &str, pending: &PendingApproval) -> Option<Decision> {
        self.seen.lock().unwrap().push(format!("{conversation} {} {}", pending.tool, pending.args));
        self.decision.clone()
    }

    fn failed(&self, conversation: &str, error: &baton::RuntimeError) {
        self.seen.lock().unwrap().push(format!("{conversation} failed: {error}"));
    }
}

fn lena(actions: Vec<HumanAction>, decision: Option<Decision>) -> (Lena, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    (Lena { actions, decision, seen: seen.clone() }, seen)
}

async fn kinds(store: &Arc<dyn Store>, id: &str) -> Vec<&'static str> {
    store.journal(id).await.unwrap().iter().map(|stored| stored.entry.kind()).collect()
}

async fn support(store: Arc<dyn Store>, handler: Lena) -> Runtime {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/support/team.toml");
    baton::assemble::runtime(&load_team(&path).unwrap().config, store).await.unwrap().with_human(handler)
}

#[tokio::test]
async fn the_handler_replies_and_hands_back_and_it_is_journaled_as_the_queue_commands_are() {
    let hand_back = HumanAction::HandBack { to: "billing".into(), note: Some("refund INV-2042".into()) };
    let (handler, seen) =
        lena(vec![HumanAction::Reply("Lena here: I will pass you to billing.".into()), hand_back], None);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = support(store.clone(), handler).await;

    let report = runtime.send(Some("c-1"), "I want to talk to a person").await.unwrap();
    assert_eq!(report.outcome.status, TurnStatus::Escalated);
    assert_eq!(report.outcome.reply.as_deref(), Some("Lena here: I will pass you to billing."));
    assert_eq!(report.outcome.agent, "billing", "the report says who has control after the hand-back");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(seen.lock().unwrap()[0].starts_with("c-1 human: "), "{:?}", seen.lock().unwrap());
    let journal = kinds(&store, "c-1").await;
    let after_the_turn = &journal[journal.iter().position(|kind| *kind == "turn_ended").unwrap() + 1..];
    assert_eq!(after_the_turn, ["ticket_claimed", "operator_replied", "ticket_handed_back", "handoff_taken"]);
    let ticket = runtime.ticket("c-1").await.unwrap();
    assert_eq!((ticket.status, ticket.agent.as_str()), (TicketStatus::None, "billing"));

    let next = runtime.send(Some("c-1"), "so, about that refund").await.unwrap();
    assert_eq!(next.outcome.agent, "billing", "the user's next message goes where the operator handed back");
}

#[tokio::test]
async fn a_handler_with_nothing_to_do_leaves_the_ticket_in_the_queue() {
    let (handler, seen) = lena(Vec::new(), None);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = support(store.clone(), handler).await;
    let report = runtime.send(Some("c-2"), "I want to talk to a person").await.unwrap();
    assert_eq!((report.outcome.status, report.outcome.reply), (TurnStatus::Escalated, None));
    assert_eq!(seen.lock().unwrap().len(), 1, "asked once");
    assert_eq!(runtime.ticket("c-2").await.unwrap().status, TicketStatus::Open);
    assert_eq!(baton::queue::waiting(store.as_ref()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_handback_along_no_declared_edge_is_refused_and_nothing_of_it_is_journaled() {
    let wrong = HumanAction::HandBack { to: "spanish".into(), note: None };
    let (handler, seen) = lena(vec![wrong], None);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let runtime = support(store.clone(), handler).await;
    // The turn was journaled: its report comes back, and the handler hears what it could not do.
    let report = runtime.send(Some("c-3"), "I want to talk to a person").await.unwrap();
    assert_eq!((report.outcome.status, report.outcome.agent.as_str()), (TurnStatus::Escalated, "human"));
    let failure = seen.lock().unwrap().last().cloned().unwrap();
    assert!(failure.starts_with("c-3 failed: ") && failure.contains("spanish"), "{failure}");
    assert_eq!(kinds(&store, "c-3").await.last(), Some(&"ticket_claimed"));
}

const REPLIES: &str = r#"
[[reply]]
agent = "sales"
calls = [{ tool = "score_lead", args = { company = "Acme" } }]

[[reply]]
agent = "sales"
text = "Done."
"#;

/// The arguments of the tool that needs approval.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lead {
    /// The company.
    company: String,
}

fn sales(runs: Arc<Mutex<u32>>) -> BuiltTeam {
    let tool = typed_tool("score_lead", "Scores a lead.", move |lead: Lead, _: CallContext| {
        *runs.lock().unwrap() += 1;
        async move { Ok::<_, String>(format!("{} scores 80", lead.company)) }
    })
    .approval(Approval::Required);
    TeamBuilder::new("leads", "sales")
        .limits(Limits::default().fail_on_limit())
        .model("desk", ScriptModel::parse(REPLIES, "replies.toml").unwrap())
        .tool(tool)
        .agent(Agent::llm("sales", "desk").tool("score_lead"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_handler_decides_on_tool_calls_approved_denied_or_left_waiting() {
    for (decision, status, runs_expected) in [
        (Some(Decision { approve: true, reason: None, by: None }), TurnStatus::Answered, 1),
        (Some(Decision { approve: false, reason: Some("not today".into()), by: None }), TurnStatus::Answered, 0),
        (None, TurnStatus::AwaitingApproval, 0),
    ] {
        let runs = Arc::new(Mutex::new(0));
        let (handler, seen) = lena(Vec::new(), decision.clone());
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let runtime = Runtime::new(sales(runs.clone()), store.clone()).with_human(handler);
        let report = runtime.send(Some("lead"), "score Acme").await.unwrap();
        assert_eq!(report.outcome.status, status, "{decision:?}");
        assert_eq!(*runs.lock().unwrap(), runs_expected, "{decision:?}");
        assert_eq!(*seen.lock().unwrap(), [r#"lead score_lead {"company":"Acme"}"#]);
        let decided = store.journal("lead").await.unwrap().into_iter().find_map(|stored| match stored.entry {
            JournalEntry::Input(baton::core::Input::ApprovalDecided { approved, reason, by, .. }) => {
                Some((approved, reason, by))
            }
            _ => None,
        });
        let expected = decision.map(|d| (d.approve, d.reason, Some("lena".to_string())));
        assert_eq!(decided, expected, "the decision is journaled with the handler's operator name");
    }
}
