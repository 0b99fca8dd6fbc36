//! [`Cached`]: hosts looked up in a registry (a database table of custom domains), through a
//! cache with a TTL and negative caching, so a request does not cost a query to find its
//! tenant.

use std::future::{ready, Future, Ready};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, Either};
use futures_util::FutureExt;
use http::request::Parts;
use lru::LruCache;
use tokio::sync::OnceCell;

use super::host::{HostSource, RequestHost};
use super::resolution::{Resolution, Resolve};
use crate::error::{BoxError, Error};
use crate::forwarded::TrustedProxies;

/// Finds the tenant of a host in a registry: `Ok(Some(tenant))`, `Ok(None)` when the host is
/// not registered, or an error. Any
/// `Fn(String) -> impl Future<Output = Result<Option<String>, BoxError>>` is one.
pub trait Lookup: Send + Sync + 'static {
    /// Looks `host` up (normalised: lowercase, no port, no trailing dot).
    fn lookup(&self, host: String) -> BoxFuture<'static, Result<Option<String>, BoxError>>;
}

impl<F, Fut> Lookup for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<String>, BoxError>> + Send + 'static,
{
    fn lookup(&self, host: String) -> BoxFuture<'static, Result<Option<String>, BoxError>> {
        self(host).boxed()
    }
}

/// A host → tenant lookup through a cache.
///
/// - A host found is remembered for `ttl` (default 60 s), a host not found for `negative_ttl`
///   (default 5 s): a request whose host was seen lately costs no query, found or not.
/// - Concurrent requests for a host not in the cache share one lookup.
/// - At most `capacity` hosts (default 10,000) are kept, least recently used dropped first,
///   so a flood of made-up hosts cannot grow memory without bound. Each distinct made-up host
///   still costs one lookup; hosts that fail [`normalise`](super::normalise) and IP addresses
///   never reach it.
/// - A failed lookup is not cached: the request gets `503` and the next one tries again.
///
/// | host | registry says | resolution |
/// |---|---|---|
/// | `shop.acme.com` | `acme` | `acme` (cached for `ttl`) |
/// | `unknown.com` | nothing | unmapped: `404` (cached for `negative_ttl`) |
/// | `127.0.0.1` | (not asked) | none |
/// | `a"b.com` | (not asked) | rejected: `400` |
/// | any | error | rejected: `503` |
///
/// ```no_run
/// use tenantry_tower::resolve::Cached;
///
/// # fn f(tenantry: tenantry::Tenantry) {
/// let domains = Cached::new(move |host: String| {
///     let tenantry = tenantry.clone();
///     async move {
///         let mut tx = tenantry.transaction_in(None).await?;
///         let row = tx.query_opt("SELECT tenant FROM domains WHERE host = $1", &[&host]).await?;
///         tx.commit().await?;
///         Ok(row.map(|row| row.get::<_, String>(0)))
///     }
/// });
/// # let _ = domains; }
/// ```
pub struct Cached<L> {
    shared: Arc<Shared<L>>,
    source: HostSource,
}

struct Shared<L> {
    lookup: L,
    entries: Mutex<LruCache<String, Arc<Slot>>>,
    ttl: Duration,
    negative_ttl: Duration,
}

#[derive(Default)]
struct Slot {
    cell: OnceCell<(Option<String>, Instant)>,
}

impl Slot {
    /// The cached answer if there is one and it has not expired.
    fn fresh(&self, ttl: Duration, negative_ttl: Duration) -> Option<Option<String>> {
        let (tenant, at) = self.cell.get()?;
        let limit = if tenant.is_some() { ttl } else { negative_ttl };
        (at.elapsed() < limit).then(|| tenant.clone())
    }

    fn expired(&self, ttl: Duration, negative_ttl: Duration) -> bool {
        self.cell.initialized() && self.fresh(ttl, negative_ttl).is_none()
    }
}

const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(10_000) {
    Some(capacity) => capacity,
    None => NonZeroUsize::MIN,
};

impl<L: Lookup> Cached<L> {
    /// Looks hosts up with `lookup`; TTL 60 s, negative TTL 5 s, 10,000 hosts.
    pub fn new(lookup: L) -> Self {
        Self::with_options(lookup, Duration::from_secs(60), Duration::from_secs(5), DEFAULT_CAPACITY)
    }

    /// Looks hosts up with `lookup`, remembering found hosts for `ttl`, missing ones for
    /// `negative_ttl`, at most `capacity` hosts.
    pub fn with_options(lookup: L, ttl: Duration, negative_ttl: Duration, capacity: NonZeroUsize) -> Self {
        Self {
            shared: Arc::new(Shared { lookup, entries: Mutex::new(LruCache::new(capacity)), ttl, negative_ttl }),
            source: HostSource::direct(),
        }
    }

    /// Reads the forwarded host from trusted proxies (see [`TrustedProxies`]).
    #[must_use]
    pub fn trust_forwarded(mut self, proxies: TrustedProxies) -> Self {
        self.source = HostSource::forwarded(proxies);
        self
    }

    /// Forgets `host` (normalised the same way as requests): call it after changing the
    /// registry so the change is seen at once.
    pub fn invalidate(&self, host: &str) {
        if let Ok(RequestHost::Name(host)) = super::normalise(host) {
            self.shared.entries().pop(&host);
        }
    }

