//! The search path a connection gets inside and outside a tenant scope.

use std::sync::Arc;

use crate::name::{NamingRules, TenantName};
use crate::schema::statements::{self, Guard, MissingSchema, Prelude};

/// A resolved search path: the tenant's schema (or the default schema) and the shared schemas,
/// then `pg_temp`, plus the SQL that puts a connection into it.
///
/// The shared schemas follow the tenant's by default; with `shared_schemas_position =
/// "before"` they come first in the application's transactions and sessions, so that a tenant's
/// objects never shadow theirs (an extension's functions and types). PostgreSQL creates an
/// object named without a schema in the *first* schema of the path, so tenantry's own DDL in a
/// tenant (migrations, creation, `exec`) always runs with the tenant first:
/// [`SearchPath::for_ddl`]. The default path is the default schema, then the shared schemas
/// (the default schema listed among them is not repeated).
///
/// PostgreSQL searches the session's temporary schema *first* unless the path names it
/// (docs/context.md, "Temporary objects"): naming it last keeps a temporary table from
/// shadowing the tenant's own table of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    tenant: Option<TenantName>,
    schemas: Arc<[String]>,
    text: Arc<str>,
}

impl SearchPath {
    /// The path for `tenant`, or the default path for `None`, in the configured order.
    pub fn new(rules: &NamingRules, tenant: Option<&TenantName>) -> Self {
        Self::build(rules, tenant, tenant.is_some() && rules.shared_schemas_first())
    }

    /// The path for DDL in `tenant` (`None`: the default schema): its own schema first, then the
    /// shared schemas, whatever their configured position, so that objects created without a
    /// schema land in it.
    pub fn for_ddl(rules: &NamingRules, tenant: Option<&TenantName>) -> Self {
        Self::build(rules, tenant, false)
    }

    fn build(rules: &NamingRules, tenant: Option<&TenantName>, shared_first: bool) -> Self {
        let own = tenant.map_or(rules.default_schema(), TenantName::schema);
        let mut schemas: Vec<String> = Vec::with_capacity(rules.shared_schemas().len() + 1);
        if !shared_first {
            schemas.push(own.to_owned());
        }
        for shared in rules.shared_schemas() {
            if shared != own && !schemas.contains(shared) {
                schemas.push(shared.clone());
            }
        }
        if shared_first {
            schemas.push(own.to_owned());
        }
        let text = format!("{}, pg_temp", crate::sql::quote_ident_list(schemas.iter().map(String::as_str)));
        Self { tenant: tenant.cloned(), schemas: schemas.into(), text: text.into() }
    }

    /// The tenant this path is for; `None` for the default path.
    pub fn tenant(&self) -> Option<&TenantName> {
        self.tenant.as_ref()
    }

    /// The schemas in order (without `pg_temp`).
    pub fn schemas(&self) -> &[String] {
        &self.schemas
    }

    /// The path as `SET search_path TO` takes it: `"acme", "shared", pg_temp`.
    pub fn as_sql(&self) -> &str {
        &self.text
    }

    /// The `BEGIN` message. A guarded path locks the tenant's anchor when `anchored`, else takes
    /// the advisory guard, whose missing schema `missing` reports (`crates/tenantry/src/context/anchors.rs`).
    pub(crate) fn begin_sql(&self, anchored: bool, missing: MissingSchema, prelude: Prelude) -> String {
        let guard = self.schema_to_guard().map(|schema| match anchored {
            true => Guard::Anchor(schema),
            false => Guard::Advisory(schema, missing),
        });
        statements::begin_with_search_path(&self.text, guard, prelude)
    }

    /// The tenant schema a `BEGIN` on this path guards, if any.
    pub(crate) fn guarded_schema(&self) -> Option<&str> {
        self.schema_to_guard()
    }

    pub(crate) fn set_local_sql(&self, prelude: Prelude) -> String {
        statements::set_local_search_path(&self.text, prelude)
    }

    pub(crate) fn set_session_sql(&self, prelude: Prelude) -> String {
        statements::set_session_search_path(&self.text, self.schema_to_guard(), prelude)
    }

    /// Whether setting this path ends with a statement whose row count says if the tenant
    /// schema was present ([`statements::set_path_if_present`]).
    pub(crate) fn is_guarded(&self) -> bool {
        self.schema_to_guard().is_some()
    }

    /// The tenant schema to guard (assert it exists, hold its existence lock) when the path is
    /// set, if a missing one could fall through to another schema. PostgreSQL skips a missing
    /// schema on the search path: with shared schemas after the tenant, the tenant's queries
    /// would then read shared tables of the same name. Alone on the path (before `pg_temp`,
    /// which holds only this tenant's own temporary objects: docs/context.md), a missing schema
    /// leaves nothing to fall through to: every unqualified name fails (`42P01`), so the guard
    /// (docs/benchmarks.md) is skipped.
    fn schema_to_guard(&self) -> Option<&str> {
        self.tenant.as_ref().filter(|_| self.schemas.len() > 1).map(TenantName::schema)
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
        assert_eq!(path.as_sql(), r#""t_acme", "shared", "ext", pg_temp"#);
        assert_eq!(SearchPath::new(&rules, None).as_sql(), r#""public", "shared", "ext", pg_temp"#);
        assert!(SearchPath::new(&rules, Some(&acme)).is_guarded());
        assert!(!SearchPath::new(&NamingRules::new("public", Vec::<String>::new()), Some(&acme)).is_guarded());
    }

    #[test]
    fn shared_first_for_queries_tenant_first_for_ddl() {
        let rules = NamingRules::new("public", ["extensions", "public"]).with_shared_schemas_first(true);
        let acme = rules.parse("acme").expect("valid");
        assert_eq!(SearchPath::new(&rules, Some(&acme)).as_sql(), r#""extensions", "public", "acme", pg_temp"#);
        assert!(SearchPath::new(&rules, Some(&acme)).is_guarded());
        assert_eq!(SearchPath::for_ddl(&rules, Some(&acme)).as_sql(), r#""acme", "extensions", "public", pg_temp"#);
        assert_eq!(SearchPath::new(&rules, None).as_sql(), r#""public", "extensions", pg_temp"#);
        assert_eq!(SearchPath::new(&rules, Some(&acme)).tenant(), Some(&acme));
    }
}
