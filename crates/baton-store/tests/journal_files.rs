//! What the SQLite store does with the file it is pointed at when that is no journal it may use:
//! an empty file, a file that is not SQLite, another program's database, a journal written by a
//! newer baton. Each is refused with what it is, and left as it was; a journal whose recorded
//! version fell behind its schema is repaired. And a journal opened to read only is read without
//! writing, also in a read-only directory, where SQLite cannot make the `-shm` file beside it.
#![allow(clippy::unwrap_used)]

use baton_core::{Input, JournalEntry};
use baton_store::{ConversationInfo, SqliteStore, Store, StoreError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Set in a process that reads the journal it names, read-only, and prints what it found.
const READER: &str = "BATON_TEST_READER";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baton-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A journal at `path` with conversation `c` of one entry, closed.
fn journal(path: &Path) {
    let store = SqliteStore::open(path).unwrap();
    tokio().block_on(async {
        let info = ConversationInfo { id: "c".into(), team: "t".into(), created_ms: 1, team_file: None, owner: None };
        store.create(&info).await.unwrap();
        let lease = store.acquire("c", "me", Duration::from_secs(30)).await.unwrap();
        store.append(&lease, 0, &[(2, JournalEntry::Input(Input::user("hello")))]).await.unwrap();
        store.release(&lease).await.unwrap();
    });
}

fn version_of(path: &Path) -> u32 {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap()
}

fn set_version(path: &Path, version: u32) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.pragma_update(None, "user_version", version).unwrap();
}

/// The error of opening `path` for writing, and of opening it to read only.
fn refusals(path: &Path) -> [StoreError; 2] {
    let writing = SqliteStore::open(path).err().expect("it was opened for writing");
    let reading = SqliteStore::open_read_only(path).err().expect("it was opened to read");
    [writing, reading]
}

#[test]
fn an_empty_file_is_refused_not_taken_for_a_new_journal() {
    let path = temp_dir("empty").join("baton.db");
    std::fs::write(&path, b"").unwrap();
    for refusal in refusals(&path) {
        assert!(matches!(refusal, StoreError::NotAJournal { .. }), "{refusal:?}");
        let message = refusal.to_string();
        assert!(message.contains("is not a baton journal: it is empty (0 bytes)"), "{message}");
        assert!(message.contains("move this file away"), "{message}");
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "the file is left as it was");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_as_it_was() {
    let path = temp_dir("text").join("notes.txt");
    let text = "these are my notes, not a journal\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    for refusal in refusals(&path) {
        assert!(matches!(refusal, StoreError::NotAJournal { .. }), "{refusal:?}");
        assert!(refusal.to_string().contains("it is not a SQLite database"), "{refusal}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn another_programs_database_is_refused_and_left_as_it_was() {
    let path = temp_dir("foreign").join("app.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection.execute_batch("CREATE TABLE notes (text TEXT); CREATE TABLE tags (name TEXT);").unwrap();
    drop(connection);
    for refusal in refusals(&path) {
        assert!(matches!(refusal, StoreError::NotAJournal { .. }), "{refusal:?}");
        let message = refusal.to_string();
        assert!(message.contains("a SQLite database of other tables (notes, tags), without baton's"), "{message}");
    }
    let connection = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["notes", "tags"], "no table of baton's was added");
    let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "delete", "its journal mode was not changed to WAL");
}

#[test]
fn a_journal_written_by_a_newer_baton_is_refused_and_left_as_it_was() {
    let path = temp_dir("newer").join("baton.db");
    journal(&path);
    let known = version_of(&path);
    set_version(&path, known + 1);
    for refusal in refusals(&path) {
        assert!(matches!(refusal, StoreError::NewerSchema { .. }), "{refusal:?}");
        let expected =
            format!("was written by a newer baton (schema {}, this one knows {known}): upgrade baton", known + 1);
        assert!(refusal.to_string().contains(&expected), "{refusal}");
    }
    assert_eq!(version_of(&path), known + 1);
    set_version(&path, known);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(tokio().block_on(store.journal("c")).unwrap().len(), 1, "nothing of it was changed");
}

#[test]
fn a_journal_whose_version_fell_behind_its_schema_is_brought_level() {
    // What two processes opening a new file at once could leave before migrations took the
    // write lock: the schema of the latest version, the version of the first.
    let path = temp_dir("behind").join("baton.db");
    journal(&path);
    let known = version_of(&path);
    set_version(&path, 1);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), known);
    assert_eq!(tokio().block_on(store.journal("c")).unwrap().len(), 1);
}

