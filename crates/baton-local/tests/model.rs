//! The local model's behaviour through the public `Model` API, on a small support team: alone
//! (one request) and driven through the core (whole conversations).

mod support;

use baton_core::router::route_request;
use baton_core::{ChatMessage, ToolCall, ToolOutput, TurnStatus};
use serde_json::{json, Value};
use support::{complete, model, request, team, Chat};

fn user(text: &str) -> ChatMessage {
    ChatMessage::User(text.into())
}

fn arguments(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).expect("JSON arguments")
}

#[test]
fn a_request_for_a_specialist_is_handed_off_with_reason_summary_and_facts() {
    let team = team();
    let reply = complete(&model(&team), &request(&team, "triage", vec![user("I was charged twice, customer 42")], &[]));
    assert_eq!(reply.text, None);
    let [call] = reply.tool_calls.as_slice() else { panic!("one call: {reply:?}") };
    assert_eq!(call.name, "transfer_to_billing");
    assert!(call.id.starts_with("local_"));
    let arguments = arguments(call);
    assert_eq!(arguments["reason"], "the request mentions 'charged twice' — billing's scope");
    assert!(arguments["summary"].as_str().unwrap().contains("I was charged twice"), "{arguments}");
    assert_eq!(arguments["facts"], json!({"customer_id": "42"}));
}

#[test]
fn a_long_request_is_quoted_by_its_start_in_the_handoff() {
    let team = team();
    let sentence = "I was charged twice for the same month and want a refund of the second charge. ";
    let long = sentence.repeat(2_500);
    let reply = complete(&model(&team), &request(&team, "triage", vec![user(&long)], &[]));
    let [call] = reply.tool_calls.as_slice() else { panic!("one call: {reply:?}") };
    assert_eq!(call.name, "transfer_to_billing");
    assert!(call.arguments.len() < 1_000, "a 200 KB request makes {} bytes of handoff arguments", call.arguments.len());
    let arguments = arguments(call);
    assert!(arguments["summary"].as_str().unwrap().starts_with("The user wrote: \"I was charged twice"));
    assert!(arguments["summary"].as_str().unwrap().contains('…'), "{arguments}");
    assert_eq!(arguments["reason"].as_str().unwrap().matches("'charged twice'").count(), 1, "{arguments}");
}

#[test]
fn a_misspelt_request_still_routes() {
    let team = team();
    let reply = complete(&model(&team), &request(&team, "triage", vec![user("my intrenet is donw")], &[]));
    assert_eq!(reply.tool_calls[0].name, "transfer_to_technical", "{reply:?}");
    assert!(arguments(&reply.tool_calls[0])["reason"].as_str().unwrap().contains("intrenet is donw"));
}

#[test]
fn acknowledgements_and_greetings_do_not_hand_off() {
    let team = team();
    let model = model(&team);
    let earlier = vec![
        user("my internet is down"),
        ChatMessage::Assistant { text: Some("Your line is up.".into()), tool_calls: vec![] },
    ];
    for text in ["ok thanks", "thanks!", "yes", "ok"] {
        let mut messages = earlier.clone();
        messages.push(user(text));
        let reply = complete(&model, &request(&team, "triage", messages, &[]));
        assert!(reply.tool_calls.is_empty(), "{text:?}: {reply:?}");
        assert!(reply.text.is_some());
    }
    let reply = complete(&model, &request(&team, "billing", vec![user("hello!")], &[]));
    assert_eq!(
        reply.text.as_deref(),
        Some("Hello! I can help with charges, invoices and refunds. What can I do for you?"),
        "the greeting offers what the description names, without reciting it"
    );
}

#[test]
fn a_tool_is_called_with_the_facts_given_or_known() {
    let team = team();
    let model = model(&team);
    let reply = complete(&model, &request(&team, "technical", vec![user("my internet is down, customer 42")], &[]));
    let [call] = reply.tool_calls.as_slice() else { panic!("one call: {reply:?}") };
    assert_eq!((call.name.as_str(), arguments(call)), ("check_line_status", json!({"customer_id": "42"})));
    let known = [("customer_id", "42")];
    let reply = complete(&model, &request(&team, "technical", vec![user("is there an outage on my line?")], &known));
    assert_eq!(reply.tool_calls[0].name, "check_line_status", "{reply:?}");
    assert_eq!(arguments(&reply.tool_calls[0]), json!({"customer_id": "42"}));
}

