//! Sending the turns' OpenTelemetry spans to a collector over OTLP (HTTP/protobuf or gRPC), off
//! unless configured: by `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! for every command, and for `baton serve` also by `--otlp-endpoint` or the team file's
//! `[telemetry]` (in that order, before the variables). The rest is read the standard way:
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, `_HEADERS`, `_TIMEOUT`, `OTEL_SERVICE_NAME` (`baton` when
//! unset) and `OTEL_RESOURCE_ATTRIBUTES`. Spans are batched and sent from a thread of their own,
//! so a collector that is down or slow costs a dropped batch and a warning in the log, never a
//! turn; what is still queued is sent when the command ends, waiting at most 5 s.

use baton::config::{OtlpProtocol, TelemetryConfig};
use baton::telemetry::TurnTraceIds;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::time::Duration;

/// How long the spans still queued at the end may take to be sent.
const FLUSH: Duration = Duration::from_secs(5);

/// The span export of this process while it lives; dropping it sends what is queued.
pub struct Export {
    provider: SdkTracerProvider,
    /// The runtime a gRPC exporter's connection lives on.
    _grpc: Option<tokio::runtime::Runtime>,
    /// Where spans go, for the log.
    pub endpoint: String,
    /// How they go.
    pub protocol: OtlpProtocol,
}

impl Drop for Export {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown_with_timeout(FLUSH) {
            tracing::warn!("the last spans were not all sent to {}: {error}", self.endpoint);
        }
    }
}

/// Why spans cannot be sent where they are configured to go.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` names a protocol baton does not speak.
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL={0:?} is not a protocol baton sends spans with: use http/protobuf (the default) \
         or grpc"
    )]
    Protocol(String),
    /// The exporter could not be built.
    #[error("cannot send spans to {endpoint}: {error}")]
    Exporter {
        /// Where.
        endpoint: String,
        /// Why.
        error: String,
    },
}

/// Starts sending spans where `configured` (a flag, a team file) or the environment says; `None`
/// when nothing asks for it.
pub fn start(configured: Option<&TelemetryConfig>) -> Result<Option<Export>, ExportError> {
    // The traces endpoint is a whole address; the general one a base the path is added to.
    let from_env = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .map(|url| (url, true))
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| (base, false)));
    let (endpoint, whole, protocol, service_name) = match (configured, from_env) {
        (Some(config), _) => (config.endpoint.clone(), false, config.protocol, config.service_name.clone()),
        (None, Some((endpoint, whole))) => {
            let named = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
            let protocol = match named {
                None => OtlpProtocol::HttpProtobuf,
                Some(named) => OtlpProtocol::parse(&named).ok_or(ExportError::Protocol(named))?,
            };
            (endpoint, whole, protocol, None)
        }
        (None, None) => return Ok(None),
    };
    let built = |error: opentelemetry_otlp::ExporterBuildError| ExportError::Exporter {
        endpoint: endpoint.clone(),
        error: error.to_string(),
    };
    let (exporter, grpc) = match protocol {
        OtlpProtocol::HttpProtobuf => {
            let url = if whole { endpoint.clone() } else { traces_url(&endpoint) };
            let exporter = SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary).with_endpoint(url);
            (exporter.build().map_err(built)?, None)
        }
        OtlpProtocol::Grpc => {
            // tonic's connection runs on a tokio runtime of its own, alive as long as the export.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("baton-otlp")
                .enable_all()
                .build()
                .map_err(|error| ExportError::Exporter { endpoint: endpoint.clone(), error: error.to_string() })?;
            let exporter = {
                let _inside = runtime.enter();
                SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build().map_err(built)?
            };
            (exporter, Some(runtime))
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(TurnTraceIds::default())
        .with_resource(resource(service_name))
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(Some(Export { provider, _grpc: grpc, endpoint, protocol }))
}

/// The resource: what `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` say, with `service.name`
/// `service_name` (or `baton`) when they do not name the service.
fn resource(service_name: Option<String>) -> Resource {
    let named = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| attributes.contains("service.name="));
    let builder = Resource::builder();
    match named {
        true => builder.build(),
        false => builder.with_service_name(service_name.unwrap_or_else(|| "baton".to_string())).build(),
    }
}

/// Where an HTTP exporter posts, given the collector's base address as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` gives it.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    match base.ends_with("/v1/traces") {
        true => base.to_string(),
        false => format!("{base}/v1/traces"),
    }
}

/// A variable's value, unless it is unset or blank.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn the_traces_path_is_added_to_a_base_address_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://127.0.0.1:6006/"), "http://127.0.0.1:6006/v1/traces");
        assert_eq!(traces_url("http://collector/v1/traces"), "http://collector/v1/traces");
    }
}
