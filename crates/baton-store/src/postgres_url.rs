//! A Postgres URL as users write it: its TLS parameters (`sslmode` and `sslrootcert`, read as
//! libpq reads them) and the URL shown without its password. Built whether or not this build
//! has the Postgres store, so that `--db` is checked and shown alike in every build.

use percent_encoding::percent_decode_str;
use std::fmt;
use std::path::PathBuf;

/// How much TLS a connection asks for: libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

const MODES: [(&str, Mode); 5] = [
    ("disable", Mode::Disable),
    ("prefer", Mode::Prefer),
    ("require", Mode::Require),
    ("verify-ca", Mode::VerifyCa),
    ("verify-full", Mode::VerifyFull),
];

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = MODES.iter().find(|(_, mode)| mode == self).map_or("", |(name, _)| name);
        f.write_str(name)
    }
}

/// Where the certificates trusted to sign the server's come from: libpq's `sslrootcert`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The system's store (`sslrootcert=system`, or no `sslrootcert` with a `verify-` mode).
    System,
    /// A PEM file of CA certificates.
    File(PathBuf),
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::System => f.write_str("the system's certificate store"),
            Roots::File(path) => write!(f, "the CA file {}", path.display()),
        }
    }
}

/// A URL's TLS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))] // only the Postgres store reads them
pub(crate) struct Tls {
    pub(crate) mode: Mode,
    /// `sslrootcert`, if the URL names one.
    pub(crate) roots: Option<Roots>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`: the URL left for tokio-postgres, and the
/// settings. The error says what to write instead.
pub(crate) fn split(url: &str) -> Result<(String, Tls), String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut roots, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(value).decode_utf8_lossy();
        match &*percent_decode_str(key).decode_utf8_lossy() {
            "sslmode" => {
                let named = MODES.iter().find(|(name, _)| *name == value).map(|(_, mode)| *mode);
                mode = Some(named.ok_or_else(|| {
                    format!(
                        "sslmode={value} is not a TLS mode baton knows: write disable, prefer, require, verify-ca \
                         or verify-full"
                    )
                })?);
            }
            "sslrootcert" if value.is_empty() => {
                return Err("sslrootcert= names no file: write sslrootcert=PATH of the CA's PEM certificate, \
                            or sslrootcert=system"
                    .into())
            }
            "sslrootcert" if value == "system" => roots = Some(Roots::System),
            "sslrootcert" => roots = Some(Roots::File(PathBuf::from(&*value))),
            _ => kept.push(pair),
        }
    }
    let mode = match (mode, &roots) {
        (None, Some(Roots::System)) => Mode::VerifyFull,
        (Some(mode), Some(Roots::System)) if mode != Mode::VerifyFull => {
            return Err(format!(
                "sslmode={mode} checks less than sslrootcert=system asks for: write sslmode=verify-full, \
                 or leave sslrootcert out"
            ))
        }
        (mode, _) => mode.unwrap_or(Mode::Prefer),
    };
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, Tls { mode, roots }))
}

/// Checks a URL's TLS parameters, so that a mistake in them is refused with the rest of `--db`.
pub(crate) fn check_tls_parameters(url: &str) -> Result<(), String> {
    split(url).map(drop)
}

/// The URL without its password. The credentials end at the first `@`, as tokio-postgres reads
/// them, but the part hidden runs on to the last `@` before the path, so that no piece of a
/// password holding an unencoded `@` shows; a `password=` query parameter is hidden too.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let mut shown = match rest.find('@') {
        Some(first_at) => match rest[..first_at].split_once(':') {
            Some((user, _)) => {
                let host_end = rest[first_at..].find('/').map_or(rest.len(), |at| first_at + at);
                let last_at = rest[..host_end].rfind('@').unwrap_or(first_at);
                format!("{user}:***{}", &rest[last_at..])
            }
            None => rest.to_string(),
        },
        None => rest.to_string(),
    };
    if let Some((before, query)) = shown.split_once('?') {
        let hidden = |pair: &str| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        };
        shown = format!("{before}?{}", query.split('&').map(hidden).collect::<Vec<_>>().join("&"));
    }
    format!("{scheme}://{shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> (String, Tls) {
        split(url).unwrap_or_else(|why| panic!("{url} was refused: {why}"))
    }

    fn tls(mode: Mode, roots: Option<Roots>) -> Tls {
        Tls { mode, roots }
    }

    #[test]
    fn takes_the_tls_parameters_out_of_the_url() {
        let base = "postgres://u:p@db:5432/baton";
        assert_eq!(settings(base), (base.to_string(), tls(Mode::Prefer, None)), "prefer by default, as libpq");
        assert_eq!(
            settings(&format!("{base}?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")),
            (format!("{base}?application_name=x"), tls(Mode::VerifyFull, Some(Roots::File("/etc/ca.pem".into()))))
        );
        assert_eq!(settings(&format!("{base}?sslmode=require")), (base.to_string(), tls(Mode::Require, None)));
        assert_eq!(settings(&format!("{base}?sslmode=disable")).1, tls(Mode::Disable, None));
        assert_eq!(settings(&format!("{base}?sslmode=verify-ca")).1, tls(Mode::VerifyCa, None));
        assert_eq!(
            settings(&format!("{base}?sslrootcert=system")).1,
            tls(Mode::VerifyFull, Some(Roots::System)),
            "sslrootcert=system makes verify-full the default, as in libpq 16"
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour_with_what_to_write() {
        let refused = |url: &str| split(url).expect_err(url);
        let mode = refused("postgres://db/x?sslmode=verify_full");
        assert!(mode.contains("sslmode=verify_full is not a TLS mode") && mode.contains("verify-full"), "{mode}");
        assert!(refused("postgres://db/x?sslmode=allow").contains("disable, prefer, require"));
        assert!(refused("postgres://db/x?sslmode=require&sslrootcert=system").contains("write sslmode=verify-full"));
        assert!(refused("postgres://db/x?sslrootcert=").contains("names no file"));
    }
}
