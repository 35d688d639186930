//! Lines on stdout, and whether anyone still reads them. Every line goes out through
//! `anstream` (colours kept on a colour terminal, stripped elsewhere, see [`crate::paint`]); a
//! write that finds the reader gone (`baton chat … | head -1`) is not an error, but it is
//! remembered, so that a chat stops instead of running turns nobody will read. Any other failure
//! to write stdout (a full disk) panics, as `std`'s `println!` does.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a write to stdout found its reader gone.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout has found its reader gone (a closed pipe).
pub fn reader_gone() -> bool {
    READER_GONE.load(Ordering::Relaxed)
}

/// Takes note of how a write to stdout went: a closed pipe is remembered, as the end of the
/// output, and any other error is returned.
pub fn note(written: std::io::Result<()>) -> std::io::Result<()> {
    match written {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// Writes `line` and a newline to stdout.
pub fn write_line(line: fmt::Arguments<'_>) {
    write(&format!("{line}\n"));
}

/// Writes `text` to stdout at once (see the module's comment for what a failure does).
pub fn write(text: &str) {
    let mut out = anstream::stdout().lock();
    if let Err(error) = note(out.write_all(text.as_bytes()).and_then(|()| out.flush())) {
        panic!("failed printing to stdout: {error}");
    }
}

/// `println!` through [`write_line`].
macro_rules! println {
    () => {
        $crate::stdout::write_line(format_args!(""))
    };
    ($($argument:tt)*) => {
        $crate::stdout::write_line(format_args!($($argument)*))
    };
}

pub(crate) use println;
