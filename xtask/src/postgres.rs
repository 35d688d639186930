//! Whether the test Postgres answers, checked before any test runs so that a missing database is
//! one clear message with what to do, not dozens of failed tests.
//!
//! It speaks only the protocol's start-up (a startup message, then the server's answers until it
//! is ready for a query): enough to tell "nothing listens", "no such database" and "that user may
//! not connect" apart, without a Postgres client library (xtask has no dependencies). A server that
//! asks for a password is taken as reachable when the URL holds one (the check does not send it).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The variable the tests read the database from.
pub const VARIABLE: &str = "BATON_TEST_POSTGRES";

/// The database the tests use when `BATON_TEST_POSTGRES` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long connecting, and then each read or write, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The protocol version of the startup message, 3.0.
const PROTOCOL_3_0: i32 = 196_608;

/// Where to connect and as whom, read from a `postgres://` URL.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    user: String,
    has_password: bool,
    database: String,
}

/// How to get a database the tests can use, for every error.
fn how_to_get_one(url: &str) -> String {
    format!(
        "The external tests need a Postgres database they may create schemas in, at {VARIABLE} \
         (now {url}; default {DEFAULT_URL}). Any one of:\n\
         \x20 * Debian or Ubuntu: sudo apt install postgresql, then\n\
         \x20     sudo -u postgres createdb test\n\
         \x20     sudo -u postgres psql -c \"ALTER USER postgres PASSWORD 'postgres'\"\n\
         \x20     export {VARIABLE}=postgres://postgres:postgres@127.0.0.1:5432/test\n\
         \x20 * Docker: docker run -d --name baton-test-postgres -p 127.0.0.1:5432:5432 \
         -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:17\n\
         \x20 * a server of your own: export {VARIABLE}=postgres://USER:PASSWORD@HOST:PORT/DATABASE\n\
         then run `cargo xtask test` again."
    )
}

/// Checks that the database at `url` takes a connection; the error says what is wrong and how to
/// get a database that works.
pub fn check(url: &str) -> Result<(), String> {
    let shown = without_password(url);
    let target = parse(url).map_err(|problem| format!("{VARIABLE}={shown} is not usable: {problem}."))?;
    let place = format!("{}:{}", target.host, target.port);
    handshake(&target).map_err(|problem| {
        format!("Postgres at {place} (database '{}') {problem}.\n{}", target.database, how_to_get_one(&shown))
    })
}

/// `url` with its password, if any, replaced by `***`, for messages.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_string(),
    }
}

/// Reads `postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE][?OPTIONS]`.
fn parse(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("it must start with postgres:// or postgresql://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user_info, host_port) = authority.rsplit_once('@').ok_or("name a user: postgres://USER@HOST:PORT/DATABASE")?;
    let (user, password) = match user_info.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (user_info, None),
    };
    if user.is_empty() {
        return Err("name a user: postgres://USER@HOST:PORT/DATABASE".into());
    }
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("an IPv6 address misses its closing ']'")?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("name the host: postgres://USER@HOST:PORT/DATABASE (a Unix socket is not supported here)".into());
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| format!("the port '{port}' is not a number from 1 to 65535"))?,
        None => 5432,
    };
    let database = path.split('?').next().unwrap_or_default();
    let database = if database.is_empty() { user } else { database };
    Ok(Target {
        host: host.to_string(),
        port,
        user: user.to_string(),
        has_password: password.is_some_and(|password| !password.is_empty()),
        database: database.to_string(),
    })
}

/// Connects, sends the startup message and reads the server's answers until it is ready for a
/// query (or refuses, or asks for a password).
fn handshake(target: &Target) -> Result<(), String> {
    let mut stream = connect(target)?;
    let io = |error: std::io::Error| format!("broke off the first exchange ({error}); is it a Postgres server?");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(&startup_message(&target.user, &target.database)).map_err(io)?;
    let outcome = loop {
        let (kind, body) = read_message(&mut stream).map_err(io)?;
        match kind {
            // Authentication: 0 is "ok"; any other code asks for a password.
            b'R' => match body.get(..4).map(|bytes| i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])) {
                Some(0) => continue,
                Some(_) if target.has_password => break Ok(()),
                Some(_) => {
                    break Err(format!(
                        "asks user '{}' for a password, and the URL holds none: write it as \
                         postgres://{}:PASSWORD@{}:{}/{}",
                        target.user, target.user, target.host, target.port, target.database
                    ))
                }
                None => break Err("sent an authentication message without its code".into()),
            },
            // Ready for a query: the user may connect to the database.
            b'Z' => break Ok(()),
            b'E' => break Err(refusal(&body, target)),
            // Parameter status, backend key data, notices: read on.
            b'S' | b'K' | b'N' => continue,
            other => {
                break Err(format!("answered with a message of type {:?}; is it a Postgres server?", other as char))
            }
        }
    };
    // Terminate; the server would end the connection anyway.
    let _ = stream.write_all(&[b'X', 0, 0, 0, 4]);
    outcome
}

