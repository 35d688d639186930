//! TLS to Postgres, against the test database (`BATON_TEST_POSTGRES`, by default
//! `postgres://postgres@127.0.0.1:5432/test`) serving a certificate this test makes:
//! `sslmode=require` encrypts without checking it, `verify-full` and `verify-ca` trust the test's
//! CA and no other, and each failure says which check failed.
//!
//! External tier only (`cargo xtask test`). The test configures the server: it writes the
//! certificate and key into the data directory (`lo_export`, then `chmod 600` through `COPY TO
//! PROGRAM`, since Postgres takes only a key its owner alone may read), points `ssl_cert_file` and
//! `ssl_key_file` at them with `ALTER SYSTEM` and reloads. So it needs a superuser, which the
//! default URL is, and works as well against a server in a container. It puts the settings back
//! (and reloads) also when a check fails, and holds an advisory lock meanwhile, so no two runs
//! change the server at once. Connections that do not check the certificate, like every other
//! test's, work throughout.
#![cfg(feature = "external-tests")]
#![allow(clippy::unwrap_used)]

use baton_store::PostgresStore;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// The server's certificate and key, in its data directory.
const CERT_FILE: &str = "baton-test-tls.crt";
const KEY_FILE: &str = "baton-test-tls.key";

/// An advisory lock key: one run at a time configures the server.
const LOCK: i64 = 0x6261_746f_6e54;

/// How long the server may take to load the new certificate after a reload.
const PATIENCE: Duration = Duration::from_secs(15);

fn base_url() -> String {
    std::env::var("BATON_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn admin(base: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(base, NoTls).await.unwrap_or_else(|e| {
        panic!(
            "the Postgres tests need a database at {base} (BATON_TEST_POSTGRES): {e}; run them with \
             `cargo xtask test`, which checks the database first and says how to get one"
        )
    });
    tokio::spawn(connection);
    client
}

/// The host and the address the base URL reaches.
async fn host_and_address(base: &str) -> (String, IpAddr) {
    let config: Config = base.parse().unwrap();
    let Some(Host::Tcp(host)) = config.get_hosts().first() else { panic!("the TLS test needs a TCP host in {base}") };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let address = tokio::net::lookup_host((host.as_str(), port)).await.unwrap().next().unwrap().ip();
    (host.clone(), address)
}

/// The test's certificates: the CA the server's is signed by, another CA, and the server's
/// certificate and key.
struct Certificates {
    ca_file: PathBuf,
    other_ca_file: PathBuf,
    server_cert: String,
    server_key: String,
}

fn certificates(dir: &Path, server_names: Vec<String>) -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let (trusted, other) = (ca("baton test CA"), ca("another CA"));
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(server_names).unwrap().signed_by(&server_key, &trusted).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let (ca_file, other_ca_file) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
    std::fs::write(&ca_file, trusted.pem()).unwrap();
    std::fs::write(&other_ca_file, other.pem()).unwrap();
    Certificates { ca_file, other_ca_file, server_cert: server_cert.pem(), server_key: server_key.serialize_pem() }
}

/// The settings of ours that postgresql.auto.conf holds now (`None`: it does not set it, or a
/// run that was killed left it pointing at our files).
async fn auto_conf(admin: &Client, names: &[&str]) -> Vec<(String, Option<String>)> {
    let rows = admin
        .query(
            "SELECT name, setting FROM pg_file_settings
             WHERE sourcefile LIKE '%postgresql.auto.conf' AND name = ANY($1) ORDER BY seqno",
            &[&names],
        )
        .await
        .unwrap();
    names
        .iter()
        .map(|name| {
            let set = rows.iter().rfind(|row| row.get::<_, &str>(0) == *name);
            let value =
                set.map(|row| row.get::<_, String>(1)).filter(|value| ![CERT_FILE, KEY_FILE].contains(&&**value));
            (name.to_string(), value)
        })
        .collect()
}

