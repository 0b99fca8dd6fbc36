//! [`Domain`]: the tenant is the registrable domain's own label (`acme` in `www.acme.co.uk`).

use std::future::{ready, Ready};

use http::request::Parts;

use super::host::{host_name, HostSource};
use super::resolution::{Resolution, Resolve};
use super::suffix::split;
use crate::forwarded::TrustedProxies;

/// The tenant is the label just before the public suffix (ICANN section of the Public Suffix
/// List): one domain per tenant, subdomains ignored.
///
/// | host | tenant |
/// |---|---|
/// | `www.acme-corp.com` | `acme-corp` |
/// | `acme-corp.com` | `acme-corp` |
/// | `acme.co.uk` | `acme` |
/// | `shop.eu.acme.co.uk` | `acme` |
/// | `co.uk`, `com`, `localhost` | none |
/// | `127.0.0.1` | none |
///
/// ```
/// use tenantry_tower::resolve::Domain;
///
/// let resolver = Domain::new();
/// # let _ = resolver;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Domain {
    source: HostSource,
}

impl Domain {
    /// Reads the request's own host.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the forwarded host from trusted proxies (see [`TrustedProxies`]).
    #[must_use]
    pub fn trust_forwarded(mut self, proxies: TrustedProxies) -> Self {
        self.source = HostSource::forwarded(proxies);
        self
    }

    fn resolve_host(&self, parts: &Parts) -> Resolution {
        match host_name(&self.source, parts) {
            Ok(host) => split(&host, &[]).map_or(Resolution::NoTenant, |split| Resolution::tenant(split.label)),
            Err(answer) => answer,
        }
    }
}

impl Resolve for Domain {
    type Future = Ready<Resolution>;

    fn resolve(&self, parts: &Parts) -> Self::Future {
        ready(self.resolve_host(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::testing::check_table;

    #[test]
    fn documented_table() {
        check_table(
            &Domain::new(),
            &[
                ("www.acme-corp.com", "acme-corp"),
                ("acme-corp.com", "acme-corp"),
                ("acme.co.uk", "acme"),
                ("shop.eu.acme.co.uk", "acme"),
                ("co.uk", "-"),
                ("com", "-"),
                ("localhost", "-"),
                ("127.0.0.1", "-"),
                ("ACME.co.uk.", "acme"),
                ("a b.com", "rejected"),
            ],
        );
    }
}
