//! Opt-in trust in forwarded-host headers, for applications behind a reverse proxy.
//!
//! Any client can send `X-Forwarded-Host` or `Forwarded: host=…`; a resolver that believed
//! them would let a client pick any tenant by header, whatever host it connected to (axum
//! removed its `Host` extractor for this, axum issue #3442). tenantry-tower reads them only
//! when the connection's peer address is one of the proxies you name, and then only the one
//! header you say your proxy writes ([`ForwardedHeader`]); the other is ignored entirely,
//! since a proxy passes on whatever it does not write itself.
//!
//! Of that header it takes the right-most entry a trusted hop appended (proxies append on
//! the right, RFC 7239 §4), reading from the right so that nothing a client put on the left
//! is even parsed; see [`ForwardedHeader`] for each header's rule. A malformed entry from a
//! trusted hop is refused ([`Malformed::Forwarded`](crate::resolve::Malformed::Forwarded),
//! `400`), never skipped over to a value further left.
//!
//! The peer address comes from the request's extensions: [`PeerAddr`] (insert it yourself
//! when serving with hyper), a bare [`SocketAddr`], or, with the `axum` feature, axum's
//! `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`). A request
//! with no peer address never has its forwarded headers read.

mod element;
mod list;
mod proxies;
mod walk;

use std::net::{IpAddr, SocketAddr};

use http::request::Parts;

pub use element::ForwardedProblem;
pub use proxies::{ForwardedHeader, TrustedProxies};

/// The address of the connection's peer, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

fn peer_address(parts: &Parts) -> Option<IpAddr> {
    if let Some(PeerAddr(address)) = parts.extensions.get::<PeerAddr>() {
        return Some(address.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(info) = parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}
