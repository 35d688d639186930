//! Real wire formats end to end: the same turn streamed and unstreamed journals the same on both
//! providers, a handoff crosses from a Chat Completions agent to a Messages agent and back, and
//! each provider error lands in the journal and the trace.

use crate::mock::{calls, text, Answer, MockServer};
use crate::support::{baton, run_json, support_team, support_team_with, temp_dir, trace_json, DEFAULT_LIMITS};
use serde_json::{json, Value};
use std::path::Path;

fn handoff(reason: &str) -> Value {
    json!({"reason": reason, "summary": "Ada's internet is down", "facts": {"customer_id": "42"}})
}

/// The support turn: triage looks the customer up and hands off, technical checks the line and answers.
fn support_script() -> Vec<Answer> {
    vec![
        calls(&[("c1", "lookup_customer", json!({"customer_id": "42"}))]),
        calls(&[("c2", "transfer_to_technical", handoff("network problem"))]),
        calls(&[("c3", "check_line_status", json!({"customer_id": "42"}))]),
        text("Your line is up. Please restart the router."),
    ]
}

/// A model table named `name` for `provider` at `base_url`.
fn model_table(name: &str, provider: &str, base_url: &str) -> String {
    format!("[models.{name}]\nprovider = \"{provider}\"\nmodel = \"test-model\"\nbase_url = \"{base_url}\"\ntimeout_secs = 5\n")
}

/// The journal of the only conversation in `db`, as `(kind, data)` with the conversation id
/// replaced, so journals of different conversations compare.
fn normalized_journal(db: &Path, conversation: &str) -> Vec<(String, String)> {
    trace_json(db.to_str().unwrap(), conversation)
        .into_iter()
        .map(|entry| {
            (entry["kind"].as_str().unwrap().to_string(), entry["data"].to_string().replace(conversation, "ID"))
        })
        .collect()
}

#[test]
fn streamed_and_unstreamed_turns_journal_the_same_on_both_providers() {
    for provider in ["openai", "anthropic"] {
        let mut journals = Vec::new();
        for stream in [false, true] {
            let server = MockServer::start(support_script());
            let dir = temp_dir(&format!("stream-{provider}-{stream}"));
            let models = model_table("m", provider, &server.base_url);
            let team = support_team_with(&dir, &models, ["m", "m", "m"], DEFAULT_LIMITS);
            let db = dir.join("baton.db");
            let message = "My internet is down (customer 42)";
            let output = if stream {
                baton(&["run", team.to_str().unwrap(), message, "--db", db.to_str().unwrap(), "--stream"], &[])
            } else {
                baton(&["run", team.to_str().unwrap(), message, "--db", db.to_str().unwrap()], &[])
            };
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{provider} stream={stream}: {stdout}\n{stderr}");
            assert!(stdout.contains("→ technical: network problem"), "{provider} stream={stream}: {stdout}");
            assert!(
                stdout.contains("technical: Your line is up. Please restart the router."),
                "{provider} stream={stream}: {stdout}"
            );
            assert!(stderr.contains("tokens: 44 in, 28 out"), "{provider} stream={stream}: {stderr}");
            let received = server.received();
            assert_eq!(received.len(), 4);
            assert!(received.iter().all(|request| request.rejected.is_none()), "{:?}", received);
            assert!(received.iter().all(|request| (request.body["stream"] == json!(true)) == stream));
            let expected_path = if provider == "openai" { "/v1/chat/completions" } else { "/v1/messages" };
            assert!(received.iter().all(|request| request.path == expected_path), "{}", received[0].path);
            let conversation = stderr.split("conversation ").nth(1).unwrap().split(' ').next().unwrap().to_string();
            journals.push(normalized_journal(&db, &conversation));
        }
        assert_eq!(journals[0], journals[1], "{provider}: the streamed turn journaled differently");
        let kinds: Vec<&str> = journals[0].iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds.iter().filter(|kind| **kind == "model_replied").count(), 4, "{kinds:?}");
        assert!(journals[0].iter().any(|(kind, data)| kind == "model_replied" && data.contains("\"usage\"")));
    }
}

