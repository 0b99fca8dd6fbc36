//! [`Embedded`]: the project's cluster, initialised and started on demand, then reused.

use std::path::{Path, PathBuf};

use super::auth;
use super::binaries;
use super::connect::{ensure_database, masked_url, url, wait_for_tcp, TCP_WAIT};
use super::error::EmbeddedError;
use super::layout::Layout;
use super::server::{self, PidFile};

/// A project-local PostgreSQL cluster under `<project>/.tenantry/`.
///
/// Only used when the configuration says `database_url = "embedded"`; never in place of a
/// configured URL. Every method is blocking (it runs `initdb`, `pg_ctl` and waits for the
/// server): from async code, call it through `tokio::task::spawn_blocking`.
#[derive(Debug, Clone)]
pub(crate) struct Embedded {
    layout: Layout,
}

/// The state of a project's embedded cluster, for `tenantry embedded status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmbeddedStatus {
    /// No cluster yet: the first [`Embedded::ensure_running`] creates it.
    NotInitialised,
    /// The cluster exists but no server runs from it.
    Stopped {
        /// The cluster's data directory (`PGDATA`).
        data_dir: PathBuf,
    },
    /// A server runs from the cluster.
    Running {
        /// Its TCP port on 127.0.0.1.
        port: u16,
        /// `postgresql://postgres:********@127.0.0.1:{port}/tenantry`: the password masked, so
        /// it can be printed (the password is in `.tenantry/password`).
        url: String,
        /// The cluster's data directory (`PGDATA`).
        data_dir: PathBuf,
        /// The postmaster's process id.
        pid: u32,
    },
}

impl Embedded {
    /// The cluster of the project rooted at `project_dir` (nothing is started).
    pub(crate) fn new(project_dir: &Path) -> Self {
        Self { layout: Layout::new(project_dir) }
    }

    /// The project's `.tenantry` directory (data, log and port file live in it).
    pub(crate) fn root(&self) -> &Path {
        &self.layout.root
    }

    /// The directory of the server's Unix socket (`psql -h <it> -p <port> -U postgres`).
    pub(crate) fn socket_dir(&self) -> &Path {
        &self.layout.socket
    }

    /// The file holding the `postgres` role's password (mode 0600).
    pub(crate) fn password_file(&self) -> &Path {
        &self.layout.password_file
    }

    /// The server log, appended to at every start.
    pub(crate) fn log_file(&self) -> &Path {
        &self.layout.log
    }

    /// Initialises (first time) and starts (if not running) the cluster, creates the database
    /// `tenantry` if missing, and returns a URL for it with the password:
    /// `postgresql://postgres:<password>@127.0.0.1:{port}/tenantry`. Never print it (mask it
    /// with `tenantry::error::mask_password`). A cluster made by an older tenantry, which
    /// trusted every local connection, is given a password first (`auth.rs`).
    ///
    /// When the server already runs (`pg_ctl status`, then a TCP connect to the port in its
    /// `postmaster.pid`), nothing is started: the call takes a few milliseconds. A start
    /// reuses the port of the previous one while it is free, else picks a free one and records
    /// it in `.tenantry/port`. The server keeps running after this process exits;
    /// [`Embedded::stop`] stops it.
    ///
    /// As root, the server programs run as the `postgres` OS user (through `runuser`), and
    /// `.tenantry` is handed to that user, who must be able to enter the project directory.
    pub(crate) fn ensure_running(&self) -> Result<String, EmbeddedError> {
        let bin_dir = self.bin_dir()?;
        let port = match self.running(&bin_dir)? {
            Some(pid_file) => pid_file.port,
            None => self.start(&bin_dir)?,
        };
        wait_for_tcp(port, TCP_WAIT, &self.layout.log)?;
        self.layout.restrict_root()?;
        let password = auth::ensure_password(&self.layout)?;
        auth::upgrade_from_trust(&self.layout, port, &password)?;
        ensure_database(port, &password, &self.layout.log)?;
        Ok(url(port, &password))
    }

    /// Stops the cluster if running (`pg_ctl stop -m fast`: open sessions are ended).
    /// `Ok(false)` if it was not running or not initialised.
    pub(crate) fn stop(&self) -> Result<bool, EmbeddedError> {
        if !self.layout.may_be_running() {
            return Ok(false);
        }
        let bin_dir = self.bin_dir()?;
        if self.running(&bin_dir)?.is_none() {
            return Ok(false);
        }
        server::stop(&self.layout, &bin_dir)
    }

    /// What state the cluster is in. Starts nothing; needs the PostgreSQL programs only when a
    /// server may be running.
    pub(crate) fn status(&self) -> Result<EmbeddedStatus, EmbeddedError> {
        if !self.layout.is_initialised() {
            return Ok(EmbeddedStatus::NotInitialised);
        }
        let data_dir = self.layout.data.clone();
        if !self.layout.may_be_running() {
            return Ok(EmbeddedStatus::Stopped { data_dir });
        }
        Ok(match self.running(&self.bin_dir()?)? {
            Some(PidFile { pid, port }) => EmbeddedStatus::Running { port, url: masked_url(port), data_dir, pid },
            None => EmbeddedStatus::Stopped { data_dir },
        })
    }

    /// The PostgreSQL programs for this cluster (of its own major version once it exists).
    fn bin_dir(&self) -> Result<PathBuf, EmbeddedError> {
        binaries::postgres_bin_dir(self.layout.pg_version().as_deref())
    }

    /// The running server's pid and port, or `None` when none runs.
    fn running(&self, bin_dir: &Path) -> Result<Option<PidFile>, EmbeddedError> {
        if !self.layout.may_be_running() || !server::is_running(&self.layout, bin_dir)? {
            return Ok(None);
        }
        server::read_pid_file(&self.layout).map(Some)
    }

    /// Creates the cluster if needed and starts it; returns its port.
    fn start(&self, bin_dir: &Path) -> Result<u16, EmbeddedError> {
        self.layout.prepare_root()?;
        if !self.layout.is_initialised() {
            server::init(&self.layout, bin_dir)?;
        }
        self.layout.prepare_socket_dir()?;
        server::start(&self.layout, bin_dir)
    }
}