#[test]
fn a_missing_argument_is_asked_for_and_the_bare_answer_fills_it() {
    let mut chat = Chat::new(team());
    let first = chat.say("my internet is down");
    assert_eq!(first.agent, "technical");
    assert_eq!(first.handoffs.len(), 1);
    assert_eq!(
        first.reply.as_deref(),
        Some("To check the status of a customer's line I need your customer id. What is it?")
    );
    let second = chat.say("it's 42");
    assert_eq!(chat.tool_calls.len(), 1);
    assert_eq!(chat.tool_calls[0].arguments, json!({"customer_id": "42"}));
    assert_eq!(second.reply.as_deref(), Some("I checked the line status for customer 42: status outage, since 09:10."));
    assert!(second.handoffs.is_empty());
    let third = chat.say("ok thanks");
    assert_eq!(third.status, TurnStatus::Answered);
    assert!(third.handoffs.is_empty() && chat.tool_calls.len() == 1, "{third:?}");
}

#[test]
fn a_pattern_checks_and_completes_the_answer() {
    let mut chat = Chat::new(team());
    let first = chat.say("I want a refund");
    assert_eq!(first.agent, "billing");
    assert!(first.reply.as_deref().unwrap().contains("invoice number"), "{first:?}");
    let second = chat.say("2041");
    assert_eq!(chat.tool_calls[0].tool, "issue_refund");
    assert_eq!(chat.tool_calls[0].arguments, json!({"invoice_number": "INV-2041"}));
    assert_eq!(
        second.reply.as_deref(),
        Some("I issued the refund for invoice INV-2041: refund issued, invoice INV-2041.")
    );
}

#[test]
fn results_become_sentences_or_fill_the_template() {
    let mut team = team();
    let call = ToolCall {
        id: "local_1".into(),
        name: "lookup_invoice".into(),
        arguments: r#"{"invoice_number":"INV-2041"}"#.into(),
    };
    let messages = vec![
        user("what is on invoice INV-2041?"),
        ChatMessage::Assistant { text: None, tool_calls: vec![call.clone()] },
        ChatMessage::Tool {
            call_id: "local_1".into(),
            output: ToolOutput::ok(r#"{"amount":"39.90 EUR","status":"paid"}"#),
        },
    ];
    let plain = complete(&model(&team), &request(&team, "billing", messages.clone(), &[]));
    assert_eq!(plain.text.as_deref(), Some("I looked up invoice INV-2041: amount 39.90 EUR, status paid."));
    let billing = team.agents.get_mut("billing").unwrap();
    billing.replies.insert(
        "lookup_invoice".into(),
        "Invoice {{ args.invoice_number }}: {{ result.amount }}, {{ result.status }}.".into(),
    );
    let templated = complete(&model(&team), &request(&team, "billing", messages.clone(), &[]));
    assert_eq!(templated.text.as_deref(), Some("Invoice INV-2041: 39.90 EUR, paid."));
    team.agents.get_mut("billing").unwrap().replies.insert("lookup_invoice".into(), "{{ result.nothing.here }}".into());
    let fallen_back = complete(&model(&team), &request(&team, "billing", messages, &[]));
    assert_eq!(fallen_back.text, plain.text);
    let failed = vec![
        user("check my line, customer 7"),
        ChatMessage::Assistant {
            text: None,
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: "check_line_status".into(),
                arguments: r#"{"customer_id":"7"}"#.into(),
            }],
        },
        ChatMessage::Tool { call_id: "c".into(), output: ToolOutput::error("no customer with id 7") },
    ];
    let reply = complete(&model(&team), &request(&team, "technical", failed, &[]));
    assert_eq!(
        reply.text.as_deref(),
        Some("I tried to check the line status for customer 7, but it failed: no customer with id 7.")
    );
}

#[test]
fn a_general_question_is_answered_from_the_instructions() {
    let team = team();
    let reply = complete(&model(&team), &request(&team, "triage", vec![user("when are you open on saturday?")], &[]));
    assert_eq!(reply.text.as_deref(), Some("Opening hours: Monday to Saturday 9:00-18:00. Closed on Sundays."));
    let reply = complete(&model(&team), &request(&team, "triage", vec![user("what's the address of the shop")], &[]));
    assert_eq!(reply.text.as_deref(), Some("Shop address: 12 Analytical Row, London."));
}