#[test]
fn a_new_journal_leaves_no_draft_beside_it() {
    let dir = temp_dir("new");
    let store = SqliteStore::open(&dir.join("baton.db")).unwrap();
    drop(store);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"baton.db".to_string()), "{names:?}");
    assert!(!names.iter().any(|name| name.contains(".new-")), "a draft was left: {names:?}");
}

#[test]
fn a_journal_opened_to_read_only_is_read_and_never_written() {
    let path = temp_dir("read-only").join("baton.db");
    journal(&path);
    let before = std::fs::read(&path).unwrap();
    let store = SqliteStore::open_read_only(&path).unwrap();
    let tokio = tokio();
    assert_eq!(tokio.block_on(store.journal("c")).unwrap().len(), 1);
    let info = ConversationInfo { id: "d".into(), team: "t".into(), created_ms: 1, team_file: None, owner: None };
    let refused = tokio.block_on(store.create(&info)).unwrap_err().to_string();
    assert!(refused.contains("opened to read only"), "{refused}");
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_journal_of_an_older_schema_is_not_read_without_bringing_it_up_to_date() {
    let path = temp_dir("older").join("baton.db");
    journal(&path);
    let known = version_of(&path);
    set_version(&path, known - 1);
    let refused = SqliteStore::open_read_only(&path).err().expect("it was opened").to_string();
    assert!(refused.contains(&format!("its schema (version {}) is older than this baton's ({known})", known - 1)));
    assert!(refused.contains("baton resume"), "{refused}");
    assert_eq!(SqliteStore::open(&path).unwrap().schema_version().unwrap(), known, "writing brings it up to date");
}

#[cfg(unix)]
/// In a reader process: opens the journal read-only and prints how many entries `c` has, or the
/// error, exiting 0 or 1.
fn be_a_reader(path: &str) -> ! {
    let read = SqliteStore::open_read_only(Path::new(path)).and_then(|store| tokio().block_on(store.journal("c")));
    match read {
        Ok(journal) => {
            println!("{} entries", journal.len());
            std::process::exit(0)
        }
        Err(error) => {
            println!("{error}");
            std::process::exit(1)
        }
    }
}

#[cfg(unix)]
/// Reads the journal at `path` in a process that cannot write its directory: this test binary run
/// again, as user `nobody` when this one may write anywhere (root).
fn read_in_a_process_that_cannot_write(path: &Path) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    let dir = path.parent().unwrap();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", "a_journal_in_a_read_only_directory_is_read_as_immutable", "--nocapture"]);
    command.env(READER, path);
    if std::fs::write(dir.join("probe"), b"").is_ok() {
        std::fs::remove_file(dir.join("probe")).unwrap();
        command.uid(65534).gid(65534);
    }
    let output = command.output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    let last = printed.lines().rfind(|line| !line.trim().is_empty()).unwrap_or_default().to_string();
    (output.status.success(), format!("{last}\n{}", String::from_utf8_lossy(&output.stderr)))
}

#[cfg(unix)]
#[test]
fn a_journal_in_a_read_only_directory_is_read_as_immutable() {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(path) = std::env::var(READER) {
        be_a_reader(&path);
    }
    let dir = temp_dir("immutable");
    // A journal closed cleanly, copied to a directory nobody may write: its -shm file cannot
    // be made there.
    let clean = dir.join("clean");
    std::fs::create_dir(&clean).unwrap();
    journal(&clean.join("baton.db"));
    // A copy taken while a process had it open: its -wal file holds the entries.
    let live = dir.join("live");
    std::fs::create_dir(&live).unwrap();
    let source = dir.join("source.db");
    journal(&source);
    let open = SqliteStore::open(&source).unwrap();
    let later = ConversationInfo { id: "later".into(), team: "t".into(), created_ms: 1, team_file: None, owner: None };
    tokio().block_on(open.create(&later)).unwrap();
    std::fs::copy(&source, live.join("baton.db")).unwrap();
    std::fs::copy(dir.join("source.db-wal"), live.join("baton.db-wal")).unwrap();
    for copy in [&clean, &live] {
        std::fs::set_permissions(copy, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let (read, said) = read_in_a_process_that_cannot_write(&clean.join("baton.db"));
    assert!(read && said.starts_with("1 entries"), "{said}");
    let (read, said) = read_in_a_process_that_cannot_write(&live.join("baton.db"));
    assert!(!read, "a journal whose -wal file holds entries was read without them: {said}");
    assert!(said.contains("its -wal file holds entries"), "{said}");
    assert!(said.contains("copy the journal with its -wal file to a writable directory"), "{said}");
    drop(open);
    for copy in [&clean, &live] {
        std::fs::set_permissions(copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
