//! The server's connections: HTTP/1 from hyper with a deadline for every request's headers
//! (which also closes a keep-alive connection left idle that long), and a cap on open
//! connections. A client that opens connections and never finishes a request (slowloris) cannot
//! starve the others: at the cap, a new connection evicts the one that has waited longest without
//! a request in flight, so a half-sent request loses its place to a client that sends one.
//! Only when every open connection is busy with a request is a new one closed at once.
//!
//! Written here rather than taken from a crate: tower's limits count requests, not connections,
//! and `axum::serve` sets no header deadline; the eviction is baton's own policy.

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

/// How long `accept` pauses after failing (out of file handles), so that it does not spin.
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
        ConnectionLimits { max_connections: 1024, header_timeout: Duration::from_secs(10) }
    }
}

/// Serves `router` on `listener` until `stopping` turns true; then accepts no more connections,
/// lets each open one finish the request it is serving, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let open = Arc::new(Open::default());
    // Each connection holds a receiver; the sender learns when the last is dropped.
    let (all_closed, closed) = watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stopped(&mut stopping) => break,
        };
        let Some(connection) = open.admit(limits.max_connections) else {
            drop(stream);
            continue;
        };
        let service = connection_service(router.clone(), open.clone(), connection.clone());
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
) -> impl tower::Service<Request<Incoming>, Response = axum::response::Response, Error = Infallible, Future: Send>
       + Clone
       + Send
       + 'static {
    tower::service_fn(move |request: Request<Incoming>| {
        let busy = Busy::begin(open.clone(), connection.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &busy;
                    frame
                }))
            }))
        }
    })
}

/// One open connection.
#[derive(Debug)]
struct Connection {
    /// Which connection it is, among all the server opened.
    id: u64,
    /// Told when the connection must close to make room.
    evicted: Notify,
}

/// The open connections, and those with no request in flight in the order they became so.
#[derive(Default)]
struct Open {
    state: Mutex<OpenState>,
}

#[derive(Default)]
struct OpenState {
    /// Connections open and not evicted.
    count: usize,
    /// The next position in `waiting`, and the next connection's id.
    next: u64,
    /// The connections with no request in flight, oldest first.
    waiting: BTreeMap<u64, Arc<Connection>>,
    /// Per connection (by id): its requests in flight and its position in `waiting`.
    by_connection: BTreeMap<u64, (usize, Option<u64>)>,
}

impl Open {
    fn state(&self) -> std::sync::MutexGuard<'_, OpenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection: a free one, or that of the connection waiting longest,
    /// which is evicted; `None` when every open connection has a request in flight.
    fn admit(&self, max_connections: usize) -> Option<Arc<Connection>> {
        let mut state = self.state();
        if state.count >= max_connections {
            let (_, oldest) = state.waiting.pop_first()?;
            state.by_connection.remove(&oldest.id);
            state.count -= 1;
            oldest.evicted.notify_one();
        }
        let connection = Arc::new(Connection { id: state.next, evicted: Notify::new() });
        state.next += 1;
        state.count += 1;
        let position = state.wait(&connection);
        state.by_connection.insert(connection.id, (0, Some(position)));
        Some(connection)
    }

    /// Notes a request arriving on `connection`.
    fn begin(&self, connection: &Arc<Connection>) {
        let mut state = self.state();
        let Some((in_flight, waiting)) = state.by_connection.get_mut(&connection.id) else { return };
        *in_flight += 1;
        if let Some(position) = waiting.take() {
            state.waiting.remove(&position);
        }
    }

    /// Notes a request on `connection` finished: with none left in flight, it waits again.
    fn end(&self, connection: &Arc<Connection>) {
        let mut state = self.state();
        let Some(&(in_flight, _)) = state.by_connection.get(&connection.id) else { return };
        let waiting = match in_flight <= 1 {
            true => Some(state.wait(connection)),
            false => None,
        };
        state.by_connection.insert(connection.id, (in_flight.saturating_sub(1), waiting));
    }

    /// Notes `connection` closed (unless it was evicted, which counted it closed already).
    fn close(&self, connection: &Arc<Connection>) {
        let mut state = self.state();
        if let Some((_, waiting)) = state.by_connection.remove(&connection.id) {
            if let Some(position) = waiting {
                state.waiting.remove(&position);
            }
            state.count -= 1;
        }
    }
}

impl OpenState {
    /// Puts `connection` last among the waiting; returns its position.
    fn wait(&mut self, connection: &Arc<Connection>) -> u64 {
        let position = self.next;
        self.next += 1;
        self.waiting.insert(position, connection.clone());
        position
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
