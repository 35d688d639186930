//! The team-file settings that keep tools from reaching what they should not: an HTTP tool's
//! `allow_hosts` and the rule that arguments fill only the path and query of its URL, and a
//! command tool's `env` as a list of names passed through.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::{parse_team, Diagnostic, LoadError, Loaded, ToolKind};
use baton::core::Severity;

/// A team whose one agent uses the tool `[tools.t]` written as `tool`.
fn team(tool: &str) -> String {
    format!(
        "name = \"t\"\nentry = \"desk\"\n\n[limits]\non_limit = \"fail\"\n\n[agents.desk]\ntools = [\"t\"]\n\n\
         [tools.t]\n{tool}\n"
    )
}

fn load(tool: &str) -> Result<Loaded, LoadError> {
    parse_team(&team(tool), &std::env::temp_dir().join("team.toml"))
}

/// The one error of loading `tool`, which must fail.
fn only_error(tool: &str) -> Diagnostic {
    let error = load(tool).err().unwrap_or_else(|| panic!("expected {tool:?} to fail"));
    let errors: Vec<&Diagnostic> = error.errors().collect();
    assert_eq!(errors.len(), 1, "{error}");
    errors[0].clone()
}

/// The line of `text` in the team file made of `tool`.
fn line_of(tool: &str, text: &str) -> usize {
    team(tool).lines().position(|line| line.contains(text)).unwrap() + 1
}

#[test]
fn a_placeholder_in_the_host_of_an_http_tool_is_an_error_saying_what_to_write() {
    for (url, slot) in [
        ("http://{host}/items", "host"),
        ("https://api.example.com:{port}/items", "port"),
        ("${API_BASE}{path}", "path"),
    ] {
        let tool = format!("kind = \"http\"\ndescription = \"Items.\"\nurl = \"{url}\"");
        let error = only_error(&tool);
        assert_eq!(
            error.message,
            format!("the url of tool 't' lets the argument {{{slot}}} choose the scheme, host or port")
        );
        let help = error.help.unwrap_or_default();
        assert!(help.contains("https://api.example.com/items/{id}"), "{help}");
        assert!(help.contains("arguments fill only the path and the query"), "{help}");
        assert_eq!(error.line, line_of(&tool, "url ="));
    }
}

#[test]
fn allow_hosts_takes_host_names_and_addresses_of_http_tools_only() {
    let tool = "kind = \"http\"\ndescription = \"Items.\"\nurl = \"https://api.example.com/items/{id}\"\n\
                allow_hosts = [\"api.example.com\", \"10.0.0.5\", \"[fd00::1]\"]";
    let loaded = load(tool).unwrap_or_else(|e| panic!("{e}"));
    let ToolKind::Http(http) = &loaded.config.tools["t"].kind else { panic!("{:?}", loaded.config.tools["t"]) };
    assert_eq!(http.allow_hosts, ["api.example.com", "10.0.0.5", "[fd00::1]"]);

    let tool = "kind = \"http\"\ndescription = \"Items.\"\nurl = \"https://api.example.com/items/{id}\"\n\
                allow_hosts = [\"api.example.com\",\n  \"https://10.0.0.5:8080\"]";
    let error = only_error(tool);
    assert_eq!(error.message, "allow_hosts of tool 't' lists 'https://10.0.0.5:8080', which is not a host");
    assert!(error.help.unwrap_or_default().contains("without scheme, port or path"));
    assert_eq!(error.line, line_of(tool, "https://10.0.0.5:8080"));

    let error = only_error("kind = \"command\"\ncommand = [\"sh\", \"x.sh\"]\nallow_hosts = [\"api.example.com\"]");
    assert_eq!(error.message, "'allow_hosts' does not apply to a command tool");
}

#[test]
fn a_command_tools_env_sets_values_or_passes_names() {
    std::env::set_var("BATON_CONFIG_TEST_PASSED", "x");
    let tool = "kind = \"command\"\ncommand = [\"sh\", \"x.sh\"]\n\
                env = [\"BATON_CONFIG_TEST_PASSED\", \"BATON_CONFIG_TEST_NEVER_SET\"]";
    let loaded = load(tool).unwrap_or_else(|e| panic!("{e}"));
    let ToolKind::Command(command) = &loaded.config.tools["t"].kind else { panic!() };
    assert_eq!(command.pass_env, ["BATON_CONFIG_TEST_PASSED", "BATON_CONFIG_TEST_NEVER_SET"]);
    assert!(command.env.is_empty());
    let warnings: Vec<(Severity, &str)> = loaded.warnings.iter().map(|w| (w.severity, w.message.as_str())).collect();
    assert_eq!(warnings, [(Severity::Warning, "env of tool 't' passes BATON_CONFIG_TEST_NEVER_SET, which is not set")]);

    let tool = "kind = \"command\"\ncommand = [\"sh\", \"x.sh\"]\nenv = { REGION = \"eu\" }";
    let loaded = load(tool).unwrap_or_else(|e| panic!("{e}"));
    let ToolKind::Command(command) = &loaded.config.tools["t"].kind else { panic!() };
    assert_eq!((command.env.as_slice(), command.pass_env.len()), (&[("REGION".into(), "eu".into())][..], 0));

    let error = only_error("kind = \"command\"\ncommand = [\"sh\", \"x.sh\"]\nenv = [\"API KEY\"]");
    assert_eq!(error.message, "env of tool 't' lists 'API KEY', which is not an environment variable name");

    let error = only_error("kind = \"mcp\"\ncommand = [\"server\"]\nenv = [\"HOME\"]");
    assert_eq!(error.message, "an MCP server's env sets variables; it takes no list of names");
}