#[test]
fn a_full_context_handoff_crosses_from_chat_completions_to_messages_and_back() {
    let openai = MockServer::start(vec![
        calls(&[("c1", "lookup_customer", json!({"customer_id": "42"}))]),
        calls(&[("c2", "transfer_to_technical", handoff("network problem"))]),
        text("I have refunded the month's fee, Ada."),
    ]);
    let anthropic = MockServer::start(vec![
        calls(&[("toolu_01", "check_line_status", json!({"customer_id": "42"}))]),
        Answer::Message(json!({"role": "assistant", "content": "The line is up; billing will sort the charge.",
            "tool_calls": [{"id": "toolu_02", "type": "function", "function": {"name": "transfer_to_billing",
            "arguments": json!({"reason": "overcharged for the outage"}).to_string()}}]})),
    ]);
    let dir = temp_dir("cross-provider");
    let models = format!(
        "{}\n{}price = {{ input_per_mtok = 3.0, output_per_mtok = 15.0 }}\n",
        model_table("gpt", "openai", &openai.base_url),
        model_table("claude", "anthropic", &anthropic.base_url)
    );
    let team = support_team_with(&dir, &models, ["gpt", "claude", "gpt"], DEFAULT_LIMITS);
    let message = "My internet was down all week and I was still charged (customer 42)";
    let (code, out) = run_json(&team, &dir.join("baton.db"), message, &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["status"], "answered");
    assert_eq!(out["agent"], "billing");
    assert_eq!(out["reply"], "I have refunded the month's fee, Ada.");
    let chain: Vec<(&str, &str)> = out["handoffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| (step["from"].as_str().unwrap(), step["to"].as_str().unwrap()))
        .collect();
    assert_eq!(chain, [("triage", "technical"), ("technical", "billing")]);
    // Only claude has a price: technical's cost is known, the turn's is not.
    let technical = &out["usage"]["agents"]["technical"];
    assert_eq!((technical["input_tokens"].clone(), technical["output_tokens"].clone()), (json!(22), json!(14)));
    let cost = technical["cost_usd"].as_f64().unwrap();
    assert!((cost - (22.0 * 3.0 + 14.0 * 15.0) / 1e6).abs() < 1e-12, "{cost}");
    assert_eq!(out["usage"]["agents"]["triage"].get("cost_usd"), None);
    assert_eq!(out["usage"].get("cost_usd"), None);
    assert_eq!(out["usage"]["input_tokens"], 55);

    // Each API accepted every request (the mocks reject what the real APIs reject).
    let (to_openai, to_anthropic) = (openai.received(), anthropic.received());
    assert_eq!((to_openai.len(), to_anthropic.len()), (3, 2));
    for request in to_openai.iter().chain(&to_anthropic) {
        assert_eq!(request.rejected, None, "{}", request.body);
    }
    // Technical sees triage's tool traffic as text, its system prompt apart, and the user last.
    let first = &to_anthropic[0].body;
    assert!(first["system"].as_str().unwrap().starts_with("You are technical."), "{first}");
    let messages = first["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages.last().unwrap()["role"], "user", "{first}");
    assert!(first["messages"].to_string().contains("lookup_customer"), "{first}");
    assert_eq!(first["tools"][0]["name"], "check_line_status");
    assert!(first["tools"][0]["input_schema"].is_object());
    // Its second request answers its own tool_use with a tool_result.
    let second = to_anthropic[1].body["messages"].to_string();
    assert!(second.contains("\"tool_use_id\":\"toolu_01\""), "{second}");
    // Billing, back on Chat Completions, sees technical's words and calls as assistant text only.
    let billing = &to_openai[2].body;
    let history = billing["messages"].to_string();
    assert!(history.contains("The line is up; billing will sort the charge."), "{history}");
    assert!(!history.contains("toolu_01\",\"type\""), "technical's calls must not be sent as tool_calls: {history}");
    assert!(billing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["role"] != "tool" || m["tool_call_id"] != "toolu_01"));
}

/// Runs one support turn against `answers` and returns the `--json` object and the trace text.
fn turn_with(name: &str, answers: Vec<Answer>) -> (i32, Value, String, MockServer) {
    let server = MockServer::start(answers);
    let dir = temp_dir(name);
    let team = support_team(&dir, &server.base_url, DEFAULT_LIMITS);
    let db = dir.join("baton.db");
    let (code, out) = run_json(&team, &db, "My internet is down (customer 42)", &[], &[]);
    let conversation = out["conversation"].as_str().unwrap().to_string();
    let trace = baton(&["trace", &conversation, "--db", db.to_str().unwrap()], &[]);
    assert_eq!(trace.status.code(), Some(0));
    (code, out, String::from_utf8_lossy(&trace.stdout).into_owned(), server)
}

#[test]
fn a_refused_key_fails_the_turn_naming_the_variable_and_the_trace_shows_it() {
    let body = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
    let (code, out, trace, server) = turn_with("401", vec![Answer::Raw(401, body.to_string())]);
    assert_eq!(code, 1);
    assert_eq!(out["status"], "failed");
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("Incorrect API key provided") && error.contains("set BATON_TEST_KEY"), "{error}");
    assert!(trace.contains("MODEL ERROR: HTTP 401"), "{trace}");
    assert_eq!(server.received().len(), 1, "a refused key is not retried");
}

