//! [`Host`]: the tenant is the whole host, dots mapped to underscores.

use std::future::{ready, Ready};
use std::sync::Arc;

use http::request::Parts;

use super::host::{host_name, HostSource, Malformed};
use super::resolution::{Resolution, Resolve};
use crate::error::Error;
use crate::forwarded::TrustedProxies;

/// The tenant is the full host (apartment's `Host` elevator), with ignored first labels
/// dropped. A schema name cannot hold `.`, so dots become `_`; a host that already holds `_`
/// is refused (`400`), because `a_b.com` and `a.b.com` would otherwise be one tenant.
///
/// With the ignored first label `www` (the default):
///
/// | host | tenant |
/// |---|---|
/// | `acme.com` | `acme_com` |
/// | `www.acme.com` | `acme_com` |
/// | `shop.acme.co.uk:8080` | `shop_acme_co_uk` |
/// | `www.www.acme.com` | `www_acme_com` (one label dropped at most) |
/// | `localhost` | `localhost` |
/// | `acme_corp.com` | rejected: `400` |
/// | `127.0.0.1` | none |
///
/// Tenant names must start with a letter, so `1password.com` resolves to `1password_com`,
/// which fails the naming rules: `404`.
#[derive(Debug, Clone)]
pub struct Host {
    ignored: Arc<[String]>,
    source: HostSource,
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

impl Host {
    /// Ignores a first label `www`; reads the request's own host.
    pub fn new() -> Self {
        Self { ignored: Arc::from(["www".to_owned()]), source: HostSource::direct() }
    }

    /// First labels to drop before using the host (replaces the default `www`).
    #[must_use]
    pub fn ignore_first_labels<S: AsRef<str>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.ignored = labels.into_iter().map(|s| s.as_ref().to_ascii_lowercase()).collect();
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
        if host.contains('_') {
            return Resolution::Rejected(Error::Malformed { part: "host", problem: Malformed::Underscore });
        }
        let host = match host.split_once('.') {
            Some((first, rest)) if self.ignored.iter().any(|ignored| ignored == first) => rest,
            _ => host.as_str(),
        };
        Resolution::tenant(host.replace('.', "_"))
    }
}

impl Resolve for Host {
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
            &Host::new(),
            &[
                ("acme.com", "acme_com"),
                ("www.acme.com", "acme_com"),
                ("shop.acme.co.uk:8080", "shop_acme_co_uk"),
                ("www.www.acme.com", "www_acme_com"),
                ("localhost", "localhost"),
                ("acme_corp.com", "rejected"),
                ("127.0.0.1", "-"),
                ("1password.com", "1password_com"),
            ],
        );
        check_table(
            &Host::new().ignore_first_labels(["app"]),
            &[("www.acme.com", "www_acme_com"), ("app.acme.com", "acme_com")],
        );
    }
}
