//! Tests of the team-file loader, on files written to a fresh temporary directory per test.

use super::*;
use baton_core::{AgentKind, ContextPolicy, OnLimit, ReturnTo, Severity};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary directory holding a team file and the files it refers to; removed on drop.
struct TempTeam {
    dir: PathBuf,
}

impl TempTeam {
    fn new(test: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("baton-config-{test}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempTeam { dir }
    }

    /// Writes `contents` to `relative` (creating directories) and returns its path.
    fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the parent dir");
        }
        std::fs::write(&path, contents).expect("write the file");
        path
    }

    /// Writes the team file and loads it.
    fn load(&self, team: &str) -> Result<Loaded, LoadError> {
        load_team(&self.write("team.toml", team))
    }

    /// Writes the team file, loads it and expects it to fail.
    fn fail(&self, team: &str) -> LoadError {
        match self.load(team) {
            Ok(loaded) => panic!("expected the team file to fail, it loaded: {loaded:?}"),
            Err(error) => error,
        }
    }
}

impl Drop for TempTeam {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `(line, column, message)` of each diagnostic, for compact assertions.
fn places(diagnostics: &[Diagnostic]) -> Vec<(usize, usize, &str)> {
    diagnostics.iter().map(|d| (d.line, d.column, d.message.as_str())).collect()
}

/// "the data file 'x' does not exist (looked for <dir>/x)".
fn missing_file(what: &str, temp: &TempTeam, relative: &str) -> String {
    format!("the {what} '{relative}' does not exist (looked for {})", temp.dir.join(relative).display())
}

/// The one diagnostic whose message contains `needle`.
fn find<'a>(diagnostics: &'a [Diagnostic], needle: &str) -> &'a Diagnostic {
    let found: Vec<_> = diagnostics.iter().filter(|d| d.message.contains(needle)).collect();
    assert_eq!(found.len(), 1, "expected one diagnostic containing {needle:?} in {diagnostics:#?}");
    found[0]
}

const SUPPORT: &str = r#"name = "support"
entry = "triage"

[limits]
max_handoffs = 4
max_model_calls = 12
on_limit = "escalate"
fallback = "human"
return_to = "entry"

[models.fast]
provider = "openai"
model = "gpt-4.1-mini"
api_key_env = "OPENAI_API_KEY"

[models.slow]
provider = "openai"
model = "gpt-4.1"
base_url = "http://localhost:8080/v1"
timeout_secs = 120

[models.canned]
provider = "script"
script = "replies.toml"

[agents.triage]
description = "Front desk: answers general questions and routes to a specialist."
instructions = "Be brief."
model = "fast"
tools = ["lookup_customer"]
handoffs = ["technical", { to = "billing", description = "Charge disputes", context = "summary", max_uses = 1 }, "human"]

[agents.technical]
description = "Technical support."
model = "slow"
handoffs = [{ to = "triage", context = "none", require_reason = false }, "human"]

[agents.billing]
model = "canned"
handoffs = ["human"]

[agents.human]
kind = "human"
description = "A human support operator."

[tools.lookup_customer]
kind = "lookup"
description = "Look up a customer by id."
data = "data/customers.json"
key = "customer_id"
"#;

