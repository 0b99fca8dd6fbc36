//! [`Tenantry`]: the handle applications keep, tying configuration, pool, tenant cache and
//! lifecycle together.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::Object;
use futures_util::future::BoxFuture;

use std::sync::OnceLock;

use tokio::sync::broadcast;

use crate::announce::{self, SchemaChange};
use crate::cache::TenantCache;
use crate::config::{Config, TenantSourceKind};
use crate::connect::{ConnectionSettings, SettingsError};
use crate::context::{self, Generations, PgPool, SearchPath, TenantSession, TenantTransaction};
use crate::error::{BoxError, Error};
use crate::name::{NamingRules, TenantName};
use crate::schema::{self, statements, RegistryTable, TenantSource};

/// Code that runs when a tenant is created, inside the creating transaction, with the new
/// tenant's search path: a failure rolls the whole creation back. Migrations and seeds hook in
/// here.
pub trait CreateHook: Send + Sync {
    /// Prepares the new tenant's schema.
    fn after_create<'a>(
        &'a self,
        tenant: &'a TenantName,
        transaction: &'a mut TenantTransaction,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// The entry point: tenant lifecycle, tenant scopes and tenant-scoped connections.
///
/// Cheap to clone; clones share the pool and the tenant cache.
#[derive(Clone)]
pub struct Tenantry {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Which cached statements announced schema changes made stale.
    generations: Arc<Generations>,
    /// Announcements received, for [`Tenantry::schema_changes`].
    changes: broadcast::Sender<SchemaChange>,
    /// The listener task, stopped with the last clone.
    listener: OnceLock<tokio::task::AbortHandle>,
    rules: NamingRules,
    pool: PgPool,
    cache: TenantCache,
    source: TenantSource,
    registry: Option<RegistryTable>,
    hooks: Vec<Arc<dyn CreateHook>>,
    url: String,
    /// How every connection is opened (resolved once from `database_url`).
    connection: ConnectionSettings,
    /// How the migrator's connections are opened (`migrations.database_url`, else the same).
    migrations_connection: ConnectionSettings,
}

/// Builds a [`Tenantry`] with a custom tenant source or create hooks.
pub struct TenantryBuilder {
    config: Config,
    source: Option<TenantSource>,
    hooks: Vec<Arc<dyn CreateHook>>,
}

impl TenantryBuilder {
    /// Lists tenants from `source` instead of the configured one (a closure: apartment's
    /// `tenant_names`).
    #[must_use]
    pub fn tenant_source(mut self, source: TenantSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Runs `hook` in every new tenant, inside the creating transaction.
    #[must_use]
    pub fn on_create(mut self, hook: impl CreateHook + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Validates the configuration, builds the pool and checks that PostgreSQL answers.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::MissingDatabaseUrl`], [`Error::InvalidDatabaseUrl`],
    /// or [`Error::Connect`] when the server cannot be reached.
    pub async fn connect(self) -> Result<Tenantry, Error> {
        let config = self.config;
        config.validate()?;
        let url = config.database_url.clone().ok_or(Error::MissingDatabaseUrl)?;
        let resolve = |url: &str| {
            ConnectionSettings::from_url(url).map_err(|source| match source {
                SettingsError::Driver { source } => Error::invalid_database_url(url, &source),
                problem => Error::ConnectionSettings { url: crate::error::mask_password(url), problem },
            })
        };
        let connection = resolve(&url)?;
        // The migrator's own URL (`migrations.database_url`), resolved the same way.
        let migrations_connection = match config.migrations.database_url.as_deref() {
            Some(direct) => resolve(direct)?,
            None => connection.clone(),
        };
        let generations = Arc::new(Generations::default());
        let pool = context::build_pool(&config, connection.clone(), Arc::clone(&generations))?;
        let source = self.source.unwrap_or_else(|| match config.tenants.source {
            TenantSourceKind::Registry => TenantSource::Registry {
                schema: config.registry_schema().to_owned(),
                table: config.tenants.registry_table.clone(),
            },
            TenantSourceKind::Schemas => TenantSource::Schemas,
        });
        let tenantry = Tenantry {
            inner: Arc::new(Inner {
                rules: config.naming_rules(),
                cache: TenantCache::new(
                    Duration::from_secs(config.tenants.cache_ttl_secs),
                    Duration::from_millis(config.tenants.miss_refresh_interval_ms),
                ),
                registry: source.registry_table(),
                source,
                hooks: self.hooks,
                pool,
                url,
                connection,
                migrations_connection,
                generations,
                changes: broadcast::channel(CHANGES_BUFFER).0,
                listener: OnceLock::new(),
                config,
            }),
        };
        tenantry.start_listener()?;
        let conn = tenantry.connection().await?;
        if let Some(registry) = &tenantry.inner.registry {
            conn.client
                .batch_execute(&statements::create_registry_table(&registry.schema, &registry.table))
                .await
                .map_err(|err| Error::database("creating the registry table", None, err))?;
        }
        Ok(tenantry)
    }
}

/// Announcements kept for a slow [`Tenantry::schema_changes`] receiver before it lags.
const CHANGES_BUFFER: usize = 256;

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.get() {
            listener.abort();
        }
    }
}

impl Tenantry {
    /// Starts the schema-change listener unless configured off or behind PgBouncer.
    fn start_listener(&self) -> Result<(), Error> {
        let config = &self.inner.config;
        if !config.pool.listen_for_schema_changes || config.pool.behind_pgbouncer {
            return Ok(());
        }
        let inner = Arc::downgrade(&self.inner);
        let handler = Arc::new(move |change: &SchemaChange| match inner.upgrade() {
            Some(inner) => {
                Tenantry { inner }.apply_announcement(change);
                true
            }
            None => false,
        });
        let _ = self.inner.listener.set(announce::spawn_listener(self.inner.connection.clone(), handler));
        Ok(())
    }

    /// What an announcement means for this instance's caches.
    fn apply_announcement(&self, change: &SchemaChange) {
        let (rules, generations, cache) = (&self.inner.rules, &self.inner.generations, &self.inner.cache);
        let changed = |schema: &str| {
            if rules.protects(schema) {
                // The default or a shared schema: on every tenant's path.
                generations.everything_changed();
            } else {
                generations.changed(schema);
            }
        };
        let tenant_of = |schema: &str| rules.from_schema(schema).and_then(Result::ok);
        match change {
            SchemaChange::Changed { schemas } => schemas.iter().for_each(|schema| changed(schema)),
            SchemaChange::Dropped { schemas } => {
                for schema in schemas {
                    changed(schema);
                    if let Some(tenant) = tenant_of(schema) {
                        cache.remove(&tenant);
                    }
                }
            }
            SchemaChange::Renamed { from, to } => {
                changed(from);
                changed(to);
                if let Some(tenant) = tenant_of(from) {
                    cache.remove(&tenant);
                }
                if let Some(tenant) = tenant_of(to) {
                    cache.insert(tenant);
                }
            }
            SchemaChange::Resumed => {
                generations.everything_changed();
                cache.invalidate();
            }
        }
        let _ = self.inner.changes.send(change.clone());
    }

    /// Announcements this instance receives from now on: the schema changes migrations,
    /// `drop` and `rename` announce (on this instance or any other on the same database), after
    /// they have been applied to this instance's statement and tenant caches. Nothing arrives
    /// when `pool.listen_for_schema_changes` is off or behind PgBouncer.
    pub fn schema_changes(&self) -> broadcast::Receiver<SchemaChange> {
        self.inner.changes.subscribe()
    }

    /// Starts building from `config`.
    pub fn builder(config: Config) -> TenantryBuilder {
        TenantryBuilder { config, source: None, hooks: Vec::new() }
    }

    /// Connects with `config` and the configured tenant source.
    ///
    /// # Errors
    /// As [`TenantryBuilder::connect`].
    pub async fn connect(config: Config) -> Result<Self, Error> {
        Self::builder(config).connect().await
    }

    /// How tenantry connects: `database_url` resolved with the `PG*` environment variables,
    /// the password file and the TLS settings (see [`crate::connect`]).
    pub fn connection_settings(&self) -> &ConnectionSettings {
        &self.inner.connection
    }

    /// How the migrator connects (its coordinator and workers, `status`, `exec`, `seed`,
    /// `pg_dump`): `migrations.database_url` resolved like `database_url`, or the same settings
    /// when it is not set.
    pub fn migrations_connection_settings(&self) -> &ConnectionSettings {
        &self.inner.migrations_connection
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The naming rules in use.
    pub fn naming_rules(&self) -> &NamingRules {
        &self.inner.rules
    }

    /// The known-tenants cache behind [`scope`](Self::scope).
    pub fn cache(&self) -> &TenantCache {
        &self.inner.cache
    }

    /// Validates `name` with the configured rules.
    ///
    /// # Errors
    /// [`Error::InvalidTenantName`] naming the rule that failed.
    pub fn tenant(&self, name: &str) -> Result<TenantName, Error> {
        self.inner.rules.parse(name)
    }

    /// The search path for `tenant` (`None`: the default path).
    pub fn search_path(&self, tenant: Option<&TenantName>) -> SearchPath {
        SearchPath::new(&self.inner.rules, tenant)
    }

    /// The path tenantry's own DDL in `tenant` runs with (migrations, creation, `exec`): the
    /// tenant's schema first, whatever `shared_schemas_position` says ([`SearchPath::for_ddl`]).
    pub(crate) fn ddl_search_path(&self, tenant: &TenantName) -> SearchPath {
        SearchPath::for_ddl(&self.inner.rules, Some(tenant))
    }

    /// Every tenant from the tenant source, sorted; also refreshes the cache.
    ///
    /// # Errors
    /// [`Error::Database`] or [`Error::Callback`] from the source.
    pub async fn list(&self) -> Result<Vec<TenantName>, Error> {
        let conn = self.connection().await?;
        let tenants = schema::list_tenants(&conn.client, &self.inner.source, &self.inner.rules).await?;
        self.inner.cache.replace(tenants.iter().cloned());
        Ok(tenants)
    }

    /// Checks that each of `tenants` is a tenant, asking the database: its schema exists and
    /// the tenant source counts it (with the catalog as the source, one indexed query for the
    /// named schemas, not a listing of the fleet). Drop, rename, `migrate --tenant`, `exec` and
    /// `seed` refuse a schema that is not a tenant this way (docs/tenants.md).
    ///
    /// # Errors
    /// [`Error::TenantNotFound`] for a missing schema, [`Error::NotATenant`] for a schema that
    /// is not a tenant's (saying what it is instead), [`Error::Database`].
    pub async fn check_tenants(&self, tenants: &[TenantName]) -> Result<(), Error> {
        let conn = self.connection().await?;
        schema::check_tenants(&conn.client, &self.inner.source, &self.inner.rules, tenants).await
    }

    /// Whether the tenant's schema exists, asked of the database (not the cache).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn exists(&self, tenant: &TenantName) -> Result<bool, Error> {
        let conn = self.connection().await?;
        schema::schema_exists(&conn.client, tenant).await
    }

    /// Whether the tenant is known, from the cache (reloaded when stale, or on a miss at most
    /// once per `tenants.miss_refresh_interval_ms`).
    ///
    /// # Errors
    /// As [`list`](Self::list), when a reload is needed.
    pub async fn is_known(&self, tenant: &TenantName) -> Result<bool, Error> {
        self.inner.cache.contains(tenant, || self.list_uncached()).await
    }

    /// Creates the tenant: `CREATE SCHEMA`, the registry row (registry source), then every
    /// create hook with the new tenant's search path, all in one transaction.
    ///
    /// # Errors
    /// [`Error::TenantExists`], or the error of a hook (nothing is left behind).
    pub async fn create(&self, tenant: &TenantName) -> Result<(), Error> {
        self.create_with(tenant, None).await
    }

    /// Creates the tenant like [`create`](Self::create), running `hook` first (before the
    /// builder's hooks) in the same transaction. The migrator creates tenants this way. A hook
    /// that fails with a tenantry [`Error`] gets it back unchanged (SQLSTATE included); any
    /// other error becomes [`Error::Callback`].
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn create_with(&self, tenant: &TenantName, hook: Option<&dyn CreateHook>) -> Result<(), Error> {
        let mut transaction = self.transaction_in(None).await?;
        schema::create_schema(transaction.client(), tenant, self.inner.registry.as_ref()).await?;
        if hook.is_none() {
            // The bookkeeping table is what makes the schema a tenant when names carry no prefix
            // (crates/tenantry/src/schema/membership.rs). The migrator's hooks write it
            // themselves, or clone it with the template.
            let applied = crate::migrate::bookkeeping::Applied::default();
            let sql = format!(
                "{}; {}",
                crate::migrate::bookkeeping::create_table_sql(tenant.schema()),
                crate::migrate::bookkeeping::comment_sql(tenant.schema(), &applied)
            );
            transaction
                .client()
                .batch_execute(&sql)
                .await
                .map_err(|err| Error::database("writing the new tenant's bookkeeping", Some(tenant.as_str()), err))?;
        }
        let hooks = hook.into_iter().chain(self.inner.hooks.iter().map(|h| &**h as &dyn CreateHook));
        let mut path_set = false;
        for hook in hooks {
            if !path_set {
                transaction.set_local_path(self.ddl_search_path(tenant)).await?;
                path_set = true;
            }
            hook.after_create(tenant, &mut transaction).await.map_err(|source| match source.downcast::<Error>() {
                Ok(error) => *error,
                Err(source) => Error::Callback { action: "running a create hook", source },
            })?;
        }
        transaction.commit().await?;
        self.inner.cache.insert(tenant.clone());
        tracing::info!(tenant = %tenant, schema = tenant.schema(), "created tenant");
        Ok(())
    }

    /// Drops the tenant: `DROP SCHEMA … CASCADE` and its registry row, in one transaction.
    ///
    /// It first waits for the tenant's open transactions and sessions to end (new ones wait for
    /// the drop), for at most `migrations.lock_timeout_ms`.
    ///
    /// Only tenants can be dropped: a [`TenantName`] is never the default, a shared or a
    /// system schema, and a schema the tenant source does not count (an extension's, one
    /// without tenantry's bookkeeping) is refused ([`check_tenants`](Self::check_tenants)).
    ///
    /// # Errors
    /// [`Error::TenantNotFound`] when the schema does not exist, [`Error::NotATenant`] when it
    /// is not a tenant's (nothing is dropped), [`Error::TenantBusy`] when its transactions did
    /// not end in time.
    pub async fn drop(&self, tenant: &TenantName) -> Result<(), Error> {
        let transaction = self.transaction_in(None).await?;
        schema::check_tenants(
            transaction.client(),
            &self.inner.source,
            &self.inner.rules,
            std::slice::from_ref(tenant),
        )
        .await?;
        let lock_timeout_ms = self.inner.config.migrations.lock_timeout_ms;
        schema::drop_schema(transaction.client(), tenant, self.inner.registry.as_ref(), lock_timeout_ms).await?;
        let dropped = SchemaChange::Dropped { schemas: vec![tenant.schema().to_owned()] };
        transaction
            .client()
            .batch_execute(&dropped.notify_sql())
            .await
            .map_err(|err| Error::database("announcing the drop", Some(tenant.as_str()), err))?;
        transaction.commit().await?;
        self.inner.cache.remove(tenant);
        tracing::info!(tenant = %tenant, schema = tenant.schema(), "dropped tenant");
        Ok(())
    }

    /// Renames the tenant (`ALTER SCHEMA … RENAME`, and its registry row), once the open
    /// transactions and sessions of both names have ended (as [`drop`](Self::drop)).
    ///
    /// # Errors
    /// [`Error::TenantNotFound`] for a missing `from`, [`Error::NotATenant`] for a `from` that
    /// is not a tenant's, [`Error::TenantExists`] for an existing `to`, [`Error::TenantBusy`]
    /// when its transactions did not end in time.
    pub async fn rename(&self, from: &TenantName, to: &TenantName) -> Result<(), Error> {
        let transaction = self.transaction_in(None).await?;
        schema::check_tenants(transaction.client(), &self.inner.source, &self.inner.rules, std::slice::from_ref(from))
            .await?;
        let lock_timeout_ms = self.inner.config.migrations.lock_timeout_ms;
        schema::rename_schema(transaction.client(), from, to, self.inner.registry.as_ref(), lock_timeout_ms).await?;
        let renamed = SchemaChange::Renamed { from: from.schema().to_owned(), to: to.schema().to_owned() };
        transaction
            .client()
            .batch_execute(&renamed.notify_sql())
            .await
            .map_err(|err| Error::database("announcing the rename", Some(from.as_str()), err))?;
        transaction.commit().await?;
        self.inner.cache.remove(from);
        self.inner.cache.insert(to.clone());
        tracing::info!(from = %from, to = %to, "renamed tenant");
        Ok(())
    }

    /// Runs `future` inside `tenant`: every connection it gets from this `Tenantry` sees the
    /// tenant's schema, then the shared schemas. The tenant is checked against the cache first.
    /// The scope ends however the future ends (success, error, panic, cancellation), and
    /// nested scopes restore the outer tenant.
    ///
    /// # Errors
    /// [`Error::TenantNotFound`] when the tenant is not known; the future is not run.
    pub async fn scope<F: Future>(&self, tenant: &TenantName, future: F) -> Result<F::Output, Error> {
        if !self.is_known(tenant).await? {
            return Err(schema::not_found(tenant));
        }
        Ok(context::in_scope(Some(tenant.clone()), future).await)
    }

    /// Runs `future` outside any tenant (the default schema), even inside a tenant scope.
    pub fn scope_default<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        context::in_scope(None, future)
    }

    /// A transaction in the current tenant (the default schema outside any scope), opened
    /// with `BEGIN; SET LOCAL search_path …` in one round trip.
    ///
    /// # Errors
    /// [`Error::Pool`], [`Error::Connect`], or [`Error::TenantNotFound`] if the tenant's schema
    /// disappeared since it was scoped.
    pub async fn transaction(&self) -> Result<TenantTransaction, Error> {
        self.transaction_in(context::current_tenant().as_ref()).await
    }

    /// A transaction in `tenant` (`None`: the default schema), whatever the current scope.
    ///
    /// # Errors
    /// As [`transaction`](Self::transaction).
    pub async fn transaction_in(&self, tenant: Option<&TenantName>) -> Result<TenantTransaction, Error> {
        let conn = self.connection().await?;
        let behind_pgbouncer = self.inner.config.pool.behind_pgbouncer;
        let result = TenantTransaction::begin(conn, self.search_path(tenant), behind_pgbouncer).await;
        self.forget_if_missing(tenant, result)
    }

    /// A connection in session mode for the current tenant: the session's search path is set
    /// (only if it differs) and statements run in autocommit. See docs/context.md.
    ///
    /// # Errors
    /// [`Error::SessionModeBehindPgBouncer`] when `pool.behind_pgbouncer` is set, or as
    /// [`transaction`](Self::transaction).
    pub async fn session(&self) -> Result<TenantSession, Error> {
        self.session_in(context::current_tenant().as_ref()).await
    }

    /// A session-mode connection in `tenant` (`None`: the default schema), whatever the
    /// current scope.
    ///
    /// # Errors
    /// As [`session`](Self::session).
    pub async fn session_in(&self, tenant: Option<&TenantName>) -> Result<TenantSession, Error> {
        if self.inner.config.pool.behind_pgbouncer {
            return Err(Error::SessionModeBehindPgBouncer);
        }
        let conn = self.connection().await?;
        let result = TenantSession::acquire(conn, self.search_path(tenant)).await;
        self.forget_if_missing(tenant, result)
    }

    /// Which tenant schemas have no anchor for the transaction guard
    /// (`crates/tenantry/src/context/anchors.rs`).
    #[cfg_attr(not(feature = "sqlx"), allow(dead_code))]
    pub(crate) fn anchors(&self) -> &context::Anchors {
        self.inner.pool.manager().anchors()
    }

    /// Pool statistics: open connections, idle ones, tasks waiting.
    pub fn pool_status(&self) -> deadpool::Status {
        self.inner.pool.status()
    }

    /// Closes the pool: waiting and future requests fail.
    pub fn close(&self) {
        self.inner.pool.close();
    }

    async fn list_uncached(&self) -> Result<Vec<TenantName>, Error> {
        let conn = self.connection().await?;
        schema::list_tenants(&conn.client, &self.inner.source, &self.inner.rules).await
    }

    pub(crate) async fn connection(&self) -> Result<Object<context::PoolManager>, Error> {
        self.inner.pool.get().await.map_err(|err| context::pool_error(err, &self.inner.url))
    }

    fn forget_if_missing<T>(&self, tenant: Option<&TenantName>, result: Result<T, Error>) -> Result<T, Error> {
        if let (Err(Error::TenantNotFound { .. }), Some(tenant)) = (&result, tenant) {
            self.inner.cache.remove(tenant);
        }
        result
    }
}

impl std::fmt::Debug for Tenantry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenantry")
            .field("url", &crate::error::mask_password(&self.inner.url))
            .field("source", &self.inner.source)
            .field("rules", &self.inner.rules)
            .finish_non_exhaustive()
    }
}
