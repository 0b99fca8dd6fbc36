//! The settings' types and their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// All of tenantry's settings. Build one with [`Config::load`], [`Config::from_toml`] or
/// [`Config::default`] and field assignment.
///
/// Its `Debug` masks the password of `database_url` (src/secret/guard.rs).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Config {
    /// The PostgreSQL URL (`postgres://…` or `host=… dbname=…`). Env: `DATABASE_URL`,
    /// `TENANTRY_DATABASE_URL` (which wins).
    pub database_url: Option<String>,
    /// Where work outside any tenant runs. Default `public`. Env: `TENANTRY_DEFAULT_SCHEMA`.
    pub default_schema: String,
    /// Schemas on every tenant's search path, in this order, for the extensions' types and
    /// functions and the tables every tenant shares. The default schema is on a tenant's path
    /// only when listed here. Default none. Env: `TENANTRY_SHARED_SCHEMAS` (comma-separated).
    pub shared_schemas: Vec<String>,
    /// Where the shared schemas go on a tenant's search path: `after` its schema (default) or
    /// `before` it (docs/tenants.md, "Extensions and shared schemas").
    /// Env: `TENANTRY_SHARED_SCHEMAS_POSITION`.
    pub shared_schemas_position: SharedSchemasPosition,
    /// Put before every tenant's schema name. Default empty. Env: `TENANTRY_SCHEMA_PREFIX`.
    pub schema_prefix: String,
    /// Put after every tenant's schema name. Default empty. Env: `TENANTRY_SCHEMA_SUFFIX`.
    pub schema_suffix: String,
    /// Where the list of tenants comes from.
    pub tenants: TenantsConfig,
    /// The connection pool and the tenant context mode.
    pub pool: PoolConfig,
    /// Migrations across every tenant.
    pub migrations: MigrationsConfig,
    #[serde(skip)]
    pub(super) provenance: Provenance,
}

/// Where the list of tenants comes from, and how long it is cached.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TenantsConfig {
    /// `schemas` (default) or `registry`. Env: `TENANTRY_TENANT_SOURCE`.
    pub source: TenantSourceKind,
    /// The schema of the registry table. Default: the default schema.
    /// Env: `TENANTRY_REGISTRY_SCHEMA`.
    pub registry_schema: Option<String>,
    /// The registry table (one row per tenant, column `name`). Default `tenantry_tenants`.
    /// Env: `TENANTRY_REGISTRY_TABLE`.
    pub registry_table: String,
    /// How long the known-tenants cache is trusted before a full reload. Default 60.
    /// Env: `TENANTRY_CACHE_TTL_SECS`.
    pub cache_ttl_secs: u64,
    /// A name missing from the cache reloads it at most this often, so unknown names cannot
    /// cost a query each. Default 1000. Env: `TENANTRY_MISS_REFRESH_INTERVAL_MS`.
    pub miss_refresh_interval_ms: u64,
}

/// Which built-in tenant source to use (a closure can be given in code instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TenantSourceKind {
    /// Every schema that matches the naming rules and prefix/suffix.
    #[default]
    Schemas,
    /// The rows of a registry table that tenantry keeps in step with create/drop/rename.
    Registry,
}

/// Where the shared schemas go on a tenant's search path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SharedSchemasPosition {
    /// After the tenant's schema: the tenant's objects win over shared ones of the same name.
    #[default]
    After,
    /// Before the tenant's schema in the application's transactions and sessions: shared
    /// objects (an extension's functions) win. Tenantry's DDL still runs tenant-first
    /// ([`SearchPath::for_ddl`](crate::SearchPath::for_ddl)).
    Before,
}

