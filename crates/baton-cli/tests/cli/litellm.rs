//! baton against a model server written by others: the LiteLLM proxy (PyPI `litellm[proxy]`,
//! installed by `cargo xtask test`; the external tier), started on loopback with mock responses,
//! spoken to in both wire formats. LiteLLM writes its own Chat Completions chunks and translates
//! to and from the Messages API itself, so these tests check baton's clients against an
//! independent implementation of both. The binary is `BATON_TEST_LITELLM`; the test fails, never
//! skips, without it.

use crate::support::{baton, run_json, support_team_with, temp_dir, DEFAULT_LIMITS};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The proxy's master key; baton reads it from `BATON_LITELLM_KEY`.
const KEY: &str = "sk-baton-litellm-test";

/// LiteLLM's models: mock answers only, and an unreachable `api_base` so that nothing that
/// slips past a mock can leave the machine.
const CONFIG: &str = r#"
model_list:
  - model_name: lite-text
    litellm_params: {model: openai/lite-text, api_key: sk-fake, api_base: "http://127.0.0.1:9/v1",
                     mock_response: "Hello from the mock model."}
  - model_name: lite-handoff
    litellm_params:
      model: openai/lite-handoff
      api_key: sk-fake
      api_base: "http://127.0.0.1:9/v1"
      mock_response:
        id: chatcmpl-lite
        object: chat.completion
        created: 1700000000
        model: lite-handoff
        choices:
          - index: 0
            finish_reason: tool_calls
            message:
              role: assistant
              content: null
              tool_calls:
                - id: call_lite1
                  type: function
                  function: {name: transfer_to_technical, arguments: '{"reason": "network problem"}'}
        usage: {prompt_tokens: 11, completion_tokens: 7, total_tokens: 18}
  - model_name: lite-429
    litellm_params: {model: openai/lite-429, api_key: sk-fake, api_base: "http://127.0.0.1:9/v1",
                     mock_response: "litellm.RateLimitError"}
  - model_name: lite-400
    litellm_params: {model: openai/lite-400, api_key: sk-fake, api_base: "http://127.0.0.1:9/v1",
                     mock_response: "litellm.ContextWindowExceededError"}
router_settings: {num_retries: 0, disable_cooldowns: true}
litellm_settings:
  num_retries: 0
  request_timeout: 30
  use_chat_completions_url_for_anthropic_messages: true
general_settings:
  master_key: sk-baton-litellm-test
  disable_model_info_refresh: true
"#;

/// The running proxy, stopped on drop.
struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(dir: &Path) -> Proxy {
        let binary = std::env::var("BATON_TEST_LITELLM")
            .unwrap_or_else(|_| panic!("BATON_TEST_LITELLM is not set: run this test with `cargo xtask test`"));
        std::fs::write(dir.join("litellm.yaml"), CONFIG).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.join("litellm.log")).unwrap();
        let child = Command::new(&binary)
            .args(["--config", "litellm.yaml", "--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir)
            // Offline: the bundled cost map and no telemetry, so start-up fetches nothing.
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_TELEMETRY", "False")
            .env("LITELLM_LOG", "ERROR")
            .env("NO_DOCS", "True")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs the LiteLLM proxy ({binary}: {e}); run it with `cargo xtask test`, \
                     which installs it"
                )
            });
        let mut proxy = Proxy { child, port };
        let started = Instant::now();
        while !proxy.alive() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("litellm.log")).unwrap_or_default();
                panic!("the LiteLLM proxy exited ({status}) before it was ready:\n{log}");
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the LiteLLM proxy did not start within 120 s");
            std::thread::sleep(Duration::from_millis(250));
        }
        proxy
    }

    /// Whether `GET /health/liveliness` answers 200.
    fn alive(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let request =
            format!("GET /health/liveliness HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", self.port);
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }

    /// The baton model tables for the proxy's models, in both wire formats.
    fn models(&self) -> String {
        let mut tables = String::new();
        for (name, provider, model, base) in [
            ("text", "openai", "lite-text", "/v1"),
            ("handoff", "openai", "lite-handoff", "/v1"),
            ("limited", "openai", "lite-429", "/v1"),
            ("too_long", "openai", "lite-400", "/v1"),
            ("claude_text", "anthropic", "lite-text", ""),
            ("claude_handoff", "anthropic", "lite-handoff", ""),
        ] {
            tables.push_str(&format!(
                "[models.{name}]\nprovider = \"{provider}\"\nmodel = \"{model}\"\nbase_url = \"http://127.0.0.1:{}{base}\"\n\
                 api_key_env = \"BATON_LITELLM_KEY\"\nretries = 1\ntimeout_secs = 30\n\n",
                self.port
            ));
        }
        tables
    }
}

