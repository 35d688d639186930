//! [`McpServer`]: one session with an MCP server, over rmcp's client, and the [`McpTool`]s that
//! share it.

use super::{stderr_note, stdio, McpConfig, McpError, McpTransport, START_TIMEOUT};
use crate::Tool;
use async_trait::async_trait;
use baton_core::{env_template, ToolDef, ToolOutput};
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ContentBlock, Implementation,
    RequestMetaObject, ResourceContents,
};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport};
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How much of a server's stderr is kept for error messages.
const STDERR_KEPT: usize = 4096;
/// How long an error message waits for a stopped server's last stderr.
const STDERR_GRACE: Duration = Duration::from_secs(2);

/// A running MCP server session, shared by the [`McpTool`]s made from it.
///
/// Dropping the last handle closes the session; a stdio server's process is stopped (killed if it
/// does not exit on its own).
pub struct McpServer {
    config: McpConfig,
    definitions: Vec<ToolDef>,
    state: tokio::sync::Mutex<State>,
    /// Restart attempts so far, so that calls waiting on a failed restart share its failure.
    restarts: AtomicU64,
    /// The current child process id, 0 when there is none.
    pid: AtomicU32,
}

enum State {
    Running(Arc<Session>),
    /// The session stopped; the next call restarts it.
    Stopped,
    /// Restart attempt `attempt` failed with `error`.
    RestartFailed {
        attempt: u64,
        error: String,
    },
}

struct Session {
    client: RunningService<RoleClient, ClientConfig>,
    pid: Option<u32>,
    stderr: Option<Arc<StderrTail>>,
    /// How a stdio server stopped, as its transport saw it.
    stop: Option<Arc<stdio::Stop>>,
}

/// What became of a call sent on one session.
enum Sent {
    Answered(ToolOutput),
    /// The call never reached the server (it had stopped): it may run on a new session.
    NotDelivered(Arc<Session>),
}

impl McpServer {
    /// Starts (or connects to) the server, initializes the session and lists its tools (all
    /// pages), keeping those the include list names (all when it is empty) minus those the
    /// exclude list names. Names in either list that the server does not offer are an error.
    /// Starting and initializing may take [`START_TIMEOUT`], and so may listing; a server that
    /// exits meanwhile is reported at once, with the end of its stderr.
    pub async fn start(config: McpConfig) -> Result<Arc<McpServer>, McpError> {
        let session = connect(&config).await?;
        let listing = tokio::time::timeout(START_TIMEOUT, session.client.list_all_tools()).await;
        let list_error = |detail: String, stderr: Option<String>| McpError::ListTools {
            server: config.name.clone(),
            target: target(&config.transport),
            detail,
            stderr,
        };
        let tools = match listing {
            Ok(Ok(tools)) => tools,
            Ok(Err(e)) => return Err(list_error(chain(&e), session.stderr_after_exit().await)),
            Err(_) => {
                let detail = format!("no answer to tools/list within {} s", START_TIMEOUT.as_secs());
                return Err(list_error(detail, session.stderr_now()));
            }
        };
        let definitions = select(&config, tools)?;
        let pid = session.pid.unwrap_or(0);
        Ok(Arc::new(McpServer {
            config,
            definitions,
            state: tokio::sync::Mutex::new(State::Running(Arc::new(session))),
            restarts: AtomicU64::new(0),
            pid: AtomicU32::new(pid),
        }))
    }

