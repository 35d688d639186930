//! The server's connections: HTTP/1 from hyper with a deadline for every request's headers
//! (which also closes a keep-alive connection left idle that long), and a cap on open
//! connections. A client that opens connections and never finishes a request (slowloris) cannot
//! starve the others: at the cap, a new connection evicts the oldest that has not had a request
//! yet (a half-sent one), or else the one kept alive idle longest, so a half-sent request loses
//! its place to a client that sends one. Only when every open connection is busy with a request
//! is a new one closed at once. A request's body must keep coming: a pause between its pieces
//! as long as the header deadline ends it (tower-http's `TimeoutBody`).
//!
//! Written here rather than taken from a crate: tower's limits count requests, not connections,
//! and `axum::serve` sets no header deadline; the eviction is baton's own policy.

use crate::metrics::Metrics;
use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// How long `accept` pauses after running out of file handles, so that it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The limits on connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// The most connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a keep-alive
    /// connection may stay idle.
    pub header_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits { max_connections: 4096, header_timeout: Duration::from_secs(10) }
    }
}

/// A listener on `addr` whose queue of connections not yet accepted holds `backlog` (as far as
/// the system allows: Linux caps it at `net.core.somaxconn`), so a burst of clients as large as
/// the connection cap waits to be accepted instead of having its connects dropped and timing out
/// (the usual default queue is 1,024).
pub fn listen(addr: std::net::SocketAddr, backlog: usize) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(u32::try_from(backlog).unwrap_or(u32::MAX))
}

/// Serves `router` on `listener` until `stopping` turns true; then accepts no more connections,
/// lets each open one finish the request it is serving, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    mut stopping: watch::Receiver<bool>,
) {
    let open = Arc::new(Open::default());
    // Each connection holds a receiver; the sender learns when the last is dropped.
    let (all_closed, closed) = watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    if out_of_resources(&error) {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            _ = stopped(&mut stopping) => break,
        };
        let connection = match open.admit(limits.max_connections) {
            Admitted::Room(connection) => connection,
            Admitted::Evicting(connection) => {
                metrics.refused("connection_evicted");
                connection
            }
            Admitted::Full => {
                metrics.refused("connection_refused");
                drop(stream);
                continue;
            }
        };
        let service = connection_service(router.clone(), open.clone(), connection.clone(), limits.header_timeout);
        let open = open.clone();
        let mut stopping = stopping.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let serving = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(serving);
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    _ = serving.as_mut() => break,
                    _ = connection.evicted.notified() => break,
                    _ = stopped(&mut stopping), if !shutting_down => {
                        serving.as_mut().graceful_shutdown();
                        shutting_down = true;
                    }
                }
            }
            open.close(&connection);
            drop(closed);
        });
    }
    drop(listener);
    drop(closed);
    all_closed.closed().await;
}

/// Whether a failed `accept` may have run out of something (file handles, buffers) that only
/// time frees; a client that reset or gave up before it was accepted concerns one connection.
fn out_of_resources(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    !matches!(error.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::Interrupted)
}

/// Waits until `stopping` turns true (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// The router for one connection, noting when a request is in flight on it: from the request's
/// arrival until its response's body is dropped (sent, or abandoned), so a stream of events
/// counts as in flight for as long as it is open.
fn connection_service(
    router: Router,
    open: Arc<Open>,
    connection: Arc<Connection>,
    body_timeout: Duration,
) -> impl tower::Service<Request<Incoming>, Response = axum::response::Response, Error = Infallible, Future: Send>
       + Clone
       + Send
       + 'static {
    tower::service_fn(move |request: Request<Incoming>| {
        let busy = Busy::begin(open.clone(), connection.clone());
        let router = router.clone();
        async move {
            let request = request.map(|body| Body::new(TimeoutBody::new(body_timeout, body)));
            let response = router.oneshot(request).await?;
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &busy;
                    frame
                }))
            }))
        }
    })
}

/// What became of a new connection.
enum Admitted {
    /// There was room for it.
    Room(Arc<Connection>),
    /// It took the place of a fresh or idle connection, which was evicted.
    Evicting(Arc<Connection>),
    /// Every open connection has a request in flight: it is closed at once.
    Full,
}

/// One open connection.
#[derive(Debug)]
struct Connection {
    /// Which connection it is, among all the server opened.
    id: u64,
    /// Told when the connection must close to make room.
    evicted: Notify,
}

/// The open connections, and those with no request in flight, oldest first: the fresh ones
/// (no request yet, as a half-sent one) go before the idle ones (kept alive after a request).
#[derive(Default)]
struct Open {
    state: Mutex<OpenState>,
}

