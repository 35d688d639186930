//! Keys from a real keys.toml: tables made by `new_key`, appended to a file and read back.

#![allow(clippy::unwrap_used)]

use baton_server::keys::{new_key, Key, Keys, KeysError, Role};

#[test]
fn appended_tables_load_and_find_their_keys() {
    let dir = std::env::temp_dir().join(format!("baton-server-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.toml");
    let (anna, anna_table) = new_key("anna", Role::Operator).unwrap();
    let (ci, ci_table) = new_key("ci-bot", Role::Client).unwrap();
    std::fs::write(&path, format!("# keys of this server\n\n{anna_table}\n{ci_table}")).unwrap();

    let keys = Keys::load(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let keys = keys.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.find(&anna), Some(&Key { name: "anna".into(), role: Role::Operator }));
    assert_eq!(keys.find(&ci), Some(&Key { name: "ci-bot".into(), role: Role::Client }));
    assert_eq!(keys.find(&format!("{anna}0")), None);
    assert_eq!(keys.find(anna.trim_start_matches("baton_")), None);
}

#[test]
fn errors_name_the_file_it_was_read_from() {
    let dir = std::env::temp_dir().join(format!("baton-server-keys-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.toml");
    std::fs::write(&path, "[[key]]\nname = \"anna\"\nrole = \"boss\"\nsha256 = \"00\"\n").unwrap();
    let error = Keys::load(&path).err();
    std::fs::remove_dir_all(&dir).unwrap();
    let place = format!("{}:3:8", path.display());
    let expected = format!("{place}: unknown role \"boss\": use client, operator or admin");
    assert_eq!(error.as_ref().map(ToString::to_string), Some(expected));
    assert_eq!(error, Some(KeysError::BadRole { place: Some(place), role: "boss".into() }));
    assert_eq!(error.as_ref().map(KeysError::kind), Some("bad_role"));
}
