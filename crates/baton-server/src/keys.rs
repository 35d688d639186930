//! API keys and roles: `keys.toml` holds `[[key]]` tables `{ name, role, sha256 }`, the SHA-256 of
//! each key in lowercase hex (the secret itself is never stored). Requests send
//! `Authorization: Bearer KEY`; `baton keys new --name N --role R` makes a key and its table.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;
use toml::Spanned;

/// What to do when a keys file is wrong: how to make a valid `[[key]]`.
const MAKE_ONE: &str = "make one with `baton keys new --name NAME --role client`";

/// The prefix of every key `new_key` makes.
const PREFIX: &str = "baton_";

/// Why a keys file, a key name or a new key is refused. Each message says where (`FILE:LINE:COLUMN`
/// for a keys file) and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The keys file cannot be read.
    #[error(
        "cannot read the keys file {path}: {error}: check the path, or make a key with \
         `baton keys new --name NAME --role client >> {path}`"
    )]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
    /// The file is not TOML of `[[key]]` tables.
    #[error("{place}: {message}: each [[key]] holds the strings name, role and sha256; {MAKE_ONE}")]
    Syntax {
        /// `FILE:LINE:COLUMN`, or the file where the parser says no place.
        place: String,
        /// The parser's message.
        message: String,
    },
    /// The file holds no key.
    #[error("{0} holds no [[key]]: add one with `baton keys new --name NAME --role client`")]
    NoKey(String),
    /// A key name is not allowed.
    #[error(
        "{}the key name {name:?} is not allowed: use 1 to 64 letters, digits, '_', '.', '@' or '-' (like anna or \
         ci-bot)",
        at(place)
    )]
    BadName {
        /// `FILE:LINE:COLUMN`, where the name is in a keys file.
        place: Option<String>,
        /// The name.
        name: String,
    },
    /// A role is none of `client`, `operator`, `admin`.
    #[error("{}unknown role {role:?}: use client, operator or admin", at(place))]
    BadRole {
        /// `FILE:LINE:COLUMN`, where the role is in a keys file.
        place: Option<String>,
        /// The role written.
        role: String,
    },
    /// A `sha256` is not 64 hex digits.
    #[error("{place}: sha256 must be 64 hex digits (the SHA-256 of the key): {MAKE_ONE}")]
    BadDigest {
        /// `FILE:LINE:COLUMN`.
        place: String,
    },
    /// Two keys have one name.
    #[error("{place}: the name {name:?} is already taken by the key at {first}: give each key its own name")]
    SameName {
        /// `FILE:LINE:COLUMN` of the second.
        place: String,
        /// The name.
        name: String,
        /// `FILE:LINE:COLUMN` of the first.
        first: String,
    },
    /// Two keys have one secret.
    #[error("{place}: this sha256 is also the key {other:?}'s (at {first}): give each key its own secret; {MAKE_ONE}")]
    SameSecret {
        /// `FILE:LINE:COLUMN` of the second.
        place: String,
        /// The other key's name.
        other: String,
        /// `FILE:LINE:COLUMN` of the first.
        first: String,
    },
    /// The system's random source failed while making a key.
    #[error("cannot make a key: the system's random source failed ({0}); try again")]
    NoRandomness(String),
}

impl KeysError {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            KeysError::Unreadable { .. } => "unreadable",
            KeysError::Syntax { .. } => "syntax",
            KeysError::NoKey(_) => "no_key",
            KeysError::BadName { .. } => "bad_name",
            KeysError::BadRole { .. } => "bad_role",
            KeysError::BadDigest { .. } => "bad_digest",
            KeysError::SameName { .. } => "same_name",
            KeysError::SameSecret { .. } => "same_secret",
            KeysError::NoRandomness(_) => "no_randomness",
        }
    }
}

/// `place: `, for a message about a place in a keys file.
fn at(place: &Option<String>) -> String {
    place.as_ref().map(|place| format!("{place}: ")).unwrap_or_default()
}

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Talks to conversations as a user.
    Client,
    /// Works the escalation queue and decides on approvals, besides what a client does.
    Operator,
    /// Everything, including what only an administrator may see or change.
    Admin,
}

