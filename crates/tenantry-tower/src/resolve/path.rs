//! [`PathPrefix`]: the tenant is a path segment (`/t/{tenant}/…`), the rest of the path is
//! passed on.

use std::future::{ready, Ready};
use std::sync::Arc;

use http::request::Parts;
use http::uri::PathAndQuery;
use http::Uri;

use super::host::Malformed;
use super::resolution::{Candidate, Resolution, Resolve};
use crate::error::Error;

/// The tenant is the path segment after a prefix; the inner service sees the rest of the
/// path (and the query), as if mounted at the root.
///
/// With the prefix `/t` (the default):
///
/// | path | tenant | the inner service sees |
/// |---|---|---|
/// | `/t/acme/orders?page=2` | `acme` | `/orders?page=2` |
/// | `/t/acme/` and `/t/acme` | `acme` | `/` |
/// | `/orders`, `/t`, `/tx/acme` | none | `/orders`, … |
/// | `/t//orders` | rejected: `400` | |
/// | `/t/ac%6De/` | `ac%6De`, refused by the naming rules (`404`): segments are never percent-decoded |
///
/// ```
/// use tenantry_tower::resolve::PathPrefix;
///
/// let under_t = PathPrefix::default();
/// let at_root = PathPrefix::new("/"); // /{tenant}/…
/// # let _ = (under_t, at_root);
/// ```
#[derive(Debug, Clone)]
pub struct PathPrefix {
    prefix: Arc<str>,
}

impl Default for PathPrefix {
    fn default() -> Self {
        Self::new("/t")
    }
}

impl PathPrefix {
    /// The tenant is the segment after `prefix` (`/t`; `/` or empty for the first segment).
    /// A missing leading `/` is added and a trailing one dropped.
    pub fn new(prefix: &str) -> Self {
        let trimmed = prefix.trim_matches('/');
        let prefix = if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") };
        Self { prefix: prefix.into() }
    }

    fn resolve_path(&self, parts: &Parts) -> Resolution {
        let path = parts.uri.path();
        let Some(rest) = path.strip_prefix(&*self.prefix).and_then(|rest| rest.strip_prefix('/')) else {
            return Resolution::NoTenant;
        };
        let (segment, remainder) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if segment.is_empty() {
            return Resolution::Rejected(Error::Malformed { part: "path", problem: Malformed::Empty });
        }
        match rewrite(&parts.uri, remainder) {
            Some(uri) => Resolution::Tenant(Candidate::new(segment).with_uri(uri)),
            None => Resolution::Rejected(Error::Malformed {
                part: "path",
                problem: Malformed::IllegalCharacter { position: self.prefix.len() + 1 },
            }),
        }
    }
}

/// `uri` with its path replaced by `path`, query kept.
fn rewrite(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => PathAndQuery::try_from(format!("{path}?{query}")).ok()?,
        None => PathAndQuery::try_from(path).ok()?,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

impl Resolve for PathPrefix {
    type Future = Ready<Resolution>;

    fn resolve(&self, parts: &Parts) -> Self::Future {
        ready(self.resolve_path(parts))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    fn outcome(resolver: &PathPrefix, uri: &str) -> (String, Option<String>) {
        let (parts, ()) = http::Request::get(uri).body(()).expect("request").into_parts();
        match resolver.resolve(&parts).now_or_never().expect("ready") {
            Resolution::Tenant(candidate) => (candidate.name().to_owned(), candidate.uri().map(ToString::to_string)),
            other => (crate::resolve::testing::describe(other), None),
        }
    }

    #[test]
    fn documented_table() {
        let resolver = PathPrefix::default();
        let seen = |tenant: &str, uri: &str| (tenant.to_owned(), Some(uri.to_owned()));
        assert_eq!(outcome(&resolver, "/t/acme/orders?page=2"), seen("acme", "/orders?page=2"));
        assert_eq!(outcome(&resolver, "/t/acme/"), seen("acme", "/"));
        assert_eq!(outcome(&resolver, "/t/acme"), seen("acme", "/"));
        assert_eq!(outcome(&resolver, "/t/acme?x=1"), seen("acme", "/?x=1"));
        assert_eq!(outcome(&resolver, "/orders"), ("-".to_owned(), None));
        assert_eq!(outcome(&resolver, "/t"), ("-".to_owned(), None));
        assert_eq!(outcome(&resolver, "/tx/acme"), ("-".to_owned(), None));
        assert_eq!(outcome(&resolver, "/t//orders"), ("rejected".to_owned(), None));
        assert_eq!(outcome(&resolver, "/t/ac%6De/x"), seen("ac%6De", "/x"));
        assert_eq!(
            outcome(&resolver, "http://acme.example.com/t/acme/a/b"),
            seen("acme", "http://acme.example.com/a/b")
        );
    }

    #[test]
    fn prefixes_are_normalised() {
        let root = PathPrefix::new("/");
        assert_eq!(outcome(&root, "/acme/orders"), ("acme".to_owned(), Some("/orders".to_owned())));
        let nested = PathPrefix::new("api/tenants/");
        assert_eq!(outcome(&nested, "/api/tenants/acme/x"), ("acme".to_owned(), Some("/x".to_owned())));
    }
}
