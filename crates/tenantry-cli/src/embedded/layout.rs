//! Where the embedded cluster keeps its files, and preparing those directories.
//!
//! ```text
//! <project>/.tenantry/  mode 0700
//!     data/            PGDATA; exists only once initdb has completed (see `server::init`)
//!     password         the `postgres` role's password, mode 0600 (see `auth.rs`)
//!     postgres.log     the server log (pg_ctl -l), appended to at every start
//!     port             the chosen TCP port, reused at the next start while it is free
//! /tmp/tenantry-<hash of the project path>/
//!                      unix_socket_directories: socket paths are limited to 107 bytes
//!                      (`sun_path`), which a deep project path would overflow
//! ```

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::EmbeddedError;
use super::process::{check_server_user_reaches, give_to_server_user, running_as_root};

/// The project's directory for tenantry's own files.
const DIR_NAME: &str = ".tenantry";

/// The paths of one project's cluster.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `<project>/.tenantry`.
    pub(crate) root: PathBuf,
    /// `<project>/.tenantry/data` (PGDATA).
    pub(crate) data: PathBuf,
    /// `<project>/.tenantry/postgres.log`.
    pub(crate) log: PathBuf,
    /// `<project>/.tenantry/port`.
    pub(crate) port_file: PathBuf,
    /// `<project>/.tenantry/password`.
    pub(crate) password_file: PathBuf,
    /// `/tmp/tenantry-<hash>`.
    pub(crate) socket: PathBuf,
}

impl Layout {
    /// The layout of the project in `project_dir`, made absolute (the server programs run in
    /// `/`) and canonical (the socket directory's name must not depend on how it was reached).
    pub(crate) fn new(project_dir: &Path) -> Self {
        let project = fs::canonicalize(project_dir)
            .or_else(|_| std::path::absolute(project_dir))
            .unwrap_or_else(|_| project_dir.to_path_buf());
        let root = project.join(DIR_NAME);
        Self {
            data: root.join("data"),
            log: root.join("postgres.log"),
            port_file: root.join("port"),
            password_file: root.join("password"),
            socket: socket_dir(&project),
            root,
        }
    }

    /// `<data>/postmaster.pid`, present while a server runs (and after a crash).
    pub(crate) fn pid_file(&self) -> PathBuf {
        self.data.join("postmaster.pid")
    }

    /// Whether initdb has completed: `data` only appears then (it is created under another
    /// name and renamed).
    pub(crate) fn is_initialised(&self) -> bool {
        fs::symlink_metadata(&self.data).is_ok()
    }

    /// The major version that created the cluster (`data/PG_VERSION`), if readable.
    pub(crate) fn pg_version(&self) -> Option<String> {
        let text = fs::read_to_string(self.data.join("PG_VERSION")).ok()?;
        Some(text.trim().to_owned()).filter(|version| !version.is_empty())
    }

    /// Whether a server may be running: the cluster exists and has a `postmaster.pid`. When the
    /// pid file cannot be checked (permissions), says yes and lets `pg_ctl status` decide.
    pub(crate) fn may_be_running(&self) -> bool {
        self.is_initialised()
            && !matches!(fs::symlink_metadata(self.pid_file()), Err(err) if err.kind() == std::io::ErrorKind::NotFound)
    }

    /// The port chosen at the last start, if the file holds one.
    pub(crate) fn read_port(&self) -> Option<u16> {
        fs::read_to_string(&self.port_file).ok()?.trim().parse().ok().filter(|port| *port != 0)
    }

    /// Records the port for the next start.
    pub(crate) fn write_port(&self, port: u16) -> Result<(), EmbeddedError> {
        self.write_file(&self.port_file, &format!("{port}\n"))
    }

    /// Writes a file of the cluster. As root, hands it to the owner of `.tenantry` (the server
    /// user): with a strict umask, a root-owned file could be unreadable to the server.
    pub(crate) fn write_file(&self, path: &Path, contents: &str) -> Result<(), EmbeddedError> {
        fs::write(path, contents).map_err(EmbeddedError::io("write", path))?;
        if running_as_root() {
            let owner = fs::metadata(&self.root).map_err(EmbeddedError::io("read", &self.root))?;
            std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
                .map_err(EmbeddedError::io("change the owner of", path))?;
        }
        Ok(())
    }

    /// Creates `.tenantry` (mode 0700: it holds the password) and, as root, hands it to the
    /// server user, who must be able to reach it. Runs before every start, so a tree touched by
    /// root in between is handed over again, and a directory made by an older tenantry (0755) is
    /// closed.
    pub(crate) fn prepare_root(&self) -> Result<(), EmbeddedError> {
        fs::create_dir_all(&self.root).map_err(EmbeddedError::io("create", &self.root))?;
        self.restrict_root()?;
        give_to_server_user(&self.root)?;
        check_server_user_reaches(&self.root)
    }

    /// Sets `.tenantry` to mode 0700 (an older tenantry made it 0755).
    pub(crate) fn restrict_root(&self) -> Result<(), EmbeddedError> {
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(EmbeddedError::io("restrict", &self.root))
    }