fn support_files(temp: &TempTeam) {
    temp.write("data/customers.json", r#"{"42": {"name": "Ada"}}"#);
    temp.write("replies.toml", "");
}

#[test]
fn a_valid_team_loads_with_its_edges_limits_models_and_tools() {
    let temp = TempTeam::new("valid");
    support_files(&temp);
    let loaded = temp.load(SUPPORT).expect("the support team loads");
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let config = loaded.config;
    assert_eq!(config.path, temp.dir.join("team.toml"));
    let team = &config.team;
    assert_eq!((team.name.as_str(), team.entry.as_str()), ("support", "triage"));
    assert_eq!(team.limits.max_handoffs, 4);
    assert_eq!(team.limits.max_model_calls, 12);
    assert_eq!(team.limits.on_limit, OnLimit::Escalate);
    assert_eq!(team.limits.fallback.as_deref(), Some("human"));
    assert_eq!(team.limits.return_to, ReturnTo::Entry);

    let triage = team.agent("triage").expect("triage");
    assert_eq!(triage.kind, AgentKind::Llm);
    assert_eq!(triage.model.as_deref(), Some("fast"));
    assert_eq!(triage.instructions, "Be brief.");
    assert_eq!(triage.tools, ["lookup_customer"]);
    let targets: Vec<_> = triage.handoffs.iter().map(|edge| edge.to.as_str()).collect();
    assert_eq!(targets, ["technical", "billing", "human"]);
    assert_eq!(triage.handoffs[0], baton_core::HandoffEdge::to("technical"));
    let billing_edge = team.edge("triage", "billing").expect("triage → billing");
    assert_eq!(billing_edge.context, ContextPolicy::Summary);
    assert_eq!(billing_edge.max_uses, Some(1));
    assert_eq!(billing_edge.description.as_deref(), Some("Charge disputes"));
    assert_eq!(team.edge("technical", "triage").map(|edge| edge.context), Some(ContextPolicy::None));
    assert!(billing_edge.require_reason, "a reason is required unless the edge says otherwise");
    assert_eq!(team.edge("technical", "triage").map(|edge| edge.require_reason), Some(false));
    assert_eq!(team.agent("billing").map(|agent| agent.description.as_str()), Some(""));
    let human = team.agent("human").expect("human");
    assert_eq!((human.kind, human.model.as_deref()), (AgentKind::Human, None));

    assert_eq!(team.models.iter().map(String::as_str).collect::<Vec<_>>(), ["canned", "fast", "local", "slow"]);
    let fast = baton_models::Endpoint::new("gpt-4.1-mini", DEFAULT_BASE_URL, Some("OPENAI_API_KEY"));
    assert_eq!(config.models["fast"], ModelConfig::Http { api: Api::OpenAi, endpoint: Box::new(fast), price: None });
    let mut slow = baton_models::Endpoint::new("gpt-4.1", "http://localhost:8080/v1", None);
    slow.timeout = std::time::Duration::from_secs(120);
    assert_eq!(config.models["slow"], ModelConfig::Http { api: Api::OpenAi, endpoint: Box::new(slow), price: None });
    assert_eq!(config.models["canned"], ModelConfig::Script { script: temp.dir.join("replies.toml") });

    assert_eq!(
        config.tools["lookup_customer"],
        ToolConfig {
            kind: ToolKind::Lookup { data: temp.dir.join("data/customers.json"), key: "customer_id".into() },
            settings: baton_tools::guard::ToolSettings::default(),
        }
    );
    let definition = &team.tools["lookup_customer"];
    assert_eq!(
        definition,
        &baton_tools::LookupTool::definition_for("lookup_customer", "Look up a customer by id.", "customer_id", None)
    );
}

#[test]
fn every_error_is_reported_at_once_at_its_line_and_column() {
    let temp = TempTeam::new("several");
    let error = temp.fail(
        r#"name = "support"
entry = "triage"

[limits]
max_handoffs = 3

[models.fast]
provider = "openai"
model = "gpt-4.1-mini"

[agents.triage]
model = "fsat"
handoffs = ["techincal", "triage", { to = "human", max_uses = 2 }]

[agents.technical]
model = "fast"

[agents.human]
kind = "human"
model = "fast"

[tools.lookup_customer]
kind = "lookup"
data = "data/missing.json"
key = "customer_id"
"#,
    );
    let missing = missing_file("data file", &temp, "data/missing.json");
    assert_eq!(
        places(&error.diagnostics),
        [
            (4, 1, "on_limit = \"escalate\" (the default) needs a fallback agent"),
            (12, 9, "model 'fsat' is not defined"),
            (13, 13, "handoff target 'techincal' is not defined"),
            (13, 26, "agent 'triage' hands off to itself"),
            // A warning, since the typo leaves no edge to technical; it is reported with the errors.
            (15, 9, "agent 'technical' cannot be reached from the entry agent 'triage'"),
            (20, 9, "human agent 'human' has a model"),
            (24, 8, missing.as_str()),
        ]
    );
    let warnings: Vec<_> = error.diagnostics.iter().filter(|d| !d.is_error()).collect();
    assert_eq!(warnings.len(), 1, "{error}");
    assert_eq!(error.errors().count(), 6);
    let typo = find(&error.diagnostics, "techincal");
    assert_eq!(typo.help.as_deref(), Some("did you mean 'technical'?"));
    assert_eq!(find(&error.diagnostics, "fsat").help.as_deref(), Some("did you mean 'fast'?"));
    let missing = find(&error.diagnostics, "missing.json");
    assert_eq!(missing.help.as_deref(), Some("create the file or fix the path (relative to the team file)"));
    assert_eq!(missing.file, temp.dir.join("team.toml"));
}

#[test]
fn diagnostics_print_like_a_compiler() {
    let diagnostic = Diagnostic {
        severity: Severity::Error,
        file: PathBuf::from("examples/support/team.toml"),
        line: 23,
        column: 15,
        message: "handoff target 'techincal' is not defined".into(),
        help: Some("did you mean 'technical'?".into()),
    };
    assert_eq!(
        diagnostic.to_string(),
        "error: handoff target 'techincal' is not defined\n  --> examples/support/team.toml:23:15\n  = help: did you mean 'technical'?"
    );
    let warning = Diagnostic { severity: Severity::Warning, help: None, ..diagnostic.clone() };
    assert_eq!(
        warning.to_string(),
        "warning: handoff target 'techincal' is not defined\n  --> examples/support/team.toml:23:15"
    );
    let error = LoadError { diagnostics: vec![diagnostic.clone(), warning.clone()] };
    assert_eq!(error.to_string(), format!("{diagnostic}\n\n{warning}"));
}

#[test]
fn a_toml_syntax_error_is_reported_alone_at_its_line() {
    let temp = TempTeam::new("syntax");
    let error =
        temp.fail("name = \"support\"\nentry = \"triage\"\n\n[agents.triage]\nmodel = fast\nhandoffs = [\"nobody\"]\n");
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    let diagnostic = &error.diagnostics[0];
    assert_eq!((diagnostic.line, diagnostic.column), (5, 9));
    assert_eq!(diagnostic.help.as_deref(), Some("fix the TOML syntax at this position"));
    assert!(diagnostic.is_error());
}

#[test]
fn unknown_keys_are_all_rejected_naming_the_key_and_the_allowed_keys() {
    let temp = TempTeam::new("unknown-key");
    let error = temp.fail(
        r#"name = "support"
entry = "triage"
colour = "blue"

[models.fast]
provider = "openai"
model = "gpt-4.1-mini"
timeout = 30

[agents.triage]
modle = "fast"
handoffs = [{ to = "human", contxt = "summary" }]

[agents.human]
kind = "human"
"#,
    );
    assert_eq!(
        places(&error.diagnostics),
        [
            (3, 1, "unknown key 'colour' at the top level of the team file"),
            (8, 1, "unknown key 'timeout' in model 'fast'"),
            (11, 1, "unknown key 'modle' in agent 'triage'"),
            (12, 29, "unknown key 'contxt' in a handoff of agent 'triage'"),
            // The rest of the file is still checked: with a human agent, the default on_limit
            // needs a fallback, reported at the human agent since there is no [limits] table.
            (14, 9, "on_limit = \"escalate\" (the default) needs a fallback agent"),
        ]
    );
    let modle = find(&error.diagnostics, "'modle'");
    assert_eq!(
        modle.help.as_deref(),
        Some(
            "did you mean 'model'? the allowed keys are 'description', 'instructions', 'kind', 'model', 'tools', \
             'handoffs', 'languages', 'examples' and 'replies'"
        )
    );
    let timeout = find(&error.diagnostics, "'timeout'");
    assert!(timeout.help.as_deref().is_some_and(|help| help.contains("did you mean 'timeout_secs'?")), "{timeout}");
    let colour = find(&error.diagnostics, "'colour'");
    assert_eq!(
        colour.help.as_deref(),
        Some(
            "the allowed keys are 'name', 'entry', 'limits', 'models', 'agents', 'tools', 'router', 'store', \
             'telemetry' and 'trigger'"
        )
    );
}

#[test]
fn a_value_of_the_wrong_shape_stops_loading_with_its_position() {
    let temp = TempTeam::new("shape");
    let error = temp.fail(
        "name = \"support\"\nentry = \"triage\"\n\n[agents.triage]\nmodel = \"fast\"\nhandoffs = [{ to = \"human\", context = \"sumary\" }]\n",
    );
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    let diagnostic = &error.diagnostics[0];
    assert_eq!((diagnostic.line, diagnostic.column), (6, 39));
    assert!(diagnostic.message.contains("sumary") && diagnostic.message.contains("summary"), "{diagnostic}");
}

#[test]
fn an_unreachable_agent_is_a_warning_not_an_error() {
    let temp = TempTeam::new("unreachable");
    let loaded = temp
        .load(
            r#"name = "support"
entry = "triage"

[limits]
on_limit = "fail"

[models.fast]
provider = "openai"
model = "gpt-4.1-mini"

[agents.triage]
model = "fast"

[agents.lonely]
model = "fast"
"#,
        )
        .expect("warnings do not stop loading");
    assert_eq!(places(&loaded.warnings), [(14, 9, "agent 'lonely' cannot be reached from the entry agent 'triage'")]);
    assert_eq!(loaded.warnings[0].severity, Severity::Warning);
    assert_eq!(loaded.config.team.limits.on_limit, OnLimit::Fail);
}

#[test]
fn a_team_without_a_human_agent_or_limits_fails_a_turn_on_a_limit_and_says_so() {
    let temp = TempTeam::new("no-limits");
    let loaded = temp
        .load("name = \"minimal\"\nentry = \"triage\"\n\n[agents.triage]\nhandoffs = [\"billing\"]\n\n[agents.billing]\nhandoffs = [\"triage\"]\n")
        .expect("a minimal team loads");
    assert_eq!(loaded.config.team.limits.on_limit, OnLimit::Fail);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let [defaulted] = loaded.defaulted.as_slice() else { panic!("one setting defaulted: {:?}", loaded.defaulted) };
    assert_eq!((defaulted.setting.as_str(), defaulted.value.as_str()), ("limits.on_limit", "\"fail\""));
    assert_eq!(
        defaulted.to_string(),
        "limits.on_limit = \"fail\" (not written): the team has no human agent to escalate to, so a tripped limit \
         ends the turn with an error; to escalate instead, add a kind = \"human\" agent and name it in [limits] \
         fallback = \"<agent>\""
    );
    // [limits] without on_limit or fallback changes nothing of that.
    let loaded =
        temp.load("name = \"minimal\"\nentry = \"triage\"\n\n[limits]\nmax_handoffs = 2\n\n[agents.triage]\n").unwrap();
    assert_eq!((loaded.config.team.limits.on_limit, loaded.defaulted.len()), (OnLimit::Fail, 1));
    // The minimal example is such a team; the support desk, with its human agent, is not.
    let example = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}/team.toml"));
    let minimal = load_team(&example("minimal")).unwrap_or_else(|error| panic!("the minimal example loads:\n{error}"));
    assert_eq!((minimal.config.team.limits.on_limit, minimal.defaulted.len()), (OnLimit::Fail, 1));
    let support = load_team(&example("support")).unwrap();
    assert_eq!((support.config.team.limits.on_limit, support.defaulted.len()), (OnLimit::Escalate, 0));
}

