//! Which schemas are tenants: the rule of the `schemas` source, and the refusal of a schema
//! that is not a tenant, saying what it is instead.
//!
//! A database also holds schemas that belong to no tenant (extensions' schemas, an app's own,
//! Supabase's `auth` and `storage`: issue 10). With the `schemas` source, a schema is a tenant
//! when the naming rules allow its name (never a system, the default, a shared or the template
//! schema) and
//! - with a non-empty `schema_prefix` or `schema_suffix`: its name carries them;
//! - with neither: it holds tenantry's bookkeeping table (`tenantry_migrations`), which every
//!   tenant creation writes in its own transaction (`crates/tenantry/src/tenantry.rs`,
//!   `crates/tenantry/src/migrate/create.rs`, and the clone, which copies it).
//!
//! With the registry source a tenant is a registry row; with a custom source, a listed name.
//! docs/tenants.md explains the choice.

use std::collections::HashMap;
use std::fmt;

use tokio_postgres::Client;

use super::source::{list_tenants, TenantSource};
use super::statements;
use crate::error::Error;
use crate::name::{NamingRules, TenantName};

/// Why a schema that exists is not a tenant ([`Error::NotATenant`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForeignSchema {
    /// It holds extensions (and no tenantry bookkeeping): an extension's schema.
    Extension {
        /// The extensions installed in it.
        extensions: Vec<String>,
    },
    /// It has no tenantry bookkeeping table, and the naming rules have no prefix or suffix
    /// that would make its name a tenant's.
    NoBookkeeping,
    /// The registry table has no row for it (`tenants.source = "registry"`).
    NotInRegistry {
        /// The registry table, `schema.table`.
        registry: String,
    },
    /// The custom tenant source does not list it.
    NotListed,
}

impl fmt::Display for ForeignSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ADOPT: &str = "tenantry leaves schemas it did not create alone. If it should be a tenant, create \
             the tenant with `tenantry create` and move its data in (adopting an existing schema is not \
             supported yet), or give tenant schemas a `schema_prefix` so their names tell them apart \
             (docs/tenants.md)";
        match self {
            Self::Extension { extensions } => write!(
                f,
                "it is an extension's schema (it holds {}) without tenantry's bookkeeping table; to let \
                 tenants use its types and functions, list it in `shared_schemas` (docs/tenants.md)",
                extensions.join(", ")
            ),
            Self::NoBookkeeping => write!(
                f,
                "it is a schema without tenantry's bookkeeping table (`tenantry_migrations`), which every \
                 tenant holds from its creation, and tenant names carry no prefix; {ADOPT}"
            ),
            Self::NotInRegistry { registry } => write!(
                f,
                "the registry table `{registry}` (tenants.source = \"registry\") has no row for it; create \
                 the tenant with `tenantry create`, or add its row if the schema is a tenant's"
            ),
            Self::NotListed => f.write_str("the custom tenant source does not list it; add it there if it is a tenant"),
        }
    }
}

/// What the catalog says about one schema: present, bookkept, holding extensions.
#[derive(Debug, Default)]
struct Facts {
    bookkept: bool,
    extensions: Vec<String>,
}

/// Checks that every one of `tenants` is a tenant of `source`, in one catalog query (plus the
/// listing of a registry or custom source).
///
/// # Errors
/// [`Error::TenantNotFound`] for the first whose schema is missing, [`Error::NotATenant`] for
/// the first whose schema exists but is not a tenant's.
pub(crate) async fn check_tenants(
    client: &Client,
    source: &TenantSource,
    rules: &NamingRules,
    tenants: &[TenantName],
) -> Result<(), Error> {
    let schemas: Vec<&str> = tenants.iter().map(TenantName::schema).collect();
    let rows = client
        .query(statements::SCHEMA_FACTS, &[&schemas])
        .await
        .map_err(|err| Error::database("looking up tenant schemas", None, err))?;
    let mut facts = HashMap::with_capacity(rows.len());
    for row in rows {
        let read = |err| Error::database("looking up tenant schemas", None, err);
        let schema: String = row.try_get(0).map_err(read)?;
        facts.insert(
            schema,
            Facts { bookkept: row.try_get(1).map_err(read)?, extensions: row.try_get(2).map_err(read)? },
        );
    }
    let listed = match source {
        TenantSource::Schemas => None,
        _ => Some(list_tenants(client, source, rules).await?),
    };
    for tenant in tenants {
        let Some(facts) = facts.get(tenant.schema()) else {
            return Err(super::not_found(tenant));
        };
        let foreign = match (source, &listed) {
            (TenantSource::Schemas, _) => (!has_affix(rules) && !facts.bookkept).then(|| {
                if facts.extensions.is_empty() {
                    ForeignSchema::NoBookkeeping
                } else {
                    ForeignSchema::Extension { extensions: facts.extensions.clone() }
                }
            }),
            (TenantSource::Registry { schema, table }, Some(listed)) => listed
                .binary_search(tenant)
                .is_err()
                .then(|| ForeignSchema::NotInRegistry { registry: format!("{schema}.{table}") }),
            (_, listed) => {
                listed.as_ref().is_some_and(|l| l.binary_search(tenant).is_err()).then_some(ForeignSchema::NotListed)
            }
        };
        if let Some(kind) = foreign {
            return Err(Error::NotATenant { schema: tenant.schema().to_owned(), kind });
        }
    }
    Ok(())
}

/// Whether tenant schemas are told apart by name (a non-empty prefix or suffix), so that a
/// schema whose name carries them is a tenant without further evidence.
pub(crate) fn has_affix(rules: &NamingRules) -> bool {
    !rules.prefix().is_empty() || !rules.suffix().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_says_what_the_schema_is_and_what_to_do() {
        let extension = ForeignSchema::Extension { extensions: vec!["pgcrypto".into(), "uuid-ossp".into()] };
        let text = extension.to_string();
        assert!(text.contains("extension's schema") && text.contains("pgcrypto, uuid-ossp"), "{text}");
        assert!(text.contains("shared_schemas"), "{text}");
        let text = ForeignSchema::NoBookkeeping.to_string();
        assert!(text.contains("tenantry_migrations") && text.contains("schema_prefix"), "{text}");
        let text = ForeignSchema::NotInRegistry { registry: "public.tenantry_tenants".into() }.to_string();
        assert!(text.contains("public.tenantry_tenants"), "{text}");
        assert!(has_affix(&NamingRules::default().with_suffix("_t")));
        assert!(!has_affix(&NamingRules::default()));
    }
}
