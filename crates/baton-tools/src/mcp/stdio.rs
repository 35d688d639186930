//! The stdio transport of MCP servers: newline-delimited JSON-RPC over a child process's stdin
//! and stdout, in place of rmcp's, which dropped a message over its size cap without a word (so
//! the call it answered waited out its whole timeout) and ended a session only when stdout
//! closed.
//!
//! Here a message over [`MAX_MESSAGE_BYTES`] is read through without being kept, and when it
//! answers a request, that request gets an error at once saying how large the answer was
//! ([`too_large`] reads it back); the session carries on. An answer that is not valid MCP also
//! gets an error at once. The child's exit ends the session even while a process it started
//! still holds its stdout, and the [`Stop`] it shares with the session says how it ended.

use super::MAX_MESSAGE_BYTES;
use rmcp::model::{ErrorCode, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::service::TxJsonRpcMessage;
use rmcp::transport::Transport;
use rmcp::RoleClient;
use serde_json::{json, Value};
use std::future::Future;
use std::io;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, watch};

/// How long the output of an exited server is still read, for what a process it started writes.
const DRAIN: Duration = Duration::from_millis(500);
/// How long a server is given to exit by itself when its transport is dropped, before it is
/// killed: a transport that failed because the process was exiting must not hide its status.
const EXITING_GRACE: Duration = Duration::from_millis(200);
/// How long a server whose stdout closed, or whose stdin baton closed, has to exit before it is
/// told to stop (then made to).
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// The JSON-RPC error code (of the range for implementations) of an answer over the cap.
const TOO_LARGE_CODE: ErrorCode = ErrorCode(-32001);
/// The key of that error's `data`, which holds the answer's size and the cap.
const TOO_LARGE_KEY: &str = "baton/too_large";
/// The longest request id read off an answer over the cap.
const MAX_ID_BYTES: usize = 256;

/// The size of the answer and the cap, if `error` stands for an answer over the cap.
pub fn too_large(error: &ErrorData) -> Option<(u64, u64)> {
    if error.code != TOO_LARGE_CODE {
        return None;
    }
    let data = error.data.as_ref()?.get(TOO_LARGE_KEY)?;
    Some((data.get("bytes")?.as_u64()?, data.get("cap")?.as_u64()?))
}

/// How a session's server stopped, shared by its transport, the task that waits for its process,
/// and the session.
pub struct Stop {
    /// The transport saw the session end: its stdout closed, or its process ended.
    over: AtomicBool,
    /// How the process ended, once it did.
    exit: watch::Sender<Option<Exit>>,
    pid: Option<u32>,
}

#[derive(Clone, Copy)]
struct Exit {
    /// `None` when waiting for the process failed.
    status: Option<ExitStatus>,
    /// Baton sent it a signal to stop it (the session was closed or dropped).
    stopped_by_baton: bool,
}

impl Stop {
    /// Whether the session is over: its transport saw it end, or its process ended (where the
    /// system tells without reaping it, also before the transport sees it).
    pub fn is_over(&self) -> bool {
        self.over.load(Ordering::SeqCst) || self.exit.borrow().is_some() || self.pid.is_some_and(ended)
    }

    /// How the server's process ended, if it did without baton stopping it: "its process exited
    /// with status 3", "its process was killed by signal 9 (SIGKILL)".
    pub fn exit(&self) -> Option<String> {
        let exit = (*self.exit.borrow())?;
        if exit.stopped_by_baton {
            return None;
        }
        let status = exit.status?;
        if let Some(code) = status.code() {
            return Some(format!("its process exited with status {code}"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                let name = nix::sys::signal::Signal::try_from(signal).map(|s| format!(" ({})", s.as_str()));
                return Some(format!("its process was killed by signal {signal}{}", name.unwrap_or_default()));
            }
        }
        Some(format!("its process ended ({status})"))
    }

    /// [`Stop::exit`], once the process ended or [`EXIT_GRACE`] passed.
    pub async fn exit_soon(&self) -> Option<String> {
        let mut exit = self.exit.subscribe();
        let _ = tokio::time::timeout(EXIT_GRACE, exit.wait_for(Option::is_some)).await;
        self.exit()
    }

    fn ended(&self) -> bool {
        self.exit.borrow().is_some()
    }
}

/// Whether child process `pid` has ended, read without reaping it (`WNOWAIT`), so that its
/// reaper still reads its status.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn ended(pid: u32) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let Ok(pid) = i32::try_from(pid) else { return false };
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    // An error (ECHILD) means it was reaped already.
    !matches!(waitid(Id::Pid(nix::unistd::Pid::from_raw(pid)), flags), Ok(WaitStatus::StillAlive))
}

/// Elsewhere only the transport and the reaper tell.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn ended(_pid: u32) -> bool {
    false
}