/// Serves the test's certificate and waits until the server does.
async fn configure(admin: &Client, certificates: &Certificates, check: &str) {
    for (file, pem) in [(CERT_FILE, &certificates.server_cert), (KEY_FILE, &certificates.server_key)] {
        let object: u32 = admin.query_one("SELECT lo_from_bytea(0, $1)", &[&pem.as_bytes()]).await.unwrap().get(0);
        admin.execute("SELECT lo_export($1, $2)", &[&object, &file]).await.unwrap();
        admin.execute("SELECT lo_unlink($1)", &[&object]).await.unwrap();
    }
    admin.batch_execute(&format!("COPY (SELECT 1) TO PROGRAM 'chmod 600 {KEY_FILE}'")).await.unwrap();
    admin.batch_execute(&format!("ALTER SYSTEM SET ssl_cert_file = '{CERT_FILE}'")).await.unwrap();
    admin.batch_execute(&format!("ALTER SYSTEM SET ssl_key_file = '{KEY_FILE}'")).await.unwrap();
    admin.batch_execute("ALTER SYSTEM SET ssl = on").await.unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    let start = Instant::now();
    loop {
        match PostgresStore::connect(check).await {
            Ok(_) => return,
            Err(error) if start.elapsed() > PATIENCE => panic!(
                "the server did not serve the test's certificate within {PATIENCE:?} of a reload (its log \
                 says why): {error}"
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Puts postgresql.auto.conf's settings back and reloads.
async fn restore(admin: &Client, settings: &[(String, Option<String>)]) {
    for (name, value) in settings {
        let statement = match value {
            Some(value) => format!("ALTER SYSTEM SET {name} = '{}'", value.replace('\'', "''")),
            None => format!("ALTER SYSTEM RESET {name}"),
        };
        admin.batch_execute(&statement).await.unwrap_or_else(|e| {
            panic!("could not put the server's {name} back ({e}): run {statement} and SELECT pg_reload_conf()")
        });
    }
    admin.batch_execute("SELECT pg_reload_conf()").await.unwrap();
}

/// Whether each of the connections named `application` is encrypted, as the server sees them.
async fn encrypted(admin: &Client, application: &str) -> Vec<bool> {
    let rows = admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&application],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// `url` with its host replaced by `host`, reached at `address` (libpq's `hostaddr`).
fn renamed(url: &str, host: &str, address: IpAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (user, host_port) = authority.rsplit_once('@').map_or(("", authority), |(user, host)| (user, host));
    let port = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once("]:").map(|(_, port)| port),
        None => host_port.rsplit_once(':').map(|(_, port)| port),
    };
    let at = if user.is_empty() { "" } else { "@" };
    let port = port.map(|port| format!(":{port}")).unwrap_or_default();
    let separator = if tail.contains('?') { '&' } else { '?' };
    let tail = if tail.is_empty() { "/" } else { tail };
    format!("{scheme}://{user}{at}{host}{port}{tail}{separator}hostaddr={address}")
}

/// Every check, with the server serving the test's certificate.
async fn checks(admin: Arc<Client>, base: String, certificates: Certificates, schema: String) {
    let ca = certificates.ca_file.display().to_string();
    let other_ca = certificates.other_ca_file.display().to_string();
    let url = |base: &str, application: &str, tls: &str| {
        let separator = if base.contains('?') { '&' } else { '?' };
        let tls = if tls.is_empty() { String::new() } else { format!("&{tls}") };
        format!("{base}{separator}options=-csearch_path%3D{schema}&application_name={application}{tls}")
    };
    configure(&admin, &certificates, &url(&base, "baton-tls-wait", &format!("sslmode=verify-full&sslrootcert={ca}")))
        .await;

    // Connects, and every connection of the store's is (or is not) encrypted.
    let connects = |application: &'static str, tls: String, expect_ssl: bool| {
        let (admin, url) = (admin.clone(), url(&base, application, &tls));
        async move {
            let store = PostgresStore::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{tls} should connect to the server with the test's certificate: {e}"));
            let seen = encrypted(&admin, application).await;
            assert!(!seen.is_empty() && seen.iter().all(|ssl| *ssl == expect_ssl), "{tls}: ssl {seen:?}");
            drop(store);
        }
    };
    // Fails, and says why in `words`, never asking whether Postgres runs.
    let fails = |url: String, words: Vec<String>| async move {
        let message = match PostgresStore::connect(&url).await {
            Ok(_) => panic!("{url} connected"),
            Err(error) => error.to_string(),
        };
        for word in words {
            assert!(message.contains(&word), "{url}: '{word}' not in: {message}");
        }
        assert!(!message.contains("Postgres running"), "{message}");
    };

    // require encrypts without checking the certificate, which the system's store does not trust.
    connects("baton-tls-require", "sslmode=require".into(), true).await;
    // With no sslmode, prefer: encrypted when the server offers TLS, as libpq.
    connects("baton-tls-prefer", String::new(), true).await;
    connects("baton-tls-disable", "sslmode=disable".into(), false).await;
    connects("baton-tls-verify-full", format!("sslmode=verify-full&sslrootcert={ca}"), true).await;

    let not_trusted =
        |roots: &str| vec!["certificate is not trusted".to_string(), format!("no CA in {roots} signed it")];
    let other_file = format!("the CA file {other_ca}");
    fails(url(&base, "x", &format!("sslmode=verify-full&sslrootcert={other_ca}")), not_trusted(&other_file)).await;
    fails(url(&base, "x", "sslmode=verify-full"), not_trusted("the system's certificate store")).await;
    // A CA file makes require check the chain, as libpq.
    fails(url(&base, "x", &format!("sslmode=require&sslrootcert={other_ca}")), not_trusted(&other_file)).await;

    // The right CA, but a host name the certificate does not carry.
    let (_, address) = host_and_address(&base).await;
    let elsewhere = renamed(&base, "wrong-name.invalid", address);
    let name = vec!["not for the host name in the URL".to_string(), "sslmode=verify-ca".to_string()];
    fails(url(&elsewhere, "x", &format!("sslmode=verify-full&sslrootcert={ca}")), name).await;
    let store =
        PostgresStore::connect(&url(&elsewhere, "baton-tls-verify-ca", &format!("sslmode=verify-ca&sslrootcert={ca}")))
            .await
            .unwrap_or_else(|e| panic!("verify-ca checks the CA and not the name: {e}"));
    assert_eq!(encrypted(&admin, "baton-tls-verify-ca").await.first(), Some(&true));
    drop(store);
}

#[tokio::test]
async fn postgres_speaks_tls_as_sslmode_asks() {
    let base = base_url();
    let admin = admin(&base).await;
    admin.execute("SELECT pg_advisory_lock($1)", &[&LOCK]).await.unwrap();
    let superuser: bool =
        admin.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[]).await.unwrap().get(0);
    assert!(
        superuser,
        "the TLS test serves a certificate of its own (ALTER SYSTEM, lo_export, COPY TO PROGRAM), so \
         BATON_TEST_POSTGRES must name a superuser, as the default postgres://postgres@127.0.0.1:5432/test does"
    );
    let (host, _) = host_and_address(&base).await;
    let mut names = vec![host, "localhost".to_string(), "127.0.0.1".to_string()];
    names.sort();
    names.dedup();
    let dir = std::env::temp_dir().join(format!("baton-tls-test-{}", std::process::id()));
    let certificates = certificates(&dir, names);
    let schema = format!("tls_{}", std::process::id());
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).await.unwrap();
    let original = auto_conf(&admin, &["ssl", "ssl_cert_file", "ssl_key_file"]).await;

    let admin = Arc::new(admin);
    let outcome = tokio::spawn(checks(admin.clone(), base, certificates, schema.clone())).await;
    restore(&admin, &original).await;
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
    if let Err(failed) = outcome {
        std::panic::resume_unwind(failed.into_panic());
    }
}
