//! What a failed connection to Postgres means, and what to do about it: only a refused
//! connection asks whether Postgres is running; a TLS failure says which check failed (the
//! server does not do TLS, its certificate is not trusted, or not for this host) and how to meet
//! it. Nothing here sees the URL, so no password can show.

use crate::postgres_url::{Roots, Tls};
use rustls::CertificateError;
use std::error::Error;
use std::io;
use std::iter::{once, successors};
use tokio_postgres::error::{DbError, SqlState};

/// Why a connection failed.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Nothing listens there.
    Refused,
    /// The host did not resolve, did not answer, or the network is in the way.
    Unreachable,
    /// The server said no to TLS, and the mode needs it.
    NoTlsOnServer,
    /// No trusted CA signed the server's certificate.
    Untrusted,
    /// The certificate is not for the host in the URL.
    WrongName,
    /// The certificate has expired or is not valid yet.
    OutOfDate,
    /// The TLS handshake failed otherwise.
    Handshake,
    /// The server takes only encrypted connections (pg_hba.conf `hostssl`), and none was asked for.
    EncryptionRequired,
    /// Anything else: Postgres's own message says it (a wrong password, no such database).
    Other,
}

/// The message for a connection that failed: what happened, then what to do.
pub(crate) fn explain(error: &(dyn Error + 'static), tls: &Tls) -> String {
    let what = describe(error);
    let advice = match classify(error) {
        Failure::Refused => "Is Postgres running, and are the URL's host and port right?".to_string(),
        Failure::Unreachable => "Check the URL's host and port, and that this machine can reach them.".to_string(),
        Failure::NoTlsOnServer => format!(
            "The server does not accept TLS, which sslmode={} requires: turn ssl on in its postgresql.conf, or, \
             on a network you trust, connect with sslmode=prefer or sslmode=disable.",
            tls.mode
        ),
        Failure::Untrusted => {
            let roots = tls.roots().unwrap_or(Roots::System);
            format!(
                "The server's TLS certificate is not trusted: no CA in {roots} signed it. Name the certificate of \
                 the CA that did with sslrootcert=PATH (a managed Postgres service publishes its own), or, to \
                 encrypt without checking who the server is, use sslmode=require without sslrootcert."
            )
        }
        Failure::WrongName => "The server's TLS certificate is not for the host name in the URL: connect by a name \
                               the certificate lists, or use sslmode=verify-ca to check only that a trusted CA \
                               signed it."
            .to_string(),
        Failure::OutOfDate => "The server's TLS certificate has expired or is not valid yet: renew it on the \
                               server, or check this machine's clock."
            .to_string(),
        Failure::Handshake => "The TLS handshake with the server failed: baton speaks TLS 1.2 and 1.3 and sends \
                               no client certificate; check the server's ssl settings."
            .to_string(),
        Failure::EncryptionRequired => "The server takes only encrypted connections from here: add \
                                        sslmode=require to the URL, or sslmode=verify-full to check its \
                                        certificate too."
            .to_string(),
        Failure::Other => return format!("cannot connect: {what}"),
    };
    format!("cannot connect: {what}. {advice}")
}

/// What an error says: Postgres's own message when the server sent one, otherwise the error and
/// its causes.
pub(crate) fn describe(error: &(dyn Error + 'static)) -> String {
    if let Some(db) = links(error).find_map(|link| link.downcast_ref::<DbError>()) {
        return db.message().to_string();
    }
    causes(error).map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

/// The error and its causes, with what an `io::Error` wraps (rustls's errors reach
/// tokio-postgres inside one, and `io::Error::source` skips them).
fn links<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    causes(error).flat_map(|link| {
        let wrapped = link.downcast_ref::<io::Error>().and_then(io::Error::get_ref);
        once(link).chain(wrapped.map(|inner| inner as &(dyn Error + 'static)))
    })
}

/// The error and its causes.
fn causes<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    successors(Some(error), |link: &&'a (dyn Error + 'static)| {
        let link: &'a (dyn Error + 'static) = *link;
        link.source()
    })
}

fn classify(error: &(dyn Error + 'static)) -> Failure {
    for link in links(error) {
        if let Some(tls) = link.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                ) => Failure::WrongName,
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. },
                ) => Failure::OutOfDate,
                rustls::Error::InvalidCertificate(_) => Failure::Untrusted,
                _ => Failure::Handshake,
            };
        }
        if let Some(db) = link.downcast_ref::<DbError>() {
            let unencrypted = db.message().contains("no encryption") || db.message().contains("SSL off");
            return if db.code() == &SqlState::INVALID_AUTHORIZATION_SPECIFICATION && unencrypted {
                Failure::EncryptionRequired
            } else {
                Failure::Other
            };
        }
        if let Some(io) = link.downcast_ref::<io::Error>() {
            // NotFound: a Unix socket that is not there.
            if matches!(io.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) {
                return Failure::Refused;
            }
        }
        // tokio-postgres's words for the server's "N" to its TLS request.
        if link.to_string() == "server does not support TLS" {
            return Failure::NoTlsOnServer;
        }
    }
    // tokio-postgres's words for its kinds of error.
    match error.to_string().as_str() {
        "error performing TLS handshake" => Failure::Handshake,
        "error connecting to server" | "timeout waiting for server" => Failure::Unreachable,
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres_url::split;
    use std::fmt;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// An error with a cause, as tokio-postgres makes them.
    #[derive(Debug)]
    struct Caused(&'static str, Box<dyn Error + Send + Sync>);

    impl fmt::Display for Caused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Caused {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.1)
        }
    }

    /// A failed handshake as tokio-postgres reports it: rustls's error inside tokio-rustls's
    /// `io::Error`.
    fn handshake(error: CertificateError) -> Caused {
        let io = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(error));
        Caused("error performing TLS handshake", Box::new(io))
    }

    fn settings(query: &str) -> Tls {
        split(&format!("postgres://baton:hunter2@db/baton?{query}")).expect("valid settings").1
    }

    /// A one-connection server on 127.0.0.1 that reads the client's first message and answers
    /// `reply`, then waits for the client to hang up.
    fn answering(reply: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut length = [0u8; 4];
            if stream.read_exact(&mut length).is_err() {
                return;
            }
            let mut rest = vec![0u8; (u32::from_be_bytes(length) as usize).saturating_sub(4).min(1 << 16)];
            if stream.read_exact(&mut rest).is_ok() && stream.write_all(&reply).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        });
        port
    }

    async fn connecting(url: &str) -> (tokio_postgres::Error, Tls) {
        let (rest, tls) = split(url).expect("valid settings");
        let mut config: tokio_postgres::Config = rest.parse().expect("a valid URL");
        super::super::tls::apply(&tls, &mut config);
        config.connect_timeout(std::time::Duration::from_secs(10));
        let connector = super::super::tls::connector(&tls).expect("a connector");
        match config.connect(connector).await {
            Ok(_) => panic!("{url} connected"),
            Err(error) => (error, tls),
        }
    }

    #[test]
    fn certificate_failures_say_which_check_failed_and_what_to_do() {
        let full = settings("sslmode=verify-full");
        let untrusted = explain(&handshake(CertificateError::UnknownIssuer), &full);
        assert!(untrusted.contains("certificate is not trusted"), "{untrusted}");
        assert!(untrusted.contains("no CA in the system's certificate store signed it"), "{untrusted}");
        assert!(untrusted.contains("sslrootcert=PATH") && !untrusted.contains("Postgres running"), "{untrusted}");
        let with_file = explain(&handshake(CertificateError::UnknownIssuer), &settings("sslrootcert=/etc/ca.pem"));
        assert!(with_file.contains("no CA in the CA file /etc/ca.pem signed it"), "{with_file}");

        let name = explain(&handshake(CertificateError::NotValidForName), &full);
        assert!(name.contains("not for the host name in the URL") && name.contains("verify-ca"), "{name}");
        let expired = explain(&handshake(CertificateError::Expired), &full);
        assert!(expired.contains("has expired or is not valid yet"), "{expired}");
        let other = Caused("error performing TLS handshake", Box::new(rustls::Error::HandshakeNotComplete));
        let other = explain(&other, &full);
        assert!(other.contains("TLS handshake with the server failed"), "{other}");
        for message in [untrusted, name, expired, other] {
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[tokio::test]
    async fn only_a_refused_connection_asks_whether_postgres_runs() {
        let free_port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let (error, tls) = connecting(&format!("postgres://baton@127.0.0.1:{free_port}/baton")).await;
        let refused = explain(&error, &tls);
        assert!(refused.contains("Is Postgres running, and are the URL's host and port right?"), "{refused}");
        assert!(refused.contains("Connection refused"), "the cause is shown: {refused}");
    }

    #[tokio::test]
    async fn a_server_without_tls_is_named_as_such() {
        let port = answering(b"N".to_vec());
        let (error, tls) = connecting(&format!("postgres://baton@127.0.0.1:{port}/baton?sslmode=require")).await;
        let no_tls = explain(&error, &tls);
        assert!(no_tls.contains("The server does not accept TLS, which sslmode=require requires"), "{no_tls}");
        assert!(!no_tls.contains("Postgres running"), "{no_tls}");
    }

    #[tokio::test]
    async fn a_server_that_wants_tls_says_to_ask_for_it() {
        let message = "no pg_hba.conf entry for host \"127.0.0.1\", user \"baton\", database \"baton\", no encryption";
        let mut fields = Vec::new();
        for (code, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', "28000"), (b'M', message)] {
            fields.push(code);
            fields.extend_from_slice(value.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut reply = vec![b'E'];
        reply.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
        reply.extend_from_slice(&fields);
        let port = answering(reply);
        let (error, tls) = connecting(&format!("postgres://baton@127.0.0.1:{port}/baton?sslmode=disable")).await;
        let wants_tls = explain(&error, &tls);
        assert!(wants_tls.starts_with(&format!("cannot connect: {message}. ")), "{wants_tls}");
        assert!(wants_tls.contains("add sslmode=require"), "{wants_tls}");
    }
}