    /// Starts the servers of `configs` all at once, as [`McpServer::start`] does each, so that
    /// starting several takes as long as the slowest, not the sum. Answers them in the order of
    /// `configs`, or the first error as soon as one fails; the others are then stopped.
    pub async fn start_all(configs: Vec<McpConfig>) -> Result<Vec<Arc<McpServer>>, McpError> {
        let mut starts = tokio::task::JoinSet::new();
        let count = configs.len();
        for (index, config) in configs.into_iter().enumerate() {
            starts.spawn(async move { (index, McpServer::start(config).await) });
        }
        let mut servers: Vec<Option<Arc<McpServer>>> = vec![None; count];
        while let Some(started) = starts.join_next().await {
            match started {
                Ok((index, Ok(server))) => servers[index] = Some(server),
                Ok((_, Err(error))) => return Err(error),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        Ok(servers.into_iter().flatten().collect())
    }

    /// The discovered tools as [`ToolDef`]s: the server's own tool names, descriptions, and
    /// input schemas as parameters (idempotent, needing no approval: the caller adjusts them).
    pub fn definitions(&self) -> Vec<ToolDef> {
        self.definitions.clone()
    }

    /// A [`Tool`] that calls the server's tool `definition.name`, offered to models as
    /// `definition` (the caller may have changed its description, idempotence or approval).
    pub fn tool(self: &Arc<Self>, definition: ToolDef) -> McpTool {
        McpTool { server: Arc::clone(self), definition }
    }

    /// The process id of the server's current child process, for diagnostics and tests: `None`
    /// for an HTTP server, or while the server is stopped and not yet restarted.
    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// The running session, starting a new one when it stopped (once, however many calls wait
    /// for it).
    async fn session(&self, tool: &str) -> Result<Arc<Session>, ToolOutput> {
        let tried = self.restarts.load(Ordering::SeqCst);
        let mut state = self.state.lock().await;
        match &*state {
            State::Running(session) if session.is_up() => return Ok(Arc::clone(session)),
            State::RestartFailed { attempt, error } if *attempt > tried => return Err(self.restart_failed(tool, error)),
            State::Running(_) | State::Stopped | State::RestartFailed { .. } => {}
        }
        // A stopped session is dropped here, which closes it (and stops what is left of its process).
        *state = State::Stopped;
        self.pid.store(0, Ordering::SeqCst);
        let attempt = self.restarts.fetch_add(1, Ordering::SeqCst) + 1;
        match connect(&self.config).await {
            Ok(session) => {
                let session = Arc::new(session);
                self.pid.store(session.pid.unwrap_or(0), Ordering::SeqCst);
                *state = State::Running(Arc::clone(&session));
                Ok(session)
            }
            Err(e) => {
                let error = e.to_string();
                let output = self.restart_failed(tool, &error);
                *state = State::RestartFailed { attempt, error };
                Err(output)
            }
        }
    }

    fn restart_failed(&self, tool: &str, error: &str) -> ToolOutput {
        ToolOutput::error(format!(
            "error: MCP server '{}' had stopped and could not be restarted to run {tool}, so the call did not \
             run; the next call will try again. {error}",
            self.config.name
        ))
    }

    /// Marks `session` stopped, unless a newer session has replaced it.
    async fn stopped(&self, session: &Arc<Session>) {
        let mut state = self.state.lock().await;
        if matches!(&*state, State::Running(current) if Arc::ptr_eq(current, session)) {
            *state = State::Stopped;
            self.pid.store(0, Ordering::SeqCst);
        }
    }

    async fn call(&self, tool: &str, arguments: &Value, idempotency_key: &str) -> ToolOutput {
        let arguments = match arguments {
            Value::Object(arguments) => Some(arguments.clone()),
            Value::Null => None,
            other => {
                return ToolOutput::error(format!("error: the arguments of {tool} must be a JSON object, not {other}"))
            }
        };
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = arguments;
        let mut meta = RequestMetaObject::new();
        meta.insert("idempotency_key".to_string(), Value::String(idempotency_key.to_string()));
        params.meta = Some(meta);
        // A call that did not reach a server that had just stopped runs on a new session, once.
        let mut undelivered = None;
        for _ in 0..2 {
            let session = match self.session(tool).await {
                Ok(session) => session,
                Err(output) => return output,
            };
            match self.send(&session, tool, params.clone()).await {
                Sent::Answered(output) => return output,
                Sent::NotDelivered(session) => {
                    self.stopped(&session).await;
                    undelivered = Some(session);
                }
            }
        }
        let how = match &undelivered {
            Some(session) => session.stopped_how().await,
            None => String::new(),
        };
        ToolOutput::error(format!(
            "error: MCP server '{}' stopped again as soon as it was restarted ({how}), so {tool} did not run; the next \
             call will start it again",
            self.config.name
        ))
    }

    /// Sends the call on `session`.
    async fn send(&self, session: &Arc<Session>, tool: &str, params: CallToolRequestParams) -> Sent {
        let name = &self.config.name;
        Sent::Answered(match session.client.call_tool(params).await {
            Ok(result) => output(result),
            Err(ServiceError::McpError(e)) => match stdio::too_large(&e) {
                Some((bytes, cap)) => ToolOutput::error(format!(
                    "error: MCP server '{name}' answered {tool} with a result too large ({bytes} bytes, the cap is \
                     {cap}), so it was dropped; the call did run: ask for less of it"
                )),
                None => ToolOutput::error(format!(
                    "error: MCP server '{name}' refused the call of {tool}: {} (JSON-RPC error {})",
                    e.message, e.code.0
                )),
            },
            // Over stdio a failed send wrote no whole line: the server cannot have run the call.
            Err(ServiceError::TransportSend(_)) if session.stop.is_some() => {
                return Sent::NotDelivered(Arc::clone(session))
            }
            Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_))) => {
                self.stopped(session).await;
                let how = match e {
                    ServiceError::TransportSend(e) => format!("sending the call failed: {}", chain(&*e.error)),
                    _ => session.stopped_how().await,
                };
                ToolOutput::error(format!(
                    "error: MCP server '{name}' stopped while running {tool} ({how}); it will be restarted for the \
                     next call — the call may or may not have taken effect"
                ))
            }
            Err(e) => {
                ToolOutput::error(format!("error: MCP server '{name}' failed while running {tool}: {}", chain(&e)))
            }
        })
    }
}

