//! `[telemetry]`: where the turns' OpenTelemetry spans go when the team is served, for a
//! deployment that keeps its settings in the team file rather than in `OTEL_*` variables:
//! `endpoint` (the collector's base address, as `OTEL_EXPORTER_OTLP_ENDPOINT` gives it),
//! `protocol` (`"http/protobuf"`, the default, or `"grpc"`) and `service_name`.

use super::diagnostic::Report;
use super::raw::RawTelemetry;
use toml::Spanned;

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// Protobuf over HTTP (`http/protobuf`), sent to `<endpoint>/v1/traces`.
    HttpProtobuf,
    /// gRPC (`grpc`).
    Grpc,
}

impl OtlpProtocol {
    /// The protocol as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        }
    }

    /// Reads a protocol as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
    pub fn parse(text: &str) -> Option<OtlpProtocol> {
        match text.trim() {
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            "grpc" => Some(OtlpProtocol::Grpc),
            _ => None,
        }
    }
}

/// Where spans go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The collector's base address (`http://127.0.0.1:4318`).
    pub endpoint: String,
    /// How they are sent.
    pub protocol: OtlpProtocol,
    /// `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
    pub service_name: Option<String>,
}

/// The `[telemetry]` section, checked; `None` without one (or with an error, reported).
pub(super) fn telemetry(raw: Option<&Spanned<RawTelemetry>>, report: &mut Report<'_>) -> Option<TelemetryConfig> {
    let raw = raw?.get_ref();
    let endpoint = raw.endpoint.get_ref().trim();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) || endpoint.len() <= "https://".len() {
        report.error(
            raw.endpoint.span().start,
            format!("the telemetry endpoint '{endpoint}' is not an http:// or https:// address"),
            "give the collector's base address, e.g. endpoint = \"http://127.0.0.1:4318\" (http/protobuf) or \
             \"http://127.0.0.1:4317\" (grpc)",
        );
        return None;
    }
    let protocol = match &raw.protocol {
        None => OtlpProtocol::HttpProtobuf,
        Some(protocol) => match OtlpProtocol::parse(protocol.get_ref()) {
            Some(protocol) => protocol,
            None => {
                report.error(
                    protocol.span().start,
                    format!("unknown telemetry protocol '{}'", protocol.get_ref()),
                    "use protocol = \"http/protobuf\" (the default) or \"grpc\"",
                );
                return None;
            }
        },
    };
    let service_name = match &raw.service_name {
        Some(name) if name.get_ref().trim().is_empty() => {
            report.error(
                name.span().start,
                "the telemetry service_name is empty".to_string(),
                "name the service, e.g. service_name = \"support-desk\", or leave the key out (baton, or OTEL_SERVICE_NAME)",
            );
            return None;
        }
        name => name.as_ref().map(|name| name.get_ref().trim().to_string()),
    };
    Some(TelemetryConfig { endpoint: endpoint.to_string(), protocol, service_name })
}
