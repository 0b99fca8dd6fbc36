//! The [`Resolve`] trait and what a resolver answers.

use std::future::Future;

use http::request::Parts;
use http::Uri;

use super::chain::Chain;
use crate::error::Error;

/// What a resolver found in a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Resolution {
    /// The request names this tenant. Not yet trusted: the layer checks the name against
    /// tenantry's naming rules, then against the known tenants, before anything runs.
    Tenant(Candidate),
    /// The request names no tenant: an apex domain, an excluded subdomain (`www`), an IP
    /// address, no tenant header. The layer's [`NoTenant`](crate::NoTenant) policy decides.
    /// A [`Chain`] tries its next resolver.
    NoTenant,
    /// The request should name a tenant but none is mapped to it (a host missing from a
    /// [`HostMap`](super::HostMap) or a registry): `404`. A [`Chain`] tries its next resolver.
    Unmapped,
    /// The request is refused as it is (a malformed host, a failed lookup). A [`Chain`] stops.
    Rejected(Error),
}

impl Resolution {
    /// The request names `name`.
    pub fn tenant(name: impl Into<String>) -> Self {
        Self::Tenant(Candidate::new(name))
    }
}

/// A tenant name found in a request, with the URI the rest of the request should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    name: String,
    uri: Option<Uri>,
}

impl Candidate {
    /// The name, unvalidated.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), uri: None }
    }

    /// Replaces the request's URI before the inner service sees it
    /// ([`PathPrefix`](super::PathPrefix) strips `/t/{tenant}` this way).
    #[must_use]
    pub fn with_uri(mut self, uri: Uri) -> Self {
        self.uri = Some(uri);
        self
    }

    /// The name, unvalidated.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URI to pass on, if the resolver rewrote it.
    pub fn uri(&self) -> Option<&Uri> {
        self.uri.as_ref()
    }

    pub(crate) fn into_parts(self) -> (String, Option<Uri>) {
        (self.name, self.uri)
    }
}

/// Finds the tenant a request is for (apartment's elevators).
///
/// `resolve` gets the request head and returns a `'static` future: do the synchronous work
/// (reading a header) in `resolve` and move only what you need into the future. Resolvers
/// that need no I/O return [`std::future::Ready`]. Any
/// `Fn(&Parts) -> impl Future<Output = Resolution>` is a resolver too (apartment's
/// `Generic` elevator):
///
/// ```
/// use tenantry_tower::resolve::{Resolution, Resolve};
///
/// let by_query = |parts: &http::request::Parts| {
///     let tenant = parts.uri.query().and_then(|q| q.strip_prefix("tenant=")).map(str::to_owned);
///     async move { tenant.map_or(Resolution::NoTenant, Resolution::tenant) }
/// };
/// # fn is_resolver(_: impl Resolve) {}
/// # is_resolver(by_query);
/// ```
pub trait Resolve {
    /// The future [`resolve`](Self::resolve) returns.
    type Future: Future<Output = Resolution> + Send + 'static;

    /// Finds the tenant of the request whose head is `parts`.
    fn resolve(&self, parts: &Parts) -> Self::Future;

    /// This resolver, then `next` when this one finds no tenant ([`Resolution::NoTenant`] or
    /// [`Resolution::Unmapped`]).
    fn or<Next: Resolve>(self, next: Next) -> Chain<Self, Next>
    where
        Self: Sized,
    {
        Chain::new(self, next)
    }
}
