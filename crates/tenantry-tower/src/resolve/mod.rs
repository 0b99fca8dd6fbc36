//! Resolvers: how the tenant is found in a request (apartment's elevators).
//!
//! | resolver | the tenant is | e.g. |
//! |---|---|---|
//! | [`Subdomain`] | the left-most label before the registrable domain (Public Suffix List) | `acme.example.com` → `acme` |
//! | [`FirstSubdomain`] | the label directly under a parent you name | `acme.api.example.com` → `acme` |
//! | [`Domain`] | the registrable domain's own label | `www.acme-corp.com` → `acme-corp` |
//! | [`Host`] | the whole host, `.` → `_` | `acme.com` → `acme_com` |
//! | [`HostMap`] | looked up in a map you give | `shop.acme.com` → `acme` |
//! | [`Cached`] | looked up in a registry, through a cache | `shop.acme.com` → `acme` |
//! | [`Header`] | a header's value | `X-Tenant-Id: acme` → `acme` |
//! | [`PathPrefix`] | a path segment; the rest is passed on | `/t/acme/orders` → `acme`, `/orders` |
//! | any `Fn(&Parts) -> impl Future<Output = Resolution>` | what it says | |
//! | [`Chain`] (`a.or(b)`) | the first that names one | |
//!
//! Host-based resolvers read only the request's own host (see [`HostSource`]) and
//! [`normalise`] it first.

mod cached;
mod chain;
mod closure;
mod domain;
mod first_subdomain;
mod full_host;
mod header;
mod host;
mod host_map;
mod path;
mod resolution;
mod subdomain;
mod suffix;
#[cfg(test)]
mod testing;

pub use crate::forwarded::ForwardedProblem;
pub use cached::{Cached, Lookup};
pub use chain::{Chain, ChainFuture};
pub use domain::Domain;
pub use first_subdomain::FirstSubdomain;
pub use full_host::Host;
pub use header::Header;
pub use host::{normalise, HostSource, Malformed, RequestHost, MAX_HOST_BYTES, MAX_LABEL_BYTES};
pub use host_map::HostMap;
pub use path::PathPrefix;
pub use resolution::{Candidate, Resolution, Resolve};
pub use subdomain::Subdomain;
