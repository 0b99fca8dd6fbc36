//! Reading `tenantry.toml`: the file, its parse errors (which never quote a line), and `load`.

use std::path::Path;

use super::{Config, CONFIG_FILE_NAME};
use crate::error::Error;

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

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::TenantSourceKind;

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
}
