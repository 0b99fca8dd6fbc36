//! Writing to stdout and stderr without panicking: every line the CLI prints goes through here.
//!
//! `println!` panics when stdout is a closed pipe (`tenantry list | head -1`): Rust ignores
//! SIGPIPE, so the write fails with `EPIPE` and `println!` turns that into a panic (exit 101
//! and a message on stderr). [`outln!`], [`errln!`] and [`err!`] write through a locked handle
//! instead. Once a stream is found closed, what would go to it is dropped for the rest of the
//! process and the command carries on, so its exit status still says how the work went: a
//! reader that stops reading is not an error, as in ripgrep. A `migrate` piped into `head`
//! therefore finishes its run instead of stopping halfway. Any other write error (a full disk)
//! is said once on stderr, and the stream is dropped the same way.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout could not be written to.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// Set once stderr could not be written to.
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Which stream to write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Results: lines, JSON documents.
    Stdout,
    /// Errors, warnings, prompts.
    Stderr,
}

/// Writes `args` (then a newline if `newline`) to `stream`, unless the stream was found closed.
pub(crate) fn write(stream: Stream, args: fmt::Arguments<'_>, newline: bool) {
    let closed = match stream {
        Stream::Stdout => &STDOUT_CLOSED,
        Stream::Stderr => &STDERR_CLOSED,
    };
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let result = match stream {
        Stream::Stdout => write_to(&mut io::stdout().lock(), args, newline),
        Stream::Stderr => write_to(&mut io::stderr().lock(), args, newline),
    };
    if let Err(error) = result {
        closed.store(true, Ordering::Relaxed);
        if stream == Stream::Stdout && error.kind() != io::ErrorKind::BrokenPipe {
            write(
                Stream::Stderr,
                format_args!("warning: cannot write to stdout ({error}); the rest of the output is dropped"),
                true,
            );
        }
    }
}

/// One write and a flush, so a prompt without a newline shows and an error shows at once.
fn write_to(writer: &mut impl Write, args: fmt::Arguments<'_>, newline: bool) -> io::Result<()> {
    writer.write_fmt(args)?;
    if newline {
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

/// `println!` that never panics (see the module's documentation).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write::write($crate::write::Stream::Stdout, format_args!($($arg)*), true)
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::write::write($crate::write::Stream::Stderr, format_args!($($arg)*), true)
    };
}

/// `eprint!` that never panics, flushed (for prompts).
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::write::write($crate::write::Stream::Stderr, format_args!($($arg)*), false)
    };
}

pub(crate) use {err, errln, outln};

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader has gone.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_an_error_to_handle_not_a_panic() {
        let error = write_to(&mut Closed, format_args!("acme"), true).expect_err("closed");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        let mut open = Vec::new();
        write_to(&mut open, format_args!("acme\t{}", "tenant_acme"), true).expect("writes");
        assert_eq!(open, b"acme\ttenant_acme\n");
    }
}