/// What the transport asks of the task that waits for the process.
enum Ask {
    Terminate,
    Kill,
}

/// Waits for `child` to end and tells `stop`; sends it what `asks` asks, and kills it when
/// `asks` closes (the transport was dropped).
async fn reap(mut child: Child, mut asks: mpsc::UnboundedReceiver<Ask>, stop: Arc<Stop>) {
    let mut stopped_by_baton = false;
    let mut asking = true;
    let status = loop {
        tokio::select! {
            biased;
            status = child.wait() => break status.ok(),
            ask = asks.recv(), if asking => match ask {
                Some(Ask::Terminate) => stopped_by_baton |= terminate(&child),
                Some(Ask::Kill) => {
                    asking = false;
                    stopped_by_baton |= child.start_kill().is_ok();
                }
                None => {
                    asking = false;
                    // The transport may have failed because the process is exiting (its pipes
                    // closed first): then it ended by itself, and its exit status says why.
                    if let Ok(status) = tokio::time::timeout(EXITING_GRACE, child.wait()).await {
                        break status.ok();
                    }
                    stopped_by_baton |= child.start_kill().is_ok();
                }
            },
        }
    };
    stop.exit.send_replace(Some(Exit { status, stopped_by_baton }));
}

/// Sends SIGTERM to `child` (not yet reaped: only [`reap`] waits for it); whether it was sent.
#[cfg(unix)]
fn terminate(child: &Child) -> bool {
    use nix::sys::signal::{kill, Signal};
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else { return false };
    kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).is_ok()
}

#[cfg(not(unix))]
fn terminate(_child: &Child) -> bool {
    false
}

/// The transport of one server process. Dropping it kills the process; closing it closes the
/// server's stdin, then waits, sends SIGTERM, waits, and kills, as the MCP specification's stdio
/// shutdown says.
pub struct StdioTransport {
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    lines: Lines,
    stop: Arc<Stop>,
    exit: watch::Receiver<Option<Exit>>,
    asks: mpsc::UnboundedSender<Ask>,
}

impl StdioTransport {
    /// The transport over `child`, whose stdin and stdout it takes (they must be piped), and the
    /// [`Stop`] it shares. A task of its own waits for the process.
    pub fn new(mut child: Child) -> io::Result<(StdioTransport, Arc<Stop>)> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("the server's stdin and stdout must be pipes"));
        };
        let (exits, exit) = watch::channel(None);
        let stop = Arc::new(Stop { over: AtomicBool::new(false), exit: exits, pid: child.id() });
        let (asks, asked) = mpsc::unbounded_channel();
        tokio::spawn(reap(child, asked, Arc::clone(&stop)));
        let transport = StdioTransport {
            stdin: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            lines: Lines::new(stdout, MAX_MESSAGE_BYTES),
            stop: Arc::clone(&stop),
            exit,
            asks,
        };
        Ok((transport, stop))
    }
}

impl Transport<RoleClient> for StdioTransport {
    type Error = io::Error;

