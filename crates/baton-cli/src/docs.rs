//! `baton completions SHELL` and `baton man [--out DIR]`: what baton writes about itself, generated
//! from the same definitions that parse its command line, so they cannot drift from it. The
//! completion script comes from `clap_complete`. The manual comes from `clap_mangen`: printed, it
//! is the one page baton(1), whose COMMANDS section names every command (`baton man | man -l -`);
//! with `--out DIR` it is baton.1 and one baton-COMMAND.1 per command and subcommand, with all
//! their options, laid out as packages install man pages.

use crate::paint::print_error;
use crate::stdout;
use crate::Exit;
use clap_complete::Shell;
use std::io::Write;
use std::path::Path;

/// Prints the completion script for `shell`.
pub fn completions(shell: Shell, mut command: clap::Command) -> Exit {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "baton", &mut script);
    print_bytes(&script)
}

/// Prints baton(1), or writes every page into `out`.
pub fn man(command: clap::Command, out: Option<&Path>) -> Exit {
    let Some(directory) = out else {
        let mut page = Vec::new();
        let command = command.disable_help_subcommand(true);
        if let Err(error) = clap_mangen::Man::new(command).render(&mut page) {
            print_error!("cannot render the manual page: {error}");
            return Exit::Failed;
        }
        return print_bytes(&page);
    };
    if let Err(error) = std::fs::create_dir_all(directory) {
        print_error!("cannot create {}: {error} (pass another --out)", directory.display());
        return Exit::Failed;
    }
    if let Err(error) = clap_mangen::generate_to(command, directory) {
        print_error!("cannot write the manual pages into {}: {error}", directory.display());
        return Exit::Failed;
    }
    let first = directory.join("baton.1");
    anstream::eprintln!("wrote the manual pages into {} (read one: man -l {})", directory.display(), first.display());
    Exit::Ok
}

/// Writes `bytes` to stdout; a closed pipe (`baton man | head`) ends quietly.
fn print_bytes(bytes: &[u8]) -> Exit {
    match stdout::note(std::io::stdout().lock().write_all(bytes)) {
        Ok(()) => Exit::Ok,
        Err(error) => {
            print_error!("cannot write to stdout: {error}");
            Exit::Failed
        }
    }
}
