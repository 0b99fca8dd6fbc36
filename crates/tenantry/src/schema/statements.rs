//! Every SQL statement of the schema-per-tenant strategy, built from validated names through
//! [`quote_ident`] and [`quote_literal`] only.

use crate::sql::{quote_ident, quote_literal};

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

/// Which of the schemas named in `$1` (a `text[]`) exist: one index lookup per name.
pub const PRESENT_SCHEMAS: &str = "SELECT nspname::text FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])";

/// For each schema named in `$1` (a `text[]`) that exists: its name, whether it holds
/// tenantry's bookkeeping table, and the extensions installed in it
/// (`crates/tenantry/src/schema/membership.rs`). Index lookups only.
pub const SCHEMA_FACTS: &str = "SELECT n.nspname::text, \
     EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid \
     AND c.relname = 'tenantry_migrations'), \
     ARRAY(SELECT e.extname::text FROM pg_catalog.pg_extension e WHERE e.extnamespace = n.oid ORDER BY 1) \
     FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY($1::text[])";

/// Every schema holding tenantry's bookkeeping table: the tenants of the `schemas` source when
/// tenant names carry no prefix or suffix (`crates/tenantry/src/schema/membership.rs`). One
/// scan of the `(relname, relnamespace)` index of `pg_class` for the one name, whatever the
/// number of other schemas and tables. It reads only the index's columns, so PostgreSQL can
/// answer from the index alone: filtering on `relkind` too made it read 5,000 heap rows and
/// cost 4 times as much at 5,000 tenants (docs/tenants.md gives the timings).
pub const LIST_BOOKKEPT_SCHEMAS: &str = "SELECT n.nspname::text FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relname = 'tenantry_migrations' \
     AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1";

/// Every schema that could be a tenant's: not a system schema, not a temporary or toast one.
pub const LIST_CANDIDATE_SCHEMAS: &str = "SELECT nspname FROM pg_catalog.pg_namespace \
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname";

/// Class of the per-tenant existence locks (`"tn"` + 0x7404), next to the migrator's classes in
/// `crates/tenantry/src/migrate/lock.rs`: every tenant transaction (and session) holds its
/// tenant's lock shared; drop and rename take it exclusively, so a schema never disappears under
/// an open transaction (docs/context.md, "A tenant dropped or renamed while in use").
pub const EXISTENCE_LOCK_CLASS: i32 = 0x746e_7404;

/// The two-integer key of `schema`'s existence lock, as SQL arguments.
fn existence_lock_key(schema: &str) -> String {
    format!("{EXISTENCE_LOCK_CLASS}, pg_catalog.hashtext({})", quote_literal(schema))
}

/// Waits for `schema`'s existence lock in shared mode until the transaction ends.
pub fn existence_lock_shared_xact(schema: &str) -> String {
    format!("SELECT pg_catalog.pg_advisory_xact_lock_shared({})", existence_lock_key(schema))
}

/// Waits for `schema`'s existence lock in shared mode until it is released (or the session ends).
pub fn existence_lock_shared_session(schema: &str) -> String {
    format!("SELECT pg_catalog.pg_advisory_lock_shared({})", existence_lock_key(schema))
}

/// Waits for `schema`'s existence lock exclusively until the transaction ends (drop, rename).
pub fn existence_lock_exclusive_xact(schema: &str) -> String {
    format!("SELECT pg_catalog.pg_advisory_xact_lock({})", existence_lock_key(schema))
}

/// Undoes a role an earlier borrower set for the session, at the start of every transaction
/// ([`begin_with_search_path`]).
pub const RESET_ROLE: &str = "RESET ROLE; ";

/// What to clear on the connection before a tenant's work starts, in the same message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prelude {
    /// `DEALLOCATE ALL` (behind PgBouncer: see [`begin_with_search_path`]).
    pub deallocate_all: bool,
    /// `DISCARD TEMP`: the session may hold another tenant's temporary objects.
    pub discard_temp: bool,
}

impl Prelude {
    fn push_to(self, sql: &mut String) {
        if self.deallocate_all {
            sql.push_str("DEALLOCATE ALL; ");
        }
        if self.discard_temp {
            sql.push_str("DISCARD TEMP; ");
        }
    }
}

