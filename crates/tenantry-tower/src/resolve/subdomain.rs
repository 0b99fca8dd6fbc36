//! [`Subdomain`]: the tenant is the left-most label of the subdomain part of the host.

use std::future::{ready, Ready};
use std::sync::Arc;

use http::request::Parts;

use super::host::{host_name, HostSource};
use super::resolution::{Resolution, Resolve};
use super::suffix::split;
use crate::forwarded::TrustedProxies;

/// The tenant is the left-most label of the host's subdomain part, the part before the
/// registrable domain. The Public Suffix List (its ICANN section, compiled into the `psl`
/// crate; private suffixes ignored, as apartment does) says where the registrable domain
/// starts.
///
/// | host | tenant |
/// |---|---|
/// | `foo.bar.com` | `foo` |
/// | `bar.com` | none |
/// | `foo.bar.co.uk` | `foo` |
/// | `bar.co.uk` | none |
/// | `foo.xyz.bar.com` | `foo` |
/// | `FOO.Bar.com:8080`, `foo.bar.com.` | `foo` (case folded, port and trailing dot dropped) |
/// | `www.bar.com` | none (excluded subdomain) |
/// | `foo.github.io` | `foo` (`github.io` is a private suffix: ignored) |
/// | `localhost` | none |
/// | `acme.localhost` | `acme` (`localhost` is a registrable domain by default, see below) |
/// | `127.0.0.1`, `[::1]:3000` | none |
/// | `a"b.bar.com`, `a..b`, empty | rejected: `400` |
///
/// "None" is up to the layer's [`NoTenant`](crate::NoTenant) policy. `localhost` is in no
/// suffix list (the list's default rule makes it a suffix), but browsers send every
/// `*.localhost` to the loopback address (RFC 6761 §6.3), so by default it is treated as a
/// registrable domain: `acme.localhost:3000` works in development. Change the list with
/// [`registrable_domains`](Self::registrable_domains); use it also for a domain under a
/// private suffix that you own.
///
/// ```
/// use tenantry_tower::resolve::Subdomain;
///
/// let resolver = Subdomain::new().exclude(["www", "app"]);
/// # let _ = resolver;
/// ```
#[derive(Debug, Clone)]
pub struct Subdomain {
    excluded: Arc<[String]>,
    domains: Arc<[String]>,
    source: HostSource,
}

impl Default for Subdomain {
    fn default() -> Self {
        Self::new()
    }
}

impl Subdomain {
    /// Excludes `www`, treats `localhost` as a registrable domain, reads the request's own
    /// host.
    pub fn new() -> Self {
        Self {
            excluded: Arc::from(["www".to_owned()]),
            domains: Arc::from(["localhost".to_owned()]),
            source: HostSource::direct(),
        }
    }

    /// Subdomains that name no tenant (replaces the default `www`). Compared after case
    /// folding.
    #[must_use]
    pub fn exclude<S: AsRef<str>>(mut self, subdomains: impl IntoIterator<Item = S>) -> Self {
        self.excluded = subdomains.into_iter().map(|s| s.as_ref().to_ascii_lowercase()).collect();
        self
    }

    /// Domains to split on as registrable domains before asking the suffix list (replaces the
    /// default `localhost`).
    #[must_use]
    pub fn registrable_domains<S: AsRef<str>>(mut self, domains: impl IntoIterator<Item = S>) -> Self {
        self.domains = domains.into_iter().map(|s| s.as_ref().to_ascii_lowercase()).collect();
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
        let Some(subdomains) = split(&host, &self.domains).and_then(|split| split.subdomains) else {
            return Resolution::NoTenant;
        };
        let first = subdomains.split('.').next().unwrap_or(subdomains);
        if self.excluded.iter().any(|excluded| excluded == first) {
            return Resolution::NoTenant;
        }
        Resolution::tenant(first)
    }
}

impl Resolve for Subdomain {
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
            &Subdomain::new(),
            &[
                ("foo.bar.com", "foo"),
                ("bar.com", "-"),
                ("foo.bar.co.uk", "foo"),
                ("bar.co.uk", "-"),
                ("foo.xyz.bar.com", "foo"),
                ("FOO.Bar.com:8080", "foo"),
                ("foo.bar.com.", "foo"),
                ("www.bar.com", "-"),
                ("WWW.bar.com", "-"),
                ("foo.github.io", "foo"),
                ("localhost", "-"),
                ("localhost:3000", "-"),
                ("acme.localhost", "acme"),
                ("acme.localhost:3000", "acme"),
                ("127.0.0.1", "-"),
                ("127.0.0.1:3000", "-"),
                ("[::1]:3000", "-"),
                ("[2001:db8::1]", "-"),
                ("a\"b.bar.com", "rejected"),
                ("a..b", "rejected"),
                ("", "rejected"),
                ("com", "-"),
                ("co.uk", "-"),
            ],
        );
    }

    #[test]
    fn exclusions_and_domains_are_configurable() {
        let resolver = Subdomain::new().exclude(["App"]).registrable_domains(["example.test"]);
        check_table(
            &resolver,
            &[
                ("app.bar.com", "-"),
                ("www.bar.com", "www"),
                ("acme.localhost", "-"),
                ("acme.example.test", "acme"),
                ("x.acme.example.test", "x"),
                ("example.test", "-"),
            ],
        );
    }
}
