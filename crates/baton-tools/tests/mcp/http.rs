//! The reference "everything" server over streamable HTTP, started by the test on a free port (the
//! external tier), and the errors of an HTTP server that is not there (hermetic).

#[cfg(feature = "external-tests")]
use crate::{echo, installed, names};
#[cfg(feature = "external-tests")]
use baton_core::ToolOutput;
use baton_tools::mcp::{McpConfig, McpError, McpServer, McpTransport};
#[cfg(feature = "external-tests")]
use std::process::Stdio;
#[cfg(feature = "external-tests")]
use std::time::Duration;

/// The everything server in streamable HTTP mode, killed when dropped.
#[cfg(feature = "external-tests")]
struct HttpServer {
    child: tokio::process::Child,
    port: u16,
}

#[cfg(feature = "external-tests")]
impl HttpServer {
    /// Starts the server on `port` (a free one when `None`) and waits until it accepts connections.
    async fn start(port: Option<u16>) -> HttpServer {
        let port = match port {
            Some(port) => port,
            None => std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
        };
        let mut child = tokio::process::Command::new(installed("BATON_TEST_MCP_EVERYTHING"))
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Wait for the port to open; the bound only keeps a broken server from hanging the test.
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the everything server in HTTP mode exited at start ({status}) on port {port}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return HttpServer { child, port };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the everything server in HTTP mode did not open port {port} within a minute");
    }

    fn config(&self, headers: Vec<(String, String)>) -> McpConfig {
        McpConfig {
            name: "everything-http".into(),
            transport: McpTransport::Http { url: format!("http://127.0.0.1:{}/mcp", self.port), headers },
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn lists_and_calls_over_streamable_http() {
    let http = HttpServer::start(None).await;
    let headers = vec![("X-Baton-Test".to_string(), "from ${PATH}".to_string())];
    let server = McpServer::start(http.config(headers)).await.unwrap();
    assert!(names(&server).contains(&"echo".to_string()), "{:?}", names(&server));
    let schema = &server.definitions().into_iter().find(|d| d.name == "echo").unwrap().parameters;
    assert_eq!(schema["properties"]["message"]["type"], "string");
    assert_eq!(echo(&server, "over http").await, ToolOutput::ok("Echo: over http"));
    assert_eq!(server.pid(), None, "an HTTP server has no child process of baton's");
}

#[tokio::test]
async fn a_header_naming_an_unset_variable_is_refused_before_connecting() {
    let config = McpConfig {
        name: "api".into(),
        transport: McpTransport::Http {
            url: "http://127.0.0.1:9/mcp".into(),
            headers: vec![("Authorization".into(), "Bearer ${BATON_TEST_SURELY_UNSET_TOKEN}".into())],
        },
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let error = McpServer::start(config).await.err().unwrap();
    assert!(matches!(error, McpError::Config { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("header 'Authorization' uses ${BATON_TEST_SURELY_UNSET_TOKEN}, which is not set"),
        "{message}"
    );
}

#[tokio::test]
async fn a_url_where_nothing_listens_is_an_error_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = McpConfig {
        name: "nothing".into(),
        transport: McpTransport::Http { url: format!("http://127.0.0.1:{port}/mcp"), headers: Vec::new() },
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let message = McpServer::start(config).await.err().unwrap().to_string();
    assert!(message.starts_with(&format!("MCP server 'nothing' (http://127.0.0.1:{port}/mcp) ")), "{message}");
    assert!(message.contains("check `url`"), "{message}");
}

#[cfg(feature = "external-tests")]
#[tokio::test]
async fn a_stopped_http_server_is_reported_then_reconnected() {
    let mut http = HttpServer::start(None).await;
    let server = McpServer::start(http.config(Vec::new())).await.unwrap();
    assert_eq!(echo(&server, "first").await, ToolOutput::ok("Echo: first"));
    http.child.kill().await.unwrap();
    let stopped = echo(&server, "while down").await;
    assert!(stopped.is_error, "{stopped:?}");
    assert!(stopped.content.starts_with("error: MCP server 'everything-http' "), "{stopped:?}");
    assert!(stopped.content.contains("stopped"), "{stopped:?}");
    assert!(stopped.content.contains("it will be restarted for the next call"), "{stopped:?}");
    let _http = HttpServer::start(Some(http.port)).await;
    assert_eq!(echo(&server, "back").await, ToolOutput::ok("Echo: back"));
}
