//! `baton-mockllm [PORT]`: a fast mock of an OpenAI-compatible model (Chat Completions) for
//! benchmarks. It plays the support script of `../shared/peers/mockllm.py` (hand off to
//! technical, check the line, answer) and answers the same requests the same way, at a
//! fraction of its CPU. Listens on 127.0.0.1:PORT (default 18080); `MOCK_LATENCY_MS` adds that
//! many milliseconds to each call; `GET /stats` gives `{"n": calls}`. Prints nothing unless an
//! error.

mod decide;
mod server;
mod wire;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The port when none is given.
const DEFAULT_PORT: u16 = 18080;

/// The usage line.
const USAGE: &str = "usage: baton-mockllm [PORT]   (default 18080; MOCK_LATENCY_MS adds latency per call)";

fn main() -> ExitCode {
    let (port, latency) = match settings() {
        Ok(settings) => settings,
        Err(Some(message)) => {
            eprintln!("baton-mockllm: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("baton-mockllm: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(port, latency)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("baton-mockllm: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The port and latency from the command line and environment; `Err(None)` asks for the usage.
fn settings() -> Result<(u16, Duration), Option<String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match args.as_slice() {
        [] => DEFAULT_PORT,
        [flag] if flag == "-h" || flag == "--help" => return Err(None),
        [port] => port.parse().map_err(|_| Some(format!("'{port}' is not a port number")))?,
        _ => return Err(Some("too many arguments".to_string())),
    };
    let latency = match std::env::var("MOCK_LATENCY_MS") {
        Err(_) => Duration::ZERO,
        Ok(ms) => ms
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .ok_or_else(|| Some(format!("MOCK_LATENCY_MS='{ms}' is not a number of milliseconds")))?,
    };
    Ok((port, latency))
}

/// Serves the mock on 127.0.0.1:`port` until the process is stopped.
async fn serve(port: u16, latency: Duration) -> Result<(), String> {
    let address = ("127.0.0.1", port);
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let app = server::router(Arc::new(server::Mock::new(latency)));
    axum::serve(listener, app).await.map_err(|e| format!("the server stopped: {e}"))
}
