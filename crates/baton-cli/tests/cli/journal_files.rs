//! The journal file as `baton` finds it. One that cannot be used (empty, not SQLite, damaged,
//! written by a newer baton) exits 1 from every command that opens it, saying what it is, and is
//! left as it was; a journal copied to a read-only directory is read by the commands that only
//! read (`trace`, `queue list`).

use crate::support::{baton, example, temp_dir, text};
use std::path::Path;
use std::process::Command;

/// A journal of one conversation, written by `baton run` on the offline minimal team; its id.
fn journal(db: &Path) -> String {
    let team = example("minimal", "team.toml");
    let output = baton(&["run", team.to_str().unwrap(), "hello", "--db", db.to_str().unwrap(), "--json"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["conversation"].as_str().unwrap().to_string()
}

/// The bytes of a SQLite file with its schema version (the header's user_version) set.
fn with_version(mut bytes: Vec<u8>, version: u32) -> Vec<u8> {
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    bytes
}

#[test]
fn a_journal_that_cannot_be_used_exits_1_from_every_command_and_is_left_as_it_was() {
    let dir = temp_dir("unusable-journals");
    let team = example("minimal", "team.toml");
    let team = team.to_str().unwrap();
    let good = dir.join("good.db");
    let id = journal(&good);
    let bytes = std::fs::read(&good).unwrap();
    let version = u32::from_be_bytes(bytes[60..64].try_into().unwrap());
    let newer =
        format!("was written by a newer baton (schema {}, this one knows {version}): upgrade baton", version + 1);
    let cases = [
        ("empty", Vec::new(), "is not a baton journal: it is empty (0 bytes)"),
        ("text", b"these are my notes\n".repeat(500), "is not a baton journal: it is not a SQLite database"),
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "the file is damaged; restore it from a backup"),
        ("newer", with_version(bytes.clone(), version + 1), newer.as_str()),
    ];
    for (name, content, said) in cases {
        let path = dir.join(format!("{name}.db"));
        std::fs::write(&path, &content).unwrap();
        let db = path.to_str().unwrap();
        let commands: [&[&str]; 6] = [
            &["run", team, "hello", "--db", db],
            &["run", team, "hello", "--conversation", &id, "--db", db],
            &["trace", &id, "--db", db],
            &["resume", "--db", db],
            &["queue", "list", "--db", db],
            &["approve", &id, "call-1", "--db", db],
        ];
        for args in commands {
            let output = baton(args, &[]);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "baton {} on the {name} journal: {stderr}", args.join(" "));
            assert!(stderr.contains(said), "baton {} on the {name} journal: {stderr}", args.join(" "));
        }
        assert_eq!(std::fs::read(&path).unwrap(), content, "the {name} journal was changed");
    }
    let output = baton(&["trace", &id, "--db", dir.join("missing.db").to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(2), "a --db naming no file is a usage error: {}", text(&output.stderr));
}

/// Runs `baton args` in a process that cannot write `dir`: as user `nobody` when this one may
/// write anywhere (root).
fn baton_unable_to_write(dir: &Path, args: &[&str]) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
    command.args(args).current_dir(dir).env_remove("BATON_DB");
    if std::fs::write(dir.join("probe"), b"").is_ok() {
        std::fs::remove_file(dir.join("probe")).unwrap();
        command.uid(65534).gid(65534).env("HOME", dir);
    }
    command.output().unwrap()
}

#[test]
fn trace_and_queue_list_read_a_journal_in_a_read_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("read-only-journal");
    let id = journal(&dir.join("baton.db"));
    let copy = dir.join("medium");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(dir.join("baton.db"), copy.join("baton.db")).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o555)).unwrap();
    let trace = baton_unable_to_write(&copy, &["trace", &id, "--db", "baton.db"]);
    let list = baton_unable_to_write(&copy, &["queue", "list", "--db", "baton.db"]);
    let files: Vec<String> =
        std::fs::read_dir(&copy).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into()).collect();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(trace.status.code(), Some(0), "{}", text(&trace.stderr));
    assert!(text(&trace.stdout).contains(&format!("conversation {id}")), "{}", text(&trace.stdout));
    assert!(text(&trace.stdout).contains("user: hello"), "{}", text(&trace.stdout));
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    assert_eq!(files, ["baton.db"], "nothing was written beside it");
}