#[test]
fn a_written_escalation_or_a_human_agent_keeps_the_default_and_needs_a_fallback() {
    let temp = TempTeam::new("escalate-without-fallback");
    // Written: the error is at the on_limit line.
    let error = temp.fail("name = \"t\"\nentry = \"a\"\n\n[limits]\non_limit = \"escalate\"\n\n[agents.a]\n");
    assert_eq!(places(&error.diagnostics), [(5, 12, "on_limit = \"escalate\" (the default) needs a fallback agent")]);
    // A human agent and no [limits]: at the human agent, whom the help names.
    let error = temp.fail(
        "name = \"t\"\nentry = \"a\"\n\n[agents.a]\nhandoffs = [\"person\"]\n\n[agents.person]\nkind = \"human\"\n",
    );
    assert_eq!(places(&error.diagnostics), [(7, 9, "on_limit = \"escalate\" (the default) needs a fallback agent")]);
    assert_eq!(
        error.diagnostics[0].help.as_deref(),
        Some(
            "add fallback = \"person\" under [limits] (the human agent a tripped limit escalates to), or set on_limit = \
             \"fail\""
        )
    );
    // A human agent and a [limits] table without a fallback: at the table.
    let error = temp.fail(
        "name = \"t\"\nentry = \"a\"\n\n[limits]\nmax_handoffs = 2\n\n[agents.a]\nhandoffs = [\"person\"]\n\n[agents.person]\nkind = \"human\"\n",
    );
    assert_eq!(places(&error.diagnostics), [(4, 1, "on_limit = \"escalate\" (the default) needs a fallback agent")]);
}

#[test]
fn limits_with_only_a_fallback_keep_the_defaults() {
    let temp = TempTeam::new("default-limits");
    let loaded = temp
        .load(
            r#"name = "support"
entry = "triage"

[limits]
fallback = "human"

[models.fast]
provider = "openai"
model = "m"

[agents.triage]
model = "fast"
handoffs = ["human"]

[agents.human]
kind = "human"
"#,
        )
        .expect("the team loads");
    let limits = &loaded.config.team.limits;
    assert_eq!((limits.max_handoffs, limits.max_model_calls), (5, 16));
    assert_eq!(limits.max_message_bytes, 65_536);
    assert_eq!((limits.on_limit, limits.return_to), (OnLimit::Escalate, ReturnTo::Active));
    assert_eq!(limits.fallback.as_deref(), Some("human"));
}

