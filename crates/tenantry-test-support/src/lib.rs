//! Test harness for tenantry: one throwaway PostgreSQL cluster per test binary, a fresh
//! database per test, and PgBouncer in transaction pooling mode.
//!
//! Tests run in parallel against the one cluster, each in its own database, as with
//! `#[sqlx::test]`:
//!
//! - [`Cluster::shared`] starts the cluster on first use: `initdb` into a temporary directory
//!   (`/tmp/tenantry-test-XXXXXX`) and `pg_ctl start`, listening on 127.0.0.1 at a free port
//!   and on a Unix socket in that directory, with durability off. About a second.
//!   [`Cluster::durable`] starts a second one with durability on (`fsync`, `synchronous_commit`),
//!   for benchmarks that must measure what a production server does.
//! - [`test_database`] (or [`Cluster::database`]) creates an empty database for one test.
//!   It is dropped with the [`TestDatabase`] value, or kept if the test panics.
//! - [`Cluster::pgbouncer`] starts PgBouncer (transaction pooling) in front of the cluster;
//!   [`TestDatabase::pgbouncer_url`] reaches a test database through it.
//! - [`Cluster::tls`] (and [`Cluster::tls_self_signed`]) start another cluster with `ssl = on`,
//!   a certificate chain made with rcgen and `pg_hba.conf` lines demanding TLS or a client
//!   certificate; [`Cluster::client_pki`] has the client's files.
//! - [`Cluster::password_superuser`] makes a role that must log in with its password
//!   (`scram-sha-256`; every other role is trusted), for tests that a password never leaks.
//! - After the test binary exits, a watchdog process stops PgBouncer and the server and removes
//!   the temporary directory, unless a test failed while holding a [`TestDatabase`]: then the
//!   directory (with a `KEEP` file listing the kept databases) stays for inspection, and the
//!   failing test's output says how to restart the cluster and connect with `psql`.
//!
//! # Requirements
//!
//! - PostgreSQL 13 or newer server programs (`apt-get install postgresql`). They are looked
//!   for in `TENANTRY_PG_BIN` (a directory), then on `PATH` (a directory with both `initdb`
//!   and `pg_ctl`), then in the newest `/usr/lib/postgresql/<version>/bin`.
//! - For [`Cluster::pgbouncer`] only: PgBouncer (`apt-get install pgbouncer`), found through
//!   `TENANTRY_PGBOUNCER` (the executable), then `PATH`, then `/usr/sbin/pgbouncer`.
//! - When the tests run as root, the PostgreSQL programs and PgBouncer (which refuse to run as
//!   root) run as the `postgres` OS user through `runuser`, and the temporary directory is
//!   given to that user.
//!
//! Failures to set up are panics whose message says what to do next.
//!
//! # Example
//!
//! ```rust,no_run
//! use tenantry_test_support::test_database;
//! use tokio_postgres::NoTls;
//!
//! # async fn example() {
//! // In a `#[tokio::test]`:
//! let db = test_database("create_table").await;
//! let (client, connection) = tokio_postgres::connect(&db.url(), NoTls)
//!     .await
//!     .expect("connect to the test database");
//! tokio::spawn(connection);
//! client
//!     .batch_execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
//!     .await
//!     .expect("create a table");
//!
//! // The same database through PgBouncer in transaction pooling mode.
//! let (pooled, connection) = tokio_postgres::connect(&db.pgbouncer_url(), NoTls)
//!     .await
//!     .expect("connect through PgBouncer");
//! tokio::spawn(connection);
//! pooled.simple_query("SELECT id FROM t").await.expect("query through PgBouncer");
//! // `db` is dropped here, and the database with it.
//! # }
//! ```

mod address;
mod binaries;
mod cluster;
mod database;
mod foreign;
mod layout;
mod once;
mod password;
mod pgbouncer;
mod pki;
mod process;
mod server;
mod sql;
mod tls;
mod watchdog;

pub use cluster::Cluster;
pub use database::TestDatabase;
pub use foreign::{create_supabase_like, snapshot_schemas, SUPABASE_SCHEMAS};
pub use password::PasswordRole;
pub use pgbouncer::PgBouncer;
pub use pki::{ClientPki, CERT_USER};
pub use tls::TLS_ONLY_USER;

/// A fresh, empty database for one test in this test binary's cluster:
/// `Cluster::shared().database(label)`. See [`Cluster::database`].
pub async fn test_database(label: &str) -> TestDatabase {
    Cluster::shared().database(label).await
}
