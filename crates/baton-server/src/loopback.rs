//! Loopback mode's guard against web pages. Without keys every caller is an admin, and a page the
//! developer opens could reach the server through the browser: by DNS rebinding (a hostname of
//! the attacker's that resolves to 127.0.0.1, which the browser sends as `Host`) or by a
//! cross-site request. So without keys a request must name a loopback host (`localhost`,
//! `*.localhost`, a loopback address), and a request a browser marks as coming from another site
//! (`Origin` not on loopback, or `Sec-Fetch-Site: cross-site`) is refused. With keys, the key
//! is the guard and none of this applies.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// Refuses, without keys, a request for another host or from another site.
pub async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.keys.is_none() {
        if let Err(error) = check(request.headers()) {
            return error.into_response();
        }
    }
    next.run(request).await
}

fn check(headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = |code: &'static str, message: String| ApiError::new(StatusCode::FORBIDDEN, code, message);
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !is_loopback_authority(host) {
        return Err(refused(
            "host_not_allowed",
            format!(
                "this server has no keys, so it answers only requests for localhost or a loopback address, not \
                 for '{}': call it as http://127.0.0.1:PORT, or give it keys (--keys) to serve other names",
                shortened(host)
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin.split_once("://").map_or("", |(_, authority)| authority);
        // `null` is the origin of sandboxed frames and data: pages, which may be anyone's.
        let same_machine = headers.get("sec-fetch-site").is_some_and(|site| site == "same-origin" || site == "none");
        let allowed = if origin == "null" { same_machine } else { is_loopback_authority(authority) };
        if !allowed {
            return Err(refused(
                "cross_site_request",
                format!(
                    "a page from {} cannot call this server: without keys it takes requests only from this \
                     machine's own pages",
                    shortened(origin)
                ),
            ));
        }
    }
    if headers.get("sec-fetch-site").is_some_and(|site| site == "cross-site") {
        return Err(refused(
            "cross_site_request",
            "a page from another site cannot call this server: without keys it takes requests only from this \
             machine's own pages"
                .into(),
        ));
    }
    Ok(())
}

/// Whether `authority` (`host` or `host:port`) names this machine: `localhost`, a name under
/// `.localhost`, or a loopback address.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, "")) => address,
            Some((address, port)) if port.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())) => {
                address
            }
            _ => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => host,
            _ => authority,
        },
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// At most 100 characters of `text`, for a message.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_authority;

    #[test]
    fn only_names_of_this_machine_are_loopback() {
        for authority in ["localhost", "localhost:8080", "LOCALHOST.", "app.localhost:3000", "127.0.0.1:9", "127.8.0.1"]
        {
            assert!(is_loopback_authority(authority), "{authority}");
        }
        assert!(is_loopback_authority("[::1]:8080") && is_loopback_authority("[::1]"));
        for authority in ["", "evil.example", "evil.example:8080", "localhost.evil.example", "10.0.0.1:80", "[::2]:80"]
        {
            assert!(!is_loopback_authority(authority), "{authority}");
        }
        assert!(!is_loopback_authority("127.0.0.1.nip.io"), "a name that spells an address is not one");
    }
}
