//! `baton serve TEAM...`: the HTTP API over the given teams, journaling to one store, until
//! SIGINT or SIGTERM; then requests and turns in flight get a grace period to finish. SIGHUP
//! reloads the team files: a file that loads replaces its team for the work that comes after.
//! What the server does (its address, requests, turns, recovery, reloads, stopping) is logged;
//! only a failure to start is printed as an error.

use crate::paint::{print_error, print_warning};
use crate::plural::count;
use crate::{db, setup, telemetry, Exit};
use baton::assemble;
use baton::config::{OtlpProtocol, TeamConfig, TelemetryConfig};
use baton::store::{open, Durability};
use baton::Service;
use baton_server::keys::Keys;
use baton_server::{check_address, ConnectionLimits, KeyLimits, Options, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The arguments of `baton serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The team files (team.toml), one per team.
    #[arg(required = true)]
    pub teams: Vec<PathBuf>,
    /// Where to listen. Without --keys only a loopback address is allowed.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: db::Db,
    /// The API keys file: [[key]] tables { name, role, sha256 } (make keys with `baton keys new`).
    #[arg(long, env = "BATON_KEYS")]
    pub keys: Option<PathBuf>,
    /// Send the turns' OpenTelemetry spans to this collector (its base address, e.g.
    /// http://127.0.0.1:4318), before a team file's [telemetry] and OTEL_EXPORTER_OTLP_ENDPOINT;
    /// the protocol is OTEL_EXPORTER_OTLP_PROTOCOL's (http/protobuf by default, or grpc).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    #[command(flatten)]
    pub limits: ServeLimits,
}

/// What clients may ask of the server, and how it stops.
#[derive(clap::Args, Debug)]
pub struct ServeLimits {
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = 262_144)]
    pub max_body: usize,
    /// Seconds to let requests and turns in flight finish when stopping.
    #[arg(long, default_value_t = 30)]
    pub grace: u64,
    /// The most connections open at once [default: 4096, or fewer if the limit on open files
    /// is lower]. At the cap, a new connection takes the place of one that has not sent a
    /// whole request (or else of the one idle longest); when every one is busy with a
    /// request, the new one is closed.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Seconds a client may take to send a request's headers, or pause while sending its body;
    /// a keep-alive connection idle that long is closed too.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Answer /metrics only to operator and admin keys (it is public otherwise).
    #[arg(long)]
    pub private_metrics: bool,
    /// Requests a second each API key may send, on average (0: no limit). Over it, 429 with
    /// Retry-After. Limits per key apply only with --keys.
    #[arg(long, default_value_t = KeyLimits::default().rate)]
    pub rate_per_key: u32,
    /// Requests an API key may send at once above its rate, after a quiet spell.
    #[arg(long, default_value_t = KeyLimits::default().burst)]
    pub burst_per_key: u32,
    /// Requests each API key may have in flight at once, event streams aside (0: no limit).
    #[arg(long, default_value_t = KeyLimits::default().in_flight)]
    pub in_flight_per_key: usize,
    /// Event streams each API key may hold open at once (0: no limit).
    #[arg(long, default_value_t = KeyLimits::default().streams)]
    pub streams_per_key: usize,
}

impl ServeLimits {
    /// The limits of each API key.
    fn key_limits(&self) -> KeyLimits {
        KeyLimits {
            rate: self.rate_per_key,
            burst: self.burst_per_key,
            in_flight: self.in_flight_per_key,
            streams: self.streams_per_key,
        }
    }
}

/// Serves until stopped.
pub fn run(args: &ServeArgs) -> Exit {
    serve(args).unwrap_or_else(|exit| exit)
}

fn serve(args: &ServeArgs) -> Result<Exit, Exit> {
    let max_connections = connection_cap(args.limits.max_connections.map(|cap| cap as usize));
    let keys = match &args.keys {
        Some(path) => Some(Keys::load(path).map_err(|error| {
            print_error!("{error}");
            Exit::Usage
        })?),
        None => None,
    };
    check_address(&args.addr, keys.as_ref()).map_err(|error| {
        print_error!("{error}");
        Exit::Usage
    })?;
    let configs = args.teams.iter().map(|path| setup::team(path)).collect::<Result<Vec<_>, _>>()?;
    // Dropped after the server's runtime is done: it sends what is queued, outside any runtime.
    let _export = start_export(args, &configs)?;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| {
        print_error!("cannot start the async runtime: {error}");
        Exit::Failed
    })?;
    tokio.block_on(async {
        let durability = match configs.iter().all(|config| config.durability == Durability::Normal) {
            true => Durability::Normal,
            false => Durability::Full,
        };
        let store = open(args.db.location(), durability).await.map_err(|error| {
            print_error!("{error}");
            Exit::Failed
        })?;
        let mut runtimes = Vec::new();
        for config in &configs {
            let runtime = assemble::runtime(config, store.clone()).await.map_err(|error| {
                print_error!("{error}");
                Exit::Usage
            })?;
            runtimes.push(Arc::new(runtime));
        }
        let shortest_lease = configs.iter().map(|config| config.lease).min().unwrap_or(Duration::from_secs(30));
        let key_count = keys.as_ref().map(Keys::len);
        let options = Options {
            keys,
            max_body: args.limits.max_body,
            grace: Duration::from_secs(args.limits.grace),
            sweep: (shortest_lease / 3).clamp(Duration::from_millis(500), Duration::from_secs(5)),
            connections: ConnectionLimits {
                max_connections,
                header_timeout: Duration::from_secs(args.limits.header_timeout),
            },
            private_metrics: args.limits.private_metrics,
            key_limits: args.limits.key_limits(),
            ..Options::default()
        };
        let teams: Vec<String> = runtimes.iter().map(|runtime| runtime.team().name.clone()).collect();
        let server = Server::new(runtimes, store, options).map_err(|error| {
            print_error!("{error}");
            Exit::Usage
        })?;
        let listener = baton_server::listen(args.addr, max_connections).map_err(|error| {
            print_error!("cannot listen on {}: {error} (pick another --addr)", args.addr);
            Exit::Failed
        })?;
        let bound = listener.local_addr().map_or(args.addr, |addr| addr);
        let keys = match key_count {
            Some(n) => count(n, "API key", "API keys"),
            None => "no keys: loopback only, every caller is an admin".to_string(),
        };
        tracing::info!(
            "baton serve: http://{bound} · teams {} · journal {} · {keys}",
            teams.join(", "),
            args.db.journal
        );
        tracing::info!("try: curl -s http://{bound}/healthz   (the API: http://{bound}/openapi.json)");
        let files = args.teams.iter().cloned().zip(configs.iter().map(|config| config.team.name.clone())).collect();
        tokio::spawn(reload_on_hangup(server.service(), files));
        server.run(listener, stop_signal()).await.map_err(|error| {
            print_error!("the server failed: {error}");
            Exit::Failed
        })?;
        tracing::info!("baton serve: stopped");
        Ok(Exit::Ok)
    })
}

/// Starts sending spans where `--otlp-endpoint`, else the first team file with a `[telemetry]`,
/// else the environment says (a team file saying otherwise than the one used is named in a
/// warning).
fn start_export(args: &ServeArgs, configs: &[TeamConfig]) -> Result<Option<telemetry::Export>, Exit> {
    let from_flag = match &args.otlp_endpoint {
        None => None,
        Some(endpoint) if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) => {
            print_error!("--otlp-endpoint {endpoint:?} is not an http:// or https:// address: give the collector's base address, e.g. http://127.0.0.1:4318");
            return Err(Exit::Usage);
        }
        Some(endpoint) => {
            let protocol =
                match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok().filter(|named| !named.trim().is_empty()) {
                    None => OtlpProtocol::HttpProtobuf,
                    Some(named) => OtlpProtocol::parse(&named).ok_or_else(|| {
                        print_error!("{}", telemetry::ExportError::Protocol(named));
                        Exit::Usage
                    })?,
                };
            Some(TelemetryConfig { endpoint: endpoint.clone(), protocol, service_name: None })
        }
    };
    let from_files = configs.iter().find_map(|config| config.telemetry.clone());
    let configured = from_flag.or(from_files);
    if let Some(used) = &configured {
        for config in configs {
            if config.telemetry.as_ref().is_some_and(|telemetry| telemetry != used) {
                print_warning!(
                    "{}'s [telemetry] is not used: spans go to {} ({})",
                    config.path.display(),
                    used.endpoint,
                    used.protocol.as_str()
                );
            }
        }
    }
    let export = telemetry::start(configured.as_ref()).map_err(|error| {
        print_error!("{error}");
        Exit::Usage
    })?;
    if let Some(export) = &export {
        tracing::info!("sending spans to {} ({})", export.endpoint, export.protocol.as_str());
    }
    Ok(export)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("baton serve: stopping: no new requests; letting those in flight finish");
}

/// Reloads every team file on SIGHUP: a file that loads replaces its team for the work that comes
/// after; one that does not leaves its team as it was, with a warning saying why.
async fn reload_on_hangup(service: Arc<Service>, files: Vec<(PathBuf, String)>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else { return };
        while hangup.recv().await.is_some() {
            for (file, team) in &files {
                match service.reload_file(file, team).await {
                    Ok(runtime) => {
                        tracing::info!("baton serve: reloaded team {} from {}", runtime.team().name, file.display())
                    }
                    Err(error) => {
                        tracing::warn!("cannot reload {}; its team goes on as it was:\n{error}", file.display())
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (service, files);
}

/// File handles the server needs besides its connections (the journal, the listener, tools).
const SPARE_FILES: usize = 256;

/// The connection cap when none is asked for (if the limit on open files allows it).
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The connection cap: the one asked for, or the default lowered to what the limit on open files
/// allows. Raises that limit to what the cap needs, up to the hard limit, and warns when a cap
/// asked for needs more: a server out of file handles refuses every connection.
fn connection_cap(asked: Option<usize>) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return asked.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    };
    let needed = |cap: usize| (cap.saturating_add(SPARE_FILES)) as u64;
    let wanted = needed(asked.unwrap_or(DEFAULT_MAX_CONNECTIONS));
    let raised = wanted.min(hard).max(soft);
    let limit = match raised > soft && setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_err() {
        true => soft,
        false => raised,
    };
    let allowed = usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(SPARE_FILES).max(1);
    match asked {
        None => DEFAULT_MAX_CONNECTIONS.min(allowed),
        Some(cap) => {
            if needed(cap) > limit {
                print_warning!(
                    "--max-connections {cap} needs about {} open files but this process may open {limit}: \
                     lower --max-connections or raise the limit (ulimit -n)",
                    needed(cap)
                );
            }
            cap
        }
    }
}
