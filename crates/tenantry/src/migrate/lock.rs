//! Advisory locks: one per run, one per schema.
//!
//! No global lock that every worker queues on (apartment's deadlock, and its "disable advisory
//! locks" workaround). Instead:
//! - **the run lock**, held on the coordinator's own connection for the whole run, so two
//!   deploys running `migrate` at once cannot interleave: the second waits (or, with
//!   `no_wait`, stops with [`Error::MigrationRunLocked`](crate::Error::MigrationRunLocked));
//! - **a tenant lock** per schema, taken inside the schema's transaction
//!   (`pg_advisory_xact_lock`, released by COMMIT or ROLLBACK whatever happens), and by tenant
//!   creation, so a schema being created or migrated elsewhere is never migrated twice; it
//!   obeys `lock_timeout`, so a worker never waits on it forever.
//!
//! Keys use the two-integer form: a class for tenantry's run lock, another for tenant locks
//! keyed by `hashtext(schema)`, so they cannot collide with each other or with sqlx's
//! single-key migration lock.

use crate::sql::quote_literal;

/// Class of the run lock (`"tn"` + 0x7402).
pub const RUN_LOCK_CLASS: i32 = 0x746e_7402;
/// Class of the per-schema locks (`"tn"` + 0x7401).
pub const TENANT_LOCK_CLASS: i32 = 0x746e_7401;

/// Takes the run lock if free: returns one boolean row.
pub const TRY_RUN_LOCK_SQL: &str = "SELECT pg_try_advisory_lock(1953395714, 0)";
/// Waits for the run lock.
pub const RUN_LOCK_SQL: &str = "SELECT pg_advisory_lock(1953395714, 0)";
/// Releases the run lock.
pub const RUN_UNLOCK_SQL: &str = "SELECT pg_advisory_unlock(1953395714, 0)";

/// The schema's lock for the rest of the current transaction.
pub fn tenant_xact_lock_sql(schema: &str) -> String {
    format!("SELECT pg_advisory_xact_lock({TENANT_LOCK_CLASS}, hashtext({}))", quote_literal(schema))
}

/// The schema's lock for the session (no-transaction migrations).
pub fn tenant_session_lock_sql(schema: &str) -> String {
    format!("SELECT pg_advisory_lock({TENANT_LOCK_CLASS}, hashtext({}))", quote_literal(schema))
}

/// Releases [`tenant_session_lock_sql`].
pub fn tenant_session_unlock_sql(schema: &str) -> String {
    format!("SELECT pg_advisory_unlock({TENANT_LOCK_CLASS}, hashtext({}))", quote_literal(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_constants_use_the_classes() {
        assert!(TRY_RUN_LOCK_SQL.contains(&RUN_LOCK_CLASS.to_string()));
        assert!(RUN_LOCK_SQL.contains(&RUN_LOCK_CLASS.to_string()));
        assert!(RUN_UNLOCK_SQL.contains(&RUN_LOCK_CLASS.to_string()));
        assert_eq!(
            tenant_xact_lock_sql("it's"),
            format!("SELECT pg_advisory_xact_lock({TENANT_LOCK_CLASS}, hashtext('it''s'))")
        );
    }
}
