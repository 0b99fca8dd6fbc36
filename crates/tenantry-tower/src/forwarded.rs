//! Opt-in trust in forwarded-host headers, for applications behind a reverse proxy.
//!
//! Any client can send `X-Forwarded-Host` or `Forwarded: host=…`; a resolver that believed
//! them would let a client pick any tenant by header, whatever host it connected to (axum
//! removed its `Host` extractor for this, axum issue #3442). tenantry-tower reads them only
//! when the connection's peer address is one of the proxies you name, and takes the value the
//! nearest proxy wrote: the last `host=` of `Forwarded` (RFC 7239 §4: each proxy appends),
//! else the last `X-Forwarded-Host` value.
//!
//! The peer address comes from the request's extensions: [`PeerAddr`] (insert it yourself
//! when serving with hyper), a bare [`SocketAddr`], or, with the `axum` feature, axum's
//! `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`). A request
//! with no peer address never has its forwarded headers read.

use std::net::{IpAddr, SocketAddr};

use http::request::Parts;

use crate::resolve::Malformed;

/// The address of the connection's peer, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The proxies whose forwarded-host headers are believed: single addresses and networks.
///
/// ```
/// use tenantry_tower::TrustedProxies;
///
/// let proxies = TrustedProxies::new().network("10.0.0.0".parse()?, 8).address("127.0.0.1".parse()?);
/// assert!(proxies.contains("10.1.2.3".parse()?));
/// assert!(!proxies.contains("192.0.2.1".parse()?));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// No proxy trusted yet.
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

    /// Whether `address` is trusted. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) count as
    /// their IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.networks.iter().any(|&(network, prefix_len)| in_network(address, canonical(network), prefix_len))
    }

    /// The host a trusted proxy forwarded, if the peer is trusted and sent one.
    pub(crate) fn forwarded_host<'a>(&self, parts: &'a Parts) -> Result<Option<&'a str>, Malformed> {
        match peer_address(parts) {
            Some(peer) if self.contains(peer) => {}
            _ => return Ok(None),
        }
        if let Some(host) = last_forwarded_host(parts)? {
            return Ok(Some(host));
        }
        let Some(value) = parts.headers.get_all("x-forwarded-host").iter().next_back() else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| Malformed::NotVisibleAscii)?;
        Ok(value.rsplit(',').next().map(str::trim))
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

/// The `host=` parameter of the last element of the last `Forwarded` header (RFC 7239 §4).
fn last_forwarded_host(parts: &Parts) -> Result<Option<&str>, Malformed> {
    let Some(value) = parts.headers.get_all(http::header::FORWARDED).iter().next_back() else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| Malformed::NotVisibleAscii)?;
    let last_element = split_outside_quotes(value, ',').last().unwrap_or(value);
    for pair in split_outside_quotes(last_element, ';') {
        let Some((key, raw)) = pair.trim().split_once('=') else { continue };
        if key.trim().eq_ignore_ascii_case("host") {
            let raw = raw.trim();
            let unquoted = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
            return Ok(Some(unquoted));
        }
    }
    Ok(None)
}

/// Splits on `separator` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| {
        if escaped {
            escaped = false;
            return false;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => return true,
            _ => {}
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::{HostSource, RequestHost};

    fn parts(peer: Option<&str>, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::get("/").header("host", "direct.example.com");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(()).expect("request").into_parts();
        if let Some(peer) = peer {
            parts.extensions.insert(PeerAddr(peer.parse().expect("socket address")));
        }
        parts
    }

    fn host(source: &HostSource, parts: &Parts) -> String {
        match source.host(parts) {
            Ok(RequestHost::Name(name)) => name,
            other => panic!("{other:?}"),
        }
    }

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

    #[test]
    fn only_trusted_peers_are_believed() {
        let source = HostSource::forwarded(TrustedProxies::new().address("10.0.0.1".parse().expect("ip")));
        let spoof = [("x-forwarded-host", "other.example.com")];
        assert_eq!(host(&source, &parts(Some("10.0.0.1:5000"), &spoof)), "other.example.com");
        assert_eq!(host(&source, &parts(Some("10.0.0.2:5000"), &spoof)), "direct.example.com");
        assert_eq!(host(&source, &parts(None, &spoof)), "direct.example.com");
    }

    #[test]
    fn the_nearest_proxys_value_wins() {
        let source = HostSource::forwarded(TrustedProxies::new().address("10.0.0.1".parse().expect("ip")));
        let peer = Some("10.0.0.1:5000");
        let chained = [("x-forwarded-host", "evil.example.com, real.example.com")];
        assert_eq!(host(&source, &parts(peer, &chained)), "real.example.com");
        let forwarded = [
            ("forwarded", "for=192.0.2.1;host=evil.example.com"),
            ("forwarded", "for=192.0.2.1;host=\"real.example.com:443\";proto=https"),
        ];
        assert_eq!(host(&source, &parts(peer, &forwarded)), "real.example.com");
        let both = [("forwarded", "host=fwd.example.com"), ("x-forwarded-host", "xfh.example.com")];
        assert_eq!(host(&source, &parts(peer, &both)), "fwd.example.com");
        let quoted_comma = [("forwarded", "for=\"a,b\";host=one.example.com")];
        assert_eq!(host(&source, &parts(peer, &quoted_comma)), "one.example.com");
        let no_host = [("forwarded", "for=192.0.2.1")];
        assert_eq!(host(&source, &parts(peer, &no_host)), "direct.example.com");
    }

    #[test]
    fn forwarded_hosts_are_normalised_and_checked() {
        let source = HostSource::forwarded(TrustedProxies::new().address("10.0.0.1".parse().expect("ip")));
        let hostile = [("x-forwarded-host", "a\"b.example.com")];
        assert!(source.host(&parts(Some("10.0.0.1:1"), &hostile)).is_err());
    }
}
