//! The search path a connection gets inside and outside a tenant scope.

use std::sync::Arc;

use crate::name::{NamingRules, TenantName};
use crate::schema::statements;

/// A resolved search path: the tenant's schema (or the default schema) followed by the shared
/// schemas, plus the SQL that puts a connection into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    tenant: Option<TenantName>,
    schemas: Arc<[String]>,
    text: Arc<str>,
}

impl SearchPath {
    /// The path for `tenant`, or the default path for `None`.
    pub fn new(rules: &NamingRules, tenant: Option<&TenantName>) -> Self {
        let first = tenant.map_or(rules.default_schema(), TenantName::schema);
        let schemas: Vec<String> =
            std::iter::once(first.to_owned()).chain(rules.shared_schemas().iter().cloned()).collect();
        let text = crate::sql::quote_ident_list(schemas.iter().map(String::as_str));
        Self { tenant: tenant.cloned(), schemas: schemas.into(), text: text.into() }
    }

    /// The tenant this path is for; `None` for the default path.
    pub fn tenant(&self) -> Option<&TenantName> {
        self.tenant.as_ref()
    }

    /// The schemas in order.
    pub fn schemas(&self) -> &[String] {
        &self.schemas
    }

    /// The path as `SET search_path TO` takes it: `"acme", "shared"`.
    pub fn as_sql(&self) -> &str {
        &self.text
    }

    pub(crate) fn begin_sql(&self, behind_pgbouncer: bool) -> String {
        statements::begin_with_search_path(&self.schema_refs(), self.schema_to_assert(), behind_pgbouncer)
    }

    pub(crate) fn set_local_sql(&self) -> String {
        statements::set_local_search_path(&self.schema_refs())
    }

    pub(crate) fn set_session_sql(&self) -> String {
        statements::set_session_search_path(&self.schema_refs(), self.schema_to_assert())
    }

    /// The tenant schema to assert exists when the path is set, if a missing one could fall
    /// through to another schema. PostgreSQL skips a missing schema on the search path: with
    /// shared schemas after the tenant, the tenant's queries would then read shared tables of
    /// the same name. Alone on the path, a missing schema leaves nothing to fall through to:
    /// every unqualified name fails (`42P01`), so the check (about 19 µs per transaction,
    /// docs/benchmarks.md) is skipped.
    fn schema_to_assert(&self) -> Option<&str> {
        self.tenant.as_ref().filter(|_| self.schemas.len() > 1).map(TenantName::schema)
    }

    fn schema_refs(&self) -> Vec<&str> {
        self.schemas.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_first_then_shared() {
        let rules = NamingRules::new("public", ["shared", "ext"]).with_prefix("t_");
        let acme = rules.parse("acme").expect("valid");
        let path = SearchPath::new(&rules, Some(&acme));
        assert_eq!(path.as_sql(), r#""t_acme", "shared", "ext""#);
        assert_eq!(SearchPath::new(&rules, None).as_sql(), r#""public", "shared", "ext""#);
    }
}
