//! A fresh database per test: created empty, dropped on success, kept on failure.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cluster::Cluster;
use crate::sql::{execute, execute_blocking, quote_ident};

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_NAME_LEN: usize = 63;

/// A database that exists for one test.
///
/// Made by [`Cluster::database`] or [`test_database`](crate::test_database). When the value is
/// dropped normally the database is dropped too (`DROP DATABASE … WITH (FORCE)`, which also
/// ends connections still open to it, e.g. in a pool). When it is dropped while the test panics,
/// the database is kept: a message on stderr says where and how to inspect it, and the whole
/// cluster directory is kept after the test binary exits.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    cluster: &'static Cluster,
}

impl Cluster {
    /// A fresh, empty database for one test, named `t_{label}_{pid}_{n}`.
    ///
    /// The label is lowercased, characters outside `[a-z0-9_]` become `_`, and it is shortened
    /// so that the name fits PostgreSQL's 63 bytes. Needs a tokio runtime.
    ///
    /// # Panics
    ///
    /// If `CREATE DATABASE` fails, with the error and the server log to look at.
    pub async fn database(&'static self, label: &str) -> TestDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = database_name(label, std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let sql = format!("CREATE DATABASE {}", quote_ident(&name));
        execute(&self.socket_conninfo("postgres"), &sql).await.unwrap_or_else(|err| {
            panic!("could not create the test database {name}: {err}; see the server log {}", self.layout.log.display())
        });
        TestDatabase { name, cluster: self }
    }
}

impl TestDatabase {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgresql://postgres@127.0.0.1:{port}/{name}`: TCP, for tokio-postgres and sqlx.
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }

    /// `host={socket_dir} port={port} user=postgres dbname={name}`: the Unix socket, in the
    /// key/value form of tokio-postgres.
    pub fn conninfo(&self) -> String {
        self.cluster.socket_conninfo(&self.name)
    }

    /// The cluster holding this database.
    pub fn cluster(&self) -> &'static Cluster {
        self.cluster
    }

    /// The URL of this database through the test binary's PgBouncer (transaction pooling),
    /// which is started on first use.
    ///
    /// # Panics
    ///
    /// If PgBouncer cannot be started: see [`Cluster::pgbouncer`].
    pub fn pgbouncer_url(&self) -> String {
        self.cluster.pgbouncer().url(&self.name)
    }

    /// Keeps the database and the cluster for inspection after a failed test.
    fn keep(&self) {
        let cluster = self.cluster;
        let layout = &cluster.layout;
        if let Err(err) = layout.keep(&self.name) {
            eprintln!(
                "tenantry-test-support: could not write {}: {err}; the cluster will be removed \
                 when the test binary exits",
                layout.keep_marker().display()
            );
        }
        let psql = cluster.bin_dir().join("psql");
        let pg_ctl = cluster.bin_dir().join("pg_ctl");
        let as_server_user = if crate::process::running_as_root() { "runuser -u postgres -- " } else { "" };
        eprintln!(
            "tenantry-test-support: the test failed; database {name} is kept.\n\
             \x20 while the test binary runs:  {psql} -h {socket} -p {port} -U postgres {name}\n\
             \x20 after it exits, restart the cluster first:\n\
             \x20   {as_server_user}{pg_ctl} start -D {data} -l {log}\n\
             \x20   then the psql command above; stop it with {as_server_user}{pg_ctl} stop -D {data}\n\
             \x20 remove {root} when done.",
            name = self.name,
            psql = psql.display(),
            socket = cluster.socket_dir().display(),
            port = cluster.port(),
            pg_ctl = pg_ctl.display(),
            data = cluster.data_dir().display(),
            log = layout.log.display(),
            root = layout.root.display(),
        );
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.keep();
            return;
        }
        // FORCE (PostgreSQL 13+) ends connections that a pool of the test may still hold.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&self.name));
        if let Err(err) = execute_blocking(self.cluster.socket_conninfo("postgres"), sql) {
            // Not a panic: that would abort a test that passed. The cluster goes away anyway.
            eprintln!(
                "tenantry-test-support: could not drop the test database {}: {err}; it is \
                 removed with the cluster when the test binary exits",
                self.name
            );
        }
    }
}

/// `t_{label}_{pid}_{counter}`, with the label reduced to `[a-z0-9_]` and shortened to fit.
fn database_name(label: &str, pid: u32, counter: u64) -> String {
    let suffix = format!("_{pid}_{counter}");
    let room = MAX_NAME_LEN - "t_".len() - suffix.len();
    let label: String = label
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .take(room)
        .collect();
    format!("t_{label}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(database_name("Two DBs", 42, 7), "t_two_dbs_42_7");
        assert_eq!(database_name("é-x", 1, 0), "t___x_1_0");
        assert_eq!(database_name("", 1, 0), "t__1_0");
    }

    #[test]
    fn names_fit_in_63_bytes() {
        let name = database_name(&"a".repeat(100), u32::MAX, u64::MAX);
        assert_eq!(name.len(), MAX_NAME_LEN);
        assert!(name.ends_with(&format!("_{}_{}", u32::MAX, u64::MAX)));
        let short = database_name("short", 1, 2);
        assert_eq!(short, "t_short_1_2");
    }
}