/// Migration settings (see docs/migrations.md).
///
/// Its `Debug` is written out (below) so that a field holding a secret cannot be added without
/// deciding how it prints.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct MigrationsConfig {
    /// The URL the migrator, `exec`, `seed`, `status` and `dump` connect to, when it is not
    /// `database_url`: a direct connection to PostgreSQL (or a session-mode pooler) while the
    /// application goes through a transaction pooler (the pattern Prisma calls `directUrl`).
    /// The migrator holds session advisory locks that a transaction pooler cannot keep, so it
    /// refuses one (docs/configuration.md, "Behind a pooler"). Default: `database_url`.
    /// Env: `TENANTRY_MIGRATIONS_DATABASE_URL`.
    pub database_url: Option<String>,
    /// Holds `shared/` and `tenant/`. Default `migrations`. Env: `TENANTRY_MIGRATIONS_DIR`.
    pub directory: PathBuf,
    /// Tenants migrated in parallel, one connection each. Default 4. Env: `TENANTRY_JOBS`.
    pub jobs: usize,
    /// `lock_timeout` for migration statements, and how long drop and rename wait for the
    /// tenant's open transactions. Default 5000. Env: `TENANTRY_LOCK_TIMEOUT_MS`.
    pub lock_timeout_ms: u64,
    /// `statement_timeout` for migration statements; 0 for none. Default 0.
    /// Env: `TENANTRY_STATEMENT_TIMEOUT_MS`.
    pub statement_timeout_ms: u64,
    /// Retries per tenant for transient failures. Default 3. Env: `TENANTRY_MAX_RETRIES`.
    pub max_retries: u32,
    /// First retry delay, doubled each time. Default 200. Env: `TENANTRY_RETRY_BACKOFF_MS`.
    pub retry_backoff_ms: u64,
    /// One transaction per migration instead of per tenant. Default false.
    /// Env: `TENANTRY_TRANSACTION_PER_MIGRATION`.
    pub transaction_per_migration: bool,
    /// Wait for the disk at every tenant's commit. Default false: commits are asynchronous and
    /// the run flushes the WAL once before it reports success. Env: `TENANTRY_DURABLE_COMMITS`.
    pub durable_commits: bool,
    /// Keep a migrated template schema and clone new tenants from it. Default true.
    /// Env: `TENANTRY_TEMPLATE`.
    pub template: bool,
    /// The template schema. Default `tenantry_template`. Env: `TENANTRY_TEMPLATE_SCHEMA`.
    pub template_schema: String,
    /// Where shared migrations (`shared/`) run: the default schema (when unset) or one of the
    /// `shared_schemas`, created if missing. Env: `TENANTRY_SHARED_MIGRATIONS_SCHEMA`.
    pub shared_schema: Option<String>,
    /// SQL run in every new tenant after its migrations. Env: `TENANTRY_SEED_FILE`.
    pub seed_file: Option<PathBuf>,
    /// Write a schema dump after a fully successful migrate. Default true. Env: `TENANTRY_DUMP`.
    pub dump: bool,
    /// Where the dump goes. Default `db/schema.sql`. Env: `TENANTRY_DUMP_PATH`.
    pub dump_path: PathBuf,
}

/// Destructured so that a new field (a second database URL, say) is a compile error here until
/// it is printed masked or plainly on purpose (issue 10).
impl std::fmt::Debug for MigrationsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            database_url,
            directory,
            jobs,
            lock_timeout_ms,
            statement_timeout_ms,
            max_retries,
            retry_backoff_ms,
            transaction_per_migration,
            durable_commits,
            template,
            template_schema,
            shared_schema,
            seed_file,
            dump,
            dump_path,
        } = self;
        f.debug_struct("MigrationsConfig")
            .field("database_url", &database_url.as_deref().map(crate::error::mask_password))
            .field("directory", directory)
            .field("jobs", jobs)
            .field("lock_timeout_ms", lock_timeout_ms)
            .field("statement_timeout_ms", statement_timeout_ms)
            .field("max_retries", max_retries)
            .field("retry_backoff_ms", retry_backoff_ms)
            .field("transaction_per_migration", transaction_per_migration)
            .field("durable_commits", durable_commits)
            .field("template", template)
            .field("template_schema", template_schema)
            .field("shared_schema", shared_schema)
            .field("seed_file", seed_file)
            .field("dump", dump)
            .field("dump_path", dump_path)
            .finish()
    }
}