/// A connection to the first of the host's addresses that takes one.
fn connect(target: &Target) -> Result<TcpStream, String> {
    let addresses = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot be found: the host does not resolve ({error})"))?;
    let mut last_error = String::from("cannot be found: the host has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = format!("does not answer ({error})"),
        }
    }
    Err(last_error)
}

/// One backend message: its type byte and its body.
fn read_message(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    let body_length = usize::try_from(length - 4)
        .ok()
        .filter(|length| *length <= 64 * 1024)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("a message of length {length}")))?;
    let mut body = vec![0u8; body_length];
    stream.read_exact(&mut body)?;
    Ok((header[0], body))
}

/// The startup message: protocol 3.0, the user and the database.
fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut parameters = Vec::new();
    for (key, value) in [("user", user), ("database", database)] {
        parameters.extend_from_slice(key.as_bytes());
        parameters.push(0);
        parameters.extend_from_slice(value.as_bytes());
        parameters.push(0);
    }
    parameters.push(0);
    let length = i32::try_from(8 + parameters.len()).unwrap_or(i32::MAX);
    let mut message = Vec::with_capacity(8 + parameters.len());
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    message.extend_from_slice(&parameters);
    message
}

/// What an ErrorResponse says, with what to do for the usual causes.
fn refusal(body: &[u8], target: &Target) -> String {
    let mut message = String::new();
    let mut code = String::new();
    for field in body.split(|byte| *byte == 0) {
        match field.split_first() {
            Some((b'M', text)) => message = String::from_utf8_lossy(text).into_owned(),
            Some((b'C', text)) => code = String::from_utf8_lossy(text).into_owned(),
            _ => {}
        }
    }
    let advice = match code.as_str() {
        "3D000" => format!(
            ": create it with `createdb -h {} -p {} -U {} {}`",
            target.host, target.port, target.user, target.database
        ),
        "28000" | "28P01" => ": name a user that exists and may connect from this address (pg_hba.conf)".to_string(),
        _ => String::new(),
    };
    format!("refused the connection: {message} (SQLSTATE {code}){advice}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16, user: &str, has_password: bool, database: &str) -> Target {
        Target { host: host.into(), port, user: user.into(), has_password, database: database.into() }
    }

    #[test]
    fn reads_the_usual_urls() {
        assert_eq!(parse(DEFAULT_URL), Ok(target("127.0.0.1", 5432, "postgres", false, "test")));
        assert_eq!(
            parse("postgresql://anna:secret@db.example:6543/journal?sslmode=disable"),
            Ok(target("db.example", 6543, "anna", true, "journal"))
        );
        assert_eq!(parse("postgres://anna@[::1]/"), Ok(target("::1", 5432, "anna", false, "anna")));
    }

    #[test]
    fn refuses_what_it_cannot_connect_to() {
        assert!(parse("mysql://root@localhost/test").is_err());
        assert!(parse("postgres://localhost/test").unwrap_err().contains("name a user"));
        assert!(parse("postgres://anna@:5432/test").unwrap_err().contains("name the host"));
        assert!(parse("postgres://anna@localhost:port/test").unwrap_err().contains("'port' is not a number"));
    }

    #[test]
    fn hides_the_password_in_messages() {
        assert_eq!(without_password("postgres://anna:secret@h:1/d"), "postgres://anna:***@h:1/d");
        assert_eq!(without_password(DEFAULT_URL), DEFAULT_URL);
    }

    #[test]
    fn a_port_where_nothing_listens_says_how_to_get_a_database() {
        let free_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or(1);
        let error = check(&format!("postgres://postgres@127.0.0.1:{free_port}/test")).unwrap_err();
        assert!(
            error.contains(&format!("Postgres at 127.0.0.1:{free_port} (database 'test') does not answer")),
            "{error}"
        );
        assert!(error.contains("apt install postgresql") && error.contains("docker run"), "{error}");
    }
}
