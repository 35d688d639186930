//! A team file with an MCP entry: the reference "everything" server from npm (installed by
//! `cargo xtask test`; the external tier) is started once, its tools are offered under their own
//! names to the agent that lists the entry, and a call reaches the server.

use crate::support::{baton, run_json, temp_dir, trace_json};

fn everything() -> String {
    std::env::var("BATON_TEST_MCP_EVERYTHING")
        .unwrap_or_else(|_| panic!("BATON_TEST_MCP_EVERYTHING is not set: run this test with `cargo xtask test`"))
}

#[test]
fn an_agent_calls_a_tool_of_an_mcp_server_named_in_the_team_file() {
    let dir = temp_dir("mcp-team");
    let team = format!(
        r#"name = "mcp"
entry = "helper"

[limits]
on_limit = "fail"

[models.desk]
provider = "script"
script = "replies.toml"

[agents.helper]
model = "desk"
tools = ["everything"]

[tools.everything]
kind = "mcp"
command = ["{}"]
include = ["echo", "get-sum"]
approval = {{ when = "a > 100" }}
"#,
        everything()
    );
    std::fs::write(dir.join("team.toml"), team).unwrap();
    std::fs::write(
        dir.join("replies.toml"),
        r#"
[[reply]]
agent = "helper"
calls = [{ tool = "echo", args = { message = "hello from baton" } }, { tool = "get-sum", args = { a = 40, b = 2 } }]

[[reply]]
agent = "helper"
text = "Done."
"#,
    )
    .unwrap();
    let db = dir.join("baton.db");
    let (code, out) = run_json(&dir.join("team.toml"), &db, "echo something", &["--conversation", "m-1"], &[]);
    // The entry's approval rule applies to each of its tools: get-sum (a = 40) runs at once;
    // echo has no `a`, so a person is asked.
    assert_eq!((code, out["status"].as_str()), (0, Some("awaiting_approval")), "{out}");
    assert_eq!((out["pending"]["tool"].as_str(), out["tool_calls"].as_u64()), (Some("echo"), Some(1)), "{out}");
    let call_id = out["pending"]["call_id"].as_str().unwrap();
    let approved = baton(&["approve", "m-1", call_id, "--db", db.to_str().unwrap(), "--json"], &[]);
    assert_eq!(approved.status.code(), Some(0), "{}", String::from_utf8_lossy(&approved.stderr));
    let out: serde_json::Value = serde_json::from_slice(&approved.stdout).unwrap();
    assert_eq!((out["status"].as_str(), out["tool_calls"].as_u64()), (Some("answered"), Some(2)), "{out}");
    let results: Vec<String> = trace_json(db.to_str().unwrap(), "m-1")
        .into_iter()
        .filter(|line| line["kind"] == "tool_returned")
        .map(|line| line["data"]["output"]["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().any(|r| r.contains("hello from baton")), "{results:?}");
    assert!(results.iter().any(|r| r.contains("42")), "{results:?}");
}
