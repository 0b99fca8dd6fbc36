//! The embedded development cluster: `database_url = "embedded"`.
//!
//! `tenantry init` writes `database_url = "embedded"`. The CLI then creates a PostgreSQL
//! cluster under the project's `.tenantry/` from the machine's own PostgreSQL server programs
//! the first time it needs a database, starts it on a free port of 127.0.0.1, leaves it running
//! for the next command, and `tenantry embedded stop|status` manages it. It is never used when a
//! real URL is configured.
//!
//! ```text
//! <project>/.tenantry/              mode 0700
//! <project>/.tenantry/data          PGDATA
//! <project>/.tenantry/password      the `postgres` role's generated password, mode 0600
//! <project>/.tenantry/postgres.log  server log
//! <project>/.tenantry/port          the port, reused at the next start while free
//! /tmp/tenantry-<hash>/             the Unix socket (socket paths are limited to ~107 bytes)
//! ```
//!
//! A development cluster, set up for that:
//!
//! - No passwordless superuser: every connection, over TCP (127.0.0.1 only, no access from
//!   other machines) and over the Unix socket, needs the generated password in
//!   `.tenantry/password` (`scram-sha-256`; `auth.rs`). The URL the CLI connects with carries it
//!   and is printed masked. Other users of the machine cannot read it. A cluster made by an older
//!   tenantry (`initdb --auth=trust`) is upgraded in place at its next use.
//! - Durable: `fsync` stays on (the cluster keeps the developer's data across reboots; a power
//!   loss with `fsync = off` can corrupt it), `synchronous_commit = off` for speed (a crash
//!   loses at most the last fraction of a second of commits, never the cluster).
//! - `UTF8`, locale `C`: the same behaviour on every developer's machine and in CI.
//! - As root, `initdb` and `pg_ctl` run as the `postgres` OS user through `runuser`
//!   (PostgreSQL refuses to run as root), and `.tenantry` belongs to that user.
//!
//! The server programs are found through `TENANTRY_PG_BIN`, then `PATH`, then
//! `/usr/lib/postgresql/<newest>/bin`; nothing is downloaded.
//!
//! ```rust,no_run
//! # fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let embedded = Embedded::new(std::path::Path::new("."));
//! let url = embedded.ensure_running()?; // postgresql://postgres:<password>@127.0.0.1:{port}/tenantry
//! println!("{:?}", embedded.status()?);
//! embedded.stop()?;
//! # Ok(()) }
//! ```

mod auth;
mod binaries;
mod cluster;
mod connect;
mod error;
mod layout;
mod process;
mod server;
#[cfg(test)]
mod tests;

pub(crate) use cluster::{Embedded, EmbeddedStatus};
pub(crate) use error::EmbeddedError;
