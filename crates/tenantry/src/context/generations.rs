//! Which cached statements a schema change made stale: a counter bumped for each announced
//! change (`crates/tenantry/src/announce/`), remembered per schema. A cached statement
//! prepared before the latest change to its schema (or before a change to every schema, such
//! as a shared migration or a lost listener) is prepared again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Shared by a pool's connections and its listener.
#[derive(Debug, Default)]
pub(crate) struct Generations {
    /// Bumped on every change; 0 while nothing was ever announced (the fast path).
    counter: AtomicU64,
    /// The counter at the last change that concerned every schema.
    everything: AtomicU64,
    by_schema: RwLock<HashMap<String, u64>>,
}

impl Generations {
    /// The generation a statement prepared now for `schema` belongs to.
    pub(crate) fn current(&self, schema: &str) -> u64 {
        if self.counter.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let everything = self.everything.load(Ordering::Acquire);
        let by_schema = self.by_schema.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        by_schema.get(schema).copied().unwrap_or(0).max(everything)
    }

    /// `schema` changed: its statements are stale.
    pub(crate) fn changed(&self, schema: &str) {
        let generation = self.counter.fetch_add(1, Ordering::AcqRel) + 1;
        self.by_schema.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(schema.to_owned(), generation);
    }

    /// Every schema may have changed: every statement is stale.
    pub(crate) fn everything_changed(&self) {
        let generation = self.counter.fetch_add(1, Ordering::AcqRel) + 1;
        self.everything.store(generation, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_makes_older_statements_of_its_schema_stale_only() {
        let generations = Generations::default();
        let (acme, globex) = (generations.current("acme"), generations.current("globex"));
        generations.changed("acme");
        assert!(generations.current("acme") > acme, "acme's older statements are stale");
        assert_eq!(generations.current("globex"), globex, "globex's are not");
        let after = generations.current("acme");
        generations.everything_changed();
        assert!(generations.current("acme") > after && generations.current("globex") > globex);
    }
}
