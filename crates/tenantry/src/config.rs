//! Configuration: `tenantry.toml` plus environment overrides.
//!
//! Settings resolve environment > file > defaults. Unknown keys in the file and unknown
//! `TENANTRY_*` variables are errors, and every error names the key and where it came from.
//!
//! ```toml
//! database_url = "postgres://app@localhost/app"
//! default_schema = "public"          # where work outside any tenant runs
//! shared_schemas = ["extensions"]    # on every tenant's search path ("public" too, if listed)
//! shared_schemas_position = "after"  # or "before": where they go relative to the tenant's schema
//! schema_prefix = "tenant_"          # tenant `acme` lives in schema `tenant_acme`
//! schema_suffix = ""
//!
//! [tenants]
//! source = "schemas"                 # or "registry": a table listing the tenants
//! registry_schema = "public"         # with source = "registry"
//! registry_table = "tenantry_tenants"
//! cache_ttl_secs = 60                # how long the known-tenants cache trusts itself
//! miss_refresh_interval_ms = 1000    # an unknown name refreshes the cache at most this often
//!
//! [pool]
//! max_size = 10
//! acquire_timeout_secs = 30
//! behind_pgbouncer = false           # true: no session mode, no statement cache
//! statement_cache_capacity = 256     # per connection, keyed by (search path, SQL); 0 disables
//! listen_for_schema_changes = true   # LISTEN for announced migrations, drops and renames
//! max_connection_lifetime_secs = 1800
//! max_tenants_per_connection = 500   # retire a connection after it has served this many tenants
//!
//! [migrations]
//! directory = "migrations"           # holds shared/ and tenant/, in sqlx-cli's file format
//! jobs = 4                           # tenants migrated in parallel (one connection each)
//! lock_timeout_ms = 5000             # never queue behind live traffic for longer
//! statement_timeout_ms = 0           # 0: no limit
//! max_retries = 3                    # per tenant, for lock timeouts, deadlocks, lost connections
//! retry_backoff_ms = 200             # doubled on each retry, with jitter
//! transaction_per_migration = false  # default: a tenant's pending migrations in one transaction
//! durable_commits = false            # false: commits don't wait for the disk; one flush at the end
//! template = true                    # keep a migrated template schema and clone new tenants from it
//! template_schema = "tenantry_template"
//! shared_schema = "public"           # where shared migrations run: the default or a shared schema
//! seed_file = "db/seed.sql"          # optional: run in every new tenant
//! dump = true                        # after a fully successful migrate, pg_dump the structure
//! dump_path = "db/schema.sql"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;
use crate::name::{check_characters, NamingRules, MAX_IDENTIFIER_BYTES};

/// The file tenantry looks for in the current directory when no path is given.
pub const CONFIG_FILE_NAME: &str = "tenantry.toml";

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
    provenance: Provenance,
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
    /// First retry delay, doubled each time. Default 200.
    pub retry_backoff_ms: u64,
    /// One transaction per migration instead of per tenant. Default false.
    pub transaction_per_migration: bool,
    /// Wait for the disk at every tenant's commit. Default false: commits are asynchronous and
    /// the run flushes the WAL once before it reports success.
    pub durable_commits: bool,
    /// Keep a migrated template schema and clone new tenants from it. Default true.
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
struct Provenance {
    file: Option<PathBuf>,
    from_env: BTreeMap<&'static str, &'static str>,
}

/// One environment variable tenantry reads: its name, the key it sets, and how.
struct EnvSetting {
    variable: &'static str,
    key: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), String>,
}

