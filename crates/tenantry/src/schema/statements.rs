//! Every SQL statement of the schema-per-tenant strategy, built from validated names through
//! [`quote_ident`] and [`quote_literal`] only.

use crate::sql::{quote_ident, quote_ident_list, quote_literal};

/// `CREATE SCHEMA "<schema>"`.
pub fn create_schema(schema: &str) -> String {
    format!("CREATE SCHEMA {}", quote_ident(schema))
}

/// `DROP SCHEMA "<schema>" CASCADE`.
///
/// CASCADE also drops objects in other schemas that depend on the tenant's (a view in the
/// default schema over tenant tables): see PostgreSQL's `DROP SCHEMA` documentation.
pub fn drop_schema(schema: &str) -> String {
    format!("DROP SCHEMA {} CASCADE", quote_ident(schema))
}

/// `ALTER SCHEMA "<from>" RENAME TO "<to>"`.
pub fn rename_schema(from: &str, to: &str) -> String {
    format!("ALTER SCHEMA {} RENAME TO {}", quote_ident(from), quote_ident(to))
}

/// Whether a schema exists: one parameter, the schema name.
pub const SCHEMA_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)";

/// Every schema that could be a tenant's: not a system schema, not a temporary or toast one.
pub const LIST_CANDIDATE_SCHEMAS: &str = "SELECT nspname FROM pg_catalog.pg_namespace \
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname";

/// Opens a transaction whose search path is `schemas` (first one first), in one message.
///
/// With `assert_schema`, the message first fails with SQLSTATE `3F000` (`invalid_schema_name`)
/// if that schema does not exist: PostgreSQL silently skips a missing schema on the search path
/// and would fall through to the next one, serving shared data as the tenant's. The assertion
/// comes *before* `BEGIN`, so when it fails no transaction block is left open: sqlx returns a
/// connection whose `begin_with` failed straight to its pool, and an aborted transaction there
/// would fail the next borrower's statements with `25P02` (found by
/// `tests/sqlx.rs::sqlx_transaction_never_falls_through_from_a_missing_schema`).
///
/// With `deallocate_first` (behind PgBouncer in transaction pooling), the message starts with
/// `DEALLOCATE ALL`: a query cancelled between Parse and ParseComplete leaves its named
/// statement on whichever server connection PgBouncer lent, where it would collide with the
/// next client's statement of the same name. Same message, so no extra round trip.
pub fn begin_with_search_path(schemas: &[&str], assert_schema: Option<&str>, deallocate_first: bool) -> String {
    let mut sql = String::new();
    if deallocate_first {
        sql.push_str("DEALLOCATE ALL; ");
    }
    if let Some(schema) = assert_schema {
        sql.push_str(&format!("SELECT {}::regnamespace; ", quote_literal(&quote_ident(schema))));
    }
    sql.push_str(&format!("BEGIN; SET LOCAL search_path TO {}", quote_ident_list(schemas.iter().copied())));
    sql
}

/// Changes the search path for the rest of the current transaction.
pub fn set_local_search_path(schemas: &[&str]) -> String {
    format!("SET LOCAL search_path TO {}", quote_ident_list(schemas.iter().copied()))
}

/// Sets the session's search path to `schemas`, asserting `assert_schema` exists, in one
/// message: a multi-statement message is one implicit transaction, so a failed assertion
/// undoes the `SET` too.
pub fn set_session_search_path(schemas: &[&str], assert_schema: Option<&str>) -> String {
    let mut sql = format!("SET search_path TO {}", quote_ident_list(schemas.iter().copied()));
    if let Some(schema) = assert_schema {
        sql.push_str(&format!("; SELECT {}::regnamespace", quote_literal(&quote_ident(schema))));
    }
    sql
}

/// Creates the registry table if missing (one row per tenant).
pub fn create_registry_table(schema: &str, table: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE IF NOT EXISTS {schema}.{table} (\
         name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())",
        schema = quote_ident(schema),
        table = quote_ident(table),
    )
}

/// Lists the registry table's names.
pub fn list_registry(schema: &str, table: &str) -> String {
    format!("SELECT name FROM {}.{} ORDER BY name", quote_ident(schema), quote_ident(table))
}

/// Adds a tenant to the registry table: one parameter, the name.
pub fn insert_registry(schema: &str, table: &str) -> String {
    format!("INSERT INTO {}.{} (name) VALUES ($1)", quote_ident(schema), quote_ident(table))
}

/// Removes a tenant from the registry table: one parameter, the name.
pub fn delete_registry(schema: &str, table: &str) -> String {
    format!("DELETE FROM {}.{} WHERE name = $1", quote_ident(schema), quote_ident(table))
}

/// Renames a tenant in the registry table: parameters old name, new name.
pub fn rename_registry(schema: &str, table: &str) -> String {
    format!("UPDATE {}.{} SET name = $2 WHERE name = $1", quote_ident(schema), quote_ident(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_every_identifier() {
        assert_eq!(create_schema("acme-corp"), r#"CREATE SCHEMA "acme-corp""#);
        assert_eq!(drop_schema("a"), r#"DROP SCHEMA "a" CASCADE"#);
        assert_eq!(rename_schema("a", "b"), r#"ALTER SCHEMA "a" RENAME TO "b""#);
        assert_eq!(
            begin_with_search_path(&["acme", "shared"], Some("acme"), false),
            r#"SELECT '"acme"'::regnamespace; BEGIN; SET LOCAL search_path TO "acme", "shared""#
        );
        assert_eq!(begin_with_search_path(&["public"], None, false), r#"BEGIN; SET LOCAL search_path TO "public""#);
        assert_eq!(
            begin_with_search_path(&["public"], None, true),
            r#"DEALLOCATE ALL; BEGIN; SET LOCAL search_path TO "public""#
        );
        assert_eq!(set_session_search_path(&["t"], Some("t")), r#"SET search_path TO "t"; SELECT '"t"'::regnamespace"#);
    }
}