    /// Forgets every host.
    pub fn clear(&self) {
        self.shared.entries().clear();
    }
}

impl<L> Shared<L> {
    fn entries(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<Slot>>> {
        // Never held across a call that can panic; recover the data if poisoned anyway.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer for `host`, or the slot to fill.
    fn slot(&self, host: &str) -> Result<Option<String>, Arc<Slot>> {
        let mut entries = self.entries();
        if let Some(slot) = entries.get(host) {
            if let Some(answer) = slot.fresh(self.ttl, self.negative_ttl) {
                return Ok(answer);
            }
            if !slot.expired(self.ttl, self.negative_ttl) {
                // A lookup is in flight: share it.
                return Err(slot.clone());
            }
        }
        let slot = Arc::new(Slot::default());
        entries.put(host.to_owned(), slot.clone());
        Err(slot)
    }
}

impl<L: Lookup> Shared<L> {
    async fn fill(&self, slot: Arc<Slot>, host: String) -> Result<Option<String>, BoxError> {
        let (tenant, _) = slot
            .cell
            .get_or_try_init(|| async {
                let tenant = self.lookup.lookup(host).await?;
                Ok::<_, BoxError>((tenant, Instant::now()))
            })
            .await?;
        Ok(tenant.clone())
    }
}

fn answer(tenant: Option<String>) -> Resolution {
    tenant.map_or(Resolution::Unmapped, Resolution::tenant)
}

impl<L: Lookup> Resolve for Cached<L> {
    type Future = Either<Ready<Resolution>, BoxFuture<'static, Resolution>>;

    fn resolve(&self, parts: &Parts) -> Self::Future {
        let host = match self.source.host(parts) {
            Ok(RequestHost::Name(host)) => host,
            Ok(RequestHost::Ip(_)) => return Either::Left(ready(Resolution::NoTenant)),
            Err(problem) => {
                return Either::Left(ready(Resolution::Rejected(Error::Malformed { part: "host", problem })))
            }
        };
        match self.shared.slot(&host) {
            Ok(tenant) => Either::Left(ready(answer(tenant))),
            Err(slot) => {
                let shared = self.shared.clone();
                Either::Right(
                    async move {
                        match shared.fill(slot, host).await {
                            Ok(tenant) => answer(tenant),
                            Err(source) => Resolution::Rejected(Error::Lookup { source }),
                        }
                    }
                    .boxed(),
                )
            }
        }
    }
}

impl<L> Clone for Cached<L> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone(), source: self.source.clone() }
    }
}

impl<L> std::fmt::Debug for Cached<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("ttl", &self.shared.ttl)
            .field("negative_ttl", &self.shared.negative_ttl)
            .field("cached_hosts", &self.shared.entries().len())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::resolve::testing::describe;

    fn registry(calls: Arc<AtomicUsize>) -> impl Lookup {
        move |host: String| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                match host.as_str() {
                    "shop.acme.com" => Ok(Some("acme".to_owned())),
                    "broken.com" => Err("registry down".into()),
                    _ => Ok(None),
                }
            }
        }
    }

    async fn outcome(resolver: &impl Resolve, host: &str) -> String {
        let (parts, ()) = http::Request::get("/").header("host", host).body(()).expect("request").into_parts();
        describe(resolver.resolve(&parts).await)
    }

    #[tokio::test]
    async fn documented_table_and_caching() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cached = Cached::new(registry(calls.clone()));
        assert_eq!(outcome(&cached, "shop.acme.com").await, "acme");
        assert_eq!(outcome(&cached, "SHOP.acme.com:443").await, "acme");
        assert_eq!(outcome(&cached, "unknown.com").await, "unmapped");
        assert_eq!(outcome(&cached, "unknown.com").await, "unmapped");
        assert_eq!(outcome(&cached, "127.0.0.1").await, "-");
        assert_eq!(outcome(&cached, "a\"b.com").await, "rejected");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one lookup per distinct host");
        assert_eq!(outcome(&cached, "broken.com").await, "rejected");
        assert_eq!(outcome(&cached, "broken.com").await, "rejected");
        assert_eq!(calls.load(Ordering::SeqCst), 4, "failures are not cached");
        cached.invalidate("Shop.Acme.com.");
        assert_eq!(outcome(&cached, "shop.acme.com").await, "acme");
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_lookup() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cached = Cached::new(registry(calls.clone()));
        let all = futures_util::future::join_all((0..20).map(|_| outcome(&cached, "shop.acme.com"))).await;
        assert!(all.iter().all(|t| t == "acme"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn entries_expire() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cached = Cached::with_options(
            registry(calls.clone()),
            Duration::from_millis(30),
            Duration::ZERO,
            NonZeroUsize::new(2).expect("non-zero"),
        );
        outcome(&cached, "shop.acme.com").await;
        outcome(&cached, "shop.acme.com").await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        outcome(&cached, "unknown.com").await;
        outcome(&cached, "unknown.com").await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a zero negative TTL caches nothing");
        tokio::time::sleep(Duration::from_millis(40)).await;
        outcome(&cached, "shop.acme.com").await;
        assert_eq!(calls.load(Ordering::SeqCst), 4, "expired");
    }
}
