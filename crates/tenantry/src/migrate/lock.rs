//! Advisory locks: one per run, one per schema, and the two no-transaction locks.
//!
//! No global lock that every worker queues on (apartment's deadlock, and its "disable advisory
//! locks" workaround). Instead:
//! - **the run lock**, held on the coordinator's own connection for the whole run, so two
//!   deploys running `migrate` at once cannot interleave: the second waits (or, with
//!   `no_wait`, stops with [`Error::MigrationRunLocked`](crate::Error::MigrationRunLocked));
//! - **a tenant lock** per schema, taken inside the schema's transaction
//!   (`pg_advisory_xact_lock`, released by COMMIT or ROLLBACK whatever happens), and by tenant
//!   creation, so a schema being created or migrated elsewhere is never migrated twice; it
//!   obeys `lock_timeout`, so a worker never waits on it forever;
//! - **the no-transaction locks** (class [`NO_TX_LOCK_CLASS`]), database-wide. A
//!   `CREATE INDEX CONCURRENTLY` waits for every transaction of the database that holds an
//!   older snapshot, other tenants' migrations and other builds included (issue 9). Every
//!   migration and creating transaction, and every no-transaction step, holds **the running
//!   lock** (key 0) shared; a step whose build timed out beside them runs again *alone*, holding
//!   it exclusively. **The alone lock** (key 1) is held exclusively by the step about to run
//!   alone, and checked by everyone else before taking the running lock, so that those in
//!   flight drain and no new ones start. These locks are only ever *tried*, never waited on: a
//!   session blocked in a lock wait holds a snapshot, which the running index build would wait
//!   for in turn (see `crates/tenantry/src/migrate/gate.rs` and docs/migrations.md).
//!
//! Keys use the two-integer form: a class for tenantry's run lock, another for tenant locks
//! keyed by `hashtext(schema)`, a third for the no-transaction locks, so they cannot collide
//! with each other or with sqlx's single-key migration lock.

use crate::sql::quote_literal;

/// Class of the run lock (`"tn"` + 0x7402).
pub const RUN_LOCK_CLASS: i32 = 0x746e_7402;
/// Class of the per-schema locks (`"tn"` + 0x7401).
pub const TENANT_LOCK_CLASS: i32 = 0x746e_7401;

/// Class of the no-transaction running (key 0) and alone (key 1) locks (`"tn"` + 0x7403).
pub const NO_TX_LOCK_CLASS: i32 = 0x746e_7403;

/// The SQLSTATE raised when a no-transaction lock is taken: the transaction rolls back at once
/// (or the step waits), and is tried again a little later.
pub const NO_TX_BUSY_SQLSTATE: &str = "TN002";

/// Takes the running lock shared for the current transaction, if no step runs alone or is about
/// to; raises [`NO_TX_BUSY_SQLSTATE`] otherwise, without waiting. First in every migration and
/// creating transaction.
pub const NO_TX_SHARED_SQL: &str = "DO $tenantry$ BEGIN \
     IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(1953395715, 1) \
     OR NOT pg_catalog.pg_try_advisory_xact_lock_shared(1953395715, 0) THEN \
     RAISE EXCEPTION 'tenantry: a no-transaction migration is running alone in this database' \
     USING ERRCODE = 'TN002', HINT = 'tenantry tries again when it is done'; END IF; END $tenantry$";
/// The same for a no-transaction step's session: holds the running lock shared (only) on
/// success, nothing on failure.
pub const NO_TX_STEP_SHARED_SQL: &str = "DO $tenantry$ BEGIN \
     IF NOT pg_catalog.pg_try_advisory_lock_shared(1953395715, 1) THEN \
     RAISE EXCEPTION 'tenantry: a no-transaction migration is running alone in this database' USING ERRCODE = 'TN002'; \
     END IF; \
     IF NOT pg_catalog.pg_try_advisory_lock_shared(1953395715, 0) THEN \
     PERFORM pg_catalog.pg_advisory_unlock_shared(1953395715, 1); \
     RAISE EXCEPTION 'tenantry: a no-transaction migration is running alone in this database' USING ERRCODE = 'TN002'; \
     END IF; \
     PERFORM pg_catalog.pg_advisory_unlock_shared(1953395715, 1); END $tenantry$";
/// Releases [`NO_TX_STEP_SHARED_SQL`].
pub const NO_TX_STEP_SHARED_UNLOCK_SQL: &str = "SELECT pg_catalog.pg_advisory_unlock_shared(1953395715, 0)";
/// Takes the alone lock for the session, or raises [`NO_TX_BUSY_SQLSTATE`] when another step
/// runs alone or is about to.
pub const NO_TX_ALONE_INTENT_SQL: &str = "DO $tenantry$ BEGIN IF NOT pg_catalog.pg_try_advisory_lock(1953395715, 1) \
     THEN RAISE EXCEPTION 'tenantry: another no-transaction migration is running alone in this database' \
     USING ERRCODE = 'TN002'; END IF; END $tenantry$";
/// With the alone lock held: takes the running lock exclusively for the session, or raises
/// [`NO_TX_BUSY_SQLSTATE`] while transactions and steps are still running.
pub const NO_TX_ALONE_SQL: &str = "DO $tenantry$ BEGIN IF NOT pg_catalog.pg_try_advisory_lock(1953395715, 0) \
     THEN RAISE EXCEPTION 'tenantry: migrations are still running in this database' \
     USING ERRCODE = 'TN002'; END IF; END $tenantry$";
/// Releases the alone lock.
pub const NO_TX_ALONE_INTENT_UNLOCK_SQL: &str = "SELECT pg_catalog.pg_advisory_unlock(1953395715, 1)";
/// Releases the running lock (exclusive) and the alone lock.
pub const NO_TX_ALONE_UNLOCK_SQL: &str =
    "SELECT pg_catalog.pg_advisory_unlock(1953395715, 0); SELECT pg_catalog.pg_advisory_unlock(1953395715, 1)";

/// Takes the run lock if free: returns one boolean row.
pub const TRY_RUN_LOCK_SQL: &str = "SELECT pg_try_advisory_lock(1953395714, 0)";
/// Waits for the run lock. tenantry itself polls [`TRY_RUN_LOCK_SQL`] instead: a session
/// blocked in this wait holds a snapshot, which a `CREATE INDEX CONCURRENTLY` of the run that
/// holds the lock would wait for, until its `lock_timeout` (issue 9).
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
        let class = NO_TX_LOCK_CLASS.to_string();
        for sql in [
            NO_TX_SHARED_SQL,
            NO_TX_STEP_SHARED_SQL,
            NO_TX_STEP_SHARED_UNLOCK_SQL,
            NO_TX_ALONE_INTENT_SQL,
            NO_TX_ALONE_SQL,
            NO_TX_ALONE_INTENT_UNLOCK_SQL,
            NO_TX_ALONE_UNLOCK_SQL,
        ] {
            assert!(sql.contains(&class), "{sql}");
        }
        for sql in [NO_TX_SHARED_SQL, NO_TX_STEP_SHARED_SQL, NO_TX_ALONE_INTENT_SQL, NO_TX_ALONE_SQL] {
            assert!(sql.contains(&format!("'{NO_TX_BUSY_SQLSTATE}'")), "{sql}");
        }
        assert_eq!(
            tenant_xact_lock_sql("it's"),
            format!("SELECT pg_advisory_xact_lock({TENANT_LOCK_CLASS}, hashtext('it''s'))")
        );
    }
}