#[derive(Default)]
struct OpenState {
    /// Connections open and not evicted.
    count: usize,
    /// The next position in a queue, and the next connection's id.
    next: u64,
    /// Connections that have not had a request yet, oldest first.
    fresh: BTreeMap<u64, Arc<Connection>>,
    /// Connections kept alive with no request in flight, idle longest first.
    idle: BTreeMap<u64, Arc<Connection>>,
    /// Per open connection (by id): its requests in flight and its place in `fresh` or `idle`.
    by_connection: BTreeMap<u64, (usize, Option<u64>)>,
}

impl Open {
    fn state(&self) -> std::sync::MutexGuard<'_, OpenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection: a free one, or that of the oldest fresh connection, or else
    /// of the one idle longest, which is evicted; none when every open connection has a request
    /// in flight.
    fn admit(&self, max_connections: usize) -> Admitted {
        let mut state = self.state();
        let evicting = state.count >= max_connections;
        if evicting {
            let Some((_, oldest)) = state.fresh.pop_first().or_else(|| state.idle.pop_first()) else {
                return Admitted::Full;
            };
            state.by_connection.remove(&oldest.id);
            state.count -= 1;
            oldest.evicted.notify_one();
        }
        let connection = Arc::new(Connection { id: state.take_next(), evicted: Notify::new() });
        state.count += 1;
        let position = state.take_next();
        state.fresh.insert(position, connection.clone());
        state.by_connection.insert(connection.id, (0, Some(position)));
        match evicting {
            true => Admitted::Evicting(connection),
            false => Admitted::Room(connection),
        }
    }

    /// Notes a request arriving on `connection`.
    fn begin(&self, connection: &Arc<Connection>) {
        let mut guard = self.state();
        let state = &mut *guard;
        let Some((in_flight, waiting)) = state.by_connection.get_mut(&connection.id) else { return };
        *in_flight += 1;
        if let Some(position) = waiting.take() {
            state.fresh.remove(&position);
            state.idle.remove(&position);
        }
    }

    /// Notes a request on `connection` finished: with none left in flight, it is idle.
    fn end(&self, connection: &Arc<Connection>) {
        let mut state = self.state();
        let Some(&(in_flight, _)) = state.by_connection.get(&connection.id) else { return };
        let idle = (in_flight <= 1).then(|| {
            let position = state.take_next();
            state.idle.insert(position, connection.clone());
            position
        });
        state.by_connection.insert(connection.id, (in_flight.saturating_sub(1), idle));
    }

    /// Notes `connection` closed (unless it was evicted, which counted it closed already).
    fn close(&self, connection: &Arc<Connection>) {
        let mut guard = self.state();
        let state = &mut *guard;
        if let Some((_, waiting)) = state.by_connection.remove(&connection.id) {
            if let Some(position) = waiting {
                state.fresh.remove(&position);
                state.idle.remove(&position);
            }
            state.count -= 1;
        }
    }
}

impl OpenState {
    /// A number not given before (positions and ids share one sequence).
    fn take_next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// A request in flight on a connection, until dropped.
struct Busy {
    open: Arc<Open>,
    connection: Arc<Connection>,
}

impl Busy {
    fn begin(open: Arc<Open>, connection: Arc<Connection>) -> Busy {
        open.begin(&connection);
        Busy { open, connection }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.open.end(&self.connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1,500 clients connect at once to a server that accepts none yet: all are queued, none
    /// waits out a dropped connect (a queue of the usual 1,024 drops the rest). It fails, saying
    /// so, where the system caps the queue lower (`net.core.somaxconn`).
    #[tokio::test]
    async fn a_burst_of_connects_waits_in_the_listen_queue() {
        const CLIENTS: usize = 1_500;
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok();
        let cap = somaxconn.and_then(|text| text.trim().parse::<usize>().ok()).unwrap_or(usize::MAX);
        assert!(cap > CLIENTS, "this test needs net.core.somaxconn above {CLIENTS}, and it is {cap}");
        #[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
        let listener = listen("127.0.0.1:0".parse().unwrap(), 4096).unwrap();
        #[allow(clippy::unwrap_used)]
        let addr = listener.local_addr().unwrap();
        let mut connects = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            connects.spawn(async move {
                tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr)).await
            });
        }
        let mut open = Vec::with_capacity(CLIENTS);
        while let Some(done) = connects.join_next().await {
            match done {
                Ok(Ok(Ok(stream))) => open.push(stream),
                other => panic!("a connect was not queued: {other:?}"),
            }
        }
        assert_eq!(open.len(), CLIENTS);
    }
}
