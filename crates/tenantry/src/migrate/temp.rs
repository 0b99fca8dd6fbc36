//! Keeping one schema's temporary objects away from the next schema on a migrator connection.
//!
//! PostgreSQL searches the session's temporary schema (`pg_temp`) *before* the search path
//! unless the path names it (PostgreSQL manual, "Client Connection Defaults", `search_path`).
//! A migrator connection works through many schemas: a migration, `exec` or seed that leaves a
//! temporary table behind (`CREATE TEMP TABLE orders …`, not `ON COMMIT DROP`) would otherwise
//! be what the next schema's `orders` means. Two measures, both folded into a message that is
//! sent anyway, so neither costs a round trip:
//!
//! - every search path the migrator sets ends with `pg_temp`, which makes PostgreSQL search the
//!   temporary schema last: an unqualified name means the schema's own object first (a
//!   migration that wants its temporary table by a shadowed name writes `pg_temp.orders`);
//! - the first statement of each schema's work is `DISCARD TEMP`, so whatever temporary
//!   objects the connection made before (for another schema) are gone before any statement of
//!   this schema runs. In a transaction it is part of the schema's transaction (PostgreSQL
//!   allows `DISCARD TEMP`, unlike `DISCARD ALL`, in a transaction block): if that transaction
//!   rolls back the older objects come back, but the next schema's first statement discards
//!   them again, so no schema ever runs a statement while another schema's temporary objects
//!   exist. A separate `DISCARD TEMP` message would not give that guarantee: pipelined
//!   messages run even when the one before failed.
//!
//! PostgreSQL never looks up functions or operators in `pg_temp` unqualified, so temporary
//! functions cannot be resolved by another schema's statements in the first place.

/// Drops the session's temporary objects.
pub(crate) const DISCARD_TEMP_SQL: &str = "DISCARD TEMP";

/// `SET <scope> search_path TO <search_path>` (`scope`: `LOCAL` or `SESSION`; `search_path`
/// is already quoted and ends with `pg_temp`, as [`SearchPath::as_sql`](crate::SearchPath::as_sql)
/// and the migrator's template path do).
pub(crate) fn set_search_path_sql(scope: &str, search_path: &str) -> String {
    debug_assert!(search_path.ends_with("pg_temp"), "{search_path}");
    format!("SET {scope} search_path TO {search_path}")
}

/// The start of a schema's work: [`DISCARD_TEMP_SQL`], then [`set_search_path_sql`].
pub(crate) fn enter_schema_sql(scope: &str, search_path: &str) -> String {
    format!("{DISCARD_TEMP_SQL}; {}", set_search_path_sql(scope, search_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_schema_comes_last_after_a_discard() {
        assert_eq!(
            enter_schema_sql("LOCAL", r#""acme", "shared", pg_temp"#),
            r#"DISCARD TEMP; SET LOCAL search_path TO "acme", "shared", pg_temp"#
        );
        assert_eq!(set_search_path_sql("SESSION", r#""a", pg_temp"#), r#"SET SESSION search_path TO "a", pg_temp"#);
    }
}