#[test]
fn a_refused_handoff_leads_to_a_reply_not_another_handoff() {
    let team = team();
    let handoff =
        ToolCall { id: "local_1".into(), name: "transfer_to_billing".into(), arguments: r#"{"reason":"x"}"#.into() };
    let messages = vec![
        user("I was charged twice"),
        ChatMessage::Assistant { text: None, tool_calls: vec![handoff] },
        ChatMessage::Tool {
            call_id: "local_1".into(),
            output: ToolOutput::error("refused: 'billing' already had control in this turn"),
        },
    ];
    let reply = complete(&model(&team), &request(&team, "technical", messages, &[]));
    assert!(reply.tool_calls.iter().all(|call| !call.name.starts_with("transfer_to_")), "{reply:?}");
    assert!(reply.text.is_some() || !reply.tool_calls.is_empty());
}

#[test]
fn asking_for_a_person_hands_off_to_the_human_queue() {
    let mut chat = Chat::new(team());
    let outcome = chat.say("can I talk to a real person please");
    assert_eq!(outcome.status, TurnStatus::Escalated);
    assert_eq!(outcome.agent, "human");
    assert_eq!(outcome.handoffs[0].reason, "the user asks for a person");
}

#[test]
fn the_router_picks_the_right_agent_or_the_entry() {
    let team = team();
    let model = model(&team);
    let route = |text: &str| {
        let reply = complete(&model, &route_request(&team, "local", 1, text));
        let [call] = reply.tool_calls.as_slice() else { panic!("one call: {reply:?}") };
        (call.name.clone(), arguments(call)["reason"].as_str().unwrap().to_string())
    };
    let (target, reason) = route("my router keeps restarting");
    assert_eq!(target, "transfer_to_technical");
    assert!(reason.contains("'router keeps restarting'"), "{reason}");
    assert_eq!(route("my invoice is wrong").0, "transfer_to_billing");
    assert_eq!(route("hello").0, "transfer_to_triage");
    assert_eq!(route("42").0, "transfer_to_triage");
}

#[test]
fn the_same_request_gets_the_same_reply() {
    let team = team();
    for text in ["I was charged twice", "my intrenet is donw", "hello", "when are you open?", "INV-2041"] {
        let request = request(&team, "triage", vec![user(text)], &[]);
        assert_eq!(complete(&model(&team), &request), complete(&model(&team), &request), "{text:?}");
    }
}

#[test]
fn a_bare_answer_stays_known_in_later_turns() {
    let mut chat = Chat::new(team());
    chat.say("my internet is down");
    chat.say("42");
    let third = chat.say("is there an outage on my line now?");
    assert_eq!(chat.tool_calls.len(), 2, "{third:?}");
    assert_eq!(chat.tool_calls[1].arguments, json!({"customer_id": "42"}));
}

#[test]
fn templates_shape_questions_greetings_and_handoffs() {
    let mut team = team();
    let technical = team.agents.get_mut("technical").unwrap();
    technical.replies.insert("ask".into(), "Your {{ label }}, please?".into());
    technical.replies.insert("greeting".into(), "Hi, {{ agent }} here.".into());
    let triage = team.agents.get_mut("triage").unwrap();
    triage.replies.insert("handoff".into(), "Passing you to {{ target }}.".into());
    let model = model(&team);
    let ask = complete(&model, &request(&team, "technical", vec![user("my internet is down")], &[]));
    assert_eq!(ask.text.as_deref(), Some("Your customer id, please?"));
    let greeting = complete(&model, &request(&team, "technical", vec![user("good morning")], &[]));
    assert_eq!(greeting.text.as_deref(), Some("Hi, technical here."));
    let handoff = complete(&model, &request(&team, "triage", vec![user("my router is broken")], &[]));
    assert_eq!(handoff.text.as_deref(), Some("Passing you to technical."));
    assert_eq!(handoff.tool_calls[0].name, "transfer_to_technical");
}

#[test]
fn a_refund_already_issued_is_not_issued_again() {
    let mut chat = Chat::new(team());
    chat.say("I want a refund for INV-2041");
    let again = chat.say("yes please refund it");
    assert_eq!(chat.tool_calls.len(), 1, "{again:?}");
    assert_eq!(
        again.reply.as_deref(),
        Some("I issued the refund for invoice INV-2041: refund issued, invoice INV-2041.")
    );
}
