//! A scripted HTTP/1.1 server on 127.0.0.1: one request per connection, answered from a list
//! (the last answer repeats), every request recorded as it arrived.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The pause between two writes of a streamed answer, so that the client receives fragments.
const PAUSE: Duration = Duration::from_millis(3);

/// How long a silent answer holds the connection (longer than any test waits).
const HOLD: Duration = Duration::from_secs(60);

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A JSON body with this status and extra headers.
    Json { status: u16, headers: Vec<(String, String)>, body: String },
    /// `200 OK` with a `text/event-stream` body sent chunked, one write per piece with a short
    /// pause between; `cut` closes the socket after the last piece, in the middle of the body.
    Events { pieces: Vec<Piece>, cut: bool },
    /// Reads the request and never answers, holding the connection open.
    Silence,
}

/// One step of a streamed answer.
#[derive(Clone, Debug)]
pub enum Piece {
    /// Bytes sent in one write (not necessarily whole lines, nor whole UTF-8 characters).
    Bytes(Vec<u8>),
    /// Waits until the gate is opened before sending more.
    Wait(Arc<Notify>),
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: impl Into<String>) -> Answer {
        Answer::Json { status, headers: Vec::new(), body: body.into() }
    }

    /// This JSON answer with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        if let Answer::Json { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// A stream of these server-sent-event frames, each sent in two writes split at its middle
    /// byte, so that lines, JSON and even UTF-8 characters arrive in fragments.
    pub fn events(frames: &[String]) -> Answer {
        Answer::split_events(frames, |frame| frame.len() / 2)
    }

    /// A stream of these frames, each sent in two writes split at the byte `at` gives.
    pub fn split_events(frames: &[String], at: impl Fn(&str) -> usize) -> Answer {
        Answer::Events { pieces: split(frames, at), cut: false }
    }

    /// A stream that sends `before`, waits until `gate` is opened, then sends `after`.
    pub fn gated(before: &[String], gate: Arc<Notify>, after: &[String]) -> Answer {
        let middle = |frame: &str| frame.len() / 2;
        let mut pieces = split(before, middle);
        pieces.push(Piece::Wait(gate));
        pieces.extend(split(after, middle));
        Answer::Events { pieces, cut: false }
    }

    /// This stream with the connection closed after its last piece, before the body ends.
    pub fn cut(mut self) -> Answer {
        if let Answer::Events { cut, .. } = &mut self {
            *cut = true;
        }
        self
    }
}

/// `frames` as pieces, each frame split in two at the byte `at` gives.
fn split(frames: &[String], at: impl Fn(&str) -> usize) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for frame in frames {
        let (head, tail) = frame.as_bytes().split_at(at(frame).min(frame.len()));
        pieces.extend([head, tail].into_iter().filter(|part| !part.is_empty()).map(|part| Piece::Bytes(part.to_vec())));
    }
    pieces
}

/// An SSE frame with only data (the Chat Completions style).
pub fn data(json: &Value) -> String {
    format!("data: {json}\n\n")
}

/// An SSE frame with an event name (the Anthropic style).
pub fn event(name: &str, json: &Value) -> String {
    format!("event: {name}\ndata: {json}\n\n")
}

/// The frame that ends a Chat Completions stream.
pub fn done() -> String {
    "data: [DONE]\n\n".to_string()
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Such as `POST /v1/messages HTTP/1.1`.
    pub request_line: String,
    /// Header names lower-cased, values trimmed, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: String,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A running server; it stops with the test's runtime.
pub struct Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts a server answering with `answers` in order; the last one repeats.
    pub async fn start(answers: Vec<Answer>) -> Server {
        assert!(!answers.is_empty(), "a server needs at least one answer");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (log, answers) = (Arc::clone(&log), answers.clone());
                tokio::spawn(async move {
                    let Some(seen) = read_request(&mut stream).await else { return };
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(seen);
                        log.len() - 1
                    };
                    let answer = answers[index.min(answers.len() - 1)].clone();
                    answer_with(stream, answer).await;
                });
            }
        });
        Server { base, seen }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The one request received; fails when there were more or none.
    pub fn only(&self) -> Seen {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request: {requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

/// A base URL where nothing listens (a port just bound and released).
pub async fn unreachable() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// Reads one request: the head up to the blank line, then `Content-Length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let n = read_some(stream, &mut chunk).await?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize =
        headers.iter().find(|(name, _)| name == "content-length").map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = read_some(stream, &mut chunk).await?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen { request_line, headers, body: String::from_utf8(body).unwrap() })
}

/// Reads what is there; `None` at the end of the stream or on an error.
async fn read_some(stream: &mut TcpStream, chunk: &mut [u8]) -> Option<usize> {
    match stream.read(chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Sends `answer` on `stream` and closes it (a silent answer holds it instead).
async fn answer_with(mut stream: TcpStream, answer: Answer) {
    stream.set_nodelay(true).unwrap();
    match answer {
        Answer::Json { status, headers, body } => {
            let mut response = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = stream.write_all(response.as_bytes()).await;
        }
        Answer::Events { pieces, cut } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for piece in pieces {
                let bytes = match piece {
                    Piece::Bytes(bytes) => bytes,
                    Piece::Wait(gate) => {
                        gate.notified().await;
                        continue;
                    }
                };
                tokio::time::sleep(PAUSE).await;
                let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
                chunk.extend_from_slice(&bytes);
                chunk.extend_from_slice(b"\r\n");
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            if !cut {
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
        }
        Answer::Silence => {
            tokio::time::sleep(HOLD).await;
            return;
        }
    }
    let _ = stream.shutdown().await;
}
