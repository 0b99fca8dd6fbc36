//! The one error type of the `tenantry` crate.

use std::path::PathBuf;

use crate::name::InvalidNameReason;

/// A boxed error from user code (a custom tenant source, a create hook).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in tenantry; every message says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant name broke one of the naming rules (see [`crate::name`]).
    #[error("invalid tenant name {name:?}: {reason}")]
    InvalidTenantName {
        /// The rejected input, as given.
        name: String,
        /// The rule that failed.
        reason: InvalidNameReason,
    },

    /// The tenant to create, or the target of a rename, already exists.
    #[error(
        "tenant `{tenant}` already exists (schema `{schema}`); choose another name, or drop the \
         existing tenant first"
    )]
    TenantExists {
        /// The tenant's name.
        tenant: String,
        /// The schema that already exists.
        schema: String,
    },

    /// The tenant does not exist (its schema is missing).
    #[error(
        "tenant `{tenant}` does not exist (no schema `{schema}`); check the name, or create the \
         tenant first"
    )]
    TenantNotFound {
        /// The tenant's name.
        tenant: String,
        /// The schema that is missing.
        schema: String,
    },

    /// The schema exists but is not a tenant's: tenantry refuses to drop, rename, migrate,
    /// seed or run SQL in it (`crates/tenantry/src/schema/membership.rs`, docs/tenants.md).
    #[error("schema `{schema}` is not a tenant, so tenantry did nothing to it: {kind}")]
    NotATenant {
        /// The schema.
        schema: String,
        /// What it is instead, and what to do if it should be a tenant.
        kind: crate::schema::ForeignSchema,
    },

    /// Drop or rename gave up waiting for the tenant's open transactions and sessions (they hold
    /// its existence lock: docs/context.md).
    #[error(
        "tenant `{tenant}` is in use: its open transactions or sessions did not finish within \
         {waited_ms} ms, so it was not {action}; retry when traffic is lower, or raise \
         `migrations.lock_timeout_ms`"
    )]
    TenantBusy {
        /// The tenant's name.
        tenant: String,
        /// What was not done: `dropped` or `renamed`.
        action: &'static str,
        /// How long it waited (`migrations.lock_timeout_ms`).
        waited_ms: u64,
    },

    /// The configuration file could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The configuration file is not valid TOML or holds an unknown key or a wrong type.
    #[error("invalid configuration in {}{}: {problem}", path.display(), line_suffix(*.line))]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The line (from 1) where the parser stopped, if it says.
        line: Option<usize>,
        /// The parser's message; it names the key. Not the parser's whole error: that quotes
        /// the line, which may hold the database password (and its `Debug`, the whole file).
        problem: String,
    },

    /// A configuration value is not acceptable.
    #[error("invalid configuration `{key}` (from {origin}): {problem}")]
    InvalidConfig {
        /// The key, as written in `tenantry.toml` (`pool.max_size`).
        key: String,
        /// Where the value came from: the file's path or the environment variable.
        origin: String,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// An environment variable starting with `TENANTRY_` is not one tenantry knows.
    #[error("unknown environment variable {variable}; known variables: {known}")]
    UnknownEnvironmentVariable {
        /// The variable's name.
        variable: String,
        /// The variables tenantry reads, comma-separated.
        known: String,
    },

    /// No database URL is configured.
    #[error(
        "no database URL configured; set DATABASE_URL, TENANTRY_DATABASE_URL or `database_url` \
         in tenantry.toml"
    )]
    MissingDatabaseUrl,

    /// The connection settings (the URL, `PG*` variables, certificate files) cannot be used.
    #[error("invalid connection settings for {url}: {problem}")]
    ConnectionSettings {
        /// The URL with its password masked.
        url: String,
        /// What is wrong, naming the setting. Not a `source`: the message already holds it, and
        /// `{err:#}` would print it twice.
        problem: crate::connect::SettingsError,
    },

    /// The database URL could not be parsed.
    #[error("invalid database URL {url}: {problem}; expected postgres://user:password@host:port/database")]
    InvalidDatabaseUrl {
        /// The URL with its password masked.
        url: String,
        /// The parser's complaint, without the pieces of the input it quotes (they may be part of
        /// the password: src/secret/guard.rs `describe_parse_error`).
        problem: String,
    },

    /// No connection to PostgreSQL could be made.
    #[error(
        "cannot connect to PostgreSQL at {url}: {}; check that the server is running and the URL \
         is right",
        crate::error::describe_pg(.source)
    )]
    Connect {
        /// The URL with its password masked.
        url: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// Waiting for a pooled connection timed out, or the pool is closed.
    #[error(
        "no database connection available: {source}; raise `pool.max_size` or \
         `pool.acquire_timeout_secs`, or look for connections held too long"
    )]
    Pool {
        /// The pool's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A statement failed.
    #[error("{action} failed{}: {}", tenant_suffix(.tenant.as_deref()), crate::error::describe_pg(.source))]
    Database {
        /// What tenantry was doing (`creating tenant schema`, `listing tenants`, …).
        action: &'static str,
        /// The tenant involved, if any.
        tenant: Option<String>,
        /// The driver's error; [`Error::sqlstate`] gives its SQLSTATE.
        #[source]
        source: tokio_postgres::Error,
    },

    /// An sqlx statement failed.
    #[cfg(feature = "sqlx")]
    #[error("{action} failed{}: {source}", tenant_suffix(.tenant.as_deref()))]
    Sqlx {
        /// What tenantry was doing.
        action: &'static str,
        /// The tenant involved, if any.
        tenant: Option<String>,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
    },

    /// A query returned a different number of rows than the call expects.
    #[error("expected {expected}, got {actual} rows{}", tenant_suffix(.tenant.as_deref()))]
    UnexpectedRowCount {
        /// What the call expects (`exactly one row`).
        expected: &'static str,
        /// How many rows came back.
        actual: usize,
        /// The tenant, if any.
        tenant: Option<String>,
    },

    /// `commit` was called on a transaction in which a statement had failed: PostgreSQL
    /// rolled it back, and nothing was committed.
    #[error(
        "the transaction{} was rolled back because a statement in it failed; nothing was \
         committed (retry the whole transaction)",
        tenant_suffix(.tenant.as_deref())
    )]
    TransactionAborted {
        /// The tenant, if any.
        tenant: Option<String>,
    },

    /// Session mode was asked for on a pool configured as behind PgBouncer.
    #[error(
        "session mode is not safe behind PgBouncer in transaction pooling (the next transaction \
         may run on another server connection); use `transaction()`, or set \
         `pool.behind_pgbouncer = false` if the pool connects to PostgreSQL directly"
    )]
    SessionModeBehindPgBouncer,

    /// The migrator's URL goes through a transaction pooler (PgBouncer `pool_mode = transaction`
    /// and the like), where the run lock and the no-transaction locks, which are held by a
    /// session, would silently do nothing. Nothing was run.
    #[error(
        "the migrator's URL {url} goes through a transaction pooler ({evidence}); the migrator \
         holds session locks that such a pooler cannot keep, so nothing was run: set \
         `migrations.database_url` (or TENANTRY_MIGRATIONS_DATABASE_URL) to a direct connection to \
         PostgreSQL, or to a pooler in session mode, and keep `database_url` for the application"
    )]
    TransactionPooler {
        /// The URL with its password masked.
        url: String,
        /// How it was found out.
        evidence: crate::migrate::PoolerEvidence,
    },

    /// The tenant was created and its transaction committed, but a migration that runs outside
    /// a transaction (`-- tenantry:no-transaction`) failed afterwards: the tenant exists, at the
    /// version before that migration. A tenant failure, not a usage error.
    #[error(
        "tenant `{tenant}` was created, but {problem}; fix the migration, then migrate the tenant \
         again to finish it (it exists, at the version before the failed migration)"
    )]
    TenantCreatedIncomplete {
        /// The new tenant's name.
        tenant: String,
        /// The version that failed, when one did (none when the run failed as a whole).
        version: Option<i64>,
        /// The failed migration's file, when one failed.
        path: Option<PathBuf>,
        /// PostgreSQL's SQLSTATE, when the server reported one.
        sqlstate: Option<String>,
        /// What went wrong.
        problem: String,
    },

    /// A migration file or directory is unusable.
    #[error("migration {}: {problem}", path.display())]
    MigrationSource {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// The schema dump could not be written.
    #[error("cannot write the schema dump to {}: {problem}", path.display())]
    SchemaDump {
        /// Where the dump was to go.
        path: PathBuf,
        /// What failed, and what to do.
        problem: String,
    },

    /// Another migration run holds the run lock and `no_wait` was asked for.
    #[error(
        "another migration run is in progress on this database (it holds tenantry's run lock); \
         wait for it to finish, or run again without --no-wait to queue behind it"
    )]
    MigrationRunLocked,

    /// A custom tenant source or a create hook failed.
    #[error("{action} failed: {source}")]
    Callback {
        /// What tenantry was doing (`listing tenants from the custom source`, …).
        action: &'static str,
        /// The callback's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// The SQLSTATE of a database error, such as `42P06` (`duplicate_schema`).
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Database { source, .. } | Self::Connect { source, .. } => {
                source.code().map(tokio_postgres::error::SqlState::code)
            }
            _ => None,
        }
    }

    /// [`Error::InvalidDatabaseUrl`] for `url`, which tokio-postgres could not parse.
    pub(crate) fn invalid_database_url(url: &str, source: &tokio_postgres::Error) -> Self {
        Self::InvalidDatabaseUrl { url: mask_password(url), problem: crate::secret::describe_parse_error(source) }
    }

    pub(crate) fn database(action: &'static str, tenant: Option<&str>, source: tokio_postgres::Error) -> Self {
        Self::Database { action, tenant: tenant.map(str::to_owned), source }
    }
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|line| format!(", line {line}")).unwrap_or_default()
}

fn tenant_suffix(tenant: Option<&str>) -> String {
    tenant.map(|tenant| format!(" for tenant `{tenant}`")).unwrap_or_default()
}

/// Formats a driver error with PostgreSQL's severity, SQLSTATE, message, detail and hint;
/// tokio-postgres' own `Display` prints only `db error`.
pub(crate) fn describe_pg(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" (detail: {detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!(" (hint: {hint})"));
            }
            text
        }
        None => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(error);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                if inner.to_string() == "server does not support TLS" {
                    // tokio-postgres's words when the server answers the SSLRequest with N.
                    text.push_str(
                        " (the server does not offer TLS but sslmode requires it; set sslmode=prefer, \
                         or enable ssl on the server: ssl = on in postgresql.conf)",
                    );
                }
                cause = inner.source();
            }
            text
        }
    }
}

pub use crate::secret::mask_password;
