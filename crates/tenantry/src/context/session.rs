//! Session mode: the search path is `SET` on the session when a connection is acquired.
//!
//! For work that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`) or long
//! read-only sessions. What makes it safe:
//! - the `SET`, the tenant's existence lock (held until the session ends, so the tenant is not
//!   dropped or renamed under it) and the check that the schema exists are one message
//!   (`crates/tenantry/src/schema/statements.rs`);
//! - whatever the session's user changed, however (`SET` in a `DO` block or a function,
//!   `SET ROLE`, `SET SESSION AUTHORIZATION`, a transaction left open, `PREPARE`, temporary
//!   tables, advisory locks), is reset when the session is released, before the connection
//!   serves anyone else ([`statements::RESET_SESSION`](crate::schema::statements::RESET_SESSION)).
//!   tenantry does not try to tell from the SQL what it changed.
//!
//! A session costs two round trips more than a transaction: the `SET` and the reset.
//! Not safe behind PgBouncer in transaction pooling: there, use transactions.

use deadpool::managed::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::connection::{at_most_one, exactly_one, schema_was_present};
use super::pool::Manager;
use super::search_path::SearchPath;
use crate::error::Error;
use crate::name::TenantName;
use crate::schema::statements::Prelude;

/// A pooled connection whose session search path is the tenant's (or the default).
///
/// Get one from [`Tenantry::session`](crate::Tenantry::session). Statements run in autocommit;
/// for a transaction use [`Tenantry::transaction`](crate::Tenantry::transaction).
pub struct TenantSession {
    /// `None` only once dropped.
    conn: Option<Object<Manager>>,
    path: SearchPath,
}

impl TenantSession {
    pub(crate) async fn acquire(mut conn: Object<Manager>, path: SearchPath) -> Result<Self, Error> {
        conn.note_tenant(path.tenant());
        conn.needs_reset = true;
        let prelude =
            Prelude { deallocate_all: false, discard_temp: conn.temp_objects.must_discard_for(path.tenant()) };
        let sql = path.set_session_sql(prelude);
        // From here on, dropping `session` resets the connection, whatever fails.
        let mut session = Self { conn: Some(conn), path };
        let tenant = session.path.tenant().cloned();
        let tenant = tenant.as_ref();
        session.conn().in_flight = true;
        let set = session.conn().client.simple_query(&sql).await;
        session.conn().in_flight = false;
        let messages = set.map_err(|err| match (err.code(), tenant) {
            (Some(code), Some(tenant)) if *code == SqlState::INVALID_SCHEMA_NAME => crate::schema::not_found(tenant),
            (_, tenant) => Error::database("setting the session search path", tenant.map(TenantName::as_str), err),
        })?;
        if let (false, Some(tenant)) = (!session.path.is_guarded() || schema_was_present(&messages), tenant) {
            return Err(crate::schema::not_found(tenant));
        }
        Ok(session)
    }

    fn conn(&mut self) -> &mut Object<Manager> {
        match &mut self.conn {
            Some(conn) => conn,
            None => unreachable!("a dropped session cannot be used"),
        }
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
        let path = self.path.clone();
        self.conn().query(&path, sql, params).await
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
        let path = self.path.clone();
        self.conn().execute(&path, sql, params).await
    }

    /// Runs statements separated by `;` in one round trip (an implicit transaction).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let path = self.path.clone();
        self.conn().batch_execute(&path, sql).await
    }

    /// The prepared statement for `sql` in this tenant, from the connection's cache.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        let path = self.path.clone();
        self.conn().prepare_cached(&path, sql).await
    }

    /// The underlying tokio-postgres client. Whatever it changes in the session is reset when
    /// the session is released.
    pub fn client(&self) -> &Client {
        match &self.conn {
            Some(conn) => &conn.client,
            None => unreachable!("a dropped session cannot be used"),
        }
    }
}

impl Drop for TenantSession {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if conn.in_flight {
            // Session mode is refused behind PgBouncer.
            super::connection::recover_abandoned(conn, false);
            return;
        }
        // Reset now rather than when the connection is next borrowed, so the session's locks
        // (its existence lock among them: a drop of the tenant waits for it) and temporary
        // objects do not outlive it while the connection sits idle. Without a runtime, the
        // pool's recycle step resets it instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = conn.reset_session().await {
                    tracing::debug!("resetting a released session failed, the pool will retire it: {err}");
                }
            });
        }
    }
}

impl std::fmt::Debug for TenantSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSession").field("search_path", &self.path.as_sql()).finish_non_exhaustive()
    }
}
