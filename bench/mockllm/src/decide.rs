//! The support script: what the mock answers, decided from the request body alone, exactly as
//! `decide()` in `../shared/peers/mockllm.py` does, so every framework sees the same work.

use serde_json::Value;

/// The tool the script calls on the technical agent's first turn.
pub const LINE_STATUS_TOOL: &str = "check_line_status";

/// The final answer of the script.
pub const FINAL_TEXT: &str = "Your line is up. Please restart the router.";

/// What the mock answers to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// One tool call, with its arguments as a JSON string.
    Tool {
        /// The tool's name, as offered.
        name: String,
        /// The arguments, JSON text.
        arguments: String,
    },
    /// A text answer.
    Text(String),
}

/// The script: hand off to technical if a transfer or handoff tool to it is offered and nothing
/// technical was called yet; else check the line if that tool is offered and not yet called;
/// else the final text.
pub fn decide(body: &Value) -> Decision {
    let offered = offered_tools(body);
    let called = called_tools(body);
    let handoff = offered.iter().find(|name| {
        let lower = name.to_lowercase();
        lower.contains("technical") && (lower.contains("transfer") || lower.contains("handoff"))
    });
    if let Some(handoff) = handoff {
        if !called.iter().any(|name| name.to_lowercase().contains("technical")) {
            return Decision::Tool { name: (*handoff).to_string(), arguments: "{}".to_string() };
        }
    }
    if offered.contains(&LINE_STATUS_TOOL) && !called.contains(&LINE_STATUS_TOOL) {
        return Decision::Tool {
            name: LINE_STATUS_TOOL.to_string(),
            arguments: r#"{"customer_id": "42"}"#.to_string(),
        };
    }
    Decision::Text(FINAL_TEXT.to_string())
}

/// The names of the function tools the request offers, in order.
fn offered_tools(body: &Value) -> Vec<&str> {
    array(body, "tools")
        .filter(|tool| tool.get("type").and_then(Value::as_str) == Some("function"))
        .filter_map(|tool| tool.pointer("/function/name").and_then(Value::as_str))
        .collect()
}

/// The names of the tools the assistant called earlier in the conversation, in order.
fn called_tools(body: &Value) -> Vec<&str> {
    array(body, "messages")
        .flat_map(|message| array(message, "tool_calls"))
        .filter_map(|call| call.pointer("/function/name").and_then(Value::as_str))
        .collect()
}

/// The items of the array `key` of `value` (none if it is missing, null or not an array).
fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value.get(key).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools(names: &[&str]) -> Value {
        names.iter().map(|name| json!({"type": "function", "function": {"name": name, "parameters": {}}})).collect()
    }

    fn call(name: &str) -> Value {
        json!({"role": "assistant", "content": null,
               "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": "{}"}}]})
    }

    fn tool(name: &str, arguments: &str) -> Decision {
        Decision::Tool { name: name.to_string(), arguments: arguments.to_string() }
    }

    fn text() -> Decision {
        Decision::Text(FINAL_TEXT.to_string())
    }

    #[test]
    fn the_triage_agent_hands_off_to_technical_with_no_arguments() {
        let body = json!({"messages": [{"role": "user", "content": "My internet is down"}],
                          "tools": tools(&["transfer_to_billing", "transfer_to_technical"])});
        assert_eq!(decide(&body), tool("transfer_to_technical", "{}"));
    }

    #[test]
    fn the_technical_agent_checks_the_line_of_customer_42() {
        let body = json!({"messages": [{"role": "user", "content": "down"}, call("transfer_to_technical"),
                                       {"role": "tool", "tool_call_id": "call_0", "content": "ok"}],
                          "tools": tools(&["check_line_status", "transfer_to_billing"])});
        assert_eq!(decide(&body), tool("check_line_status", r#"{"customer_id": "42"}"#));
    }

    #[test]
    fn after_the_line_check_it_answers_with_the_final_text() {
        let body = json!({"messages": [{"role": "user", "content": "down"}, call("transfer_to_technical"),
                                       call("check_line_status")],
                          "tools": tools(&["check_line_status"])});
        assert_eq!(decide(&body), text());
        assert_eq!(decide(&json!({"messages": []})), text());
        assert_eq!(decide(&json!({"tools": null, "messages": null})), text());
    }

    #[test]
    fn tool_names_are_matched_without_regard_to_case() {
        for name in ["Transfer_To_Technical", "HANDOFF_TECHNICAL", "technical_handoff", "transfer_to_technical_agent"] {
            assert_eq!(decide(&json!({"tools": tools(&[name])})), tool(name, "{}"), "{name}");
        }
        // Neither "transfer" nor "handoff": not a handoff tool.
        assert_eq!(decide(&json!({"tools": tools(&["technical"])})), text());
        // The line check is matched exactly, as in the Python mock.
        assert_eq!(decide(&json!({"tools": tools(&["Check_Line_Status"])})), text());
    }

    #[test]
    fn a_handoff_to_technical_made_earlier_is_not_repeated() {
        let offered = tools(&["transfer_to_technical", "check_line_status"]);
        let body = json!({"messages": [call("transfer_to_technical")], "tools": offered});
        assert_eq!(decide(&body), tool("check_line_status", r#"{"customer_id": "42"}"#));
        // Any earlier call whose name mentions technical counts, in any case.
        let body = json!({"messages": [call("Handoff_TECHNICAL"), call("check_line_status")], "tools": offered});
        assert_eq!(decide(&body), text());
    }

    #[test]
    fn only_function_tools_are_offered_tools() {
        let body = json!({"tools": [{"type": "web_search", "function": {"name": "transfer_to_technical"}}]});
        assert_eq!(decide(&body), text());
    }
}
