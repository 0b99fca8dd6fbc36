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

use super::connection::{at_most_one, exactly_one, schema_was_present, PgConnection, TempObjects};
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
    behind_pgbouncer: bool,
    failed: bool,
    /// No statement has run yet: one refused as stale can be retried in a fresh transaction.
    pristine: bool,
}

impl TenantTransaction {
    pub(crate) async fn begin(
        mut conn: Object<Manager>,
        path: SearchPath,
        behind_pgbouncer: bool,
    ) -> Result<Self, Error> {
        conn.interrupted = true;
        conn.note_tenant(path.tenant());
        open(&mut conn, &path, behind_pgbouncer).await?;
        Ok(Self { conn: Some(conn), path, behind_pgbouncer, failed: false, pristine: true })
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
        self.run::<Vec<Row>>(sql, params).await
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
        self.run::<u64>(sql, params).await
    }

    /// Runs `sql` as `T` says (rows, or a row count); runs it again in a fresh transaction when
    /// it was the first statement and failed only because a migration made its cached
    /// statement stale ([`should_retry`](Self::should_retry)) or, behind PgBouncer, the
    /// driver's own statements were lost ([`lost_driver_statement`](Self::lost_driver_statement)).
    async fn run<T: StatementOutput>(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<T, Error> {
        let (conn, path) = self.parts()?;
        let mut result = T::run(conn, path, sql, params).await;
        if self.should_retry(&result) {
            result = match self.restart().await {
                Ok((conn, path)) => T::run(conn, path, sql, params).await,
                Err(err) => Err(err),
            };
        }
        for _ in 0..RECONNECTS {
            if !self.lost_driver_statement(&result) {
                break;
            }
            result = match self.reconnect().await {
                Ok((conn, path)) => T::run(conn, path, sql, params).await,
                Err(err) => Err(err),
            };
        }
        let result = self.explain(result).await;
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
        let result = self.explain(result).await;
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
        conn.in_flight = true;
        let result = conn.client.batch_execute(sql).await;
        conn.in_flight = false;
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
        self.pristine = false;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// A tenant alone on its path whose tables are missing (`42P01`) may have been dropped while
    /// this transaction ran (only paths with shared schemas hold the existence lock that makes
    /// drops wait): if its schema is gone, say so ([`Error::TenantNotFound`]) rather than
    /// "relation does not exist". Asked on another pooled connection, since this transaction is
    /// aborted, waiting at most [`EXPLAIN_WAIT`] for one; only ever on this error path.
    async fn explain<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        let Err(err) = &result else { return result };
        let (Some(tenant), Some(conn)) = (self.path.tenant(), self.conn.as_ref()) else { return result };
        if err.sqlstate() != Some("42P01") || self.path.is_guarded() {
            return result;
        }
        let Some(pool) = Object::pool(conn) else { return result };
        let timeouts = deadpool::managed::Timeouts {
            wait: Some(EXPLAIN_WAIT),
            create: Some(EXPLAIN_WAIT),
            recycle: Some(EXPLAIN_WAIT),
        };
        let Ok(other) = pool.timeout_get(&timeouts).await else { return result };
        match crate::schema::schema_exists(&other.client, tenant).await {
            Ok(false) => Err(crate::schema::not_found(tenant)),
            _ => result,
        }
    }

    /// Whether `result` is the transaction's first statement refused because a migration
    /// changed its tables since the connection prepared it (the connection has evicted it).
    /// Nothing else ran in the transaction, so running it again in a fresh one is invisible to
    /// the caller.
    fn should_retry<T>(&self, result: &Result<T, Error>) -> bool {
        self.pristine && result.as_ref().err().and_then(Error::sqlstate) == Some("0A000")
    }

    /// Whether `result` failed because a statement the driver prepared and kept (tokio-postgres
    /// keeps the statements it looks custom types up with) does not exist on the server
    /// connection PgBouncer lent this transaction (`26000`). The connection is retired either
    /// way; when nothing else ran in the transaction, it may run again on a fresh connection
    /// ([`reconnect`](Self::reconnect)).
    fn lost_driver_statement<T>(&mut self, result: &Result<T, Error>) -> bool {
        if !self.behind_pgbouncer || result.as_ref().err().and_then(Error::sqlstate) != Some("26000") {
            return false;
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.retire = true;
        }
        self.pristine
    }

    /// Gives the aborted transaction's connection back to the pool, which drops it (it is
    /// retired), and opens a new transaction on the same path on another connection.
    async fn reconnect(&mut self) -> Result<(&mut Object<Manager>, &SearchPath), Error> {
        let mut old =
            self.conn.take().ok_or(Error::TransactionAborted { tenant: self.tenant().map(ToString::to_string) })?;
        let pool =
            Object::pool(&old).ok_or(Error::TransactionAborted { tenant: self.tenant().map(ToString::to_string) })?;
        if old.client.batch_execute("ROLLBACK").await.is_ok() {
            old.interrupted = false;
        }
        drop(old);
        let mut conn = pool.get().await.map_err(|err| Error::Pool { source: Box::new(err) })?;
        conn.interrupted = true;
        conn.note_tenant(self.path.tenant());
        open(&mut conn, &self.path, self.behind_pgbouncer).await?;
        self.conn = Some(conn);
        self.parts()
    }

    /// Rolls the aborted transaction back and opens a new one on the same path.
    async fn restart(&mut self) -> Result<(&mut Object<Manager>, &SearchPath), Error> {
        let behind_pgbouncer = self.behind_pgbouncer;
        let (conn, path) = self.parts()?;
        conn.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|err| Error::database("rolling back", path.tenant().map(TenantName::as_str), err))?;
        open(conn, path, behind_pgbouncer).await?;
        conn.interrupted = true;
        self.parts()
    }
}