/// One tool of an [`McpServer`], made by [`McpServer::tool`].
pub struct McpTool {
    server: Arc<McpServer>,
    definition: ToolDef,
}

#[async_trait]
impl Tool for McpTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    /// Sends `tools/call` with the arguments and `_meta: {"idempotency_key": KEY}`.
    async fn call(&self, arguments: &Value, idempotency_key: &str) -> ToolOutput {
        self.server.call(&self.definition.name, arguments, idempotency_key).await
    }
}

/// The tools `config` keeps of those the server offers, as definitions.
fn select(config: &McpConfig, tools: Vec<rmcp::model::Tool>) -> Result<Vec<ToolDef>, McpError> {
    let offered: Vec<String> = tools.iter().map(|tool| tool.name.to_string()).collect();
    for (list, names) in [("include", &config.include), ("exclude", &config.exclude)] {
        let missing: Vec<String> = names.iter().filter(|name| !offered.contains(name)).cloned().collect();
        if !missing.is_empty() {
            return Err(McpError::UnknownTools { server: config.name.clone(), list, missing, offered });
        }
    }
    let kept =
        |name: &String| (config.include.is_empty() || config.include.contains(name)) && !config.exclude.contains(name);
    Ok(tools
        .into_iter()
        .filter(|tool| kept(&tool.name.to_string()))
        .map(|tool| {
            let description = tool.description.map(|d| d.to_string()).or(tool.title).unwrap_or_default();
            ToolDef::new(tool.name.to_string(), description, Value::Object(tool.input_schema.as_ref().clone()))
        })
        .collect())
}

