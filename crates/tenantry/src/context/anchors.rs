//! Which tenant schemas have no anchor: no bookkeeping table the application's role may lock.
//!
//! A guarded tenant transaction (shared schemas after the tenant) locks its tenant's bookkeeping
//! table, `tenantry_migrations`, in `ACCESS SHARE` mode (`crates/tenantry/src/schema/statements.rs`,
//! [`Guard::Anchor`](crate::schema::statements::Guard::Anchor)). A schema without that table
//! (made by [`Tenantry::create`](crate::Tenantry::create) without the migrator, or by hand), or
//! whose table the application's role may not read, refuses the lock; its transactions then use
//! the advisory guard. That refusal is remembered here per schema, until the next announced
//! change to the schema (a migration may have created the table: `crates/tenantry/src/announce/`),
//! so it costs one extra round trip per schema and process, not one per transaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::generations::Generations;

/// Shared by a pool's connections and tenantry's sqlx transactions.
#[derive(Debug)]
pub(crate) struct Anchors {
    generations: Arc<Generations>,
    /// False while no schema was ever found without an anchor (the fast path).
    any_missing: AtomicBool,
    /// Schema → its generation when its anchor was refused.
    missing: RwLock<HashMap<String, u64>>,
}

impl Anchors {
    pub(crate) fn new(generations: Arc<Generations>) -> Self {
        Self { generations, any_missing: AtomicBool::new(false), missing: RwLock::new(HashMap::new()) }
    }

    /// Whether transactions in `schema` should lock its anchor (else the advisory guard).
    pub(crate) fn usable(&self, schema: &str) -> bool {
        if !self.any_missing.load(Ordering::Acquire) {
            return true;
        }
        let missing = self.missing.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        missing.get(schema).is_none_or(|&at| at != self.generations.current(schema))
    }

    /// `schema` refused its anchor (`42P01`: no table; `42501`: not readable by this role).
    pub(crate) fn refused(&self, schema: &str) {
        let at = self.generations.current(schema);
        self.missing.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(schema.to_owned(), at);
        self.any_missing.store(true, Ordering::Release);
    }
}

/// Whether an error of a guarded `BEGIN` message means the anchor could not be locked while
/// the schema exists: the table is missing (`42P01`), or the role may not read it (`42501`).
pub(crate) fn is_refusal(sqlstate: Option<&str>) -> bool {
    matches!(sqlstate, Some("42P01" | "42501"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_anchor_is_retried_after_the_next_change_to_its_schema() {
        let generations = Arc::new(Generations::default());
        let anchors = Anchors::new(Arc::clone(&generations));
        assert!(anchors.usable("acme"));
        anchors.refused("acme");
        assert!(!anchors.usable("acme"), "remembered");
        assert!(anchors.usable("globex"), "only for its schema");
        generations.changed("globex");
        assert!(!anchors.usable("acme"), "another schema's change does not count");
        generations.changed("acme");
        assert!(anchors.usable("acme"), "a migration may have created the table");
        anchors.refused("acme");
        generations.everything_changed();
        assert!(anchors.usable("acme"));
    }

    #[test]
    fn only_a_missing_or_unreadable_table_is_a_refusal() {
        assert!(is_refusal(Some("42P01")) && is_refusal(Some("42501")));
        assert!(!is_refusal(Some("3F000")) && !is_refusal(Some("55P03")) && !is_refusal(None));
    }
}
