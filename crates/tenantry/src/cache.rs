//! The known-tenants cache: existence checks without a query per request.
//!
//! A name in the cache is known. A name missing from it reloads the cache at most once per
//! `miss_refresh_interval`, so a flood of unknown names (hostile hosts) costs at most one query
//! per interval. The whole cache is reloaded when older than its TTL. Reloads are single-flight.

use std::collections::HashSet;
use std::future::Future;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::name::TenantName;

/// A cached set of existing tenants.
#[derive(Debug)]
pub struct TenantCache {
    state: RwLock<CacheState>,
    reload: tokio::sync::Mutex<()>,
    ttl: Duration,
    miss_refresh_interval: Duration,
}

#[derive(Debug, Default)]
struct CacheState {
    tenants: HashSet<TenantName>,
    loaded_at: Option<Instant>,
}

impl TenantCache {
    /// An empty cache trusted for `ttl`, reloading on a miss at most every `miss_refresh_interval`.
    pub fn new(ttl: Duration, miss_refresh_interval: Duration) -> Self {
        Self { state: RwLock::default(), reload: tokio::sync::Mutex::new(()), ttl, miss_refresh_interval }
    }

    /// Whether `tenant` exists, reloading through `load` when the cache is stale, or on a miss
    /// when the last reload is older than the miss interval.
    ///
    /// # Errors
    /// The error of `load`.
    pub async fn contains<F, Fut>(&self, tenant: &TenantName, load: F) -> Result<bool, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<TenantName>, Error>>,
    {
        let (known, age) = self.peek(tenant);
        let stale = age.is_none_or(|age| age >= self.ttl);
        if known && !stale {
            return Ok(true);
        }
        if !stale && age.is_some_and(|age| age < self.miss_refresh_interval) {
            return Ok(false);
        }
        let _single_flight = self.reload.lock().await;
        // Another task may have reloaded while this one waited.
        let (known, age) = self.peek(tenant);
        if age.is_some_and(|age| age < self.miss_refresh_interval.min(self.ttl)) {
            return Ok(known);
        }
        let tenants = load().await?;
        self.replace(tenants);
        Ok(self.peek(tenant).0)
    }

    /// Replaces the cached set with `tenants`.
    pub fn replace(&self, tenants: impl IntoIterator<Item = TenantName>) {
        let mut state = self.write();
        state.tenants = tenants.into_iter().collect();
        state.loaded_at = Some(Instant::now());
    }

    /// Records that `tenant` now exists.
    pub fn insert(&self, tenant: TenantName) {
        self.write().tenants.insert(tenant);
    }

    /// Records that `tenant` no longer exists.
    pub fn remove(&self, tenant: &TenantName) {
        self.write().tenants.remove(tenant);
    }

    /// Forgets everything: the next lookup reloads.
    pub fn invalidate(&self) {
        let mut state = self.write();
        state.tenants.clear();
        state.loaded_at = None;
    }

    /// How many tenants are cached.
    pub fn len(&self) -> usize {
        self.read().tenants.len()
    }

    /// Whether the cache holds no tenant.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn peek(&self, tenant: &TenantName) -> (bool, Option<Duration>) {
        let state = self.read();
        (state.tenants.contains(tenant), state.loaded_at.map(|at| at.elapsed()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        // The lock is never held across a panic-prone call; recover the data if poisoned.
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::NamingRules;

    fn tenant(name: &str) -> TenantName {
        NamingRules::default().parse(name).expect("valid")
    }

    #[tokio::test]
    async fn misses_reload_at_most_once_per_interval() {
        let cache = TenantCache::new(Duration::from_secs(60), Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![tenant("acme")])
        };
        assert!(cache.contains(&tenant("acme"), load).await.expect("loads"));
        for _ in 0..100 {
            assert!(!cache.contains(&tenant("unknown"), load).await.expect("no load"));
        }
        assert!(cache.contains(&tenant("acme"), load).await.expect("cached"));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_miss_after_the_interval_reloads_and_finds_new_tenants() {
        let cache = TenantCache::new(Duration::from_secs(60), Duration::ZERO);
        cache.replace([tenant("acme")]);
        let found = cache.contains(&tenant("globex"), || async { Ok(vec![tenant("acme"), tenant("globex")]) }).await;
        assert!(found.expect("reloads"));
    }

    #[tokio::test]
    async fn stale_caches_reload_even_for_known_names() {
        let cache = TenantCache::new(Duration::ZERO, Duration::ZERO);
        cache.replace([tenant("acme")]);
        let found = cache.contains(&tenant("acme"), || async { Ok(vec![]) }).await;
        assert!(!found.expect("reloads"), "acme was dropped elsewhere; the reload must notice");
    }

    #[tokio::test]
    async fn insert_and_remove_take_effect_without_reload() {
        let cache = TenantCache::new(Duration::from_secs(60), Duration::from_secs(60));
        cache.replace([]);
        cache.insert(tenant("acme"));
        let never = || async { Err(Error::MissingDatabaseUrl) };
        assert!(cache.contains(&tenant("acme"), never).await.expect("cached"));
        cache.remove(&tenant("acme"));
        assert!(!cache.contains(&tenant("acme"), never).await.expect("cached miss"));
    }
}
