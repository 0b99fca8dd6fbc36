//! Session mode: the search path is `SET` on the session when a connection is acquired.
//!
//! For work that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`) or long
//! read-only sessions. The `SET` is sent only when the connection's path differs from the one
//! wanted, so a pool that keeps serving one tenant pays nothing. What makes it safe:
//! - the `SET` and the tenant-exists assertion are one implicit transaction: both or neither;
//! - it is never sent while a transaction may be open (a connection that comes back
//!   interrupted is rolled back first), so no later ROLLBACK can undo it;
//! - any interruption (error mid-way, panic, dropped future) or a transaction the caller
//!   opened by hand marks the path unknown, and the next borrower sets it again.
//!
//! Not safe behind PgBouncer in transaction pooling: there, use transactions.

use deadpool::managed::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::connection::{at_most_one, exactly_one};
use super::pool::Manager;
use super::search_path::SearchPath;
use crate::error::Error;
use crate::name::TenantName;

/// A pooled connection whose session search path is the tenant's (or the default).
///
/// Get one from [`Tenantry::session`](crate::Tenantry::session). Statements run in autocommit;
/// for a transaction use [`Tenantry::transaction`](crate::Tenantry::transaction).
pub struct TenantSession {
    conn: Object<Manager>,
    path: SearchPath,
}

impl TenantSession {
    pub(crate) async fn acquire(mut conn: Object<Manager>, path: SearchPath) -> Result<Self, Error> {
        conn.note_tenant(path.tenant());
        if conn.session_path.as_ref() != Some(&path) {
            conn.interrupted = true;
            conn.session_path = None;
            conn.client.batch_execute(&path.set_session_sql()).await.map_err(|err| {
                match (err.code(), path.tenant()) {
                    (Some(code), Some(tenant)) if *code == SqlState::INVALID_SCHEMA_NAME => {
                        crate::schema::not_found(tenant)
                    }
                    (_, tenant) => {
                        Error::database("setting the session search path", tenant.map(TenantName::as_str), err)
                    }
                }
            })?;
            conn.session_path = Some(path.clone());
            conn.interrupted = false;
        }
        Ok(Self { conn, path })
    }

    /// The tenant of this session; `None` for the default schema.
    pub fn tenant(&self) -> Option<&TenantName> {
        self.path.tenant()
    }

    /// Runs a statement and returns its rows.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.guard(sql);
        let result = self.conn.query(&self.path, sql, params).await;
        self.settle(sql);
        result
    }

    /// Runs a statement that returns exactly one row.
    ///
    /// # Errors
    /// As [`query`](Self::query), or [`Error::UnexpectedRowCount`].
    pub async fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        let rows = self.query(sql, params).await?;
        exactly_one(rows, &self.path)
    }

    /// Runs a statement that returns at most one row.
    ///
    /// # Errors
    /// As [`query`](Self::query), or [`Error::UnexpectedRowCount`].
    pub async fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error> {
        let rows = self.query(sql, params).await?;
        at_most_one(rows, &self.path)
    }

    /// Runs a statement and returns the number of rows it affected.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.guard(sql);
        let result = self.conn.execute(&self.path, sql, params).await;
        self.settle(sql);
        result
    }

    /// Runs statements separated by `;` in one round trip (an implicit transaction).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.guard(sql);
        let result = self.conn.batch_execute(&self.path, sql).await;
        self.settle(sql);
        result
    }

    /// The prepared statement for `sql` in this tenant, from the connection's cache.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.conn.prepare_cached(&self.path, sql).await
    }

    /// The underlying tokio-postgres client. Do not change `search_path` through it.
    pub fn client(&self) -> &Client {
        &self.conn.client
    }

    /// Marks the connection interrupted until the statement completes.
    fn guard(&mut self, _sql: &str) {
        self.conn.interrupted = true;
    }

    /// The statement completed. One that may have opened a transaction keeps the connection
    /// marked, so it is rolled back and its path re-set before anyone else uses it.
    fn settle(&mut self, sql: &str) {
        self.conn.interrupted = may_open_transaction(sql);
    }
}

impl std::fmt::Debug for TenantSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSession").field("search_path", &self.path.as_sql()).finish_non_exhaustive()
    }
}

/// Whether any statement in `sql` may leave a transaction open or change session settings
/// (`BEGIN`, `START TRANSACTION`, `SET`, `RESET`, `DISCARD`, `set_config`): conservative, a
/// false positive only costs one ROLLBACK and one SET.
fn may_open_transaction(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("set_config")
        || lower.split(';').any(|statement| {
            let first = statement
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty() && !line.starts_with("--"))
                .and_then(|line| line.split_whitespace().next())
                .unwrap_or("");
            matches!(first, "begin" | "start" | "set" | "reset" | "discard" | "savepoint")
        })
}

#[cfg(test)]
mod tests {
    use super::may_open_transaction;

    #[test]
    fn detects_statements_that_change_session_state() {
        for sql in [
            "BEGIN",
            "begin; insert into t values (1)",
            "select 1; START TRANSACTION",
            "-- comment\nSET search_path TO x",
            "select set_config('search_path', 'x', false)",
            "RESET ALL",
            "DISCARD ALL",
        ] {
            assert!(may_open_transaction(sql), "{sql}");
        }
        for sql in ["SELECT * FROM orders", "INSERT INTO settings(k) VALUES ('begin')", "VACUUM"] {
            assert!(!may_open_transaction(sql), "{sql}");
        }
    }
}
