//! Transaction mode: tenant work in a transaction opened by `BEGIN; SET LOCAL search_path …`.
//!
//! The `BEGIN`, the `SET LOCAL`, the tenant-exists assertion, the tenant's existence lock and
//! (when another tenant used the connection last) `DISCARD TEMP` go to the server as one
//! simple-query message (`crates/tenantry/src/schema/statements.rs`), so a tenant transaction
//! costs no round trip more than a plain one.
//! `SET LOCAL` ends with the transaction whatever happens (COMMIT, ROLLBACK, error, a dropped
//! connection), so no later borrower can inherit the path: the only mode that is also safe
//! behind PgBouncer in transaction pooling.

use deadpool::managed::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::connection::{at_most_one, exactly_one, schema_was_present, TempObjects};
use super::pool::Manager;
use super::search_path::SearchPath;
use crate::error::Error;
use crate::name::TenantName;
use crate::schema::statements::{MissingSchema, Prelude};

/// A transaction on a pooled connection whose search path is the tenant's (or the default).
///
/// Dropping it without [`commit`](Self::commit) rolls it back. Get one from
/// [`Tenantry::transaction`](crate::Tenantry::transaction).
pub struct TenantTransaction {
    conn: Option<Object<Manager>>,
    path: SearchPath,
    failed: bool,
}

impl TenantTransaction {
    pub(crate) async fn begin(
        mut conn: Object<Manager>,
        path: SearchPath,
        behind_pgbouncer: bool,
    ) -> Result<Self, Error> {
        conn.interrupted = true;
        conn.note_tenant(path.tenant());
        // Behind PgBouncer every transaction may land on a server connection another client
        // used: clear both statements and temporary objects each time.
        let prelude = Prelude {
            deallocate_all: behind_pgbouncer,
            discard_temp: behind_pgbouncer || conn.temp_objects.must_discard_for(path.tenant()),
        };
        let tenant = path.tenant();
        let present = match conn.client.simple_query(&path.begin_sql(MissingSchema::Counted, prelude)).await {
            Ok(messages) => !path.is_guarded() || schema_was_present(&messages),
            Err(err) => {
                if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                    conn.interrupted = false;
                }
                return Err(match (err.code(), tenant) {
                    (Some(code), Some(tenant)) if *code == SqlState::INVALID_SCHEMA_NAME => {
                        crate::schema::not_found(tenant)
                    }
                    _ => Error::database("beginning tenant transaction", tenant.map(TenantName::as_str), err),
                });
            }
        };
        if let (false, Some(tenant)) = (present, tenant) {
            // Dropped or renamed while this transaction waited for the tenant's existence lock.
            if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                conn.interrupted = false;
            }
            return Err(crate::schema::not_found(tenant));
        }
        Ok(Self { conn: Some(conn), path, failed: false })
    }

    /// Switches the rest of this transaction to `path` (used by tenant creation, whose schema
    /// does not exist when the transaction begins).
    pub(crate) async fn set_local_path(&mut self, path: SearchPath) -> Result<(), Error> {
        // The session's temporary objects are now only this transaction's path's (begin
        // discarded any other's): discard them too when the path moves to another tenant.
        let sql =
            path.set_local_sql(Prelude { deallocate_all: false, discard_temp: path.tenant() != self.path.tenant() });
        let (conn, _) = self.parts()?;
        conn.note_tenant(path.tenant());
        let result = conn.batch_execute(&path, &sql).await;
        self.note(result)?;
        self.path = path;
        Ok(())
    }

    /// The tenant this transaction works in; `None` for the default schema.
    pub fn tenant(&self) -> Option<&TenantName> {
        self.path.tenant()
    }

    /// The search path of this transaction.
    pub fn search_path(&self) -> &SearchPath {
        &self.path
    }

    /// Runs a statement and returns its rows. Statements are prepared once per
    /// (search path, SQL) on each connection and reused.
    ///
    /// # Errors
    /// [`Error::Database`]; the transaction is then aborted and `commit` will say so.
    pub async fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let (conn, path) = self.parts()?;
        let result = conn.query(path, sql, params).await;
        self.note(result)
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
    /// As [`query`](Self::query).
    pub async fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        let (conn, path) = self.parts()?;
        let result = conn.execute(path, sql, params).await;
        self.note(result)
    }

    /// Runs one or more statements separated by `;`, without parameters, in one round trip.
    ///
    /// Do not end the transaction or change `search_path` from here: use
    /// [`commit`](Self::commit) and [`rollback`](Self::rollback).
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub async fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let (conn, path) = self.parts()?;
        let result = conn.batch_execute(path, sql).await;
        self.note(result)
    }

    /// The prepared statement for `sql` in this tenant, from the connection's cache.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        let (conn, path) = self.parts()?;
        let result = conn.prepare_cached(path, sql).await;
        self.note(result)
    }

    /// The underlying tokio-postgres client, for its full API (COPY, portals, typed queries).
    ///
    /// Do not `COMMIT`, `ROLLBACK` or change `search_path` through it.
    pub fn client(&self) -> &Client {
        // `conn` is only `None` after commit/rollback, which consume `self`.
        match &self.conn {
            Some(conn) => &conn.client,
            None => unreachable!("a finished transaction cannot be used"),
        }
    }

    /// Commits the transaction.
    ///
    /// # Errors
    /// [`Error::TransactionAborted`] when an earlier statement failed (PostgreSQL has rolled the
    /// transaction back), or [`Error::Database`] when COMMIT fails (a deferred constraint, a
    /// serialization failure).
    pub async fn commit(mut self) -> Result<(), Error> {
        if self.failed {
            self.finish("ROLLBACK").await?;
            return Err(Error::TransactionAborted { tenant: self.tenant().map(ToString::to_string) });
        }
        self.finish("COMMIT").await
    }

    /// Rolls the transaction back.
    ///
    /// # Errors
    /// [`Error::Database`] when the connection is lost.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.finish("ROLLBACK").await
    }

    async fn finish(&mut self, sql: &'static str) -> Result<(), Error> {
        let tenant = self.path.tenant().map(TenantName::as_str);
        let conn = self.conn.as_mut().ok_or(Error::TransactionAborted { tenant: tenant.map(str::to_owned) })?;
        let result = conn.client.batch_execute(sql).await;
        match result {
            Ok(()) => {
                conn.interrupted = false;
                if sql == "COMMIT" {
                    // Temporary objects this transaction made (or did not discard) survive it.
                    conn.temp_objects = TempObjects::Of(self.path.tenant().cloned());
                }
                Ok(())
            }
            Err(err) => {
                let action = if sql == "COMMIT" { "committing" } else { "rolling back" };
                Err(Error::database(action, tenant, err))
            }
        }
    }

    fn parts(&mut self) -> Result<(&mut Object<Manager>, &SearchPath), Error> {
        match self.conn.as_mut() {
            Some(conn) => Ok((conn, &self.path)),
            None => Err(Error::TransactionAborted { tenant: self.path.tenant().map(ToString::to_string) }),
        }
    }

    fn note<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}

impl Drop for TenantTransaction {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if !conn.interrupted {
            return;
        }
        // Roll back now rather than when the connection is next borrowed, so an abandoned
        // transaction does not hold its locks while the connection sits idle. Without a
        // runtime, the pool's recycle step rolls it back instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                    conn.interrupted = false;
                    // A COMMIT may have been under way: whose temporary objects are left is unknown.
                    conn.temp_objects = TempObjects::Unknown;
                }
            });
        }
    }
}

impl std::fmt::Debug for TenantTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTransaction")
            .field("search_path", &self.path.as_sql())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
