//! A Postgres password in a journal URL is never printed: not by the commands that fail to reach
//! it, not in what they suggest, whether the URL comes from --db or BATON_DB. (Nothing listens at
//! the URL: the commands fail, and their messages are what is checked.)

use crate::support::{baton, baton_with_input, example, text};

const PASSWORD: &str = "pw-Zq7-never-shown";

#[test]
fn no_command_prints_the_journal_password() {
    let url = format!("postgres://baton:{PASSWORD}@127.0.0.1:1/baton?password={PASSWORD}");
    let team = example("support", "team.toml");
    let team = team.to_str().unwrap();
    // bench journals to memory unless --db says otherwise; it does not read BATON_DB.
    let bench: &[&str] = &["bench", team, "--input", "hello", "-n", "1", "--warmup", "0"];
    let commands: [&[&str]; 7] = [
        &["run", team, "hello"],
        &["trace", "c-1"],
        &["queue", "list"],
        &["resume"],
        &["approve", "c-1", "call-1"],
        bench,
        &["serve", team, "--addr", "127.0.0.1:0"],
    ];
    for args in commands {
        let mut outputs = vec![(baton(&[args, &["--db", &url]].concat(), &[]), "--db")];
        if args != bench {
            outputs.push((baton(args, &[("BATON_DB", &url)]), "BATON_DB"));
        }
        for (output, how) in outputs {
            let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
            assert_ne!(output.status.code(), Some(0), "{args:?} with {how} cannot reach the journal: {printed}");
            assert!(!printed.contains(PASSWORD), "{args:?} with {how} printed the password: {printed}");
            assert!(printed.contains("***"), "{args:?} with {how} names the journal, password hidden: {printed}");
        }
    }
    let chat = baton_with_input(&["chat", team, "--db", &url], "hello\n");
    let printed = format!("{}{}", text(&chat.stdout), text(&chat.stderr));
    assert!(!printed.contains(PASSWORD), "chat printed the password: {printed}");
}