const ENV_SETTINGS: &[EnvSetting] = &[
    EnvSetting { variable: "DATABASE_URL", key: "database_url", apply: |c, v| set_url(c, v) },
    EnvSetting { variable: "TENANTRY_DATABASE_URL", key: "database_url", apply: |c, v| set_url(c, v) },
    EnvSetting {
        variable: "TENANTRY_DEFAULT_SCHEMA",
        key: "default_schema",
        apply: |c, v| {
            c.default_schema = v.to_owned();
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_SHARED_SCHEMAS",
        key: "shared_schemas",
        apply: |c, v| {
            c.shared_schemas = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_SHARED_SCHEMAS_POSITION",
        key: "shared_schemas_position",
        apply: |c, v| {
            c.shared_schemas_position = match v {
                "after" => SharedSchemasPosition::After,
                "before" => SharedSchemasPosition::Before,
                _ => return Err(format!("expected `after` or `before`, got {v:?}")),
            };
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_SCHEMA_PREFIX",
        key: "schema_prefix",
        apply: |c, v| {
            c.schema_prefix = v.to_owned();
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_SCHEMA_SUFFIX",
        key: "schema_suffix",
        apply: |c, v| {
            c.schema_suffix = v.to_owned();
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_TENANT_SOURCE",
        key: "tenants.source",
        apply: |c, v| {
            c.tenants.source = match v {
                "schemas" => TenantSourceKind::Schemas,
                "registry" => TenantSourceKind::Registry,
                _ => return Err(format!("expected `schemas` or `registry`, got {v:?}")),
            };
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_REGISTRY_SCHEMA",
        key: "tenants.registry_schema",
        apply: |c, v| {
            c.tenants.registry_schema = Some(v.to_owned());
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_REGISTRY_TABLE",
        key: "tenants.registry_table",
        apply: |c, v| {
            c.tenants.registry_table = v.to_owned();
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_CACHE_TTL_SECS",
        key: "tenants.cache_ttl_secs",
        apply: |c, v| {
            c.tenants.cache_ttl_secs = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_MISS_REFRESH_INTERVAL_MS",
        key: "tenants.miss_refresh_interval_ms",
        apply: |c, v| {
            c.tenants.miss_refresh_interval_ms = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_POOL_MAX_SIZE",
        key: "pool.max_size",
        apply: |c, v| {
            c.pool.max_size = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_POOL_ACQUIRE_TIMEOUT_SECS",
        key: "pool.acquire_timeout_secs",
        apply: |c, v| {
            c.pool.acquire_timeout_secs = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_BEHIND_PGBOUNCER",
        key: "pool.behind_pgbouncer",
        apply: |c, v| {
            c.pool.behind_pgbouncer = parse_bool(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_STATEMENT_CACHE_CAPACITY",
        key: "pool.statement_cache_capacity",
        apply: |c, v| {
            c.pool.statement_cache_capacity = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_MAX_CONNECTION_LIFETIME_SECS",
        key: "pool.max_connection_lifetime_secs",
        apply: |c, v| {
            c.pool.max_connection_lifetime_secs = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_LISTEN_FOR_SCHEMA_CHANGES",
        key: "pool.listen_for_schema_changes",
        apply: |c, v| {
            c.pool.listen_for_schema_changes = parse_bool(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_MAX_TENANTS_PER_CONNECTION",
        key: "pool.max_tenants_per_connection",
        apply: |c, v| {
            c.pool.max_tenants_per_connection = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_MIGRATIONS_DIR",
        key: "migrations.directory",
        apply: |c, v| {
            c.migrations.directory = PathBuf::from(v);
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_JOBS",
        key: "migrations.jobs",
        apply: |c, v| {
            c.migrations.jobs = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_LOCK_TIMEOUT_MS",
        key: "migrations.lock_timeout_ms",
        apply: |c, v| {
            c.migrations.lock_timeout_ms = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_STATEMENT_TIMEOUT_MS",
        key: "migrations.statement_timeout_ms",
        apply: |c, v| {
            c.migrations.statement_timeout_ms = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_MAX_RETRIES",
        key: "migrations.max_retries",
        apply: |c, v| {
            c.migrations.max_retries = parse_number(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_TEMPLATE_SCHEMA",
        key: "migrations.template_schema",
        apply: |c, v| {
            c.migrations.template_schema = v.to_owned();
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_SHARED_MIGRATIONS_SCHEMA",
        key: "migrations.shared_schema",
        apply: |c, v| {
            c.migrations.shared_schema = Some(v.to_owned());
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_SEED_FILE",
        key: "migrations.seed_file",
        apply: |c, v| {
            c.migrations.seed_file = Some(PathBuf::from(v));
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_DUMP",
        key: "migrations.dump",
        apply: |c, v| {
            c.migrations.dump = parse_bool(v)?;
            Ok(())
        },
    },
    EnvSetting {
        variable: "TENANTRY_DUMP_PATH",
        key: "migrations.dump_path",
        apply: |c, v| {
            c.migrations.dump_path = PathBuf::from(v);
            Ok(())
        },
    },
];

/// `TENANTRY_*` variables that are not settings: read by tools around the library.
const ENV_NOT_SETTINGS: &[&str] = &["TENANTRY_CONFIG", "TENANTRY_LOG"];
/// Variables starting with this prefix belong to the test harness.
const ENV_TEST_PREFIX: &str = "TENANTRY_TEST_";

fn set_url(config: &mut Config, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("the URL is empty".to_owned());
    }
    config.database_url = Some(value.to_owned());
    Ok(())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

fn parse_number<T: FromStr>(value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("expected a whole number, got {value:?}"))
}

impl Config {
    /// Loads `path`, or `./tenantry.toml` if it exists when `path` is `None`, then applies the
    /// process environment and validates the result.
    ///
    /// # Errors
    /// The file cannot be read or parsed, a key or variable is unknown, or a value is invalid.
    pub fn load(path: Option<&Path>) -> Result<Self, Error> {
        let mut config = match path {
            Some(path) => Self::read(path)?,
            None if Path::new(CONFIG_FILE_NAME).is_file() => Self::read(Path::new(CONFIG_FILE_NAME))?,
            None => Self::default(),
        };
        config.apply_env(std::env::vars())?;
        config.validate()?;
        Ok(config)
    }

    fn read(path: &Path) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::ConfigRead { path: path.to_owned(), source })?;
        Self::from_toml(&text, path)
    }

    /// Parses the text of a configuration file; `path` is only used in messages.
    ///
    /// ```
    /// let config = tenantry::Config::from_toml("shared_schemas = ['shared']", "tenantry.toml".as_ref())?;
    /// assert_eq!(config.shared_schemas, ["shared"]);
    /// assert!(tenantry::Config::from_toml("sharde_schemas = []", "tenantry.toml".as_ref()).is_err());
    /// # Ok::<(), tenantry::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ConfigParse`] with the key and line for bad TOML, unknown keys and wrong types.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, Error> {
        let mut config: Self = toml::from_str(text).map_err(|source| toml_error(text, path, &source))?;
        config.provenance.file = Some(path.to_owned());
        Ok(config)
    }

    /// Applies environment overrides from `vars` (normally [`std::env::vars`]).
    ///
    /// `TENANTRY_DATABASE_URL` wins over `DATABASE_URL`. An unknown `TENANTRY_*` variable is an
    /// error, so a misspelt override never goes unnoticed.
    ///
    /// # Errors
    /// [`Error::UnknownEnvironmentVariable`] or [`Error::InvalidConfig`] naming the variable.
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), Error> {
        let mut vars: Vec<(String, String)> = vars.into_iter().collect();
        // DATABASE_URL first, so TENANTRY_DATABASE_URL applied after it wins.
        vars.sort_by_key(|(name, _)| name != "DATABASE_URL");
        for (name, value) in vars {
            if let Some(setting) = ENV_SETTINGS.iter().find(|s| s.variable == name) {
                (setting.apply)(self, &value).map_err(|problem| Error::InvalidConfig {
                    key: setting.key.to_owned(),
                    origin: format!("environment variable {name}"),
                    problem,
                })?;
                self.provenance.from_env.insert(setting.key, setting.variable);
            } else if name.starts_with("TENANTRY_")
                && !name.starts_with(ENV_TEST_PREFIX)
                && !ENV_NOT_SETTINGS.contains(&name.as_str())
            {
                return Err(Error::UnknownEnvironmentVariable { variable: name, known: known_variables() });
            }
        }
        Ok(())
    }

    /// Checks values that TOML types cannot: schema names, prefix/suffix characters, sizes.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the key, its origin, and what to write instead.
    pub fn validate(&self) -> Result<(), Error> {
        self.check_schema("default_schema", &self.default_schema)?;
        for schema in &self.shared_schemas {
            // The default schema may be listed: that puts it on every tenant's path (issue 10).
            self.check_schema("shared_schemas", schema)?;
        }
        for (key, affix) in [("schema_prefix", &self.schema_prefix), ("schema_suffix", &self.schema_suffix)] {
            if let Err(reason) = check_characters(affix) {
                return Err(self.invalid(key, format!("{affix:?}: {reason}")));
            }
        }
        if self.schema_prefix.len() + self.schema_suffix.len() >= MAX_IDENTIFIER_BYTES {
            return Err(self.invalid(
                "schema_prefix",
                format!("prefix and suffix leave no room for a name within {MAX_IDENTIFIER_BYTES} bytes"),
            ));
        }
        if let Some(schema) = &self.tenants.registry_schema {
            self.check_schema("tenants.registry_schema", schema)?;
        }
        self.check_schema("tenants.registry_table", &self.tenants.registry_table)?;
        if self.pool.max_size == 0 {
            return Err(self.invalid("pool.max_size", "must be at least 1".to_owned()));
        }
        self.check_schema("migrations.template_schema", &self.migrations.template_schema)?;
        if self.migrations.template_schema == self.default_schema
            || self.shared_schemas.contains(&self.migrations.template_schema)
        {
            return Err(self.invalid(
                "migrations.template_schema",
                "is the default or a shared schema; name a schema of its own".to_owned(),
            ));
        }
        if let Some(schema) = &self.migrations.shared_schema {
            self.check_schema("migrations.shared_schema", schema)?;
            if *schema != self.default_schema && !self.shared_schemas.contains(schema) {
                return Err(self.invalid(
                    "migrations.shared_schema",
                    format!(
                        "`{schema}` is neither the default schema nor one of `shared_schemas`; add it to \
                         `shared_schemas` so that tenants see what shared migrations make there"
                    ),
                ));
            }
        }
        if self.migrations.jobs == 0 {
            return Err(self.invalid("migrations.jobs", "must be at least 1".to_owned()));
        }
        if self.pool.acquire_timeout_secs == 0 {
            return Err(self.invalid("pool.acquire_timeout_secs", "must be at least 1".to_owned()));
        }
        Ok(())
    }

    /// The naming rules these settings describe.
    pub fn naming_rules(&self) -> NamingRules {
        NamingRules::new(self.default_schema.clone(), self.shared_schemas.iter().cloned())
            .with_shared_schemas_first(self.shared_schemas_position == SharedSchemasPosition::Before)
            .with_prefix(self.schema_prefix.clone())
            .with_suffix(self.schema_suffix.clone())
            .with_reserved(self.migrations.template_schema.clone(), "the migration template schema")
    }

    /// Where shared migrations run: `migrations.shared_schema`, or the default schema.
    pub fn shared_migrations_schema(&self) -> &str {
        self.migrations.shared_schema.as_deref().unwrap_or(&self.default_schema)
    }

    /// The schema holding the registry table (the configured one, or the default schema).
    pub fn registry_schema(&self) -> &str {
        self.tenants.registry_schema.as_deref().unwrap_or(&self.default_schema)
    }

    /// The file these settings were read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.provenance.file.as_deref()
    }

    /// The statement cache capacity in effect (0 behind PgBouncer).
    pub(crate) fn statement_cache_capacity(&self) -> usize {
        if self.pool.behind_pgbouncer {
            0
        } else {
            self.pool.statement_cache_capacity
        }
    }

    pub(crate) fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.pool.acquire_timeout_secs)
    }

    /// Where `key` came from, for messages.
    pub(crate) fn origin_of(&self, key: &str) -> String {
        match (self.provenance.from_env.get(key), &self.provenance.file) {
            (Some(variable), _) => format!("environment variable {variable}"),
            (None, Some(file)) => file.display().to_string(),
            (None, None) => "defaults".to_owned(),
        }
    }

    fn invalid(&self, key: &str, problem: String) -> Error {
        Error::InvalidConfig { key: key.to_owned(), origin: self.origin_of(key), problem }
    }

    /// A schema name in the configuration must be a plain, non-empty identifier.
    fn check_schema(&self, key: &str, schema: &str) -> Result<(), Error> {
        if schema.is_empty() {
            return Err(self.invalid(key, "the name is empty".to_owned()));
        }
        if schema.len() > MAX_IDENTIFIER_BYTES {
            return Err(self.invalid(key, format!("`{schema}` is longer than {MAX_IDENTIFIER_BYTES} bytes")));
        }
        if let Err(reason) = check_characters(schema) {
            return Err(self.invalid(key, format!("`{schema}`: {reason}")));
        }
        Ok(())
    }
}

/// [`Error::ConfigParse`] from the TOML parser's error: its message, the line, and the key
/// written on that line, never the line itself (it may hold the database password).
fn toml_error(text: &str, path: &Path, error: &toml::de::Error) -> Error {
    let start = error.span().map(|span| span.start.min(text.len()));
    let line = start.map(|start| text[..start].matches('\n').count() + 1);
    let key = start
        .and_then(|start| text[..start].rsplit('\n').next().zip(text[start..].split('\n').next()))
        .map(|(before, after)| format!("{before}{after}"))
        .and_then(|line| line.split_once('=').map(|(key, _)| key.trim().to_owned()))
        .filter(|key| !key.is_empty() && !key.starts_with('['));
    let problem = match key {
        Some(key) => format!("`{key}`: {}", error.message()),
        None => error.message().to_owned(),
    };
    Error::ConfigParse { path: path.to_owned(), line, problem }
}

fn known_variables() -> String {
    let mut names: Vec<&str> = ENV_SETTINGS.iter().map(|s| s.variable).collect();
    names.extend(ENV_NOT_SETTINGS);
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn parse(text: &str) -> Result<Config, Error> {
        Config::from_toml(text, Path::new("/app/tenantry.toml"))
    }

    #[test]
    fn defaults_are_documented_values() {
        let config = Config::default();
        assert_eq!(config.default_schema, "public");
        assert_eq!(config.pool.max_size, 10);
        assert!(!config.pool.behind_pgbouncer);
        assert_eq!(config.tenants.source, TenantSourceKind::Schemas);
        config.validate().expect("defaults are valid");
    }

    #[test]
    fn reads_every_section() {
        let config = parse(
            r#"
            database_url = "postgres://localhost/app"
            shared_schemas = ["shared"]
            schema_prefix = "tenant_"
            [tenants]
            source = "registry"
            registry_table = "tenants"
            [pool]
            max_size = 4
            behind_pgbouncer = true
            "#,
        )
        .expect("valid");
        assert_eq!(config.database_url.as_deref(), Some("postgres://localhost/app"));
        assert_eq!(config.tenants.source, TenantSourceKind::Registry);
        assert!(config.pool.behind_pgbouncer);
        assert_eq!(config.naming_rules().parse("acme").map(|t| t.schema().to_owned()).ok(), Some("tenant_acme".into()));
    }

    #[test]
    fn the_default_schema_can_be_shared_and_shared_schemas_placed_first() {
        let config = parse(
            "shared_schemas = ['extensions', 'public']\nshared_schemas_position = 'before'\n\
             [migrations]\nshared_schema = 'extensions'",
        )
        .expect("valid");
        config.validate().expect("the default schema may be listed as shared");
        assert_eq!(config.shared_migrations_schema(), "extensions");
        let rules = config.naming_rules();
        assert!(rules.shared_schemas_first());
        let acme = rules.parse("acme").expect("valid");
        assert_eq!(crate::SearchPath::new(&rules, Some(&acme)).as_sql(), r#""extensions", "public", "acme", pg_temp"#);
        assert_eq!(Config::default().shared_migrations_schema(), "public");
        assert!(parse("shared_schemas_position = 'middle'").is_err());
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_file() {
        for (text, key) in [("sharde_schemas = []", "sharde_schemas"), ("[pool]\nmax_sise = 3", "max_sise")] {
            let message = parse(text).expect_err("unknown key").to_string();
            assert!(message.contains(key), "{message}");
            assert!(message.contains("/app/tenantry.toml"), "{message}");
        }
    }

    #[test]
    fn wrong_types_name_the_key() {
        let message = parse("[pool]\nmax_size = \"ten\"").expect_err("type").to_string();
        assert!(message.contains("max_size"), "{message}");
    }

    #[test]
    fn environment_overrides_file() {
        let mut config = parse("default_schema = \"app\"\n[pool]\nmax_size = 4").expect("valid");
        config
            .apply_env(env(&[
                ("TENANTRY_DATABASE_URL", "postgres://b/db"),
                ("DATABASE_URL", "postgres://a/db"),
                ("TENANTRY_POOL_MAX_SIZE", "7"),
                ("TENANTRY_SHARED_SCHEMAS", "shared, extensions"),
                ("PATH", "/usr/bin"),
                ("TENANTRY_TEST_PG_BIN", "/x"),
            ]))
            .expect("valid");
        assert_eq!(config.database_url.as_deref(), Some("postgres://b/db"));
        assert_eq!(config.pool.max_size, 7);
        assert_eq!(config.shared_schemas, ["shared", "extensions"]);
        assert_eq!(config.default_schema, "app");
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let err = Config::default().apply_env(env(&[("TENANTRY_POOL_MAX_SIZE", "lots")])).expect_err("not a number");
        let message = err.to_string();
        assert!(message.contains("TENANTRY_POOL_MAX_SIZE") && message.contains("pool.max_size"), "{message}");

        let err = Config::default().apply_env(env(&[("TENANTRY_SHARD_SCHEMAS", "x")])).expect_err("unknown");
        assert!(err.to_string().contains("TENANTRY_SHARD_SCHEMAS"), "{err}");
    }

    #[test]
    fn validation_names_key_and_origin() {
        let config = parse("schema_prefix = \"Tenant_\"").expect("parses");
        let message = config.validate().expect_err("uppercase prefix").to_string();
        assert!(message.contains("schema_prefix") && message.contains("/app/tenantry.toml"), "{message}");

        let mut config = Config::default();
        config.apply_env(env(&[("TENANTRY_SHARED_SCHEMAS", "Extensions")])).expect("applies");
        let message = config.validate().expect_err("uppercase shared schema").to_string();
        assert!(message.contains("TENANTRY_SHARED_SCHEMAS"), "{message}");

        let mut config = Config::default();
        config.apply_env(env(&[("TENANTRY_SHARED_MIGRATIONS_SCHEMA", "extensions")])).expect("applies");
        let message = config.validate().expect_err("not a shared schema").to_string();
        assert!(
            message.contains("TENANTRY_SHARED_MIGRATIONS_SCHEMA") && message.contains("shared_schemas"),
            "{message}"
        );

        let mut config = Config::default();
        config.pool.max_size = 0;
        assert!(config.validate().is_err());
    }
}