    fn send(&mut self, item: TxJsonRpcMessage<RoleClient>) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let stdin = Arc::clone(&self.stdin);
        let line = serde_json::to_vec(&item);
        async move {
            let mut line = line.map_err(io::Error::other)?;
            line.push(b'\n');
            let mut stdin = stdin.lock().await;
            let Some(stdin) = stdin.as_mut() else {
                return Err(io::Error::new(io::ErrorKind::NotConnected, "the server's stdin is closed"));
            };
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let ended = self.stop.ended();
            let read = if ended {
                // What the process wrote before it ended is in the pipe; a process it started may
                // keep the pipe open, but what that writes later answers nobody.
                tokio::time::timeout(DRAIN, self.lines.next()).await.unwrap_or(Read::End)
            } else {
                tokio::select! {
                    read = self.lines.next() => read,
                    _ = self.exit.wait_for(Option::is_some) => continue,
                }
            };
            match read {
                Read::Line => {
                    if let Some(message) = self.lines.message() {
                        return Some(message);
                    }
                }
                Read::TooLarge(scan) => {
                    if let Some(error) = scan.error(self.lines.cap) {
                        return Some(error);
                    }
                }
                Read::End => {
                    if !ended {
                        // Its stdout closed: it is ending, and how it ends is worth saying.
                        let _ = tokio::time::timeout(EXIT_GRACE, self.exit.wait_for(Option::is_some)).await;
                    }
                    self.stop.over.store(true, Ordering::SeqCst);
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> io::Result<()> {
        drop(self.stdin.lock().await.take());
        for ask in [None, Some(Ask::Terminate), Some(Ask::Kill)] {
            if let Some(ask) = ask {
                let _ = self.asks.send(ask);
            }
            if tokio::time::timeout(EXIT_GRACE, self.exit.wait_for(Option::is_some)).await.is_ok() {
                break;
            }
        }
        Ok(())
    }
}

/// What [`Lines::next`] read.
enum Read {
    /// A whole line, in [`Lines::line`].
    Line,
    /// A line over the cap, read through and not kept.
    TooLarge(Scan),
    /// The end of the output (or a read error).
    End,
}

/// The server's stdout, read a line at a time, no line kept beyond the cap.
struct Lines {
    reader: BufReader<ChildStdout>,
    cap: usize,
    /// The line read so far, at most `cap` bytes of it.
    line: Vec<u8>,
    /// The line read so far, once it is over the cap.
    over: Option<Scan>,
}

impl Lines {
    fn new(stdout: ChildStdout, cap: usize) -> Lines {
        Lines { reader: BufReader::with_capacity(64 * 1024, stdout), cap, line: Vec::new(), over: None }
    }

    /// Reads to the end of a line. Cancel safe: what was read stays in `line` or `over`, and
    /// the next call goes on from there.
    async fn next(&mut self) -> Read {
        loop {
            let (taken, ended) = {
                let available = match self.reader.fill_buf().await {
                    Ok(available) if !available.is_empty() => available,
                    // An unfinished last line answers nothing.
                    Ok(_) | Err(_) => return Read::End,
                };
                let newline = available.iter().position(|&byte| byte == b'\n');
                let taken = newline.map_or(available.len(), |at| at + 1);
                let content = &available[..newline.unwrap_or(taken)];
                match &mut self.over {
                    Some(scan) => scan.feed(content),
                    None if self.line.len() + content.len() > self.cap => {
                        let mut scan = Scan::default();
                        scan.feed(&self.line);
                        scan.feed(content);
                        self.line.clear();
                        self.over = Some(scan);
                    }
                    None => self.line.extend_from_slice(content),
                }
                (taken, newline.is_some())
            };
            self.reader.consume(taken);
            if ended {
                return match self.over.take() {
                    Some(scan) => Read::TooLarge(scan),
                    None => Read::Line,
                };
            }
        }
    }

    /// The message of the line just read, if it is one: a line that is not JSON-RPC is skipped,
    /// and an answer that is not valid MCP becomes an error for its request.
    fn message(&mut self) -> Option<ServerJsonRpcMessage> {
        let line = std::mem::take(&mut self.line);
        let text = line.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let message = match serde_json::from_slice(text) {
            Ok(message) => Some(message),
            Err(e) => unreadable_answer(text, &e),
        };
        self.line = line;
        self.line.clear();
        message
    }
}

/// An error for the request `text` answers, when it is an answer (an object with an `id` and no
/// `method`) that is not valid MCP.
fn unreadable_answer(text: &[u8], error: &serde_json::Error) -> Option<ServerJsonRpcMessage> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(text) else { return None };
    if object.contains_key("method") {
        return None;
    }
    let id = serde_json::from_value::<RequestId>(object.get("id")?.clone()).ok()?;
    let error =
        ErrorData::new(ErrorCode::INTERNAL_ERROR, format!("the server's answer is not valid MCP: {error}"), None);
    Some(ServerJsonRpcMessage::error(error, Some(id)))
}

/// What is read off a line over the cap as it goes by: its size, its top-level `id` and whether
/// it has a top-level `method` (then it is a request or a notification, not an answer). The id
/// may come anywhere: the TypeScript SDK writes it after the result, the Python SDK before.
#[derive(Default)]
struct Scan {
    bytes: usize,
    /// How deep in objects and arrays the scan is: 1 in the message's own object.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// At depth 1: whether the next string is a key.
    at_key: bool,
    /// At depth 1: the key being read, or the last one read (`None` when it is long).
    key: Option<Vec<u8>>,
    reading_key: bool,
    /// The raw value of the `id` being read, or read (`None` when there is none or it is long).
    id: Option<Vec<u8>>,
    reading_id: bool,
    method: bool,
}

impl Scan {
    fn feed(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
        for &byte in bytes {
            self.step(byte);
        }
    }

    fn step(&mut self, byte: u8) {
        if self.reading_id {
            let at_end = !self.in_string && self.depth == 1 && (byte == b',' || byte == b'}');
            if !at_end {
                match &mut self.id {
                    Some(id) if id.len() < MAX_ID_BYTES => id.push(byte),
                    _ => self.id = None,
                }
            }
        }
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                self.reading_key = false;
                return;
            }
            if self.reading_key {
                match &mut self.key {
                    Some(key) if key.len() < 16 => key.push(byte),
                    _ => self.key = None,
                }
            }
            return;
        }
        match byte {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.at_key {
                    self.reading_key = true;
                    self.key = Some(Vec::new());
                }
            }
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth == 1 {
                    self.at_key = byte == b'{';
                }
            }
            b'}' | b']' => {
                if self.depth == 1 {
                    self.reading_id = false;
                }
                self.depth = self.depth.saturating_sub(1);
            }
            b':' if self.depth == 1 && self.at_key => {
                self.at_key = false;
                match self.key.as_deref() {
                    Some(b"id") => {
                        self.reading_id = true;
                        self.id = Some(Vec::new());
                    }
                    Some(b"method") => self.method = true,
                    _ => {}
                }
            }
            b',' if self.depth == 1 => {
                self.reading_id = false;
                self.at_key = true;
            }
            _ => {}
        }
    }

    /// The request the line answers, if it is an answer whose id could be read.
    fn answers(&self) -> Option<RequestId> {
        if self.method || self.depth != 0 || self.reading_id {
            return None;
        }
        serde_json::from_slice(self.id.as_deref()?).ok()
    }

    /// The error that stands for the line, for the request it answers; `None` for a request or
    /// a notification, or when the request cannot be told (it waits out its own timeout).
    fn error(&self, cap: usize) -> Option<ServerJsonRpcMessage> {
        let id = self.answers()?;
        let error = ErrorData::new(
            TOO_LARGE_CODE,
            format!("result too large ({} bytes, the cap is {cap})", self.bytes),
            Some(json!({ TOO_LARGE_KEY: { "bytes": self.bytes, "cap": cap } })),
        );
        Some(ServerJsonRpcMessage::error(error, Some(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;

    fn scan(text: &str) -> Scan {
        let mut scan = Scan::default();
        // Fed in pieces, as a pipe gives it.
        for piece in text.as_bytes().chunks(3) {
            scan.feed(piece);
        }
        scan
    }

    #[test]
    fn the_id_is_found_before_or_after_the_result() {
        let after = r#"{"result":{"content":[{"type":"text","text":"x"}],"id":7},"jsonrpc":"2.0","id":42}"#;
        assert_eq!(scan(after).answers(), Some(NumberOrString::Number(42)));
        let before = r#"{"jsonrpc":"2.0","id":"req-1","result":{"id":3,"text":"a \"quoted\" } ] , \\"}}"#;
        assert_eq!(scan(before).answers(), Some(NumberOrString::String("req-1".into())));
        let spaced = "{ \"id\" : 9 , \"error\" : {\"code\": 1, \"message\": \"m\"} }";
        assert_eq!(scan(spaced).answers(), Some(NumberOrString::Number(9)));
        assert_eq!(scan(spaced).bytes, spaced.len());
    }

    #[test]
    fn requests_notifications_and_lines_without_an_id_answer_nothing() {
        assert_eq!(scan(r#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{}}"#).answers(), None);
        assert_eq!(scan(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"id":1}}"#).answers(), None);
        assert_eq!(scan(r#"{"jsonrpc":"2.0","result":{"id":1}}"#).answers(), None);
        assert_eq!(scan(r#"{"jsonrpc":"2.0","id":{"a":1},"result":{}}"#).answers(), None);
        assert_eq!(scan(r#"{"jsonrpc":"2.0","id":1,"result":{"cut":"#).answers(), None, "an unfinished line");
        assert_eq!(scan("not json at all").answers(), None);
    }

    #[test]
    fn the_too_large_error_carries_the_size_and_the_cap() {
        let message = scan(r#"{"id":5,"result":{}}"#).error(10).unwrap();
        let ServerJsonRpcMessage::Error(error) = message else { panic!("{message:?}") };
        assert_eq!(error.id, Some(NumberOrString::Number(5)));
        assert_eq!(error.error.message, "result too large (20 bytes, the cap is 10)");
        assert_eq!(too_large(&error.error), Some((20, 10)));
        assert_eq!(too_large(&ErrorData::new(TOO_LARGE_CODE, "spoofed", None)), None);
    }

    #[test]
    fn an_answer_that_is_not_mcp_is_an_error_for_its_request() {
        let text = br#"{"jsonrpc":"2.0","id":3,"error":"not an error object"}"#;
        let error = serde_json::from_slice::<ServerJsonRpcMessage>(text).unwrap_err();
        let Some(ServerJsonRpcMessage::Error(answer)) = unreadable_answer(text, &error) else { panic!() };
        assert_eq!(answer.id, Some(NumberOrString::Number(3)));
        assert!(answer.error.message.starts_with("the server's answer is not valid MCP: "), "{answer:?}");
        let request = br#"{"jsonrpc":"2.0","id":3,"method":"x/y","params":7}"#;
        assert!(unreadable_answer(request, &error).is_none());
        assert!(unreadable_answer(b"npm notice: something", &error).is_none());
    }
}