/// The text a model reads for a tool result.
fn output(result: CallToolResult) -> ToolOutput {
    let mut parts = Vec::new();
    let mut has_text = false;
    for block in &result.content {
        match block {
            ContentBlock::Text(text) => {
                has_text = true;
                parts.push(text.text.clone());
            }
            ContentBlock::Image(image) => {
                parts.push(format!("[{}, {} bytes]", image.mime_type, decoded_len(&image.data)))
            }
            ContentBlock::Audio(audio) => {
                parts.push(format!("[{}, {} bytes]", audio.mime_type, decoded_len(&audio.data)))
            }
            ContentBlock::Resource(embedded) => match &embedded.resource {
                ResourceContents::TextResourceContents { text, .. } => {
                    has_text = true;
                    parts.push(text.clone());
                }
                ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => parts.push(format!(
                    "[resource {uri}, {}{} bytes]",
                    mime_type.as_deref().map(|mime| format!("{mime}, ")).unwrap_or_default(),
                    decoded_len(blob)
                )),
                other => parts.push(serde_json::to_string(other).unwrap_or_default()),
            },
            ContentBlock::ResourceLink(link) => parts.push(format!("[resource link {} ({})]", link.uri, link.name)),
            other => parts.push(serde_json::to_string(other).unwrap_or_default()),
        }
    }
    if !has_text {
        if let Some(structured) = &result.structured_content {
            parts.push(structured.to_string());
        }
    }
    let text = parts.join("\n");
    match (result.is_error == Some(true), text.is_empty()) {
        (true, true) => ToolOutput::error("error: the tool failed without saying why"),
        (true, false) => ToolOutput::error(text),
        (false, true) => ToolOutput::ok("(the tool returned no content)"),
        (false, false) => ToolOutput::ok(text),
    }
}

/// The number of bytes base64 `data` encodes.
fn decoded_len(data: &str) -> usize {
    let symbols: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let padding = symbols.iter().rev().take_while(|&&b| b == b'=').count();
    (symbols.len() * 3 / 4).saturating_sub(padding)
}

/// An error and its sources, each said once.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The command line or URL of a server, for messages.
fn target(transport: &McpTransport) -> String {
    match transport {
        McpTransport::Stdio { command, .. } => {
            command
                .iter()
                .map(|word| {
                    if word.is_empty() || word.contains(char::is_whitespace) {
                        format!("{word:?}")
                    } else {
                        word.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
        McpTransport::Http { url, .. } => url.clone(),
    }
}

const STDIO_HINT: &str = "check that `command` starts an MCP server speaking MCP over stdio";
const HTTP_HINT: &str = "check `url` and that the server is running and serves streamable HTTP there";

async fn connect(config: &McpConfig) -> Result<Session, McpError> {
    let problem = |problem: String| McpError::Config { server: config.name.clone(), problem };
    match &config.transport {
        McpTransport::Stdio { command, env, cwd } => {
            let Some((program, args)) = command.split_first() else {
                return Err(problem("`command` is empty: give the program to run, then its arguments".into()));
            };
            let variables = crate::command::environment::variables(&[], env, &[])
                .map_err(|(name, error)| problem(format!("the environment variable {name} {error}")))?;
            let mut child = tokio::process::Command::new(program);
            child.args(args).env_clear().envs(variables).kill_on_drop(true);
            if let Some(cwd) = cwd {
                if !cwd.is_dir() {
                    return Err(problem(format!(
                        "the working directory {} does not exist: check `cwd`",
                        cwd.display()
                    )));
                }
                child.current_dir(cwd);
            }
            let piped = std::process::Stdio::piped;
            child.stdin(piped()).stdout(piped()).stderr(piped());
            let spawn_error =
                |source| McpError::Spawn { server: config.name.clone(), command: target(&config.transport), source };
            let mut child = child.spawn().map_err(spawn_error)?;
            let pid = child.id();
            let stderr = child.stderr.take().map(StderrTail::capture);
            let (transport, stop) = stdio::StdioTransport::new(child).map_err(spawn_error)?;
            let client = initialize(config, transport, STDIO_HINT, stderr.as_deref(), Some(&stop)).await?;
            Ok(Session { client, pid, stderr, stop: Some(stop) })
        }
        McpTransport::Http { url, headers } => {
            let url = expand(url).map_err(|error| problem(format!("the url {error}")))?;
            let mut custom = HashMap::new();
            for (name, value) in headers {
                let value = expand(value).map_err(|error| problem(format!("the header '{name}' {error}")))?;
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| problem(format!("'{name}' is not a valid HTTP header name: correct `headers`")))?;
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    problem(format!("the value of header '{name}' is not a valid HTTP header value: correct `headers`"))
                })?;
                custom.insert(header, value);
            }
            let transport_config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
            let transport = StreamableHttpClientTransport::from_config(transport_config);
            let client = initialize(config, transport, HTTP_HINT, None, None).await?;
            Ok(Session { client, pid: None, stderr: None, stop: None })
        }
    }
}

/// `value` with its `${VAR}` read from the environment now.
fn expand(value: &str) -> Result<String, env_template::TemplateError> {
    env_template::expand(value, |var| std::env::var(var))
}

async fn initialize<T, E, A>(
    config: &McpConfig,
    transport: T,
    hint: &str,
    stderr: Option<&StderrTail>,
    stop: Option<&stdio::Stop>,
) -> Result<RunningService<RoleClient, ClientConfig>, McpError>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let client =
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("baton", env!("CARGO_PKG_VERSION")));
    match tokio::time::timeout(START_TIMEOUT, client.serve(transport)).await {
        Ok(Ok(running)) => Ok(running),
        Ok(Err(e)) => {
            let exit = match stop {
                Some(stop) => stop.exit_soon().await,
                None => None,
            };
            Err(McpError::Initialize {
                server: config.name.clone(),
                target: target(&config.transport),
                detail: match (&e, exit) {
                    (_, Some(exit)) => format!("{exit} before it answered initialize"),
                    (ClientInitializeError::TransportError { error, context }, None) => {
                        format!("{}, when {context}", chain(&*error.error))
                    }
                    (other, None) => chain(other),
                },
                hint: hint.to_string(),
                stderr: match stderr {
                    Some(stderr) => stderr.after_exit().await,
                    None => None,
                },
            })
        }
        Err(_) => Err(McpError::InitializeTimeout {
            server: config.name.clone(),
            target: target(&config.transport),
            hint: match stop {
                Some(_) => format!(
                    "{hint} (one that downloads itself first, as `npx -y` or `uvx` do, may need installing beforehand)"
                ),
                None => hint.to_string(),
            },
            stderr: stderr.and_then(StderrTail::text),
        }),
    }
}

