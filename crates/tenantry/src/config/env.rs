//! The environment table: one line per variable, each naming the setting it overrides.
//!
//! Every key of `config/example.toml` has a variable here; the test at the bottom keeps the two
//! in step, so a new setting cannot be added without its variable.

use std::path::PathBuf;
use std::str::FromStr;

use super::settings::{SharedSchemasPosition, TenantSourceKind};
use super::Config;
use crate::error::Error;

/// One environment variable tenantry reads: its name, the key it sets, and how.
struct EnvSetting {
    variable: &'static str,
    key: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), String>,
}

/// `VARIABLE => field.path: parser,` for each setting. The key in messages is the field path,
/// which is also the setting's key in `tenantry.toml`.
macro_rules! env_settings {
    ($($variable:literal => $first:ident $(. $rest:ident)* : $parse:expr,)*) => {
        const ENV_SETTINGS: &[EnvSetting] = &[$(
            EnvSetting {
                variable: $variable,
                key: concat!(stringify!($first) $(, ".", stringify!($rest))*),
                apply: |config, value| {
                    config.$first $(.$rest)* = $parse(value)?;
                    Ok(())
                },
            },
        )*];
    };
}

env_settings! {
    "DATABASE_URL" => database_url: |v| url(v).map(Some),
    "TENANTRY_DATABASE_URL" => database_url: |v| url(v).map(Some),
    "TENANTRY_DEFAULT_SCHEMA" => default_schema: text,
    "TENANTRY_SHARED_SCHEMAS" => shared_schemas: list,
    "TENANTRY_SHARED_SCHEMAS_POSITION" => shared_schemas_position: position,
    "TENANTRY_SCHEMA_PREFIX" => schema_prefix: text,
    "TENANTRY_SCHEMA_SUFFIX" => schema_suffix: text,
    "TENANTRY_TENANT_SOURCE" => tenants.source: source,
    "TENANTRY_REGISTRY_SCHEMA" => tenants.registry_schema: |v| text(v).map(Some),
    "TENANTRY_REGISTRY_TABLE" => tenants.registry_table: text,
    "TENANTRY_CACHE_TTL_SECS" => tenants.cache_ttl_secs: number,
    "TENANTRY_MISS_REFRESH_INTERVAL_MS" => tenants.miss_refresh_interval_ms: number,
    "TENANTRY_POOL_MAX_SIZE" => pool.max_size: number,
    "TENANTRY_POOL_ACQUIRE_TIMEOUT_SECS" => pool.acquire_timeout_secs: number,
    "TENANTRY_BEHIND_PGBOUNCER" => pool.behind_pgbouncer: boolean,
    "TENANTRY_STATEMENT_CACHE_CAPACITY" => pool.statement_cache_capacity: number,
    "TENANTRY_MAX_CONNECTION_LIFETIME_SECS" => pool.max_connection_lifetime_secs: number,
    "TENANTRY_MAX_TENANTS_PER_CONNECTION" => pool.max_tenants_per_connection: number,
    "TENANTRY_LISTEN_FOR_SCHEMA_CHANGES" => pool.listen_for_schema_changes: boolean,
    "TENANTRY_MIGRATIONS_DATABASE_URL" => migrations.database_url: |v| url(v).map(Some),
    "TENANTRY_MIGRATIONS_DIR" => migrations.directory: path,
    "TENANTRY_JOBS" => migrations.jobs: number,
    "TENANTRY_LOCK_TIMEOUT_MS" => migrations.lock_timeout_ms: number,
    "TENANTRY_STATEMENT_TIMEOUT_MS" => migrations.statement_timeout_ms: number,
    "TENANTRY_MAX_RETRIES" => migrations.max_retries: number,
    "TENANTRY_RETRY_BACKOFF_MS" => migrations.retry_backoff_ms: number,
    "TENANTRY_TRANSACTION_PER_MIGRATION" => migrations.transaction_per_migration: boolean,
    "TENANTRY_DURABLE_COMMITS" => migrations.durable_commits: boolean,
    "TENANTRY_TEMPLATE" => migrations.template: boolean,
    "TENANTRY_TEMPLATE_SCHEMA" => migrations.template_schema: text,
    "TENANTRY_SHARED_MIGRATIONS_SCHEMA" => migrations.shared_schema: |v| text(v).map(Some),
    "TENANTRY_SEED_FILE" => migrations.seed_file: |v| path(v).map(Some),
    "TENANTRY_DUMP" => migrations.dump: boolean,
    "TENANTRY_DUMP_PATH" => migrations.dump_path: path,
}

/// `TENANTRY_*` variables that are not settings, read by the tools around the library: the
/// CLI (`TENANTRY_CONFIG`, `TENANTRY_LOG`) and the local clusters of the CLI and the test helpers
/// (`TENANTRY_PG_BIN`, `TENANTRY_PGBOUNCER`: where the server programs are).
const ENV_NOT_SETTINGS: &[&str] = &["TENANTRY_CONFIG", "TENANTRY_LOG", "TENANTRY_PG_BIN", "TENANTRY_PGBOUNCER"];

fn text(value: &str) -> Result<String, String> {
    Ok(value.to_owned())
}

fn path(value: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(value))
}

