//! [`FirstSubdomain`]: the tenant is the label directly under a parent domain you name.

use std::future::{ready, Ready};
use std::sync::Arc;

use http::request::Parts;

use super::host::{host_name, HostSource};
use super::resolution::{Resolution, Resolve};
use super::suffix::parent_of;
use crate::forwarded::TrustedProxies;

/// The tenant is the first-level subdomain of one of the parent domains you name: for
/// `{tenant}.api.example.com` layouts.
///
/// With the parent `api.example.com`:
///
/// | host | tenant | [`Subdomain`](super::Subdomain) would say |
/// |---|---|---|
/// | `acme.api.example.com` | `acme` | `acme` |
/// | `eu.acme.api.example.com` | `acme` | `eu` |
/// | `api.example.com` | none | `api` |
/// | `www.api.example.com` | none (excluded) | none |
/// | `acme.example.com` | none (not under the parent) | `acme` |
/// | `acme.api.example.com.evil.com` | none | `acme` |
/// | `127.0.0.1` | none | none |
///
/// The difference from [`Subdomain`](super::Subdomain): `Subdomain` asks the Public Suffix
/// List where the registrable domain (`example.com`) starts and takes the left-most label of
/// everything before it, so the API's own host `api.example.com` would be the tenant `api`,
/// and a deeper host its left-most label. `FirstSubdomain` is anchored on the parents you
/// give: the parent itself and hosts outside it name no tenant, and labels left of the
/// tenant (`eu.`) are ignored. It does not use the suffix list, so it also fits internal
/// domains.
///
/// ```
/// use tenantry_tower::resolve::FirstSubdomain;
///
/// let resolver = FirstSubdomain::under(["api.example.com", "api.example.org"]);
/// # let _ = resolver;
/// ```
#[derive(Debug, Clone)]
pub struct FirstSubdomain {
    parents: Arc<[String]>,
    excluded: Arc<[String]>,
    source: HostSource,
}

impl FirstSubdomain {
    /// Tenants are the first-level subdomains of `parents` (case folded, trailing dot
    /// ignored); `www` is excluded.
    pub fn under<S: AsRef<str>>(parents: impl IntoIterator<Item = S>) -> Self {
        Self {
            parents: parents
                .into_iter()
                .map(|p| {
                    let p = p.as_ref().to_ascii_lowercase();
                    p.strip_suffix('.').map(str::to_owned).unwrap_or(p)
                })
                .collect(),
            excluded: Arc::from(["www".to_owned()]),
            source: HostSource::direct(),
        }
    }

    /// Subdomains that name no tenant (replaces the default `www`).
    #[must_use]
    pub fn exclude<S: AsRef<str>>(mut self, subdomains: impl IntoIterator<Item = S>) -> Self {
        self.excluded = subdomains.into_iter().map(|s| s.as_ref().to_ascii_lowercase()).collect();
        self
    }

    /// Reads the forwarded host from trusted proxies (see [`TrustedProxies`]).
    #[must_use]
    pub fn trust_forwarded(mut self, proxies: TrustedProxies) -> Self {
        self.source = HostSource::forwarded(proxies);
        self
    }

    fn resolve_host(&self, parts: &Parts) -> Resolution {
        let host = match host_name(&self.source, parts) {
            Ok(host) => host,
            Err(answer) => return answer,
        };
        // The longest parent wins, so `a.eu.api.example.com` under both `api.example.com` and
        // `eu.api.example.com` is the tenant `a`.
        let below = self.parents.iter().filter_map(|parent| parent_of(parent, &host)).min_by_key(|below| below.len());
        let Some(below) = below else { return Resolution::NoTenant };
        let label = below.rsplit('.').next().unwrap_or(below);
        if self.excluded.iter().any(|excluded| excluded == label) {
            return Resolution::NoTenant;
        }
        Resolution::tenant(label)
    }
}

impl Resolve for FirstSubdomain {
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

    #[test]
    fn documented_table() {
        let table = [
            ("acme.api.example.com", "acme", "acme"),
            ("eu.acme.api.example.com", "acme", "eu"),
            ("api.example.com", "-", "api"),
            ("www.api.example.com", "-", "-"),
            ("acme.example.com", "-", "acme"),
            ("acme.api.example.com.evil.com", "-", "acme"),
            ("127.0.0.1", "-", "-"),
        ];
        let first: Vec<_> = table.iter().map(|(host, tenant, _)| (*host, *tenant)).collect();
        check_table(&FirstSubdomain::under(["api.example.com"]), &first);
        let subdomain: Vec<_> = table.iter().map(|(host, _, tenant)| (*host, *tenant)).collect();
        check_table(&Subdomain::new(), &subdomain);
    }

    #[test]
    fn longest_parent_wins_and_parents_are_normalised() {
        let resolver = FirstSubdomain::under(["API.example.com.", "eu.api.example.com"]);
        check_table(
            &resolver,
            &[("a.eu.api.example.com", "a"), ("b.api.example.com", "b"), ("eu.api.example.com", "eu")],
        );
    }
}
