//! `baton keys new --name N --role R`: a fresh API key for `baton serve`. The `[[key]]` table goes
//! to stdout (so `>> keys.toml` appends it) and the key itself to stderr, shown only once.

use crate::paint::print_error;
use crate::stdout::println;
use crate::Exit;
use anstream::eprintln;
use baton_server::keys::{check_name, new_key, sha256_hex, KeysError, Role};
use serde_json::json;
use std::io::IsTerminal;

/// What to do with API keys.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Make a new API key: its [[key]] table goes to stdout (append it to keys.toml), the key to
    /// stderr, shown only now.
    New {
        /// Who holds the key: 1 to 64 letters, digits, '_', '.', '@' or '-', unique in keys.toml.
        #[arg(long, value_parser = key_name)]
        name: String,
        /// What the key may do: client, operator or admin.
        #[arg(long)]
        role: Role,
        /// Print the name, role, key, sha256 and table as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one keys command.
pub fn run(command: &KeysCommand) -> Exit {
    match command {
        KeysCommand::New { name, role, json } => new(name, *role, *json),
    }
}

/// Makes a key and prints it with its table.
fn new(name: &str, role: Role, json: bool) -> Exit {
    let (key, table) = match new_key(name, role) {
        Ok(made) => made,
        Err(error) => {
            print_error!("{error}");
            return Exit::Failed;
        }
    };
    if json {
        let sha256 = sha256_hex(&key);
        println!("{}", json!({"name": name, "role": role.as_str(), "key": key, "sha256": sha256, "table": table}));
        return Exit::Ok;
    }
    // A blank line first, so the table appends cleanly even to a file without a final newline.
    println!("\n{}", table.trim_end());
    eprintln!("key for {name} ({role}): {key}");
    eprintln!("keep it secret: it is shown only now; the server stores only its SHA-256.");
    if std::io::stdout().is_terminal() {
        eprintln!(
            "append the table above to keys.toml (or next time run `baton keys new --name NAME --role ROLE >> \
             keys.toml`, which appends it for you)"
        );
    }
    Exit::Ok
}

/// A `--name` that `check_name` accepts.
fn key_name(text: &str) -> Result<String, KeysError> {
    check_name(text)?;
    Ok(text.to_owned())
}
