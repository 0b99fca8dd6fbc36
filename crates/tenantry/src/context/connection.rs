//! One pooled PostgreSQL connection and the state tenantry keeps about it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio_postgres::{Client, Statement};

use super::anchors::Anchors;
use super::generations::Generations;
use super::search_path::SearchPath;
use super::statement_cache::StatementCache;
use crate::error::Error;
use crate::name::TenantName;
use crate::schema::statements;

/// Whose temporary objects a session may hold: `DISCARD TEMP` runs before another tenant's
/// work (docs/context.md, "Temporary objects").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TempObjects {
    /// None: nothing has run since the connection was opened or reset.
    None,
    /// Only those made by work in this tenant (`None`: the default schema).
    Of(Option<TenantName>),
    /// Unknown (interrupted work): discard before any tenant's work.
    Unknown,
}

impl TempObjects {
    /// Whether work in `tenant` must first discard the session's temporary objects.
    pub(crate) fn must_discard_for(&self, tenant: Option<&TenantName>) -> bool {
        match self {
            Self::None => false,
            Self::Of(owner) => owner.as_ref() != tenant,
            Self::Unknown => true,
        }
    }
}

/// A connection plus what tenantry knows about its session.
pub(crate) struct PgConnection {
    pub(crate) client: Client,
    /// The task driving the socket: aborted to close it while a statement is still running.
    socket: tokio::task::AbortHandle,
    statements: StatementCache,
    /// Whose temporary objects the session may hold.
    pub(crate) temp_objects: TempObjects,
    /// Session mode used the connection: its session state is unknown until
    /// [`reset_session`](Self::reset_session) has run.
    pub(crate) needs_reset: bool,
    /// Set before any work whose end leaves the session in a known state, cleared after it:
    /// still set when the connection comes back means the work was interrupted (an error
    /// mid-way, a panic, a dropped future) and a transaction may be open.
    pub(crate) interrupted: bool,
    /// Set while a statement is on the wire, cleared when its result is in: still set when the
    /// connection comes back means its user stopped waiting (a dropped future), and the
    /// statement may still be running on the server ([`discard_abandoned`]).
    pub(crate) in_flight: bool,
    /// The driver's cached type-lookup statements no longer exist on the server (behind
    /// PgBouncer): the pool drops the connection instead of lending it again.
    pub(crate) retire: bool,
    pub(crate) created_at: Instant,
    tenants_seen: HashSet<TenantName>,
    /// Which cached statements announced schema changes made stale.
    generations: Arc<Generations>,
    /// Which tenant schemas have no anchor to lock.
    pub(crate) anchors: Arc<Anchors>,
}

impl PgConnection {
    pub(crate) fn new(
        client: Client,
        socket: tokio::task::AbortHandle,
        statement_cache_capacity: usize,
        generations: Arc<Generations>,
        anchors: Arc<Anchors>,
    ) -> Self {
        Self {
            client,
            socket,
            statements: StatementCache::new(statement_cache_capacity),
            temp_objects: TempObjects::None,
            needs_reset: false,
            interrupted: false,
            in_flight: false,
            retire: false,
            created_at: Instant::now(),
            tenants_seen: HashSet::new(),
            generations,
            anchors,
        }
    }

    pub(crate) fn note_tenant(&mut self, tenant: Option<&TenantName>) {
        if let Some(tenant) = tenant {
            if !self.tenants_seen.contains(tenant) {
                self.tenants_seen.insert(tenant.clone());
            }
        }
    }

    /// Ends whatever the session's user left open and resets the session
    /// ([`statements::RESET_SESSION`]), in one round trip. The connection is then as new,
    /// but for the statement cache.
    pub(crate) async fn reset_session(&mut self) -> Result<(), tokio_postgres::Error> {
        self.client.batch_execute(statements::RESET_SESSION).await?;
        self.needs_reset = false;
        self.interrupted = false;
        self.temp_objects = TempObjects::None;
        Ok(())
    }