impl Role {
    /// The role as written in keys.toml: `client`, `operator` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = KeysError;

    fn from_str(text: &str) -> Result<Role, KeysError> {
        match text {
            "client" => Ok(Role::Client),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(KeysError::BadRole { place: None, role: other.to_string() }),
        }
    }
}

/// One API key: who it is and what it may do (the secret itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key's name, unique in its file (who holds it, for logs and the journal).
    pub name: String,
    /// What the key may do.
    pub role: Role,
}

/// A key the server accepts: who it is, and the SHA-256 of its secret.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    digest: [u8; 32],
}

/// The keys a server accepts, from keys.toml.
#[derive(Clone, Debug)]
pub struct Keys {
    entries: Vec<Entry>,
}

/// keys.toml as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    key: Vec<RawKey>,
}

/// One `[[key]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    role: Spanned<String>,
    sha256: Spanned<String>,
}

impl Keys {
    /// Reads a keys file. Errors name the file and the line:column of the problem, and what to do
    /// (e.g. "keys.toml:4:10: sha256 must be 64 hex digits (the SHA-256 of the key): make one with
    /// `baton keys new --name NAME --role client`").
    pub fn load(path: &Path) -> Result<Keys, KeysError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| KeysError::Unreadable { path: path.display().to_string(), error: error.to_string() })?;
        Keys::parse(&text, &path.display().to_string())
    }

    /// Same as [`Keys::load`] from text; `origin` is the file name used in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Keys, KeysError> {
        let at = |offset: usize| {
            let (line, column) = line_column(text, offset);
            format!("{origin}:{line}:{column}")
        };
        let raw: RawFile = toml::from_str(text).map_err(|error| KeysError::Syntax {
            place: error.span().map_or_else(|| origin.to_owned(), |span| at(span.start)),
            message: error.message().trim_end().to_string(),
        })?;
        if raw.key.is_empty() {
            return Err(KeysError::NoKey(origin.to_string()));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(raw.key.len());
        let mut starts: Vec<(usize, usize)> = Vec::with_capacity(raw.key.len());
        for raw_key in raw.key {
            let name = raw_key.name.get_ref();
            let placed = |place: usize| Some(at(place));
            check_name(name)
                .map_err(|_| KeysError::BadName { place: placed(raw_key.name.span().start), name: name.clone() })?;
            let role = Role::from_str(raw_key.role.get_ref()).map_err(|_| KeysError::BadRole {
                place: placed(raw_key.role.span().start),
                role: raw_key.role.get_ref().clone(),
            })?;
            let digest = parse_digest(raw_key.sha256.get_ref())
                .ok_or_else(|| KeysError::BadDigest { place: at(raw_key.sha256.span().start) })?;
            for (entry, &(name_start, digest_start)) in entries.iter().zip(&starts) {
                if entry.key.name == *name {
                    return Err(KeysError::SameName {
                        place: at(raw_key.name.span().start),
                        name: name.clone(),
                        first: at(name_start),
                    });
                }
                if entry.digest == digest {
                    return Err(KeysError::SameSecret {
                        place: at(raw_key.sha256.span().start),
                        other: entry.key.name.clone(),
                        first: at(digest_start),
                    });
                }
            }
            starts.push((raw_key.name.span().start, raw_key.sha256.span().start));
            entries.push(Entry { key: Key { name: raw_key.name.into_inner(), role }, digest });
        }
        Ok(Keys { entries })
    }

    /// The key whose digest is SHA-256(secret), compared in constant time over all keys.
    pub fn find(&self, secret: &str) -> Option<&Key> {
        if secret.is_empty() {
            return None;
        }
        let digest = sha256(secret);
        let mut found = None;
        for entry in &self.entries {
            let difference = entry.digest.iter().zip(&digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(difference) == 0 {
                found = Some(&entry.key);
            }
        }
        found
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys (never true of keys read by [`Keys::load`] or [`Keys::parse`]).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A fresh key for `name` with `role`: the secret (256 random bits, printed once) and the
/// `[[key]]` table to append to keys.toml.
pub fn new_key(name: &str, role: Role) -> Result<(String, String), KeysError> {
    check_name(name)?;
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|error| KeysError::NoRandomness(error.to_string()))?;
    let secret = format!("{PREFIX}{}", hex(&random));
    let table = format!(
        "[[key]]\nname = {}\nrole = {}\nsha256 = \"{}\"\n",
        toml_string(name),
        toml_string(role.as_str()),
        sha256_hex(&secret)
    );
    Ok((secret, table))
}

/// The SHA-256 of `secret` in lowercase hex, as a `[[key]]`'s `sha256` holds it.
pub fn sha256_hex(secret: &str) -> String {
    hex(&sha256(secret))
}

/// Checks a key name: 1–64 chars of [A-Za-z0-9_.@-].
pub fn check_name(name: &str) -> Result<(), KeysError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-');
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(KeysError::BadName { place: None, name: name.to_string() });
    }
    Ok(())
}

