//! [`HostMap`]: an explicit map from hosts to tenants (custom domains).

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::Arc;

use http::request::Parts;

use super::host::{normalise, HostSource, Malformed, RequestHost};
use super::resolution::{Resolution, Resolve};
use crate::error::Error;
use crate::forwarded::TrustedProxies;

/// An explicit host → tenant map. A host missing from the map is *unmapped* (`404`), not "no
/// tenant": a request to an unknown custom domain must not fall through to the default
/// schema. Chain a resolver after it ([`Resolve::or`]) to try subdomains next.
///
/// With `acme.com` and `shop.acme.com` → `acme`, `globex.example` → `globex`:
///
/// | host | tenant |
/// |---|---|
/// | `acme.com`, `ACME.com.:443`, `shop.acme.com` | `acme` |
/// | `globex.example` | `globex` |
/// | `www.acme.com`, `other.com` | unmapped: `404` |
/// | `127.0.0.1` | unmapped, unless the address is mapped |
///
/// ```
/// use tenantry_tower::resolve::HostMap;
///
/// let map = HostMap::new().with("acme.com", "acme")?.with("globex.example", "globex")?;
/// # let _ = map;
/// # Ok::<(), tenantry_tower::resolve::Malformed>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct HostMap {
    hosts: Arc<HashMap<String, String>>,
    source: HostSource,
}

impl HostMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `host` (normalised: case, port and trailing dot do not matter) to `tenant`.
    ///
    /// # Errors
    /// [`Malformed`] when `host` is not a host name or IP address.
    pub fn with(mut self, host: &str, tenant: impl Into<String>) -> Result<Self, Malformed> {
        let key = key(normalise(host)?);
        Arc::make_mut(&mut self.hosts).insert(key, tenant.into());
        Ok(self)
    }

    /// Reads the forwarded host from trusted proxies (see [`TrustedProxies`]).
    #[must_use]
    pub fn trust_forwarded(mut self, proxies: TrustedProxies) -> Self {
        self.source = HostSource::forwarded(proxies);
        self
    }

    /// How many hosts are mapped.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether no host is mapped.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    fn resolve_host(&self, parts: &Parts) -> Resolution {
        match self.source.host(parts) {
            Ok(host) => self.hosts.get(&key(host)).map_or(Resolution::Unmapped, Resolution::tenant),
            Err(problem) => Resolution::Rejected(Error::Malformed { part: "host", problem }),
        }
    }
}

fn key(host: RequestHost) -> String {
    match host {
        RequestHost::Name(name) => name,
        RequestHost::Ip(ip) => ip.to_string(),
    }
}

impl Resolve for HostMap {
    type Future = Ready<Resolution>;

    fn resolve(&self, parts: &Parts) -> Self::Future {
        ready(self.resolve_host(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::testing::check_table;
    use crate::resolve::Subdomain;

    fn map() -> HostMap {
        HostMap::new()
            .with("acme.com", "acme")
            .and_then(|m| m.with("Shop.Acme.com.", "acme"))
            .and_then(|m| m.with("globex.example", "globex"))
            .expect("valid hosts")
    }

    #[test]
    fn documented_table() {
        check_table(
            &map(),
            &[
                ("acme.com", "acme"),
                ("ACME.com.:443", "acme"),
                ("shop.acme.com", "acme"),
                ("globex.example", "globex"),
                ("www.acme.com", "unmapped"),
                ("other.com", "unmapped"),
                ("127.0.0.1", "unmapped"),
                ("a\"b.com", "rejected"),
            ],
        );
        let with_ip = map().with("[::1]:80", "local").expect("valid");
        check_table(&with_ip, &[("[::1]", "local")]);
        assert!(HostMap::new().with("a b", "x").is_err());
    }

    #[test]
    fn chained_with_subdomains() {
        let resolver = map().or(Subdomain::new());
        check_table(&resolver, &[("acme.com", "acme"), ("initech.saas.com", "initech"), ("saas.com", "unmapped")]);
    }
}