    pub(crate) fn tenants_seen(&self) -> usize {
        self.tenants_seen.len()
    }

    /// The statement for `sql` under `path`: from the cache, or prepared (and cached).
    pub(crate) async fn prepare_cached(&mut self, path: &SearchPath, sql: &str) -> Result<Statement, Error> {
        // The tenant's schema is the one whose migrations are announced (outside a tenant, the
        // path's first schema: the default one, whose shared migrations count as changing every
        // path). The tenant need not come first: shared schemas may precede it.
        let own = path.tenant().map(TenantName::schema).or_else(|| path.schemas().first().map(String::as_str));
        let generation = own.map_or(0, |schema| self.generations.current(schema));
        if let Some(statement) = self.statements.get(path.as_sql(), sql, generation) {
            return Ok(statement);
        }
        self.in_flight = true;
        let statement = self
            .client
            .prepare(sql)
            .await
            .map_err(|err| Error::database("preparing statement", path.tenant().map(TenantName::as_str), err))?;
        self.in_flight = false;
        self.statements.insert(path.as_sql(), sql, statement.clone(), generation);
        Ok(statement)
    }

    pub(crate) fn caches_statements(&self) -> bool {
        self.statements.is_enabled()
    }
}

/// Statement execution shared by transactions and sessions: through the statement cache when
/// it is enabled, as unnamed one-off statements otherwise.
impl PgConnection {
    pub(crate) async fn query(
        &mut self,
        path: &SearchPath,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, Error> {
        let result = if self.caches_statements() {
            let statement = self.prepare_cached(path, sql).await?;
            self.in_flight = true;
            self.client.query(&statement, params).await
        } else {
            self.in_flight = true;
            self.client.query(sql, params).await
        };
        self.settle(path, sql, result, "running query")
    }

    pub(crate) async fn execute(
        &mut self,
        path: &SearchPath,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, Error> {
        let result = if self.caches_statements() {
            let statement = self.prepare_cached(path, sql).await?;
            self.in_flight = true;
            self.client.execute(&statement, params).await
        } else {
            self.in_flight = true;
            self.client.execute(sql, params).await
        };
        self.settle(path, sql, result, "running statement")
    }

    pub(crate) async fn batch_execute(&mut self, path: &SearchPath, sql: &str) -> Result<(), Error> {
        self.in_flight = true;
        let result = self.client.batch_execute(sql).await;
        self.in_flight = false;
        result.map_err(|err| Error::database("running statements", path.tenant().map(TenantName::as_str), err))
    }

    /// The statement's result is in. A cached statement that the server refused because the
    /// tables changed under it (a migration: `0A000`, "cached plan must not change result
    /// type") is evicted, so the next use prepares it afresh.
    fn settle<T>(
        &mut self,
        path: &SearchPath,
        sql: &str,
        result: Result<T, tokio_postgres::Error>,
        action: &'static str,
    ) -> Result<T, Error> {
        self.in_flight = false;
        result.map_err(|err| {
            if is_stale_statement(&err) {
                self.statements.remove(path.as_sql(), sql);
            }
            Error::database(action, path.tenant().map(TenantName::as_str), err)
        })
    }
}

/// Whether the server refused a prepared statement because the tables it reads changed since it
/// was prepared (`0A000`: `cached plan must not change result type`).
pub(crate) fn is_stale_statement(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&tokio_postgres::error::SqlState::FEATURE_NOT_SUPPORTED)
}

/// How long an abandoned statement may take to finish before it is cancelled.
const ABANDONED_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Deals with a connection whose statement was abandoned mid-flight (its caller's future was
/// dropped), in a spawned task:
/// - if the statement ends within [`ABANDONED_GRACE`], the connection is rolled back (or, after
///   session mode, reset) and goes back to the pool;
/// - otherwise it is taken out of the pool, so abandoned slow queries cannot starve it, and
///   closed. Directly connected, the server is first asked to cancel the statement
///   (PostgreSQL's cancel request, on a connection of its own). A cancelled connection is never
///   reused: a cancel request that arrives late would cancel whatever it runs next.
///
/// Behind PgBouncer (`behind_pgbouncer`) no cancel request is sent: tokio-postgres closes the
/// cancel connection as soon as the request is written, and PgBouncer 1.18 (Debian 12's) exits
/// with `bad client state` when a cancel client leaves before PgBouncer has forwarded the request
/// (pgbouncer/pgbouncer#801, fixed by #846). Closing the connection makes PgBouncer close its
/// server connection; the server notices and stops the statement when
/// `client_connection_check_interval` is set (docs/context.md).
pub(crate) fn recover_abandoned(mut conn: deadpool::managed::Object<super::pool::Manager>, behind_pgbouncer: bool) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime to wait on: the pool's recycle step refuses an in-flight connection.
        return;
    };
    runtime.spawn(async move {
        if let Ok(Ok(())) = tokio::time::timeout(ABANDONED_GRACE, conn.clean_up()).await {
            return; // back to the pool, clean
        }
        // The cancel request goes the way the connection went: over TLS when it did (a server
        // demanding TLS refuses a plain one, and the cancel key should not travel in clear).
        let settings = deadpool::managed::Object::pool(&conn).map(|pool| pool.manager().connection_settings().clone());
        let conn = deadpool::managed::Object::take(conn);
        if !behind_pgbouncer {
            let token = conn.client.cancel_token();
            let cancelled = match settings {
                Some(settings) => settings.cancel(&token).await,
                None => token.cancel_query(tokio_postgres::NoTls).await,
            };
            if let Err(err) = cancelled {
                tracing::debug!("cancelling an abandoned statement failed: {err}");
            }
        }
        // Dropping the client alone would keep the socket open until the statement's result.
        conn.socket.abort();
    });
}