/// A comma-separated list; blanks around and between the commas are ignored.
fn list(value: &str) -> Result<Vec<String>, String> {
    Ok(value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

fn url(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("the URL is empty".to_owned());
    }
    Ok(value.to_owned())
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

fn number<T: FromStr>(value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("expected a whole number, got {value:?}"))
}

fn position(value: &str) -> Result<SharedSchemasPosition, String> {
    match value {
        "after" => Ok(SharedSchemasPosition::After),
        "before" => Ok(SharedSchemasPosition::Before),
        _ => Err(format!("expected `after` or `before`, got {value:?}")),
    }
}

fn source(value: &str) -> Result<TenantSourceKind, String> {
    match value {
        "schemas" => Ok(TenantSourceKind::Schemas),
        "registry" => Ok(TenantSourceKind::Registry),
        _ => Err(format!("expected `schemas` or `registry`, got {value:?}")),
    }
}

impl Config {
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
            } else if name.starts_with("TENANTRY_") && !ENV_NOT_SETTINGS.contains(&name.as_str()) {
                return Err(Error::UnknownEnvironmentVariable { variable: name, known: known_variables() });
            }
        }
        Ok(())
    }
}

fn known_variables() -> String {
    let mut names: Vec<&str> = ENV_SETTINGS.iter().map(|s| s.variable).collect();
    names.extend(ENV_NOT_SETTINGS);
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;
    use crate::config::parse;
    use crate::config::vars as env;

    /// The keys of a TOML document, `section.key` for keys in a table.
    fn keys(table: &toml::Table, prefix: &str, into: &mut BTreeSet<String>) {
        for (key, value) in table {
            match value {
                toml::Value::Table(inner) => keys(inner, &format!("{prefix}{key}."), into),
                _ => {
                    into.insert(format!("{prefix}{key}"));
                }
            }
        }
    }

    #[test]
    fn every_setting_of_the_example_file_has_a_variable_and_every_variable_a_setting() {
        let example: toml::Table = toml::from_str(super::super::EXAMPLE).expect("the example is TOML");
        let mut in_file = BTreeSet::new();
        keys(&example, "", &mut in_file);
        let in_env: BTreeSet<String> = ENV_SETTINGS.iter().map(|s| s.key.to_owned()).collect();
        assert_eq!(in_file, in_env, "config/example.toml and the environment table disagree");
        parse(super::super::EXAMPLE).expect("the example is a valid configuration");
    }

    #[test]
    fn every_variable_parses_what_its_setting_takes() {
        let example = parse(super::super::EXAMPLE).expect("valid");
        let values = [
            ("TENANTRY_RETRY_BACKOFF_MS", "50"),
            ("TENANTRY_TRANSACTION_PER_MIGRATION", "yes"),
            ("TENANTRY_DURABLE_COMMITS", "on"),
            ("TENANTRY_TEMPLATE", "false"),
            ("TENANTRY_SEED_FILE", "seed.sql"),
            ("TENANTRY_TENANT_SOURCE", "registry"),
        ];
        let mut config = example.clone();
        config.apply_env(env(&values)).expect("valid values");
        assert_eq!(config.migrations.retry_backoff_ms, 50);
        assert!(config.migrations.transaction_per_migration);
        assert!(config.migrations.durable_commits);
        assert!(!config.migrations.template);
        assert_eq!(config.migrations.seed_file.as_deref(), Some(Path::new("seed.sql")));
        assert_eq!(config.tenants.source, TenantSourceKind::Registry);
        assert_eq!(config.origin_of("migrations.template"), "environment variable TENANTRY_TEMPLATE");
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
                ("TENANTRY_PG_BIN", "/x"),
            ]))
            .expect("valid");
        assert_eq!(config.database_url.as_deref(), Some("postgres://b/db"));
        assert_eq!(config.pool.max_size, 7);
        assert_eq!(config.shared_schemas, ["shared", "extensions"]);
        assert_eq!(config.default_schema, "app");
    }

    #[test]
    fn the_migrations_url_comes_from_its_own_key_or_variable_else_the_database_url() {
        let config = parse("database_url = \"postgres://bouncer/app\"").expect("valid");
        assert_eq!(config.migrations_database_url(), Some("postgres://bouncer/app"));
        let mut config =
            parse("database_url = \"postgres://bouncer/app\"\n[migrations]\ndatabase_url = \"postgres://file/app\"")
                .expect("valid");
        assert_eq!(config.migrations_database_url(), Some("postgres://file/app"));
        config.apply_env(env(&[("TENANTRY_MIGRATIONS_DATABASE_URL", "postgres://env/app")])).expect("valid");
        assert_eq!(config.migrations_database_url(), Some("postgres://env/app"));
        assert_eq!(config.database_url.as_deref(), Some("postgres://bouncer/app"));
        let err = Config::default().apply_env(env(&[("TENANTRY_MIGRATIONS_DATABASE_URL", " ")])).expect_err("empty");
        assert!(err.to_string().contains("TENANTRY_MIGRATIONS_DATABASE_URL"), "{err}");
        let empty = parse("[migrations]\ndatabase_url = \"\"").expect("parses");
        assert!(empty.validate().expect_err("empty").to_string().contains("migrations.database_url"));
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let err = Config::default().apply_env(env(&[("TENANTRY_POOL_MAX_SIZE", "lots")])).expect_err("not a number");
        let message = err.to_string();
        assert!(message.contains("TENANTRY_POOL_MAX_SIZE") && message.contains("pool.max_size"), "{message}");

        let err = Config::default().apply_env(env(&[("TENANTRY_SHARD_SCHEMAS", "x")])).expect_err("unknown");
        assert!(err.to_string().contains("TENANTRY_SHARD_SCHEMAS"), "{err}");

        // The core knows no test harness: its variables are not `TENANTRY_*` settings either.
        let err = Config::default().apply_env(env(&[("TENANTRY_TEST_PG_BIN", "/x")])).expect_err("unknown");
        assert!(err.to_string().contains("TENANTRY_TEST_PG_BIN"), "{err}");
    }
}
