//! The sqlx adapter: tenant-scoped sqlx transactions for applications built on sqlx.
//!
//! [`Tenantry::sqlx_transaction`] opens a transaction on an sqlx pool with the same
//! `BEGIN; SET LOCAL search_path …` message tenantry uses itself, so it cannot leak a tenant's
//! path to the next borrower and is safe behind PgBouncer.
//!
//! sqlx keys its prepared-statement cache by SQL text only (sqlx issue #1250): a statement
//! prepared in one tenant would be reused in another, re-planned on every switch, and fail with
//! `cached plan must not change result type` while tenants' tables differ (mid-migration).
//! [`connect_options`] turns that cache off; use it for pools that serve several tenants.
//! [`Tenantry::sqlx_connect_options`] gives options for the same server with the same
//! settings tenantry resolved (TLS, `PG*` variables, the password file, `application_name`).

use sqlx::postgres::{PgConnectOptions, PgPool, PgSslMode, Postgres};
use tokio_postgres::config::Host;

use crate::connect::{ConnectionSettings, SslMode};

use crate::error::Error;
use crate::name::TenantName;
use crate::schema::statements::{MissingSchema, Prelude};
use crate::Tenantry;

/// `options` with sqlx's statement cache disabled, as tenant-switching pools need.
///
/// ```no_run
/// # async fn f() -> Result<(), sqlx::Error> {
/// let options: sqlx::postgres::PgConnectOptions = "postgres://localhost/app".parse()?;
/// let pool = sqlx::postgres::PgPoolOptions::new()
///     .connect_with(tenantry::sqlx::connect_options(options))
///     .await?;
/// # Ok(()) }
/// ```
pub fn connect_options(options: PgConnectOptions) -> PgConnectOptions {
    options.statement_cache_capacity(0)
}

/// sqlx options for the server of `settings`, with the same TLS mode and files, user,
/// password, database and `application_name`, and the statement cache off (as
/// [`connect_options`]). The first host is used (sqlx connects to one); `options` and the
/// keepalive settings are not carried over.
pub fn pg_connect_options(settings: &ConnectionSettings) -> PgConnectOptions {
    let pg = settings.pg_config();
    let tls = settings.tls_files();
    let mut options = PgConnectOptions::new_without_pgpass();
    let mut unix_socket = false;
    if let Some(addr) = pg.get_hostaddrs().first() {
        options = options.host(&addr.to_string());
    } else {
        match pg.get_hosts().first() {
            Some(Host::Tcp(host)) => options = options.host(host),
            #[cfg(unix)]
            Some(Host::Unix(path)) => {
                unix_socket = true;
                options = options.socket(path);
            }
            None => {}
        }
    }
    if let Some(port) = pg.get_ports().first() {
        options = options.port(*port);
    }
    if let Some(user) = pg.get_user() {
        options = options.username(user);
    }
    if let Some(password) = pg.get_password().and_then(|p| std::str::from_utf8(p).ok()) {
        options = options.password(password);
    }
    if let Some(dbname) = pg.get_dbname() {
        options = options.database(dbname);
    }
    if let Some(name) = pg.get_application_name() {
        options = options.application_name(name);
    }
    // As libpq and tenantry's own connections: no TLS over a Unix socket.
    let mode = if unix_socket { SslMode::Disable } else { settings.ssl_mode() };
    options = options.ssl_mode(match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Allow => PgSslMode::Allow,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyCa => PgSslMode::VerifyCa,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
        SslMode::Prefer => PgSslMode::Prefer,
    });
    // sslrootcert=system: sqlx's rustls uses the platform's roots when given no file.
    if let Some(path) = tls.root_file() {
        options = options.ssl_root_cert(path);
    }
    if let Some(cert) = &tls.client_cert {
        options = options.ssl_client_cert(cert);
        if let Some(key) = &tls.client_key {
            options = options.ssl_client_key(key);
        }
    }
    connect_options(options)
}

impl Tenantry {
    /// sqlx options for this tenantry's database: [`pg_connect_options`] of its
    /// [`connection_settings`](Tenantry::connection_settings).
    ///
    /// ```no_run
    /// # async fn f(tenantry: tenantry::Tenantry) -> Result<(), sqlx::Error> {
    /// let pool = sqlx::postgres::PgPoolOptions::new().connect_with(tenantry.sqlx_connect_options()).await?;
    /// # Ok(()) }
    /// ```
    pub fn sqlx_connect_options(&self) -> PgConnectOptions {
        pg_connect_options(self.connection_settings())
    }

    /// An sqlx transaction on `pool` in the current tenant (the default schema outside any
    /// scope). Dropped without commit, sqlx rolls it back.
    ///
    /// ```no_run
    /// # async fn f(tenantry: tenantry::Tenantry, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let acme = tenantry.tenant("acme")?;
    /// tenantry.scope(&acme, async {
    ///     let mut tx = tenantry.sqlx_transaction(&pool).await?;
    ///     let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders").fetch_one(&mut *tx).await
    ///         .map_err(|source| tenantry::Error::Sqlx { action: "counting orders", tenant: None, source })?;
    ///     tx.commit().await.map_err(|source| tenantry::Error::Sqlx { action: "committing", tenant: None, source })?;
    ///     Ok::<_, tenantry::Error>(count)
    /// }).await??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::TenantNotFound`] if the tenant's schema is missing, or [`Error::Sqlx`].
    pub async fn sqlx_transaction(&self, pool: &PgPool) -> Result<sqlx::Transaction<'static, Postgres>, Error> {
        self.sqlx_transaction_in(pool, crate::current_tenant().as_ref()).await
    }

    /// An sqlx transaction on `pool` in `tenant` (`None`: the default schema).
    ///
    /// # Errors
    /// As [`sqlx_transaction`](Self::sqlx_transaction).
    pub async fn sqlx_transaction_in(
        &self,
        pool: &PgPool,
        tenant: Option<&TenantName>,
    ) -> Result<sqlx::Transaction<'static, Postgres>, Error> {
        // An sqlx pool's connections carry no tenantry state: any of them may hold another
        // tenant's temporary objects.
        let prelude = Prelude { deallocate_all: self.config().pool.behind_pgbouncer, discard_temp: true };
        let path = self.search_path(tenant);
        let anchored = path.guarded_schema().is_some_and(|schema| self.anchors().usable(schema));
        let begun = match pool.begin_with(path.begin_sql(anchored, MissingSchema::Fails, prelude)).await {
            // The schema has no anchor (or this role may not read it): the message failed
            // before `BEGIN`, so the connection went back to the pool clean
            // (`crates/tenantry/src/context/anchors.rs`).
            Err(source) if anchored && crate::context::anchor_refused(sqlstate(&source).as_deref()) => {
                if let Some(schema) = path.guarded_schema() {
                    self.anchors().refused(schema);
                }
                pool.begin_with(path.begin_sql(false, MissingSchema::Fails, prelude)).await
            }
            other => other,
        };
        begun.map_err(|source| match (sqlstate(&source).as_deref() == Some("3F000"), tenant) {
            (true, Some(tenant)) => {
                self.cache().remove(tenant);
                crate::schema::not_found(tenant)
            }
            _ => {
                Error::Sqlx { action: "beginning tenant transaction", tenant: tenant.map(ToString::to_string), source }
            }
        })
    }
}

/// The SQLSTATE of a database error.
fn sqlstate(error: &sqlx::Error) -> Option<String> {
    error.as_database_error().and_then(sqlx::error::DatabaseError::code).map(|code| code.into_owned())
}
