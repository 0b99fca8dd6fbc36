//! [`EmbeddedError`]: what can go wrong with the embedded cluster, each saying what to do next.

use std::path::PathBuf;
use std::process::ExitStatus;

use super::binaries::PG_BIN_ENV;

/// Everything that can go wrong while initialising, starting, checking or stopping the
/// embedded cluster. Every message names the next step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum EmbeddedError {
    /// No directory holding both `initdb` and `pg_ctl` was found.
    #[error(
        "PostgreSQL server binaries not found (`initdb` and `pg_ctl`, looked for on PATH and under \
         /usr/lib/postgresql/*/bin): apt-get install postgresql, or set {PG_BIN_ENV} to the directory \
         holding them; or set `database_url` to a PostgreSQL server you run yourself"
    )]
    BinariesNotFound,

    /// `TENANTRY_PG_BIN` names a directory without `initdb` and `pg_ctl`.
    #[error(
        "{PG_BIN_ENV}={} does not hold both `initdb` and `pg_ctl`: point it at the `bin` directory of a \
         PostgreSQL installation (e.g. /usr/lib/postgresql/15/bin), or unset it",
        dir.display()
    )]
    BadBinDir {
        /// The directory the variable names.
        dir: PathBuf,
    },

    /// A file or directory of the cluster could not be read, written or created.
    #[error("could not {action} {}: {source}; check its permissions and that the disk has room", path.display())]
    Io {
        /// What was being done (`create`, `write`, `read`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The fixed settings of the connection to the embedded cluster were refused (a bug).
    #[error("cannot connect to the embedded cluster: {source}; please report this")]
    Settings {
        /// What tenantry's connection settings refused.
        #[source]
        source: tenantry::connect::SettingsError,
    },

    /// A program (`initdb`, `pg_ctl`, `chown`, `runuser`) could not be started at all.
    #[error(
        "could not run {}{}: {source}; check the PostgreSQL installation",
        program.display(),
        if *as_root { " through `runuser` (as root, PostgreSQL programs run as the `postgres` user; runuser is part of util-linux)" } else { "" }
    )]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Whether it was run through `runuser` because this process is root.
        as_root: bool,
        /// The error from the OS.
        #[source]
        source: std::io::Error,
    },

    /// As root, the cluster's files could not be handed to the `postgres` OS user.
    #[error(
        "as root, the embedded cluster runs as the `postgres` OS user (PostgreSQL refuses to run as \
         root), but {} could not be handed to it: {detail}; create that user (`apt-get install \
         postgresql` does), or run tenantry as an ordinary user",
        path.display()
    )]
    ServerUser {
        /// The directory being handed over.
        path: PathBuf,
        /// What `chown` said.
        detail: String,
    },

    /// As root, the `postgres` OS user cannot reach the project's `.tenantry` directory.
    #[error(
        "as root, the embedded cluster runs as the `postgres` OS user, which cannot reach {}{}: allow it \
         (`chmod o+x` on that directory), move the project to a directory others can enter, run tenantry \
         as an ordinary user, or set `database_url` to a PostgreSQL server you run yourself",
        dir.display(),
        match blocker {
            Some(blocker) => format!(" ({} is closed to other users)", blocker.display()),
            None => String::new(),
        }
    )]
    ServerUserCannotReach {
        /// The `.tenantry` directory.
        dir: PathBuf,
        /// The first ancestor that other users cannot enter, if one was found.
        blocker: Option<PathBuf>,
    },

    /// The Unix socket directory under /tmp exists but belongs to someone else.
    #[error(
        "{} (the embedded cluster's Unix socket directory) exists but is not a directory owned by the \
         cluster's user (uid {expected_uid}): remove it (`rm -r {}`) and retry",
        path.display(),
        path.display()
    )]
    SocketDirTaken {
        /// The directory.
        path: PathBuf,
        /// The uid that owns the data directory, and should own this one.
        expected_uid: u32,
    },

    /// `initdb` failed; nothing is left behind.
    #[error(
        "initdb failed ({status}) for {}:\n{output}\nfix what it says (disk space, permissions, locale), \
         then retry",
        data_dir.display()
    )]
    Initdb {
        /// The data directory being created.
        data_dir: PathBuf,
        /// initdb's exit status.
        status: ExitStatus,
        /// What initdb printed.
        output: String,
    },

    /// `pg_ctl start` failed.
    #[error(
        "the embedded PostgreSQL cluster in {} did not start ({status}): {output}\nlast lines of {}:\n\
         {log_tail}\nfix what the log says, then retry; `tenantry embedded status` shows the cluster's state",
        data_dir.display(),
        log.display()
    )]
    Start {
        /// The data directory.
        data_dir: PathBuf,
        /// The server log.
        log: PathBuf,
        /// pg_ctl's exit status.
        status: ExitStatus,
        /// What pg_ctl printed.
        output: String,
        /// The lines this start attempt added to the log.
        log_tail: String,
    },

    /// `pg_ctl status` could not tell whether the cluster runs.
    #[error(
        "could not tell whether the embedded cluster in {} is running (pg_ctl status: {status}): {output}; \
         check that the directory is readable by the user running tenantry (as root: by `postgres`)",
        data_dir.display()
    )]
    Status {
        /// The data directory.
        data_dir: PathBuf,
        /// pg_ctl's exit status.
        status: ExitStatus,
        /// What pg_ctl printed.
        output: String,
    },

    /// `pg_ctl stop` failed.
    #[error(
        "could not stop the embedded cluster in {} ({status}): {output}\nsee {}; as a last resort, stop \
         the process whose id is on the first line of {}/postmaster.pid",
        data_dir.display(),
        log.display(),
        data_dir.display()
    )]
    Stop {
        /// The data directory.
        data_dir: PathBuf,
        /// The server log.
        log: PathBuf,
        /// pg_ctl's exit status.
        status: ExitStatus,
        /// What pg_ctl printed.
        output: String,
    },

    /// The server runs but its `postmaster.pid` does not say which port it listens on.
    #[error(
        "could not read the server's pid and port from {}: {problem}; if no PostgreSQL runs from that \
         directory, remove the file and retry",
        path.display()
    )]
    PidFile {
        /// `<data>/postmaster.pid`.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The cluster runs but does not accept TCP connections on its port.
    #[error(
        "the embedded cluster runs but 127.0.0.1:{port} refuses connections: {source}; see {}, or restart \
         it (`tenantry embedded stop`, then retry)",
        log.display()
    )]
    Unreachable {
        /// The port from `postmaster.pid`.
        port: u16,
        /// The server log.
        log: PathBuf,
        /// The last connection error.
        #[source]
        source: std::io::Error,
    },

    /// Connecting to the cluster or creating the database `tenantry` failed.
    #[error(
        "could not create the database `{database}` on the embedded cluster (127.0.0.1:{port}): {}; see {}, \
         or restart it (`tenantry embedded stop`, then retry)",
        describe_pg(source),
        log.display()
    )]
    Database {
        /// The database being ensured.
        database: &'static str,
        /// The cluster's port.
        port: u16,
        /// The server log.
        log: PathBuf,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A cluster made by an older tenantry (`trust`) could not be given a password.
    #[error(
        "the embedded cluster (127.0.0.1:{port}) was made by an older tenantry and trusts every local \
         connection; giving it a password failed: {}; see {}, or stop it (`tenantry embedded stop`) and \
         retry",
        describe_pg(source),
        log.display()
    )]
    Upgrade {
        /// The cluster's port.
        port: u16,
        /// The server log.
        log: PathBuf,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// The OS did not hand out a free TCP port on 127.0.0.1.
    #[error("could not find a free TCP port on 127.0.0.1: {source}; is loopback networking up?")]
    NoFreePort {
        /// The error from binding port 0.
        #[source]
        source: std::io::Error,
    },

    /// The runtime used to talk to the cluster could not be built.
    #[error("could not start an async runtime to connect to the embedded cluster: {source}")]
    Runtime {
        /// The error from tokio.
        #[source]
        source: std::io::Error,
    },
}

impl EmbeddedError {
    /// An [`EmbeddedError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}

/// A driver error with the server's message: `tokio_postgres::Error`'s own text is only "db error".
fn describe_pg(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(error);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_how_to_install_them() {
        let text = EmbeddedError::BinariesNotFound.to_string();
        assert!(text.starts_with("PostgreSQL server binaries not found"), "{text}");
        assert!(text.contains("apt-get install postgresql, or set TENANTRY_PG_BIN"), "{text}");
    }

    #[test]
    fn an_unreachable_project_names_the_closed_directory() {
        let error = EmbeddedError::ServerUserCannotReach {
            dir: PathBuf::from("/root/app/.tenantry"),
            blocker: Some(PathBuf::from("/root")),
        };
        let text = error.to_string();
        assert!(text.contains("cannot reach /root/app/.tenantry (/root is closed to other users)"), "{text}");
        assert!(text.contains("chmod o+x"), "{text}");
    }
}