impl Session {
    /// Whether the session still runs, as far as baton can tell.
    fn is_up(&self) -> bool {
        !self.client.is_transport_closed() && !self.stop.as_deref().is_some_and(stdio::Stop::is_over)
    }

    /// How the session stopped, with the end of the server's stderr.
    async fn stopped_how(&self) -> String {
        let how = self.stop.as_deref().and_then(stdio::Stop::exit).unwrap_or_else(|| "its connection closed".into());
        format!("{how}{}", stderr_note(&self.stderr_after_exit().await))
    }

    fn stderr_now(&self) -> Option<String> {
        self.stderr.as_deref().and_then(StderrTail::text)
    }

    async fn stderr_after_exit(&self) -> Option<String> {
        match &self.stderr {
            Some(stderr) => stderr.after_exit().await,
            None => None,
        }
    }
}

/// The last [`STDERR_KEPT`] bytes a server wrote to its stderr, which is read as it comes so that
/// it neither fills up nor reaches the user's terminal.
struct StderrTail {
    kept: Mutex<Kept>,
    /// Changes (its sender is dropped) when the stderr pipe closes.
    closed: watch::Receiver<()>,
}

#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
    cut: bool,
}

impl StderrTail {
    fn capture(mut stderr: tokio::process::ChildStderr) -> Arc<StderrTail> {
        let (closing, closed) = watch::channel(());
        let tail = Arc::new(StderrTail { kept: Mutex::new(Kept::default()), closed });
        let writer = Arc::clone(&tail);
        tokio::spawn(async move {
            let _closing = closing;
            let mut chunk = [0u8; 2048];
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                let mut kept = writer.kept.lock().unwrap_or_else(PoisonError::into_inner);
                kept.bytes.extend_from_slice(&chunk[..n]);
                if kept.bytes.len() > STDERR_KEPT {
                    let excess = kept.bytes.len() - STDERR_KEPT;
                    kept.bytes.drain(..excess);
                    kept.cut = true;
                }
            }
        });
        tail
    }

    /// What was kept so far, if anything.
    fn text(&self) -> Option<String> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&kept.bytes);
        let text = match (kept.cut, text.find('\n')) {
            (true, Some(newline)) => format!("…{}", &text[newline..]),
            (true, None) => format!("…{text}"),
            (false, _) => text.into_owned(),
        };
        let text = text.trim_end();
        (!text.trim().is_empty()).then(|| text.to_string())
    }

    /// What was kept once the pipe closed (waiting [`STDERR_GRACE`] at most).
    async fn after_exit(&self) -> Option<String> {
        let mut closed = self.closed.clone();
        let _ = tokio::time::timeout(STDERR_GRACE, async { while closed.changed().await.is_ok() {} }).await;
        self.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structured_content_is_the_answer_only_when_there_is_no_text() {
        let mut result = CallToolResult::success(vec![ContentBlock::image("aGVsbG8=", "image/png")]);
        result.structured_content = Some(json!({"a": 1}));
        assert_eq!(output(result), ToolOutput::ok("[image/png, 5 bytes]\n{\"a\":1}"));
        let mut result = CallToolResult::success(vec![ContentBlock::text("one"), ContentBlock::text("two")]);
        result.structured_content = Some(json!({"a": 1}));
        assert_eq!(output(result), ToolOutput::ok("one\ntwo"));
        let mut result = CallToolResult::success(Vec::new());
        result.structured_content = Some(json!([1, 2]));
        assert_eq!(output(result), ToolOutput::ok("[1,2]"));
    }

    #[test]
    fn errors_and_empty_results_still_say_something() {
        assert_eq!(
            output(CallToolResult::error(vec![ContentBlock::text("no such city")])),
            ToolOutput::error("no such city")
        );
        assert!(output(CallToolResult::error(Vec::new())).is_error);
        assert_eq!(output(CallToolResult::success(Vec::new())), ToolOutput::ok("(the tool returned no content)"));
        let blob = ContentBlock::resource(ResourceContents::blob("aGk", "file:///x.bin"));
        assert_eq!(output(CallToolResult::success(vec![blob])), ToolOutput::ok("[resource file:///x.bin, 2 bytes]"));
    }

    /// The error of connecting to `transport`.
    async fn connect_error(transport: McpTransport) -> String {
        let config = McpConfig { name: "desk".into(), transport, include: Vec::new(), exclude: Vec::new() };
        match connect(&config).await {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }

    #[tokio::test]
    async fn an_unset_variable_stops_the_connection_before_anything_starts() {
        let unset = "BATON_TOOLS_TEST_MCP_NEVER_SET";
        let http = |url: &str, header: &str| McpTransport::Http {
            url: url.into(),
            headers: vec![("Authorization".into(), header.into())],
        };
        assert_eq!(
            connect_error(http(&format!("http://${{{unset}}}/mcp"), "plain")).await,
            format!(
                "MCP server 'desk': the url uses ${{{unset}}}, which is not set: set the environment variable {unset}"
            )
        );
        assert_eq!(
            connect_error(http("http://127.0.0.1:9/mcp", &format!("Bearer ${{{unset}}}"))).await,
            format!(
                "MCP server 'desk': the header 'Authorization' uses ${{{unset}}}, which is not set: set the environment \
                 variable {unset}"
            )
        );
        let dir = std::env::temp_dir().join(format!("baton-mcp-unset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stdio = McpTransport::Stdio {
            command: vec!["sh".into(), "-c".into(), "touch started".into()],
            env: vec![("TOKEN".into(), format!("${{{unset}}}"))],
            cwd: Some(dir.clone()),
        };
        assert_eq!(
            connect_error(stdio).await,
            format!(
                "MCP server 'desk': the environment variable TOKEN uses ${{{unset}}}, which is not set: set the \
                 environment variable {unset}"
            )
        );
        assert!(!dir.join("started").exists(), "the server is not started");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