#[test]
fn shell_side_settings_are_checked_per_provider_and_kind() {
    let temp = TempTeam::new("shell");
    temp.write("data/list.json", "[1, 2]");
    let missing = missing_file("script file", &temp, "missing.toml");
    let error = temp.fail(
        r#"name = "support"
entry = "triage"

[limits]
on_limit = "fail"

[models.a]
provider = "opnai"

[models.b]
provider = "openai"

[models.c]
provider = "script"
timeout_secs = 5

[models.d]
provider = "script"
script = "missing.toml"

[agents.triage]
model = "a"
tools = ["list", "other"]

[tools.list]
kind = "lookup"
data = "data/list.json"
key = "id"

[tools.other]
kind = "lookop"
"#,
    );
    assert_eq!(
        places(&error.diagnostics),
        [
            (8, 12, "unknown model provider 'opnai'"),
            (10, 9, "model 'b' (provider \"openai\") has no model id"),
            (13, 9, "model 'c' (provider \"script\") has no script file"),
            (15, 16, "'timeout_secs' does not apply to provider \"script\""),
            (19, 10, missing.as_str()),
            (27, 8, "the data file 'data/list.json' is not a JSON object"),
            (31, 8, "unknown tool kind 'lookop'"),
        ]
    );
    assert_eq!(find(&error.diagnostics, "opnai").help.as_deref(), Some("did you mean 'openai'?"));
    assert_eq!(find(&error.diagnostics, "lookop").help.as_deref(), Some("did you mean 'lookup'?"));
}

#[test]
fn a_missing_team_file_is_an_error_naming_it() {
    let temp = TempTeam::new("missing-file");
    let path = temp.dir.join("nope.toml");
    let error = load_team(&path).expect_err("there is no file");
    assert_eq!(error.diagnostics.len(), 1);
    assert_eq!(error.diagnostics[0].file, path);
    assert!(error.diagnostics[0].message.starts_with("cannot read the team file"), "{error}");
}

#[test]
fn parse_team_resolves_files_relative_to_the_given_path() {
    let temp = TempTeam::new("parse");
    support_files(&temp);
    let path = temp.dir.join("team.toml");
    let loaded = parse_team(SUPPORT, &path).expect("the support team parses without the file on disk");
    assert_eq!(loaded.config.path, path);
    let error = parse_team(SUPPORT, Path::new("elsewhere/team.toml")).expect_err("the data files are not there");
    assert_eq!(error.errors().count(), 2, "{error}");
}

#[test]
fn the_examples_load_without_warnings_on_the_local_model() {
    for example in ["support", "ba-triage"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{example}/team.toml"));
        let loaded = load_team(&path).unwrap_or_else(|error| panic!("the example {example} loads:\n{error}"));
        assert!(loaded.warnings.is_empty(), "{example}: {:#?}", loaded.warnings);
        let team = &loaded.config.team;
        assert_eq!(team.entry, "triage");
        let models: Vec<_> = team.agents.values().filter_map(|agent| agent.model.as_deref()).collect();
        assert!(models.iter().all(|model| *model == "local"), "{example}: {models:?}");
        assert_eq!(loaded.config.models.get("local"), Some(&ModelConfig::Local));
    }
}

const SIGNALS: &str = r#"name = "desk"
entry = "triage"

[limits]
fallback = "human"

[router]
model = "local"

[[trigger]]
when = "asks_for_human"
to = "human"

[[trigger]]
when = "language"

[[trigger]]
when = "unresolved_turns"
turns = 3
to = "human"

[agents.triage]
description = "Front desk."
examples = ["hello", "when are you open"]
handoffs = ["spanish", "human"]

[agents.triage.replies]
greeting = "Hello from {{ agent }}!"

[agents.spanish]
languages = ["es"]
handoffs = ["triage", "human"]

[agents.human]
kind = "human"
"#;

#[test]
fn router_triggers_languages_examples_and_replies_load() {
    let temp = TempTeam::new("signals");
    let loaded = temp.load(SIGNALS).unwrap_or_else(|error| panic!("{error}"));
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    let team = &loaded.config.team;
    assert_eq!(team.router, Some(baton_core::Router { model: "local".into() }));
    assert_eq!(
        team.triggers,
        [
            baton_core::Trigger::AsksForHuman { to: "human".into() },
            baton_core::Trigger::Language,
            baton_core::Trigger::UnresolvedTurns { turns: 3, to: "human".into() },
        ]
    );
    let triage = &team.agents["triage"];
    assert_eq!(triage.model.as_deref(), Some("local"), "an agent that names no model uses the local model");
    assert_eq!(triage.languages, ["en"]);
    assert_eq!(triage.examples, ["hello", "when are you open"]);
    assert_eq!(triage.replies["greeting"], "Hello from {{ agent }}!");
    assert_eq!(team.agents["spanish"].languages, ["es"]);
    assert_eq!(team.agents["human"].model, None);
}

#[test]
fn broken_router_triggers_and_replies_are_reported_where_they_are() {
    let temp = TempTeam::new("signals-broken");
    let broken = SIGNALS
        .replace("model = \"local\"", "model = \"lokal\"")
        .replace("when = \"language\"", "when = \"langauge\"")
        .replace("turns = 3\n", "")
        .replace("greeting = ", "greting = ")
        .replace("languages = [\"es\"]", "languages = [\"spanish\"]");
    let error = temp.fail(&broken);
    let found: Vec<(usize, &str)> = error.errors().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(
        found,
        [
            (8, "router model 'lokal' is not defined"),
            (15, "unknown trigger 'langauge'"),
            (18, "trigger 'unresolved_turns' needs 'turns'"),
            (27, "unknown reply occasion 'greting'"),
            (30, "'spanish' is not an ISO 639-1 language code"),
        ],
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("did you mean 'local'?") && text.contains("did you mean 'language'?"), "{text}");
    assert!(text.contains("did you mean 'greeting'?"), "{text}");
}

