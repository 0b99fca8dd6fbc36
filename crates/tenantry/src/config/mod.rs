//! Configuration: `tenantry.toml` plus environment overrides.
//!
//! Settings resolve environment > file > defaults. Unknown keys in the file and unknown
//! `TENANTRY_*` variables are errors, and every error names the key and where it came from.
//!
#![doc = "```toml"]
#![doc = include_str!("example.toml")]
#![doc = "```"]

//!
//! The module's files: `settings.rs` (the types and their defaults), `file.rs` (reading the
//! file), `env.rs` (the environment table), `validate.rs` (checks across settings).

use std::path::Path;
use std::time::Duration;

use crate::name::NamingRules;

mod env;
mod file;
mod settings;
mod validate;

pub use settings::{Config, MigrationsConfig, PoolConfig, SharedSchemasPosition, TenantSourceKind, TenantsConfig};

/// The file tenantry looks for in the current directory when no path is given.
pub const CONFIG_FILE_NAME: &str = "tenantry.toml";

/// A configuration file with every setting, shown in the module docs and checked by the tests
/// against the environment table (`config/env.rs`).
#[cfg(test)]
const EXAMPLE: &str = include_str!("example.toml");

/// `text` parsed as if read from `/app/tenantry.toml`, for the tests.
#[cfg(test)]
fn parse(text: &str) -> Result<Config, crate::error::Error> {
    Config::from_toml(text, Path::new("/app/tenantry.toml"))
}

/// `(name, value)` pairs as [`Config::apply_env`] takes them, for the tests.
#[cfg(test)]
fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
}

impl Config {
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

    /// The URL the migrator connects to: `migrations.database_url`, else `database_url`.
    ///
    /// ```
    /// let mut config = tenantry::Config::default();
    /// config.database_url = Some("postgres://app@pgbouncer:6432/app".to_owned());
    /// assert_eq!(config.migrations_database_url(), Some("postgres://app@pgbouncer:6432/app"));
    /// config.migrations.database_url = Some("postgres://app@db:5432/app".to_owned());
    /// assert_eq!(config.migrations_database_url(), Some("postgres://app@db:5432/app"));
    /// ```
    pub fn migrations_database_url(&self) -> Option<&str> {
        self.migrations.database_url.as_deref().or(self.database_url.as_deref())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let config = Config::default();
        assert_eq!(config.default_schema, "public");
        assert_eq!(config.pool.max_size, 10);
        assert!(!config.pool.behind_pgbouncer);
        assert_eq!(config.tenants.source, TenantSourceKind::Schemas);
        config.validate().expect("defaults are valid");
    }
}
