//! A loopback HTTP/1.1 server that records each request and answers what a test says.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// Header names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    /// The value of the header `name` (lower case), if it was sent once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let value = values.next();
        assert!(values.next().is_none(), "the header {name} was sent twice");
        value
    }
}

/// What the server answers.
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Headers besides content-length, content-type and connection.
    pub headers: Vec<(String, String)>,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// An immediate answer.
    pub fn new(status: u16, body: &str) -> Reply {
        Reply { status, body: body.to_string(), headers: Vec::new(), delay: Duration::ZERO }
    }

    /// A redirect (302 Found) to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply { headers: vec![("location".into(), location.into())], ..Reply::new(302, "") }
    }
}

/// A running server; it stops with the test's runtime.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    /// Starts a server answering each request with `answer`.
    pub async fn start(answer: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, answer) = (log.clone(), answer.clone());
                tokio::spawn(async move { serve(stream, &log, &*answer).await });
            }
        });
        Server { base, received }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The only request received so far.
    pub fn only_request(&self) -> Received {
        let received = self.received();
        assert_eq!(received.len(), 1, "expected one request, got {received:?}");
        received.into_iter().next().unwrap()
    }
}

/// An address on which nothing listens.
pub async fn refused_base() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    base
}

/// Reads one request, records it and answers it.
async fn serve(mut stream: TcpStream, log: &Mutex<Vec<Received>>, answer: &(dyn Fn(&Received) -> Reply + Sync)) {
    let mut data = Vec::new();
    let mut buffer = [0; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).await.unwrap();
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_string();
    let target = request_line.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize =
        headers.iter().find(|(name, _)| name == "content-length").map_or(0, |(_, value)| value.parse().unwrap());
    while data.len() < head_end + length {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the body ended early");
        data.extend_from_slice(&buffer[..n]);
    }
    let body = String::from_utf8(data[head_end..head_end + length].to_vec()).unwrap();
    let request = Received { method, target, headers, body };
    let reply = answer(&request);
    log.lock().unwrap().push(request);
    tokio::time::sleep(reply.delay).await;
    let headers: String = reply.headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let response = format!(
        "HTTP/1.1 {} Whatever\r\ncontent-length: {}\r\ncontent-type: application/json\r\n{headers}connection: \
         close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    stream.write_all(response.as_bytes()).await.unwrap();
}
