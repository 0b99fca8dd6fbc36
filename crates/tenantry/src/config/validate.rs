//! Validation: what TOML types cannot check (schema names, affixes, sizes), with the key and
//! where its value came from in every message.

use super::Config;
use crate::error::Error;
use crate::name::{check_characters, MAX_IDENTIFIER_BYTES};

impl Config {
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
        if self.migrations.database_url.as_deref().is_some_and(|url| url.trim().is_empty()) {
            return Err(self.invalid(
                "migrations.database_url",
                "the URL is empty; remove the key to use `database_url`".to_owned(),
            ));
        }
        if self.migrations.jobs == 0 {
            return Err(self.invalid("migrations.jobs", "must be at least 1".to_owned()));
        }
        if self.pool.acquire_timeout_secs == 0 {
            return Err(self.invalid("pool.acquire_timeout_secs", "must be at least 1".to_owned()));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::config::vars as env;

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
