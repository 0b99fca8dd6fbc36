//! PgBouncer in transaction pooling mode, in front of the test cluster.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::address::{free_port, tcp_url, wait_for_port};
use crate::binaries::pgbouncer_binary;
use crate::layout::{log_tail, Layout};
use crate::process::{give_to_server_user, server_command};

const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// PgBouncer in transaction pooling mode, started by [`Cluster::pgbouncer`](crate::Cluster::pgbouncer).
///
/// Every database of the cluster is reachable through it (`* = host=127.0.0.1 port=…`) as user
/// `postgres` without a password. A server connection is held for one transaction only, so
/// session state (`SET` outside a transaction, prepared statements, advisory session locks)
/// does not survive from one transaction to the next: the setting tenantry must work under.
/// It listens on 127.0.0.1 only (no Unix socket) and is stopped by the cluster's watchdog.
#[derive(Debug)]
pub struct PgBouncer {
    port: u16,
    dir: PathBuf,
}

impl PgBouncer {
    /// The TCP port PgBouncer listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://postgres@127.0.0.1:{port}/{dbname}`, through PgBouncer.
    pub fn url(&self, dbname: &str) -> String {
        tcp_url(self.port, dbname)
    }

    /// Starts PgBouncer as a daemon (as the server user) in front of the server on `pg_port`.
    pub(crate) fn start(layout: &Layout, pg_port: u16) -> Self {
        let binary = pgbouncer_binary();
        let dir = layout.pgbouncer.clone();
        let port = free_port();
        let ini = dir.join("pgbouncer.ini");
        write(&dir.join("userlist.txt"), "\"postgres\" \"\"\n");
        write(&ini, &config(&dir, port, pg_port));
        give_to_server_user(&dir);

        // `-d` daemonizes: the daemon must not keep the test's stdout/stderr pipes open, so its
        // start-up output goes to a file.
        let startup = dir.join("startup.out");
        let output = fs::File::create(&startup)
            .unwrap_or_else(|err| panic!("could not create {}: {err}; check the disk", startup.display()));
        let errors = output
            .try_clone()
            .unwrap_or_else(|err| panic!("could not duplicate a file handle: {err}; too many open files?"));
        let status = server_command(&binary, &dir)
            .arg("-d")
            .arg(&ini)
            .stdout(Stdio::from(output))
            .stderr(Stdio::from(errors))
            .status()
            .unwrap_or_else(|err| {
                panic!("could not run {}: {err}; install PgBouncer (`apt-get install pgbouncer`)", binary.display())
            });
        let pgbouncer = Self { port, dir };
        assert!(
            status.success(),
            "pgbouncer -d {} failed ({status}):\n{}",
            ini.display(),
            pgbouncer.diagnostics(&startup)
        );
        assert!(
            wait_for_port(port, READY_TIMEOUT),
            "PgBouncer did not accept connections on 127.0.0.1:{port} within {READY_TIMEOUT:?}:\n{}",
            pgbouncer.diagnostics(&startup)
        );
        pgbouncer
    }

    fn diagnostics(&self, startup: &Path) -> String {
        let log = self.dir.join("pgbouncer.log");
        format!(
            "start-up output:\n{}\nlast lines of {}:\n{}\n\
             Fix what the log says (a port taken by another process: re-run the tests).",
            log_tail(startup, 20),
            log.display(),
            log_tail(&log, 20)
        )
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|err| panic!("could not write {}: {err}; check the disk", path.display()));
}

/// The ini file. Settings: <https://www.pgbouncer.org/config.html>.
fn config(dir: &Path, port: u16, pg_port: u16) -> String {
    let dir = dir.display();
    format!(
        "[databases]\n\
         * = host=127.0.0.1 port={pg_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         ; empty: no Unix socket (the cluster's own socket directory is enough)\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         ; with trust, the user must still be listed here\n\
         auth_file = {dir}/userlist.txt\n\
         pool_mode = transaction\n\
         max_client_conn = 1000\n\
         default_pool_size = 20\n\
         ; sent by sqlx and other drivers; PgBouncer refuses unknown startup parameters\n\
         ignore_startup_parameters = extra_float_digits,options,application_name\n\
         ; nothing to reset: in transaction mode session state must not be relied upon\n\
         server_reset_query =\n\
         logfile = {dir}/pgbouncer.log\n\
         pidfile = {dir}/pgbouncer.pid\n\
         admin_users = postgres\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_pools_per_transaction_in_front_of_the_cluster() {
        let text = config(Path::new("/tmp/t/pgbouncer"), 6432, 5433);
        assert!(text.contains("* = host=127.0.0.1 port=5433\n"));
        assert!(text.contains("listen_port = 6432\n"));
        assert!(text.contains("pool_mode = transaction\n"));
        assert!(text.contains("pidfile = /tmp/t/pgbouncer/pgbouncer.pid\n"));
        assert!(text.contains("unix_socket_dir =\n"));
    }
}