/// The SHA-256 of `secret`.
fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The 32 bytes of a 64-digit hex digest, either case; `None` if it is not one.
fn parse_digest(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        if !pair.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(digest)
}

/// `bytes` in lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// `text` as a TOML basic string, quoted and escaped.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The 1-based line and character column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DIGEST_A: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; // sha256("hello")
    const DIGEST_B: &str = "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"; // sha256("world")

    fn file(tables: &[(&str, &str, &str)]) -> String {
        tables
            .iter()
            .map(|(name, role, sha)| format!("[[key]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{sha}\"\n"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn error(text: &str) -> String {
        Keys::parse(text, "keys.toml").err().unwrap().to_string()
    }

    #[test]
    fn parses_a_good_file() {
        let text =
            format!("# who may call\n{}", file(&[("anna", "operator", DIGEST_A), ("ci-bot", "client", DIGEST_B)]));
        let keys = Keys::parse(&text, "keys.toml").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!keys.is_empty());
        assert_eq!(keys.find("hello"), Some(&Key { name: "anna".into(), role: Role::Operator }));
        assert_eq!(keys.find("world"), Some(&Key { name: "ci-bot".into(), role: Role::Client }));
    }

    #[test]
    fn find_refuses_wrong_and_empty_secrets() {
        let keys = Keys::parse(&file(&[("anna", "admin", DIGEST_A)]), "keys.toml").unwrap();
        assert_eq!(keys.find("hello").map(|key| key.role), Some(Role::Admin));
        assert_eq!(keys.find("hello "), None);
        assert_eq!(keys.find("Hello"), None);
        assert_eq!(keys.find(""), None);
        assert_eq!(keys.find(DIGEST_A), None);
    }

    #[test]
    fn uppercase_digests_are_accepted() {
        let keys = Keys::parse(&file(&[("anna", "client", &DIGEST_A.to_uppercase())]), "keys.toml").unwrap();
        assert_eq!(keys.find("hello").map(|key| key.name.as_str()), Some("anna"));
    }

    #[test]
    fn unknown_fields_are_named_with_their_position() {
        let text = format!("{}owner = \"x\"\n", file(&[("anna", "client", DIGEST_A)]));
        let message = error(&text);
        assert!(message.starts_with("keys.toml:5:1: unknown field `owner`"), "{message}");
        assert!(message.contains("baton keys new"), "{message}");
        let message = error(&format!("[[keys]]\nname = \"anna\"\n\n{}", file(&[("bob", "client", DIGEST_A)])));
        assert!(message.starts_with("keys.toml:1:"), "{message}");
        assert!(message.contains("unknown field `keys`"), "{message}");
    }

    #[test]
    fn missing_fields_are_named_with_their_position() {
        let text = format!("{}\n[[key]]\nname = \"bob\"\nrole = \"client\"\n", file(&[("anna", "client", DIGEST_A)]));
        let message = error(&text);
        assert!(message.starts_with("keys.toml:6:"), "{message}");
        assert!(message.contains("missing field `sha256`"), "{message}");
    }

    #[test]
    fn bad_roles_list_the_roles() {
        let message = error(&file(&[("anna", "root", DIGEST_A)]));
        assert_eq!(message, "keys.toml:3:8: unknown role \"root\": use client, operator or admin");
        let message = error("[[key]]\nname = \"anna\"\nrole = 3\nsha256 = \"x\"\n");
        assert!(message.starts_with("keys.toml:3:8: "), "{message}");
    }

    #[test]
    fn bad_digests_say_how_to_make_one() {
        for bad in
            ["abc", &DIGEST_A[..63], &format!("{}g", &DIGEST_A[..63]), &format!("{DIGEST_A}0"), "é".repeat(32).as_str()]
        {
            let message = error(&file(&[("anna", "client", bad)]));
            assert_eq!(
                message,
                "keys.toml:4:10: sha256 must be 64 hex digits (the SHA-256 of the key): make one with \
                 `baton keys new --name NAME --role client`"
            );
        }
    }

    #[test]
    fn bad_names_are_refused_with_their_position() {
        let message = error(&file(&[("anna smith", "client", DIGEST_A)]));
        assert!(message.starts_with("keys.toml:2:8: the key name \"anna smith\" is not allowed"), "{message}");
    }

    #[test]
    fn duplicate_names_and_digests_are_refused() {
        let message = error(&file(&[("anna", "client", DIGEST_A), ("anna", "admin", DIGEST_B)]));
        assert_eq!(
            message,
            "keys.toml:7:8: the name \"anna\" is already taken by the key at keys.toml:2:8: give each key its own name"
        );
        let message = error(&file(&[("anna", "client", DIGEST_A), ("bob", "admin", &DIGEST_A.to_uppercase())]));
        assert!(message.starts_with("keys.toml:9:10: this sha256 is also the key \"anna\"'s (at keys.toml:4:10)"));
        assert!(message.contains("baton keys new"), "{message}");
    }

    #[test]
    fn a_file_without_keys_is_an_error() {
        for text in ["", "# nothing yet\n"] {
            assert_eq!(
                error(text),
                "keys.toml holds no [[key]]: add one with `baton keys new --name NAME --role client`"
            );
        }
        let message = error("key = [\n");
        assert!(message.starts_with("keys.toml:"), "{message}");
    }

    #[test]
    fn load_names_a_missing_file() {
        let path = std::env::temp_dir().join("baton-keys-test-does-not-exist/keys.toml");
        let error = Keys::load(&path).err().unwrap();
        assert!(matches!(&error, KeysError::Unreadable { path: named, .. } if named == &path.display().to_string()));
        let message = error.to_string();
        assert!(message.starts_with(&format!("cannot read the keys file {}: ", path.display())), "{message}");
    }

    #[test]
    fn new_keys_parse_back_and_differ() {
        let (secret, table) = new_key("anna", Role::Operator).unwrap();
        assert!(secret.starts_with("baton_"), "{secret}");
        assert_eq!(secret.len(), 6 + 64);
        assert!(secret[6..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{secret}");
        let digest = sha256_hex(&secret);
        assert_eq!(sha256_hex("hello"), DIGEST_A);
        assert_eq!(table, format!("[[key]]\nname = \"anna\"\nrole = \"operator\"\nsha256 = \"{digest}\"\n"));
        let keys = Keys::parse(&table, "keys.toml").unwrap();
        assert_eq!(keys.find(&secret), Some(&Key { name: "anna".into(), role: Role::Operator }));

        let (other_secret, other_table) = new_key("bob", Role::Client).unwrap();
        assert_ne!(secret, other_secret);
        let keys = Keys::parse(&format!("{table}\n{other_table}"), "keys.toml").unwrap();
        assert_eq!(keys.find(&other_secret).map(|key| key.name.as_str()), Some("bob"));
        assert_eq!(keys.find(&secret).map(|key| key.name.as_str()), Some("anna"));
    }

    #[test]
    fn names_and_roles_are_checked() {
        assert!(check_name("anna.smith@example.com").is_ok());
        assert!(check_name(&"a".repeat(64)).is_ok());
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name("").is_err());
        assert!(check_name("anna\"").is_err());
        assert!(new_key("bad name", Role::Client).is_err());
        for role in [Role::Client, Role::Operator, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let unknown = "Admin".parse::<Role>().unwrap_err();
        assert_eq!(unknown, KeysError::BadRole { place: None, role: "Admin".into() });
        assert_eq!(unknown.to_string(), "unknown role \"Admin\": use client, operator or admin");
        assert_eq!(toml_string("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }
}