/// Who finds out that a guarded tenant schema is missing (see [`begin_with_search_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSchema {
    /// The caller reads the message's last row count ([`set_path_if_present`]) and rolls back:
    /// tenantry's own transactions.
    Counted,
    /// The server fails the message before `BEGIN` (`3F000`), and a schema that disappears
    /// while the lock was awaited leaves a path that resolves nothing: for callers that cannot
    /// read the rows of the `BEGIN` message (sqlx's `begin_with`).
    Fails,
}

/// The table a guarded tenant transaction locks to keep its schema in place: tenantry's
/// bookkeeping table, which every tenant the migrator made or migrated has
/// (`crates/tenantry/src/migrate/bookkeeping.rs`).
pub const ANCHOR_TABLE: &str = crate::migrate::bookkeeping::TABLE;

/// How a guarded tenant transaction keeps its schema from disappearing under it (see
/// [`begin_with_search_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard<'a> {
    /// Lock the schema's [`ANCHOR_TABLE`] in `ACCESS SHARE` mode before `BEGIN`: one utility
    /// statement. A missing schema fails the message with `3F000` before `BEGIN`; a schema
    /// without the table (or whose table the role may not read) with `42P01` (`42501`), and
    /// the caller then uses [`Guard::Advisory`].
    Anchor(&'a str),
    /// The schema's advisory existence lock, then a fresh read of `pg_namespace`.
    Advisory(&'a str, MissingSchema),
}

/// Opens a transaction whose search path is `path` (a [`quote_ident_list`](crate::sql::quote_ident_list)
/// ending in `pg_temp`), in one message.
///
/// With a `guard` (the tenant schema, when shared schemas follow it on the path), the message
/// also keeps that schema from falling through: PostgreSQL silently skips a missing schema on
/// the search path and would serve shared tables of the same name as the tenant's.
///
/// [`Guard::Anchor`] (the common case) locks the tenant's bookkeeping table for the whole
/// transaction: `LOCK TABLE ONLY "<schema>".tenantry_migrations IN ACCESS SHARE MODE; BEGIN;
/// SET LOCAL search_path TO …`. `DROP SCHEMA … CASCADE` must lock that table exclusively, so
/// it waits for the transaction (even a drop typed by hand), and tenantry's rename locks it
/// first ([`anchor_lock_exclusive_xact`]). Statements before `BEGIN` in one message run in an
/// implicit transaction that `BEGIN` turns into the explicit one, so the lock is held until
/// COMMIT or ROLLBACK; and a failed lock fails the message *before* `BEGIN`, leaving no
/// transaction block open. Taking a relation lock makes PostgreSQL process the catalog
/// invalidations that arrived meanwhile, and it looks the name up again after a wait: a drop
/// or rename that committed while the lock was awaited fails the message with `3F000`. It costs
/// one utility statement: 20 thousand server instructions, where [`Guard::Advisory`] costs
/// 166 thousand (docs/benchmarks.md, "What the guard costs").
///
/// [`Guard::Advisory`], for schemas without the table:
/// - The tenant's existence lock, shared, for the whole transaction: drop and rename wait for
///   it ([`existence_lock_exclusive_xact`]).
/// - After the lock, the path is set by [`set_path_if_present`], a fresh read of
///   `pg_namespace`: a drop or rename that committed while this transaction waited for the lock
///   leaves no row, and the path is not set.
/// - With [`MissingSchema::Fails`], `SELECT '<schema>'::regnamespace` first fails with SQLSTATE
///   `3F000` (`invalid_schema_name`) when the schema is missing. It comes *before* `BEGIN`, so
///   when it fails no transaction block is left open: sqlx returns a connection whose
///   `begin_with` failed straight to its pool, and an aborted transaction there would fail the
///   next borrower's statements with `25P02` (found by
///   `tests/sqlx.rs::sqlx_transaction_never_falls_through_from_a_missing_schema`). And a
///   `SET LOCAL` to the tenant schema alone comes before the fresh read, so a schema gone by
///   then leaves a path that resolves nothing (`42P01`). The cast alone would not do: it reads
///   a catalog cache that may predate the lock wait (docs/context.md).
///
/// Every transaction then starts with `RESET ROLE`: a `SET ROLE` (or `set_config('role', …,
/// false)`) that an earlier borrower of the connection ran for the session would otherwise
/// make this transaction run as that role, and an application whose row-level security keys on
/// the role would serve that tenant's rows. It is part of the transaction (a rollback restores
/// the role until the next transaction resets it again) and costs 9 thousand server
/// instructions (docs/benchmarks.md, "What the guard costs").
///
/// The [`Prelude`] comes first: `DEALLOCATE ALL` behind PgBouncer in transaction pooling (a
/// query cancelled between Parse and ParseComplete leaves its named statement on whichever
/// server connection PgBouncer lent, where it would collide with the next client's statement of
/// the same name), and `DISCARD TEMP` when the session may hold another tenant's temporary
/// objects. `DISCARD TEMP` is part of the transaction: if it rolls back, so does the discard.
pub fn begin_with_search_path(path: &str, guard: Option<Guard<'_>>, prelude: Prelude) -> String {
    let mut sql = String::new();
    prelude.push_to(&mut sql);
    sql.push_str(RESET_ROLE);
    match guard {
        None => sql.push_str(&format!("BEGIN; SET LOCAL search_path TO {path}")),
        Some(Guard::Anchor(schema)) => sql.push_str(&format!(
            "LOCK TABLE ONLY {}.{ANCHOR_TABLE} IN ACCESS SHARE MODE; BEGIN; SET LOCAL search_path TO {path}",
            quote_ident(schema)
        )),
        Some(Guard::Advisory(schema, missing)) => {
            if missing == MissingSchema::Fails {
                sql.push_str(&format!("SELECT {}::regnamespace; ", quote_literal(&quote_ident(schema))));
            }
            sql.push_str(&existence_lock_shared_xact(schema));
            sql.push_str("; BEGIN; ");
            if missing == MissingSchema::Fails {
                sql.push_str(&format!("SET LOCAL search_path TO {}, pg_temp; ", quote_ident(schema)));
            }
            sql.push_str(&set_path_if_present(path, schema, true));
        }
    }
    sql
}

/// Locks `schema`'s [`ANCHOR_TABLE`] exclusively until the transaction ends, if the schema has
/// one (drop, rename: after [`existence_lock_exclusive_xact`], which keeps the migrator from
/// creating the table meanwhile). One `DO` statement, its body a single-quoted literal.
pub fn anchor_lock_exclusive_xact(schema: &str) -> String {
    let table = format!("{}.{ANCHOR_TABLE}", quote_ident(schema));
    let body = format!(
        "BEGIN IF pg_catalog.to_regclass({table_literal}) IS NOT NULL THEN \
         LOCK TABLE ONLY {table} IN ACCESS EXCLUSIVE MODE; END IF; END",
        table_literal = quote_literal(&table),
    );
    format!("DO {}", quote_literal(&body))
}

/// Sets the search path to `path` if `schema` exists in a fresh read of `pg_namespace` (a new
/// statement sees what committed before it started), leaving it as it was otherwise. Its row
/// count (1 or 0) says which. `local`: for the current transaction only.
pub fn set_path_if_present(path: &str, schema: &str, local: bool) -> String {
    format!(
        "SELECT pg_catalog.set_config('search_path', {}, {local}) FROM pg_catalog.pg_namespace WHERE nspname = {}",
        quote_literal(path),
        quote_literal(schema),
    )
}

/// Changes the search path for the rest of the current transaction.
pub fn set_local_search_path(path: &str, prelude: Prelude) -> String {
    let mut sql = String::new();
    prelude.push_to(&mut sql);
    sql.push_str(&format!("SET LOCAL search_path TO {path}"));
    sql
}

/// Sets the session's search path to `path`, in one message (an implicit transaction). With
/// `guard`, as [`begin_with_search_path`] with [`MissingSchema::Counted`]: the existence lock is
/// taken for the session (until the session is reset: [`RESET_SESSION`]) and the path set after
/// it only if the schema is present.
pub fn set_session_search_path(path: &str, guard: Option<&str>, prelude: Prelude) -> String {
    let mut sql = String::new();
    prelude.push_to(&mut sql);
    match guard {
        None => sql.push_str(&format!("SET search_path TO {path}")),
        Some(schema) => sql.push_str(&format!(
            "{}; {}",
            existence_lock_shared_session(schema),
            set_path_if_present(path, schema, false)
        )),
    }
    sql
}

/// Returns a session to the state of a new connection, except for the protocol-level prepared
/// statements of tenantry's cache and tokio-postgres's type lookups (which `DISCARD ALL` would
/// drop): ends any transaction the session's user left open, then everything `DISCARD ALL`
/// resets (settings, role and session authorization, cursors, `LISTEN`s, advisory locks,
/// temporary objects, sequence state, SQL-level `PREPARE`d statements). Whatever session mode's
/// user ran, in whatever form (`DO … EXECUTE 'SET …'`, `set_config(…, false)` in a function,
/// `SET ROLE`), nothing of it reaches the connection's next borrower.
pub const RESET_SESSION: &str = "ROLLBACK; SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL; CLOSE ALL; \
     UNLISTEN *; SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES; \
     DO $tenantry$ DECLARE prepared text; BEGIN \
     FOR prepared IN SELECT name FROM pg_catalog.pg_prepared_statements WHERE from_sql LOOP \
     EXECUTE pg_catalog.format('DEALLOCATE %I', prepared); END LOOP; END $tenantry$";

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
        let full = r#""acme", "shared", pg_temp"#;
        let anchored = begin_with_search_path(full, Some(Guard::Anchor("acme")), Prelude::default());
        assert_eq!(
            anchored,
            r#"RESET ROLE; LOCK TABLE ONLY "acme".tenantry_migrations IN ACCESS SHARE MODE; BEGIN; SET LOCAL search_path TO "acme", "shared", pg_temp"#
        );
        let counted =
            begin_with_search_path(full, Some(Guard::Advisory("acme", MissingSchema::Counted)), Prelude::default());
        assert_eq!(
            counted,
            format!(
                "RESET ROLE; SELECT pg_catalog.pg_advisory_xact_lock_shared({EXISTENCE_LOCK_CLASS}, pg_catalog.hashtext('acme')); BEGIN; \
                 SELECT pg_catalog.set_config('search_path', '\"acme\", \"shared\", pg_temp', true) \
                 FROM pg_catalog.pg_namespace WHERE nspname = 'acme'"
            )
        );
        let fails =
            begin_with_search_path(full, Some(Guard::Advisory("acme", MissingSchema::Fails)), Prelude::default());
        assert!(fails.starts_with(
            r#"RESET ROLE; SELECT '"acme"'::regnamespace; SELECT pg_catalog.pg_advisory_xact_lock_shared("#
        ));
        assert!(fails.contains(r#"; BEGIN; SET LOCAL search_path TO "acme", pg_temp; SELECT pg_catalog.set_config("#));
        assert_eq!(
            begin_with_search_path(r#""public", pg_temp"#, None, Prelude::default()),
            r#"RESET ROLE; BEGIN; SET LOCAL search_path TO "public", pg_temp"#
        );
        assert_eq!(
            begin_with_search_path("\"public\"", None, Prelude { deallocate_all: true, discard_temp: true }),
            r#"DEALLOCATE ALL; DISCARD TEMP; RESET ROLE; BEGIN; SET LOCAL search_path TO "public""#
        );
        assert_eq!(
            anchor_lock_exclusive_xact("it's"),
            r#"DO 'BEGIN IF pg_catalog.to_regclass(''"it''''s".tenantry_migrations'') IS NOT NULL THEN LOCK TABLE ONLY "it''s".tenantry_migrations IN ACCESS EXCLUSIVE MODE; END IF; END'"#
        );
        assert_eq!(set_session_search_path("\"t\"", None, Prelude::default()), r#"SET search_path TO "t""#);
    }

    #[test]
    fn hostile_schema_names_stay_literals() {
        let sql = set_path_if_present("\"x\"", "x'); DROP TABLE t; --", true);
        assert!(sql.contains("nspname = 'x''); DROP TABLE t; --'"), "{sql}");
        assert!(existence_lock_exclusive_xact("it's").ends_with("pg_catalog.hashtext('it''s'))"));
    }
}
