//! TLS for the Postgres journal: the rustls configuration a URL's `sslmode` and `sslrootcert` ask
//! for (read as libpq reads them, in [`crate::postgres_url`]).
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and no `sslrootcert`, so both are
//! taken out of the URL first; tokio-postgres is told `require` for the two `verify-` modes, and
//! the certificate checks are rustls's.
//!
//! | `sslmode`   | TLS                               | the server's certificate                     |
//! |-------------|-----------------------------------|----------------------------------------------|
//! | disable     | never                             | -                                            |
//! | prefer      | if the server offers it (default) | not checked, unless `sslrootcert` is a file  |
//! | require     | always                            | not checked, unless `sslrootcert` is a file  |
//! | verify-ca   | always                            | signed by a trusted CA                       |
//! | verify-full | always                            | signed by a trusted CA, for the URL's host   |
//!
//! The trusted CAs are the file `sslrootcert=PATH` names, or else the system's store
//! (`sslrootcert=system` says so, and makes `verify-full` the default, as in libpq 16). A
//! certificate that is not checked still has to sign the handshake, so the session is bound to
//! the key it shows. A Unix socket never uses TLS (libpq ignores `sslmode` there too).

use crate::postgres_url::{Mode, Roots, Tls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

impl Tls {
    /// The CAs the server's certificate is checked against, or `None` when it is not checked.
    pub(crate) fn roots(&self) -> Option<Roots> {
        match (self.mode, &self.roots) {
            (Mode::Disable, _) => None,
            (Mode::VerifyCa | Mode::VerifyFull, roots) => Some(roots.clone().unwrap_or(Roots::System)),
            (Mode::Prefer | Mode::Require, Some(Roots::File(path))) => Some(Roots::File(path.clone())),
            (Mode::Prefer | Mode::Require, _) => None,
        }
    }
}

/// Tells tokio-postgres whether to ask the server for TLS, and whether to go on without it.
pub(crate) fn apply(tls: &Tls, config: &mut Config) {
    let hosts = config.get_hosts();
    let unix_sockets_only = !hosts.is_empty() && hosts.iter().all(|host| !matches!(host, Host::Tcp(_)));
    config.ssl_mode(match tls.mode {
        _ if unix_sockets_only => SslMode::Disable,
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
}

/// The TLS connector for `tls`: the trusted CAs loaded once, here, not on every connection.
pub(crate) fn connector(tls: &Tls) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match tls.roots() {
        None => Arc::new(EncryptOnly(provider.signature_verification_algorithms)),
        Some(roots) => {
            let store = Arc::new(trusted(&roots)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(store, provider.clone())
                .build()
                .map_err(|e| format!("cannot check certificates against {roots}: {e}"))?;
            if tls.mode == Mode::VerifyFull {
                webpki
            } else {
                Arc::new(SignedByTrustedCa(webpki))
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The CA certificates in `roots`.
fn trusted(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let unreadable = |e: rustls::pki_types::pem::Error| format!("cannot read {roots} (sslrootcert): {e}");
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(unreadable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unreadable)?;
            store.add_parsable_certificates(certificates);
            if store.is_empty() {
                return Err(format!(
                    "{roots} (sslrootcert) holds no certificate: it should hold the PEM certificate of the CA \
                     that signed the server's"
                ));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "found no certificate in {roots}{}: install the ca-certificates package (or point \
                     SSL_CERT_FILE at a bundle), or name the CA's certificate with sslrootcert=PATH",
                    if errors.is_empty() { String::new() } else { format!(" ({})", errors.join("; ")) }
                ));
            }
        }
    }
    Ok(store)
}

/// Accepts any certificate, for `prefer` and `require` without a CA file (encryption without
/// knowing who the server is, as in libpq), but still checks that the handshake is signed by the
/// certificate's key.
#[derive(Debug)]
struct EncryptOnly(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Checks that a trusted CA signed the certificate, whatever host it names: `verify-ca`, and
/// `prefer` or `require` with a CA file. rustls checks the name only after the chain, so a
/// name that does not match is the one error left to forgive.
#[derive(Debug)]
struct SignedByTrustedCa(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for SignedByTrustedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(mode: Mode, roots: Option<Roots>) -> Tls {
        Tls { mode, roots }
    }

    #[test]
    fn checks_the_certificate_as_libpq_does() {
        let file = Some(Roots::File("ca.pem".into()));
        assert_eq!(tls(Mode::Require, None).roots(), None, "require alone encrypts without checking");
        assert_eq!(tls(Mode::Prefer, None).roots(), None);
        assert_eq!(tls(Mode::Require, file.clone()).roots(), file, "a CA file makes require check the chain");
        assert_eq!(tls(Mode::VerifyCa, None).roots(), Some(Roots::System));
        assert_eq!(tls(Mode::VerifyFull, None).roots(), Some(Roots::System));
        assert_eq!(tls(Mode::Disable, file).roots(), None);
    }

    #[test]
    fn a_unix_socket_never_asks_for_tls() {
        let mut config: Config = "postgresql://%2Frun%2Fpostgresql/x".parse().expect("a socket URL");
        apply(&tls(Mode::VerifyFull, None), &mut config);
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        let mut config: Config = "postgresql://db/x".parse().expect("a TCP URL");
        apply(&tls(Mode::VerifyCa, None), &mut config);
        assert_eq!(config.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn a_ca_file_that_is_missing_or_empty_is_named() {
        let missing = connector(&tls(Mode::VerifyFull, Some(Roots::File("/nonexistent/ca.pem".into()))));
        let missing = missing.err().unwrap_or_default();
        assert!(missing.contains("cannot read the CA file /nonexistent/ca.pem"), "{missing}");
        let dir = std::env::temp_dir().join(format!("baton-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("a file");
        let empty = connector(&tls(Mode::VerifyCa, Some(Roots::File(empty)))).err().unwrap_or_default();
        assert!(empty.contains("holds no certificate"), "{empty}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