    /// Creates the socket directory (mode 0700) owned by the cluster's user, or checks that an
    /// existing one is a directory of that user (or of root, when we are root: only root could
    /// have made it, e.g. a concurrent `tenantry` a moment before handing it over). Another
    /// user's directory could intercept connections. It is under /tmp, so it may have vanished
    /// since the last start (reboot).
    pub(crate) fn prepare_socket_dir(&self) -> Result<(), EmbeddedError> {
        let owner = fs::metadata(&self.data).map_err(EmbeddedError::io("read", &self.data))?;
        match fs::DirBuilder::new().mode(0o700).create(&self.socket) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(&self.socket).map_err(EmbeddedError::io("read", &self.socket))?;
                let ours = meta.uid() == owner.uid() || (running_as_root() && meta.uid() == 0);
                if !meta.is_dir() || !ours {
                    return Err(EmbeddedError::SocketDirTaken { path: self.socket.clone(), expected_uid: owner.uid() });
                }
            }
            Err(err) => return Err(EmbeddedError::io("create", &self.socket)(err)),
        }
        if running_as_root() {
            std::os::unix::fs::chown(&self.socket, Some(owner.uid()), Some(owner.gid()))
                .map_err(EmbeddedError::io("change the owner of", &self.socket))?;
        }
        Ok(())
    }

    /// Removes the socket directory once the server has stopped (PostgreSQL removes its socket
    /// and lock files, leaving it empty), so stopped clusters leave nothing in /tmp. Best effort:
    /// a non-empty or missing directory is left alone.
    pub(crate) fn remove_socket_dir(&self) {
        let _ = fs::remove_dir(&self.socket);
    }

    /// The length of the log now, to read only what a start attempt adds.
    pub(crate) fn log_len(&self) -> u64 {
        fs::metadata(&self.log).map_or(0, |meta| meta.len())
    }

    /// The last `lines` lines the server logged after byte `from`.
    pub(crate) fn log_since(&self, from: u64, lines: usize) -> String {
        let mut text = Vec::new();
        let read = fs::File::open(&self.log)
            .and_then(|mut file| file.seek(SeekFrom::Start(from)).and_then(|_| file.read_to_end(&mut text)));
        if let Err(err) = read {
            return format!("(could not read {}: {err})", self.log.display());
        }
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// `/tmp/tenantry-<16 hex digits>`, from a hash of the project path that is stable across
/// builds and Rust versions (unlike `DefaultHasher`). Not `TMPDIR`: as root it may be private
/// to root, and a long one would overflow the socket path limit.
fn socket_dir(project: &Path) -> PathBuf {
    PathBuf::from(format!("/tmp/tenantry-{:016x}", fnv1a(project.as_os_str().as_bytes())))
}

/// 64-bit FNV-1a: short, stable, and enough to keep projects apart (not a security boundary:
/// [`Layout::prepare_socket_dir`] checks the owner).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_hang_off_the_project() {
        let layout = Layout::new(Path::new("/nonexistent/app"));
        assert_eq!(layout.root, Path::new("/nonexistent/app/.tenantry"));
        assert_eq!(layout.data, Path::new("/nonexistent/app/.tenantry/data"));
        assert_eq!(layout.log, Path::new("/nonexistent/app/.tenantry/postgres.log"));
        assert_eq!(layout.port_file, Path::new("/nonexistent/app/.tenantry/port"));
        assert_eq!(layout.password_file, Path::new("/nonexistent/app/.tenantry/password"));
        assert_eq!(layout.pid_file(), Path::new("/nonexistent/app/.tenantry/data/postmaster.pid"));
    }

    #[test]
    fn the_socket_path_is_short_stable_and_per_project() {
        let a = Layout::new(Path::new("/nonexistent/a")).socket;
        assert_eq!(a, Layout::new(Path::new("/nonexistent/a")).socket);
        assert_ne!(a, Layout::new(Path::new("/nonexistent/b")).socket);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let deep = format!("/{}", "d".repeat(300));
        assert!(Layout::new(Path::new(&deep)).socket.join(".s.PGSQL.65535").as_os_str().len() < 100);
    }

    #[test]
    fn relative_paths_become_absolute() {
        let layout = Layout::new(Path::new("."));
        assert!(layout.root.is_absolute());
        assert_eq!(layout.socket, Layout::new(&std::env::current_dir().expect("a working directory")).socket);
    }

    #[test]
    fn the_port_file_round_trips_and_ignores_garbage() {
        let project = tempfile::tempdir().expect("a temporary directory for the test");
        let layout = Layout::new(project.path());
        assert_eq!(layout.read_port(), None);
        fs::create_dir(&layout.root).expect("create .tenantry");
        layout.write_port(54321).expect("write the port");
        assert_eq!(layout.read_port(), Some(54321));
        fs::write(&layout.port_file, "not a port").expect("write garbage");
        assert_eq!(layout.read_port(), None);
    }

    #[test]
    fn the_log_is_read_from_an_offset() {
        let project = tempfile::tempdir().expect("a temporary directory for the test");
        let layout = Layout::new(project.path());
        fs::create_dir(&layout.root).expect("create .tenantry");
        fs::write(&layout.log, "old\n").expect("write a log");
        let from = layout.log_len();
        fs::write(&layout.log, "old\na\nb\nc\n").expect("append to the log");
        assert_eq!(layout.log_since(from, 2), "b\nc");
        assert_eq!(layout.log_since(0, 10), "old\na\nb\nc");
    }
}