impl PgConnection {
    /// Waits for the statement on the wire, then ends what its user left open: a reset after
    /// session mode, a `ROLLBACK` otherwise.
    async fn clean_up(&mut self) -> Result<(), tokio_postgres::Error> {
        if self.needs_reset {
            self.reset_session().await?;
        } else {
            self.client.batch_execute("ROLLBACK").await?;
            self.interrupted = false;
            // A COMMIT may have been on the wire: whose temporary objects are left is unknown.
            self.temp_objects = TempObjects::Unknown;
        }
        self.in_flight = false;
        Ok(())
    }
}

/// Whether the tenant schema was present when a guarded search path was set: the message's
/// last statement is [`statements::set_path_if_present`], whose row count says so.
pub(crate) fn schema_was_present(messages: &[tokio_postgres::SimpleQueryMessage]) -> bool {
    let last_count = messages.iter().rev().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::CommandComplete(rows) => Some(*rows),
        _ => None,
    });
    last_count == Some(1)
}

/// Exactly one row, or an error saying how many there were.
pub(crate) fn exactly_one(rows: Vec<tokio_postgres::Row>, path: &SearchPath) -> Result<tokio_postgres::Row, Error> {
    let count = rows.len();
    let mut rows = rows.into_iter();
    match (rows.next(), count) {
        (Some(row), 1) => Ok(row),
        _ => Err(Error::UnexpectedRowCount {
            expected: "exactly one row",
            actual: count,
            tenant: path.tenant().map(ToString::to_string),
        }),
    }
}

/// At most one row, or an error saying how many there were.
pub(crate) fn at_most_one(
    rows: Vec<tokio_postgres::Row>,
    path: &SearchPath,
) -> Result<Option<tokio_postgres::Row>, Error> {
    if rows.len() > 1 {
        return Err(Error::UnexpectedRowCount {
            expected: "at most one row",
            actual: rows.len(),
            tenant: path.tenant().map(ToString::to_string),
        });
    }
    Ok(rows.into_iter().next())
}