/// What running a statement gives: its rows ([`PgConnection::query`]) or its row count
/// ([`PgConnection::execute`]).
trait StatementOutput: Sized {
    fn run(
        conn: &mut PgConnection,
        path: &SearchPath,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl std::future::Future<Output = Result<Self, Error>> + Send;
}

impl StatementOutput for Vec<Row> {
    fn run(
        conn: &mut PgConnection,
        path: &SearchPath,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl std::future::Future<Output = Result<Self, Error>> + Send {
        conn.query(path, sql, params)
    }
}

impl StatementOutput for u64 {
    fn run(
        conn: &mut PgConnection,
        path: &SearchPath,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl std::future::Future<Output = Result<Self, Error>> + Send {
        conn.execute(path, sql, params)
    }
}

/// How many fresh connections a transaction's first statement is tried on when the driver's
/// kept statements are lost behind PgBouncer ([`TenantTransaction::lost_driver_statement`]):
/// each idle connection of the pool may have kept some.
const RECONNECTS: usize = 4;

/// How long [`TenantTransaction::explain`] waits for a connection to ask on.
const EXPLAIN_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Sends the `BEGIN` message for `path` on `conn` (one round trip); on failure, rolls back.
/// A guarded path locks its tenant's anchor; a schema that has none is told apart by its
/// error (`crates/tenantry/src/context/anchors.rs`), remembered, and guarded the advisory way
/// at the cost of one more round trip, this once.
async fn open(conn: &mut Object<Manager>, path: &SearchPath, behind_pgbouncer: bool) -> Result<(), Error> {
    let anchored = path.guarded_schema().is_some_and(|schema| conn.anchors.usable(schema));
    match try_open(conn, path, behind_pgbouncer, anchored).await {
        Err(Refused::Anchor(_)) => try_open(conn, path, behind_pgbouncer, false).await.map_err(|r| r.into_error(path)),
        other => other.map_err(|r| r.into_error(path)),
    }
}

/// Why [`try_open`] did not open the transaction.
enum Refused {
    /// The schema exists but its anchor could not be locked (now remembered): try the advisory
    /// guard.
    Anchor(tokio_postgres::Error),
    Error(Error),
}

impl Refused {
    fn into_error(self, path: &SearchPath) -> Error {
        match self {
            Self::Anchor(err) => {
                Error::database("beginning tenant transaction", path.tenant().map(TenantName::as_str), err)
            }
            Self::Error(error) => error,
        }
    }
}

async fn try_open(
    conn: &mut Object<Manager>,
    path: &SearchPath,
    behind_pgbouncer: bool,
    anchored: bool,
) -> Result<(), Refused> {
    // Behind PgBouncer every transaction may land on a server connection another client
    // used: clear both statements and temporary objects each time.
    let prelude = Prelude {
        deallocate_all: behind_pgbouncer,
        discard_temp: behind_pgbouncer || conn.temp_objects.must_discard_for(path.tenant()),
    };
    let tenant = path.tenant();
    conn.in_flight = true;
    let begun = conn.client.simple_query(&path.begin_sql(anchored, MissingSchema::Counted, prelude)).await;
    conn.in_flight = false;
    let error = match (begun, tenant) {
        (Ok(messages), _) if anchored || !path.is_guarded() || schema_was_present(&messages) => return Ok(()),
        // Dropped or renamed while this transaction waited for the tenant's existence lock.
        (Ok(_), Some(tenant)) => crate::schema::not_found(tenant),
        (Ok(_), None) => return Ok(()), // the default path is never guarded
        (Err(err), Some(tenant)) if err.code() == Some(&SqlState::INVALID_SCHEMA_NAME) => {
            crate::schema::not_found(tenant)
        }
        (Err(err), Some(tenant)) if anchored && super::anchors::is_refusal(err.code().map(SqlState::code)) => {
            // Failed before `BEGIN`: no transaction block is open.
            conn.anchors.refused(tenant.schema());
            return Err(Refused::Anchor(err));
        }
        (Err(err), _) => Error::database("beginning tenant transaction", tenant.map(TenantName::as_str), err),
    };
    if conn.client.batch_execute("ROLLBACK").await.is_ok() {
        conn.interrupted = false;
    }
    Err(Refused::Error(error))
}

impl Drop for TenantTransaction {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        if conn.in_flight {
            super::connection::recover_abandoned(conn, self.behind_pgbouncer);
            return;
        }
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
