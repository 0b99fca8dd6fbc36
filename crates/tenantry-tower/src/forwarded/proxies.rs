//! Which proxies are trusted, and which header they write.

use std::borrow::Cow;
use std::net::IpAddr;

use http::request::Parts;

use super::{peer_address, walk};
use crate::resolve::Malformed;

/// The header your proxy writes the original host into. tenantry-tower reads that one and
/// ignores the other entirely: a proxy passes on untouched whatever header it does not
/// write, so the other one is the client's.
///
/// In both, the value is the right-most one a trusted hop appended:
///
/// | header | read | a client's own value |
/// |---|---|---|
/// | `X-Forwarded-Host` (the default) | the right-most value of the last line | replaced by a proxy that sets the header (nginx's `proxy_set_header`), or left of the value the proxy appends |
/// | `Forwarded` (RFC 7239) | the `host=` of the right-most element; if that element has no `host=` and its `for=` is a trusted proxy, the element left of it, and so on | left of the element the proxy appends, whose `for=` (the client's address) is not trusted: never read |
///
/// The proxy must write the header on every request: if it sometimes passes the client's
/// header through (a proxy that only appends when it rewrote the host), the client chooses.
/// `X-Forwarded-For` is never read: `X-Forwarded-Host` entries always hold a host, so the
/// peer's own, the right-most, is the one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-Host`: what nginx configurations (`proxy_set_header X-Forwarded-Host
    /// $host`), Traefik, Caddy and most proxies write. The default.
    #[default]
    XForwardedHost,
    /// `Forwarded: for=…;host=…` (RFC 7239), one element appended per hop.
    Forwarded,
}

/// The proxies whose forwarded-host header is believed: single addresses and networks, and
/// the header they write ([`ForwardedHeader`], `X-Forwarded-Host` by default).
///
/// ```
/// use tenantry_tower::{ForwardedHeader, TrustedProxies};
///
/// let proxies = TrustedProxies::new().network("10.0.0.0".parse()?, 8).address("127.0.0.1".parse()?);
/// assert!(proxies.contains("10.1.2.3".parse()?));
/// assert!(!proxies.contains("192.0.2.1".parse()?));
/// assert_eq!(proxies.forwarded_header(), ForwardedHeader::XForwardedHost);
/// let rfc_7239 = proxies.header(ForwardedHeader::Forwarded);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// No proxy trusted yet; `X-Forwarded-Host` read from those you add.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts one address.
    #[must_use]
    pub fn address(self, address: IpAddr) -> Self {
        let bits = if address.is_ipv4() { 32 } else { 128 };
        self.network(address, bits)
    }

    /// Trusts every address in `address/prefix_len` (a prefix longer than the address is
    /// clamped to it).
    #[must_use]
    pub fn network(mut self, address: IpAddr, prefix_len: u8) -> Self {
        let max = if address.is_ipv4() { 32 } else { 128 };
        self.networks.push((address, prefix_len.min(max)));
        self
    }

    /// Reads `header` (and only it) from trusted proxies. `X-Forwarded-Host` by default.
    #[must_use]
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// The header read from trusted proxies.
    pub fn forwarded_header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether `address` is trusted. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as
    /// their IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks.iter().any(|&(network, prefix_len)| in_network(address, canonical(network), prefix_len))
    }

    /// The host a trusted proxy forwarded, if the peer is trusted and the header holds one.
    pub(crate) fn forwarded_host<'a>(&self, parts: &'a Parts) -> Result<Option<Cow<'a, str>>, Malformed> {
        match peer_address(parts) {
            Some(peer) if self.contains(peer) => {}
            _ => return Ok(None),
        }
        match self.header {
            ForwardedHeader::XForwardedHost => Ok(walk::x_forwarded_host(&parts.headers)?.map(Cow::Borrowed)),
            ForwardedHeader::Forwarded => walk::forwarded(self, &parts.headers),
        }
    }
}

fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(address: IpAddr, network: IpAddr, prefix_len: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            prefix_matches(u128::from(a.to_bits()) << 96, u128::from(n.to_bits()) << 96, prefix_len)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_matches(a.to_bits(), n.to_bits(), prefix_len),
        _ => false,
    }
}

fn prefix_matches(address: u128, network: u128, prefix_len: u8) -> bool {
    let mask = if prefix_len == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix_len)) };
    address & mask == network & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix() {
        let proxies = TrustedProxies::new().network("10.0.0.0".parse().expect("ip"), 8);
        assert!(proxies.contains("10.255.0.1".parse().expect("ip")));
        assert!(proxies.contains("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(!proxies.contains("11.0.0.1".parse().expect("ip")));
        let v6 = TrustedProxies::new().network("fd00::".parse().expect("ip"), 8);
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!(!v6.contains("fe80::1".parse().expect("ip")));
        let everyone = TrustedProxies::new().network("0.0.0.0".parse().expect("ip"), 0);
        assert!(everyone.contains("192.0.2.1".parse().expect("ip")));
    }
}