#[test]
fn a_bad_request_surfaces_the_providers_message() {
    let body = json!({"error": {"message": "Invalid value for 'temperature': must be at most 2", "type": "invalid_request_error"}});
    let (code, out, trace, server) = turn_with("400", vec![Answer::Raw(400, body.to_string())]);
    assert_eq!(code, 1);
    assert!(out["error"].as_str().unwrap().ends_with(": Invalid value for 'temperature': must be at most 2"), "{out}");
    assert!(trace.contains("MODEL ERROR: HTTP 400"), "{trace}");
    assert_eq!(server.received().len(), 1);
}

#[test]
fn malformed_tool_arguments_are_answered_as_an_error_and_counted() {
    let broken = Answer::Message(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup_customer", "arguments": "{\"customer_id\": "}}]}));
    let (code, out, trace, server) = turn_with("malformed", vec![broken, text("Sorry, which customer number?")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["status"], "answered");
    assert_eq!(out["malformed_calls"], 1);
    assert_eq!(out["tool_calls"], 0, "the malformed call did not run");
    let second = &server.received()[1].body["messages"];
    let answer = second.as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
    assert!(answer["content"].as_str().unwrap().contains("are not valid JSON"), "{answer}");
    assert!(trace.contains("tool call rejected: triage → lookup_customer"), "{trace}");
    assert!(trace.contains("1 call with malformed arguments"), "{trace}");
}

#[test]
fn a_reply_cut_off_at_max_tokens_is_marked_in_the_trace() {
    let cut = Answer::Finished(json!({"role": "assistant", "content": "Your line is up. Please rest"}), "length");
    let (code, out, trace, _) = turn_with("length", vec![cut]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["reply"], "Your line is up. Please rest");
    assert!(trace.contains("CUT OFF: the reply reached the model's max_tokens"), "{trace}");
}

#[test]
fn a_refusal_is_the_reply_and_is_marked_in_the_trace() {
    let refusal = Answer::Message(json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}));
    let (code, out, trace, _) = turn_with("refusal", vec![refusal]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["reply"], "I can't help with that.");
    assert!(trace.contains("REFUSED: the model declined to answer"), "{trace}");
}

#[test]
fn an_empty_reply_fails_the_turn_clearly() {
    let empty = Answer::Message(json!({"role": "assistant", "content": ""}));
    let (code, out, trace, _) = turn_with("empty", vec![empty]);
    assert_eq!(code, 1);
    assert_eq!(out["status"], "failed");
    assert!(out["error"].as_str().unwrap().contains("returned an empty reply"), "{out}");
    assert!(trace.contains("(empty reply: no text, no tool calls)"), "{trace}");
}

/// The support example, copied with its data, with every AI agent on the model table `model`.
fn support_example_on(dir: &Path, model: &str) -> std::path::PathBuf {
    let source = crate::support::example("support", "team.toml");
    let example = source.parent().unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for file in std::fs::read_dir(example.join("data")).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, dir.join("data").join(file.file_name().unwrap())).unwrap();
    }
    let mut team = String::new();
    for line in std::fs::read_to_string(&source).unwrap().lines() {
        team.push_str(line);
        team.push('\n');
        if ["[agents.triage]", "[agents.technical]", "[agents.billing]", "[agents.spanish]"].contains(&line) {
            team.push_str("model = \"m\"\n");
        }
    }
    team.push('\n');
    team.push_str(model);
    let path = dir.join("team.toml");
    std::fs::write(&path, team).unwrap();
    path
}

#[test]
fn the_support_example_runs_unchanged_on_either_provider() {
    for provider in ["openai", "anthropic"] {
        let server = MockServer::start(vec![
            calls(&[("c1", "transfer_to_technical", json!({"reason": "the line is down"}))]),
            calls(&[("c2", "check_line_status", json!({"customer_id": "7"}))]),
            text("There is an outage in your area; it should be fixed by 18:00."),
        ]);
        let dir = temp_dir(&format!("example-{provider}"));
        let team = support_example_on(&dir, &model_table("m", provider, &server.base_url));
        let (code, out) = run_json(&team, &dir.join("baton.db"), "My internet keeps dropping (customer 7)", &[], &[]);
        assert_eq!(code, 0, "{provider}: {out}");
        assert_eq!(out["agent"], "technical", "{provider}: {out}");
        assert_eq!(out["reply"], "There is an outage in your area; it should be fixed by 18:00.");
        assert_eq!(out["tool_calls"], 1);
        let received = server.received();
        assert_eq!(received.len(), 3, "{provider}");
        for request in &received {
            assert_eq!(request.rejected, None, "{provider}: {}", request.body);
        }
    }
}