#[test]
fn a_template_that_does_not_parse_and_a_bad_pattern_are_errors() {
    let temp = TempTeam::new("templates");
    temp.write("data/lines.json", r#"{"42": {"status": "up"}}"#);
    let team = r#"name = "t"
entry = "a"
[limits]
on_limit = "fail"
[agents.a]
tools = ["lines"]
[agents.a.replies]
lines = "Status {{ result.status "
[tools.lines]
kind = "lookup"
description = "Line status."
data = "data/lines.json"
key = "customer_id"
pattern = "^[0-9+$"
"#;
    let error = temp.fail(team);
    let found: Vec<(usize, String)> = error.errors().map(|d| (d.line, d.message.clone())).collect();
    assert_eq!(found.len(), 2, "{error}");
    assert_eq!(found[0].0, 8);
    assert!(found[0].1.starts_with("reply template 'lines' does not parse"), "{error}");
    assert_eq!(found[1].0, 14);
    assert!(found[1].1.starts_with("pattern '^[0-9+$' is not a valid regular expression"), "{error}");
}

#[test]
fn the_name_local_is_reserved_for_the_built_in_model() {
    let temp = TempTeam::new("local-reserved");
    let team = "name = \"t\"\nentry = \"a\"\n[limits]\non_limit = \"fail\"\n[models.local]\nprovider = \"script\"\nscript = \"x.toml\"\n[agents.a]\n";
    let error = temp.fail(team);
    assert!(error.to_string().contains("the model name 'local' is reserved"), "{error}");
}

#[test]
fn a_trigger_after_a_broken_one_is_reported_at_its_own_line() {
    let temp = TempTeam::new("trigger-rows");
    let team = r#"name = "t"
entry = "a"
[limits]
on_limit = "fail"

[[trigger]]
when = "asks_for_human"

[[trigger]]
when = "unresolved_turns"
turns = 2
to = "nobody"

[agents.a]
"#;
    let error = temp.fail(team);
    let found: Vec<(usize, &str)> = error.errors().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(
        found,
        [(7, "trigger 'asks_for_human' needs 'to'"), (10, "trigger target 'nobody' is not defined")],
        "{error}"
    );
}

#[test]
fn store_sync_is_full_unless_the_team_file_trades_it_for_speed() {
    let temp = TempTeam::new("store-sync");
    let base = "name = \"t\"\nentry = \"a\"\n[limits]\non_limit = \"fail\"\n[agents.a]\n";
    assert_eq!(temp.load(base).unwrap().config.durability, baton_store::Durability::Full);
    let normal = format!("{base}[store]\nsync = \"normal\"\n");
    assert_eq!(temp.load(&normal).unwrap().config.durability, baton_store::Durability::Normal);
    let error = temp.fail(&format!("{base}[store]\nsync = \"off\"\n"));
    let found: Vec<(usize, &str)> = error.errors().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(found, [(7, "unknown sync mode 'off'")], "{error}");
}

/// A team whose one agent uses the model table `model`.
fn team_with_model(model: &str) -> String {
    format!(
        "name = \"t\"\nentry = \"a\"\n[limits]\non_limit = \"fail\"\n[models.m]\n{model}\n[agents.a]\nmodel = \"m\"\n"
    )
}

#[test]
fn provider_options_load_into_the_endpoint() {
    let temp = TempTeam::new("provider-options");
    let loaded = temp
        .load(&team_with_model(
            r#"provider = "anthropic"
model = "claude-sonnet-4-5"
stream = true
temperature = 0.2
top_p = 0.9
max_tokens = 1024
parallel_tool_calls = false
timeout_secs = 30
connect_timeout_secs = 3
retries = 5
headers = { "anthropic-beta" = "tools-2024", "X-Org" = "${ORG}" }
extra_body = { metadata = { user_id = "u1" }, stream = false }
price = { input_per_mtok = 3.0, output_per_mtok = 15.0 }"#,
        ))
        .unwrap();
    let ModelConfig::Http { api, endpoint, price } = &loaded.config.models["m"] else { panic!("not an HTTP model") };
    assert_eq!(*api, Api::Anthropic);
    assert_eq!(endpoint.base_url, baton_models::anthropic::DEFAULT_BASE_URL);
    assert_eq!(endpoint.api_key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
    assert!(endpoint.stream);
    assert_eq!(endpoint.sampling.temperature, Some(0.2));
    assert_eq!(endpoint.sampling.top_p, Some(0.9));
    assert_eq!(endpoint.sampling.max_tokens, Some(1024));
    assert_eq!(endpoint.sampling.parallel_tool_calls, Some(false));
    assert_eq!(endpoint.timeout, std::time::Duration::from_secs(30));
    assert_eq!(endpoint.connect_timeout, std::time::Duration::from_secs(3));
    assert_eq!(endpoint.retries, 5);
    assert_eq!(
        endpoint.headers,
        vec![("X-Org".to_string(), "${ORG}".to_string()), ("anthropic-beta".to_string(), "tools-2024".to_string())]
    );
    assert_eq!(
        serde_json::Value::Object(endpoint.extra_body.clone()),
        serde_json::json!({"metadata": {"user_id": "u1"}, "stream": false})
    );
    let price = price.unwrap();
    let cost = price.cost(baton_core::Usage { input_tokens: 1_000_000, output_tokens: 100_000 });
    assert!((cost - 4.5).abs() < 1e-9, "{cost}");

    // A custom address gets no key unless the file names its variable.
    let loaded = temp
        .load(&team_with_model("provider = \"openai\"\nmodel = \"llama3.1\"\nbase_url = \"http://localhost:11434/v1\""))
        .unwrap();
    let ModelConfig::Http { endpoint, .. } = &loaded.config.models["m"] else { panic!("not an HTTP model") };
    assert_eq!(endpoint.api_key_env, None);
}

#[test]
fn provider_options_out_of_range_are_reported_where_they_are() {
    let temp = TempTeam::new("provider-option-errors");
    let error = temp.fail(&team_with_model(
        r#"provider = "anthropic"
model = "claude"
temperature = 1.5
seed = 7
max_tokens = 0
price = { input_per_mtok = 1.0, ouput_per_mtok = 2.0 }"#,
    ));
    assert_eq!(
        places(&error.diagnostics),
        [
            (8, 15, "temperature = 1.5 is out of range"),
            (9, 8, "Anthropic's Messages API has no seed"),
            (10, 14, "max_tokens = 0 leaves no room for a reply"),
            (11, 9, "the price needs input_per_mtok and output_per_mtok"),
            (11, 33, "unknown key 'ouput_per_mtok' in the price of model 'm'"),
        ]
    );
    let error =
        temp.fail(&team_with_model("provider = \"script\"\nscript = \"r.toml\"\nstream = true\ntemperature = 0.5"));
    assert!(find(&error.diagnostics, "'stream' does not apply to provider \"script\"").is_error());
    assert!(find(&error.diagnostics, "'temperature' does not apply to provider \"script\"").is_error());
}

#[test]
fn bad_header_names_and_too_many_retries_are_caught_when_loading() {
    let temp = TempTeam::new("provider-headers");
    let error = temp.fail(&team_with_model(
        "provider = \"openai\"\nmodel = \"gpt\"\nretries = 11\nheaders = { \"bad header\" = \"x\" }",
    ));
    assert_eq!(
        places(&error.diagnostics),
        [(8, 11, "retries = 11 is more than baton allows"), (9, 11, "'bad header' is not a valid HTTP header name")]
    );
}

const TOOL_KINDS: &str = r#"name = "tools"
entry = "desk"

[limits]
on_limit = "fail"

[agents.desk]
tools = ["refund", "invoice", "files", "scorer"]

[tools.refund]
kind = "command"
description = "Refund an invoice."
command = ["python3", "refund.py", "--live"]
args = { properties = { invoice = { type = "string" }, amount = { type = "number" } }, required = ["invoice"] }
approval = { when = ["amount > 100", "invoice == 'INV-1'"] }
timeout = 5
max_result_bytes = 1000
idempotent = false
env = { REFUNDS_API = "https://refunds.example" }

[tools.invoice]
kind = "http"
description = "Fetch an invoice."
url = "https://billing.example/invoices/{number}"
headers = { Authorization = "Bearer ${BILLING_TOKEN}" }

[tools.files]
kind = "mcp"
command = ["npx", "-y", "@modelcontextprotocol/server-everything"]
exclude = ["get-tiny-image"]
approval = "required"

[tools.scorer]
kind = "rust"
description = "Scores a lead."
"#;

#[test]
fn every_tool_kind_loads_with_its_settings_and_definition() {
    let temp = TempTeam::new("kinds");
    let loaded = temp.load(TOOL_KINDS).unwrap_or_else(|e| panic!("{e}"));
    let config = loaded.config;
    let refund = &config.tools["refund"];
    assert_eq!(refund.settings.timeout, std::time::Duration::from_secs(5));
    assert_eq!(refund.settings.max_result_bytes, 1000);
    let ToolKind::Command(command) = &refund.kind else { panic!("{refund:?}") };
    assert_eq!(
        (command.program.as_path(), command.args.as_slice()),
        (Path::new("python3"), &["refund.py".to_string(), "--live".to_string()][..])
    );
    assert_eq!(command.cwd.as_deref(), Some(temp.dir.as_path()), "programs run in the team file's directory");
    assert_eq!(command.env, [("REFUNDS_API".to_string(), "https://refunds.example".to_string())]);
    let definition = &config.team.tools["refund"];
    assert!(!definition.idempotent);
    assert_eq!(definition.parameters["required"], serde_json::json!(["invoice"]));
    assert_eq!(definition.parameters["type"], "object");
    assert!(definition.approval.needed(&serde_json::json!({"invoice": "INV-1", "amount": 5})));
    assert!(!definition.approval.needed(&serde_json::json!({"invoice": "INV-2", "amount": 5})));

    let ToolKind::Http(http) = &config.tools["invoice"].kind else { panic!() };
    assert_eq!((http.method.as_str(), http.headers.len()), ("GET", 1));
    let parameters = &config.team.tools["invoice"].parameters;
    assert_eq!(parameters["required"], serde_json::json!(["number"]), "each placeholder is a required argument");
    assert_eq!(config.tools["invoice"].settings, baton_tools::guard::ToolSettings::default());

    let ToolKind::Mcp(mcp) = &config.tools["files"].kind else { panic!() };
    assert_eq!((mcp.name.as_str(), mcp.exclude.as_slice()), ("files", &["get-tiny-image".to_string()][..]));
    assert_eq!(config.team.tools["files"].approval, baton_core::Approval::Required);
    assert_eq!(config.tools["scorer"].kind, ToolKind::Rust);
}

#[test]
fn tool_settings_that_do_not_fit_are_reported_where_they_are_written() {
    let temp = TempTeam::new("bad-kinds");
    let team = TOOL_KINDS
        .replace("timeout = 5", "timeout = 0")
        .replace("max_result_bytes = 1000", "max_result_bytes = 10")
        .replace("\"amount > 100\"", "\"amount >> lots\"")
        .replace("/invoices/{number}\"", "/invoices/{number}\"\nargs = { properties = { id = { type = \"string\" } } }")
        .replace("exclude = [\"get-tiny-image\"]", "exclude = [\"get-tiny-image\"]\nurl = \"http://localhost:1/mcp\"")
        .replace("kind = \"rust\"", "kind = \"rust\"\ndata = \"x.json\"");
    let error = temp.fail(&team);
    let diagnostics = &error.diagnostics;
    assert!(find(diagnostics, "timeout = 0 is out of range").help.as_deref().unwrap_or_default().contains("86400"));
    find(diagnostics, "max_result_bytes = 10 is out of range");
    find(diagnostics, "in 'amount >> lots' is not a value");
    find(diagnostics, "the url uses {number}, which args does not declare");
    find(diagnostics, "an MCP entry has both command and url");
    find(diagnostics, "'data' does not apply to a rust tool");
    let line = find(diagnostics, "timeout = 0").line;
    assert_eq!(line, team.lines().position(|l| l.starts_with("timeout = 0")).unwrap() + 1);
}

/// Every setting that takes `${VAR}`, each using a variable that is not set (and `HOME`, which is).
const VARIABLES: &str = r#"name = "t"
entry = "desk"

[models.m]
provider = "openai"
model = "gpt-4.1-mini"
base_url = "https://${BATON_CONFIG_TEST_UNSET_HOST}/v1"
headers = { "X-Org" = "${BATON_CONFIG_TEST_UNSET_ORG}", "X-Home" = "${HOME}" }

[agents.desk]
model = "m"
tools = ["invoice", "refund", "files", "remote"]

[tools.invoice]
kind = "http"
description = "Fetch an invoice."
url = "${BATON_CONFIG_TEST_UNSET_BASE}/invoices/{number}"
headers = { Authorization = "Bearer ${BATON_CONFIG_TEST_UNSET_TOKEN}" }

[tools.refund]
kind = "command"
description = "Refund an invoice."
command = ["python3", "refund.py"]
env = { REFUNDS_KEY = "${BATON_CONFIG_TEST_UNSET_KEY}", PRICE = "$5 and $${literal}" }

[tools.files]
kind = "mcp"
command = ["files-server"]
env = { FILES_TOKEN = "${BATON_CONFIG_TEST_UNSET_FILES}" }

[tools.remote]
kind = "mcp"
url = "https://mcp.example/${BATON_CONFIG_TEST_UNSET_PATH}"
headers = { Authorization = "Bearer ${BATON_CONFIG_TEST_UNSET_MCP}" }
"#;

#[test]
fn a_variable_that_is_not_set_is_a_warning_at_each_setting_that_uses_it() {
    let temp = TempTeam::new("variables");
    let loaded = temp.load(VARIABLES).unwrap_or_else(|error| panic!("unset variables do not stop loading:\n{error}"));
    let unset = |setting: &str, variable: &str| {
        format!("{setting} uses ${{{variable}}}, which is not set: set the environment variable {variable}")
    };
    let expected = [
        (7, 12, unset("the base_url of model 'm'", "BATON_CONFIG_TEST_UNSET_HOST")),
        (8, 23, unset("the header 'X-Org' of model 'm'", "BATON_CONFIG_TEST_UNSET_ORG")),
        (17, 7, unset("the url of tool 'invoice'", "BATON_CONFIG_TEST_UNSET_BASE")),
        (18, 29, unset("the header 'Authorization' of tool 'invoice'", "BATON_CONFIG_TEST_UNSET_TOKEN")),
        (24, 23, unset("the environment variable REFUNDS_KEY of tool 'refund'", "BATON_CONFIG_TEST_UNSET_KEY")),
        (29, 23, unset("the environment variable FILES_TOKEN of tool 'files'", "BATON_CONFIG_TEST_UNSET_FILES")),
        (33, 7, unset("the url of tool 'remote'", "BATON_CONFIG_TEST_UNSET_PATH")),
        (34, 29, unset("the header 'Authorization' of tool 'remote'", "BATON_CONFIG_TEST_UNSET_MCP")),
    ];
    let found: Vec<(usize, usize, String)> =
        loaded.warnings.iter().map(|d| (d.line, d.column, d.message.clone())).collect();
    assert_eq!(found, expected);
    assert!(loaded.warnings.iter().all(|d| d.severity == Severity::Warning));
    assert_eq!(
        loaded.warnings[0].help.as_deref(),
        Some(
            "baton reads BATON_CONFIG_TEST_UNSET_HOST when the team runs: set it in that environment, or fix the name"
        )
    );
    // The values are kept as written: they are expanded when used.
    let ToolKind::Command(refund) = &loaded.config.tools["refund"].kind else { panic!() };
    assert_eq!(
        refund.env,
        [
            ("PRICE".to_string(), "$5 and $${literal}".to_string()),
            ("REFUNDS_KEY".to_string(), "${BATON_CONFIG_TEST_UNSET_KEY}".to_string())
        ]
    );
    assert_eq!(loaded.config.team.tools["invoice"].parameters["required"], serde_json::json!(["number"]));
}

#[test]
fn a_malformed_variable_is_an_error_at_each_setting_that_uses_it() {
    let temp = TempTeam::new("bad-variables");
    let team = VARIABLES
        .replace("${BATON_CONFIG_TEST_UNSET_HOST}", "${HOST")
        .replace("${BATON_CONFIG_TEST_UNSET_ORG}", "${}")
        .replace("${BATON_CONFIG_TEST_UNSET_BASE}", "${ BASE }")
        .replace("${BATON_CONFIG_TEST_UNSET_TOKEN}", "${TOKEN")
        .replace("${BATON_CONFIG_TEST_UNSET_KEY}", "${1KEY}")
        .replace("${BATON_CONFIG_TEST_UNSET_FILES}", "${FILES")
        .replace("${BATON_CONFIG_TEST_UNSET_PATH}", "${PATH")
        .replace("${BATON_CONFIG_TEST_UNSET_MCP}", "${}");
    let error = temp.fail(&team);
    let errors: Vec<(usize, usize, &str)> = error.errors().map(|d| (d.line, d.column, d.message.as_str())).collect();
    assert_eq!(
        errors,
        [
            (7, 12, "the base_url of model 'm' has a '${' at byte 8 without its closing '}': write ${NAME} for a variable, or $${ for a literal '${'"),
            (8, 23, "the header 'X-Org' of model 'm' has '${}' at byte 0, which names no variable: write ${NAME}"),
            (17, 7, "the url of tool 'invoice' has '${ BASE }' at byte 0, and ' BASE ' is not a variable name: use letters, digits and '_', not starting with a digit"),
            (18, 29, "the header 'Authorization' of tool 'invoice' has a '${' at byte 7 without its closing '}': write ${NAME} for a variable, or $${ for a literal '${'"),
            (24, 23, "the environment variable REFUNDS_KEY of tool 'refund' has '${1KEY}' at byte 0, and '1KEY' is not a variable name: use letters, digits and '_', not starting with a digit"),
            (29, 23, "the environment variable FILES_TOKEN of tool 'files' has a '${' at byte 0 without its closing '}': write ${NAME} for a variable, or $${ for a literal '${'"),
            (33, 7, "the url of tool 'remote' has a '${' at byte 20 without its closing '}': write ${NAME} for a variable, or $${ for a literal '${'"),
            (34, 29, "the header 'Authorization' of tool 'remote' has '${}' at byte 7, which names no variable: write ${NAME}"),
        ]
    );
    assert_eq!(
        error.errors().next().unwrap().help.as_deref(),
        Some("write ${NAME} for an environment variable (letters, digits and '_'), or $${ for a literal '${'")
    );
}

/// A small team whose `name` line is `name_line` and whose triage agent's description is
/// `description`.
fn sized_team(name_line: &str, description: &str) -> String {
    format!(
        "{name_line}\nentry = \"triage\"\n\n[limits]\nmax_message_bytes = 1000\non_limit = \"fail\"\n\n\
         [agents.triage]\ndescription = \"{description}\"\n"
    )
}

#[test]
fn max_message_bytes_loads_and_zero_is_an_error_at_its_line() {
    let temp = TempTeam::new("message-limit");
    let loaded = temp.load(&sized_team("name = \"support\"", "Front desk.")).expect("the team loads");
    assert_eq!(loaded.config.team.limits.max_message_bytes, 1000);
    let error = temp.fail(&sized_team("name = \"support\"", "Front desk.").replace("= 1000", "= 0"));
    let zero = find(&error.diagnostics, "max_message_bytes = 0");
    assert_eq!((zero.line, zero.column), (5, 21));
}

#[test]
fn a_twenty_megabyte_team_name_is_refused_naming_the_file_and_line() {
    let temp = TempTeam::new("huge-name");
    let name = "n".repeat(20 * 1024 * 1024);
    let path = temp.write("team.toml", &sized_team(&format!("name = \"{name}\""), "Front desk."));
    let error = load_team(&path).expect_err("a 20 MB file is refused");
    assert_eq!(error.diagnostics.len(), 1, "{error:?}");
    let refused = &error.diagnostics[0];
    assert_eq!((refused.file.as_path(), refused.line), (path.as_path(), 1));
    assert!(refused.message.contains("larger than 1 MiB"), "{}", refused.message);
    assert!(refused.help.as_deref().unwrap_or_default().contains("shorten"), "{refused:?}");
    let printed = error.to_string();
    assert!(printed.len() < 1_000, "the name is not echoed: {} bytes", printed.len());
    assert!(printed.contains(&format!("{}:1:", path.display())), "{printed}");
}

#[test]
fn a_long_team_name_agent_name_or_string_is_refused_where_it_is() {
    let temp = TempTeam::new("long-values");
    let long_name = "n".repeat(129);
    let long_description = "d".repeat(64 * 1024 + 1);
    let mut team = sized_team(&format!("name = \"{long_name}\""), &long_description);
    team.push_str(&format!("\n[agents.{}]\ndescription = \"x\"\n", "a".repeat(200)));
    let error = temp.fail(&team);
    let name = find(&error.diagnostics, "the team name");
    assert_eq!((name.line, name.column), (1, 8));
    assert!(name.message.contains("is 129 characters long"), "{}", name.message);
    assert!(name.message.len() < 120, "the name is quoted by its start: {}", name.message);
    assert!(name.help.as_deref().unwrap_or_default().contains("at most 128 characters"));
    let description = find(&error.diagnostics, "this string is 65537 bytes");
    assert_eq!((description.line, description.column), (9, 15));
    assert!(description.help.as_deref().unwrap_or_default().contains("lookup data file"));
    let agent = find(&error.diagnostics, "200 characters long");
    assert_eq!(agent.line, 11);
    assert!(!agent.message.contains(&"a".repeat(41)), "{}", agent.message);
    assert_eq!(error.diagnostics.len(), 3, "loading stops at the sizes: {error:#?}");

    let within = sized_team(&format!("name = \"{}\"", "é".repeat(128)), &"d".repeat(64 * 1024));
    temp.load(&within).expect("a name of 128 characters and a string of 64 KiB load");
}

#[test]
fn turn_seconds_is_300_by_default_loads_and_is_an_error_at_its_line_outside_1_to_a_day() {
    let temp = TempTeam::new("turn-seconds");
    let team = sized_team("name = \"support\"", "Front desk.");
    let loaded = temp.load(&team).expect("the team loads");
    assert_eq!(loaded.config.team.limits.turn_seconds, 300);
    let with = |value: &str| team.replace("max_message_bytes = 1000", &format!("turn_seconds = {value}"));
    let loaded = temp.load(&with("30")).expect("the team loads");
    assert_eq!(loaded.config.team.limits.turn_seconds, 30);
    for value in ["0", "-5", "86401"] {
        let error = temp.fail(&with(value));
        let wrong = find(&error.diagnostics, &format!("turn_seconds must be from 1 to 86400, not {value}"));
        assert_eq!((wrong.line, wrong.column), (5, 16), "{value}");
        assert!(wrong.help.as_deref().unwrap_or_default().contains("300 by default"), "{wrong:?}");
    }
}

#[test]
fn a_telemetry_section_loads_and_a_wrong_one_is_an_error_at_its_line() {
    let temp = TempTeam::new("telemetry");
    let team = sized_team("name = \"support\"", "Front desk.");
    assert_eq!(temp.load(&team).expect("the team loads").config.telemetry, None);
    let section = "\n[telemetry]\nendpoint = \"http://127.0.0.1:4317\"\nprotocol = \"grpc\"\nservice_name = \"desk\"\n";
    let loaded = temp.load(&format!("{team}{section}")).expect("the team loads");
    let expected = TelemetryConfig {
        endpoint: "http://127.0.0.1:4317".into(),
        protocol: OtlpProtocol::Grpc,
        service_name: Some("desk".into()),
    };
    assert_eq!(loaded.config.telemetry, Some(expected));

    let error = temp.fail(&format!("{team}{}", section.replace("\"grpc\"", "\"udp\"")));
    let protocol = find(&error.diagnostics, "unknown telemetry protocol 'udp'");
    assert_eq!(protocol.line, 13);
    assert!(protocol.help.as_deref().unwrap_or_default().contains("http/protobuf"), "{protocol:?}");
    let error = temp.fail(&format!("{team}{}", section.replace("http://127.0.0.1:4317", "127.0.0.1:4317")));
    assert_eq!(find(&error.diagnostics, "is not an http:// or https:// address").line, 12);
    let error = temp.fail(&format!("{team}{}", section.replace("\"desk\"", "\" \"")));
    assert_eq!(find(&error.diagnostics, "the telemetry service_name is empty").line, 14);
    let error = temp.fail(&format!("{team}\n[telemetry]\nendpont = \"http://x\"\n"));
    assert!(error.to_string().contains("endpont"), "{error}");
}
