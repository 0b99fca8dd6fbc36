//! The temporary directory of one test binary's cluster.
//!
//! ```text
//! /tmp/tenantry-test-XXXXXX/
//!     data/           the cluster (initdb)
//!     socket/         unix_socket_directories
//!     postgres.log    the server log (pg_ctl -l)
//!     pgbouncer/      pgbouncer.ini, userlist.txt, pgbouncer.log, pgbouncer.pid
//!     KEEP            present when a test failed: the watchdog then keeps everything
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::process::{give_to_server_user, running_as_root};

/// Unix socket paths are limited to 107 bytes (`sun_path`); keep well under it.
const MAX_SOCKET_PATH: usize = 100;
/// Longest base directory used as is; longer ones are replaced by `/tmp`.
const MAX_BASE_LEN: usize = 60;

/// Paths inside the temporary directory of one cluster.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) socket: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) pgbouncer: PathBuf,
}

impl Layout {
    /// Creates the directory, kept on disk until the watchdog removes it.
    pub(crate) fn create() -> Self {
        let base = base_dir();
        let root = tempfile::Builder::new()
            .prefix("tenantry-test-")
            .tempdir_in(&base)
            .unwrap_or_else(|err| {
                panic!(
                    "could not create a temporary directory in {}: {err}; make it writable or \
                     point TMPDIR elsewhere",
                    base.display()
                )
            })
            // Not deleted by Rust: the watchdog removes it after the test binary exits.
            .keep();
        let layout = Self::at(root);
        for dir in [&layout.socket, &layout.pgbouncer] {
            fs::create_dir(dir)
                .unwrap_or_else(|err| panic!("could not create {}: {err}; check the disk", dir.display()));
        }
        let socket_file = layout.socket.join(".s.PGSQL.65535");
        assert!(
            socket_file.as_os_str().len() < MAX_SOCKET_PATH,
            "the Unix socket path {} is too long for the OS; set TMPDIR to a shorter directory",
            socket_file.display()
        );
        give_to_server_user(&layout.root);
        layout
    }

    fn at(root: PathBuf) -> Self {
        Self {
            data: root.join("data"),
            socket: root.join("socket"),
            log: root.join("postgres.log"),
            pgbouncer: root.join("pgbouncer"),
            root,
        }
    }

    /// The marker that tells the watchdog to keep the directory.
    pub(crate) fn keep_marker(&self) -> PathBuf {
        self.root.join("KEEP")
    }

    /// Records that `reason` needs the directory kept after the test binary exits.
    pub(crate) fn keep(&self, reason: &str) -> std::io::Result<()> {
        let mut marker = fs::OpenOptions::new().create(true).append(true).open(self.keep_marker())?;
        writeln!(marker, "{reason}")
    }
}

/// Where temporary directories go: `TMPDIR` unless the server user could not reach it (we are
/// root and it may be private to root) or it would make the socket path too long.
fn base_dir() -> PathBuf {
    let base = std::env::temp_dir();
    if running_as_root() || base.as_os_str().len() > MAX_BASE_LEN {
        PathBuf::from("/tmp")
    } else {
        base
    }
}

/// The last `lines` lines of a log file, for panic messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_hang_off_the_root() {
        let layout = Layout::at(PathBuf::from("/tmp/tenantry-test-abc"));
        assert_eq!(layout.data, Path::new("/tmp/tenantry-test-abc/data"));
        assert_eq!(layout.socket, Path::new("/tmp/tenantry-test-abc/socket"));
        assert_eq!(layout.keep_marker(), Path::new("/tmp/tenantry-test-abc/KEEP"));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("a temporary directory for the test");
        let log = dir.path().join("log");
        fs::write(&log, "a\nb\nc\n").expect("write a log");
        assert_eq!(log_tail(&log, 2), "b\nc");
        assert_eq!(log_tail(&log, 10), "a\nb\nc");
        assert!(log_tail(&dir.path().join("missing"), 2).contains("could not read"));
    }
}