#[test]
fn baton_speaks_both_formats_with_the_litellm_proxy() {
    let dir = temp_dir("litellm");
    let proxy = Proxy::start(&dir);
    let env = [("BATON_LITELLM_KEY", KEY)];
    let team = |triage: &str, technical: &str| {
        support_team_with(&dir, &proxy.models(), [triage, technical, "text"], DEFAULT_LIMITS)
    };
    let message = "My internet is down (customer 42)";

    // Chat Completions: a tool call (the handoff), then text, unstreamed.
    let (code, out) = run_json(&team("handoff", "text"), &dir.join("a.db"), message, &[], &env);
    assert_eq!(code, 0, "{out}");
    assert_eq!((out["agent"].as_str(), out["reply"].as_str()), (Some("technical"), Some("Hello from the mock model.")));
    assert_eq!(out["handoffs"], json!([{"from": "triage", "to": "technical", "reason": "network problem"}]));
    assert_eq!(out["usage"]["agents"]["triage"]["input_tokens"], 11, "the dict mock's own usage");
    assert!(out["usage"]["output_tokens"].as_u64().unwrap() > 7, "{out}");

    // Chat Completions streamed: LiteLLM's own chunks, text shown as it arrives, usage from the last chunk.
    let db = dir.join("b.db");
    let text_team = team("text", "text");
    let output = baton(&["run", text_team.to_str().unwrap(), message, "--db", db.to_str().unwrap(), "--stream"], &env);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("triage: Hello from the mock model."), "{stdout}");
    assert!(stderr.contains("tokens: "), "streamed usage is reported: {stderr}");

    // Messages API, as LiteLLM translates it: tool_use for the handoff, then text; and streamed
    // (LiteLLM answers a streamed mock with plain JSON, which baton reads as such).
    let (code, out) = run_json(&team("claude_handoff", "claude_text"), &dir.join("c.db"), message, &[], &env);
    assert_eq!(code, 0, "{out}");
    assert_eq!((out["agent"].as_str(), out["reply"].as_str()), (Some("technical"), Some("Hello from the mock model.")));
    assert_eq!(out["handoffs"][0]["reason"], "network problem");
    let (code, out) = run_json(&team("claude_text", "claude_text"), &dir.join("d.db"), message, &["--stream"], &env);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["reply"], "Hello from the mock model.");

    // Errors as LiteLLM reports them: a 429 retried, then given up; a 400 quoted, not retried.
    let (code, out) = run_json(&team("limited", "text"), &dir.join("e.db"), message, &[], &env);
    assert_eq!(code, 1, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("HTTP 429") && error.contains("gave up after 2 attempts"), "{error}");
    let (code, out) = run_json(&team("too_long", "text"), &dir.join("f.db"), message, &[], &env);
    assert_eq!(code, 1, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("HTTP 400") && error.contains("ContextWindowExceededError"), "{error}");

    // A missing key is refused and the error names the variable. (LiteLLM without a database
    // cannot check a wrong key: it answers 400 "No connected db".)
    let (code, out) = run_json(&text_team, &dir.join("g.db"), message, &[], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out["error"].as_str().unwrap().contains("BATON_LITELLM_KEY"), "{out}");
}