impl Default for MigrationsConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            directory: PathBuf::from("migrations"),
            jobs: 4,
            lock_timeout_ms: 5000,
            statement_timeout_ms: 0,
            max_retries: 3,
            retry_backoff_ms: 200,
            transaction_per_migration: false,
            durable_commits: false,
            template: true,
            template_schema: "tenantry_template".to_owned(),
            shared_schema: None,
            seed_file: None,
            dump: true,
            dump_path: PathBuf::from("db/schema.sql"),
        }
    }
}

/// Connection pool settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Most connections open at once. Default 10. Env: `TENANTRY_POOL_MAX_SIZE`.
    pub max_size: usize,
    /// How long to wait for a free connection. Default 30. Env: `TENANTRY_POOL_ACQUIRE_TIMEOUT_SECS`.
    pub acquire_timeout_secs: u64,
    /// The URL points at PgBouncer in transaction pooling mode: session mode is refused and
    /// statements are not cached across transactions (PgBouncer may move the next transaction
    /// to another server connection). Default false. Env: `TENANTRY_BEHIND_PGBOUNCER`.
    pub behind_pgbouncer: bool,
    /// Prepared statements kept per connection, keyed by (search path, SQL). Default 256;
    /// 0 disables. Ignored (0) when `behind_pgbouncer`. Env: `TENANTRY_STATEMENT_CACHE_CAPACITY`.
    pub statement_cache_capacity: usize,
    /// Retire a connection after this many seconds. Default 1800.
    /// Env: `TENANTRY_MAX_CONNECTION_LIFETIME_SECS`.
    pub max_connection_lifetime_secs: u64,
    /// Retire a connection after it served this many distinct tenants, because a backend's
    /// relation cache grows with every tenant it touches and never shrinks. Default 500.
    /// Env: `TENANTRY_MAX_TENANTS_PER_CONNECTION`.
    pub max_tenants_per_connection: usize,
    /// Keep one connection `LISTEN`ing for the schema changes that migrations, `drop` and
    /// `rename` announce, so cached statements of changed schemas are prepared again and dropped
    /// tenants leave the known-tenants cache at once (docs/context.md, "Announcements"). Default
    /// true; never behind PgBouncer (`LISTEN` needs a session). Env: `TENANTRY_LISTEN_FOR_SCHEMA_CHANGES`.
    pub listen_for_schema_changes: bool,
}

/// Written out, not derived, to mask the password; the destructuring makes a new field a
/// compile error here, so none can be printed unmasked by accident (issue 10).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            database_url,
            default_schema,
            shared_schemas,
            shared_schemas_position,
            schema_prefix,
            schema_suffix,
            tenants,
            pool,
            migrations,
            provenance,
        } = self;
        f.debug_struct("Config")
            .field("database_url", &database_url.as_deref().map(crate::error::mask_password))
            .field("default_schema", default_schema)
            .field("shared_schemas", shared_schemas)
            .field("shared_schemas_position", shared_schemas_position)
            .field("schema_prefix", schema_prefix)
            .field("schema_suffix", schema_suffix)
            .field("tenants", tenants)
            .field("pool", pool)
            .field("migrations", migrations)
            .field("provenance", provenance)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            default_schema: "public".to_owned(),
            shared_schemas: Vec::new(),
            shared_schemas_position: SharedSchemasPosition::After,
            schema_prefix: String::new(),
            schema_suffix: String::new(),
            tenants: TenantsConfig::default(),
            pool: PoolConfig::default(),
            migrations: MigrationsConfig::default(),
            provenance: Provenance::default(),
        }
    }
}

impl Default for TenantsConfig {
    fn default() -> Self {
        Self {
            source: TenantSourceKind::Schemas,
            registry_schema: None,
            registry_table: "tenantry_tenants".to_owned(),
            cache_ttl_secs: 60,
            miss_refresh_interval_ms: 1000,
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 10,
            acquire_timeout_secs: 30,
            behind_pgbouncer: false,
            statement_cache_capacity: 256,
            max_connection_lifetime_secs: 1800,
            max_tenants_per_connection: 500,
            listen_for_schema_changes: true,
        }
    }
}

/// Where each setting came from, so errors can name the file or the variable.
#[derive(Debug, Clone, Default)]
pub(super) struct Provenance {
    pub(super) file: Option<PathBuf>,
    pub(super) from_env: BTreeMap<&'static str, &'static str>,
}
