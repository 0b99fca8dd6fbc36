//! Where the list of tenants comes from: the catalog, a registry table, or a closure.
//!
//! Whatever the source, each name goes through the naming rules; empty, blank or invalid
//! names are skipped with a warning and never reach SQL (apartment 3.4 fixed
//! `zero-length delimited identifier` errors this way).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_postgres::Client;

use super::lifecycle::RegistryTable;
use super::membership::has_affix;
use super::statements;
use crate::error::{BoxError, Error};
use crate::name::{NamingRules, TenantName};

/// The future a custom tenant source returns.
pub type ListFuture = Pin<Box<dyn Future<Output = Result<Vec<String>, BoxError>> + Send>>;

/// Where the list of tenants comes from.
#[derive(Clone)]
#[non_exhaustive]
pub enum TenantSource {
    /// The schemas tenantry made tenants of: with a `schema_prefix` or `schema_suffix`, every
    /// schema whose name carries them; without, every schema holding tenantry's bookkeeping
    /// table. System, default, shared and template schemas are never tenants
    /// (`crates/tenantry/src/schema/membership.rs`).
    Schemas,
    /// A table with one row per tenant (column `name`), kept in step by create/drop/rename.
    Registry {
        /// The table's schema.
        schema: String,
        /// The table.
        table: String,
    },
    /// Names returned by application code (apartment's `tenant_names` lambda).
    Custom(Arc<dyn Fn() -> ListFuture + Send + Sync>),
}

impl TenantSource {
    /// A custom source from an async closure returning tenant names.
    ///
    /// ```
    /// let source = tenantry::TenantSource::custom(|| async {
    ///     Ok(vec!["acme".to_owned(), "globex".to_owned()])
    /// });
    /// # let _ = source;
    /// ```
    pub fn custom<F, Fut>(list: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<String>, BoxError>> + Send + 'static,
    {
        Self::Custom(Arc::new(move || Box::pin(list())))
    }

    pub(crate) fn registry_table(&self) -> Option<RegistryTable> {
        match self {
            Self::Registry { schema, table } => Some(RegistryTable { schema: schema.clone(), table: table.clone() }),
            _ => None,
        }
    }
}

impl fmt::Debug for TenantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Schemas => f.write_str("Schemas"),
            Self::Registry { schema, table } => write!(f, "Registry({schema}.{table})"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Lists the tenants of `source`, sorted, invalid names skipped with a warning.
pub(crate) async fn list_tenants(
    client: &Client,
    source: &TenantSource,
    rules: &NamingRules,
) -> Result<Vec<TenantName>, Error> {
    let mut tenants = match source {
        TenantSource::Schemas => {
            // Never "every schema that is not a system one": a database also holds schemas of
            // extensions and of other software (issue 10).
            let sql =
                if has_affix(rules) { statements::LIST_CANDIDATE_SCHEMAS } else { statements::LIST_BOOKKEPT_SCHEMAS };
            let rows =
                client.query(sql, &[]).await.map_err(|err| Error::database("listing tenant schemas", None, err))?;
            let mut tenants = Vec::with_capacity(rows.len());
            for row in rows {
                let schema: &str =
                    row.try_get(0).map_err(|err| Error::database("listing tenant schemas", None, err))?;
                if rules.protects(schema) {
                    continue;
                }
                match rules.from_schema(schema) {
                    Some(Ok(tenant)) => tenants.push(tenant),
                    Some(Err(err)) => tracing::warn!(schema, "skipping schema that is not a valid tenant: {err}"),
                    None => {}
                }
            }
            tenants
        }
        TenantSource::Registry { schema, table } => {
            let rows = client
                .query(&statements::list_registry(schema, table), &[])
                .await
                .map_err(|err| Error::database("listing tenants from the registry table", None, err))?;
            let names = rows
                .iter()
                .map(|row| row.try_get::<_, Option<String>>(0).map(Option::unwrap_or_default))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| Error::database("listing tenants from the registry table", None, err))?;
            parse_names(rules, names, "registry table")
        }
        TenantSource::Custom(list) => {
            let names = list()
                .await
                .map_err(|source| Error::Callback { action: "listing tenants from the custom source", source })?;
            parse_names(rules, names, "custom source")
        }
    };
    tenants.sort();
    tenants.dedup();
    Ok(tenants)
}

/// Validates names from a source, skipping bad ones with a warning.
pub(crate) fn parse_names(rules: &NamingRules, names: Vec<String>, origin: &str) -> Vec<TenantName> {
    names
        .into_iter()
        .filter_map(|name| match rules.parse(&name) {
            Ok(tenant) => Some(tenant),
            Err(err) => {
                tracing::warn!(origin, "skipping tenant name from the {origin}: {err}");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_from_a_source_are_skipped() {
        let rules = NamingRules::default();
        let names =
            ["acme", "", "  ", "Bad", "x\"; DROP SCHEMA public; --", "public", "globex"].map(str::to_owned).to_vec();
        let parsed: Vec<String> = parse_names(&rules, names, "test").iter().map(ToString::to_string).collect();
        assert_eq!(parsed, ["acme", "globex"]);
    }
}
