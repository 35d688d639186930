//! A server for tests: the support example's team (on the offline local model) journaling to a
//! store of the test's choosing, on a free loopback port, stopped when dropped.

use baton::config::load_team;
use baton::store::{MemoryStore, Store};
use baton::{assemble, Runtime};
use baton_server::keys::Keys;
use baton_server::{Options, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its journal.
    pub store: Arc<dyn Store>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A runtime for the team file at `path`, journaling to `store`.
pub async fn team(path: &Path, store: Arc<dyn Store>) -> Arc<Runtime> {
    let loaded = load_team(path).unwrap();
    Arc::new(assemble::runtime(&loaded.config, store).await.unwrap())
}

/// The support example's team.
pub fn support() -> PathBuf {
    root().join("examples/support/team.toml")
}

impl TestServer {
    /// The support team on an in-memory journal, without keys.
    pub async fn start() -> TestServer {
        TestServer::with(Options::default()).await
    }

    /// The support team on an in-memory journal with these options.
    pub async fn with(options: Options) -> TestServer {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let runtime = team(&support(), store.clone()).await;
        TestServer::serving(vec![runtime], store, options).await
    }

    /// The support team with keys from `keys_toml`.
    pub async fn with_keys(keys_toml: &str) -> TestServer {
        let keys = Keys::parse(keys_toml, "keys.toml").unwrap();
        TestServer::with(Options { keys: Some(keys), ..Options::default() }).await
    }

    /// These teams on `store`.
    pub async fn serving(teams: Vec<Arc<Runtime>>, store: Arc<dyn Store>, options: Options) -> TestServer {
        let server = Server::new(teams, store.clone(), options).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        TestServer { base, store, stop: Some(stop), task: Some(task) }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client.
pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POSTs `body` as JSON with an optional bearer key; the status and the JSON answer.
pub async fn post(url: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = client().post(url).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GETs with an optional bearer key; the status and the JSON answer.
pub async fn get(url: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = client().get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
