//! The request's host, normalised: port and trailing dot stripped, ASCII lowercased, IP
//! literals told apart, anything that is not a plain host name refused.
//!
//! The `psl` crate matches lowercase labels only (POSTGRES-NOTES.md, Hosts), and tenant names
//! are lowercase, so every host-based resolver goes through [`normalise`] first.
//!
//! | raw `Host` | normalised |
//! |---|---|
//! | `Acme.Example.COM:8080` | `acme.example.com` |
//! | `acme.example.com.` | `acme.example.com` |
//! | `127.0.0.1:3000`, `[::1]:3000` | an IP address (no tenant) |
//! | `` (empty), `a..b`, `a b`, `a"b`, `user@host`, `host:port` with a bad port | malformed |
//! | a label over 63 bytes, a host over 253 bytes | malformed |
//! | NUL, control characters, non-ASCII bytes (raw UTF-8) | malformed (punycode `xn--…` is plain ASCII and passes) |

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::request::Parts;

use super::resolution::Resolution;
use crate::error::Error;
use crate::forwarded::{ForwardedProblem, TrustedProxies};

/// DNS limit on a whole name (RFC 1035 §2.3.4), without the trailing dot.
pub const MAX_HOST_BYTES: usize = 253;
/// DNS limit on one label (RFC 1035 §2.3.4).
pub const MAX_LABEL_BYTES: usize = 63;

/// Why a host (or another tenant identifier) is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The request carries no host at all (no URI authority, no `Host` header).
    Missing,
    /// The value is empty.
    Empty,
    /// The value holds a byte that is not visible ASCII (NUL, a control character, raw UTF-8).
    NotVisibleAscii,
    /// The header appears more than once (RFC 9112 §3.2: a server must answer 400).
    MultipleValues,
    /// A character that no host name has (`"`, `;`, `%`, space, `@`, …).
    IllegalCharacter {
        /// Byte offset in the value.
        position: usize,
    },
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A host longer than 253 bytes.
    HostTooLong,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
    /// A host whose last label is a number but is not an IPv4 address (`1.2.3`, `999.0.0.1`).
    InvalidAddress,
    /// A host holding `_`, which cannot be told apart from a `.` once mapped to a schema name
    /// (the [`Host`](crate::resolve::Host) resolver maps dots to underscores).
    Underscore,
    /// The forwarded header a trusted proxy sent breaks its grammar (see
    /// [`TrustedProxies`](crate::TrustedProxies)). Only entries a trusted hop appended are
    /// parsed, so this is the proxy's configuration to fix, not a client's doing.
    Forwarded {
        /// `Forwarded` or `X-Forwarded-Host`.
        header: &'static str,
        /// What is wrong with it.
        problem: ForwardedProblem,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("the request has no host (no URI authority and no Host header)"),
            Self::Empty => f.write_str("the value is empty"),
            Self::NotVisibleAscii => f.write_str("the value holds a byte that is not visible ASCII"),
            Self::MultipleValues => f.write_str("the header appears more than once"),
            Self::IllegalCharacter { position } => write!(f, "illegal character at byte {position}"),
            Self::EmptyLabel => f.write_str("a label is empty (two dots in a row or a leading dot)"),
            Self::LabelTooLong => write!(f, "a label is longer than {MAX_LABEL_BYTES} bytes"),
            Self::HostTooLong => write!(f, "the host is longer than {MAX_HOST_BYTES} bytes"),
            Self::InvalidPort => f.write_str("the port is not a number from 0 to 65535"),
            Self::InvalidAddress => f.write_str("the host ends in a number but is not an IPv4 address"),
            Self::Underscore => f.write_str("the host holds `_`, which this resolver cannot map unambiguously"),
            Self::Forwarded { header, problem } => {
                write!(
                    f,
                    "the {header} header from a trusted proxy is malformed: {problem}; check the proxy's configuration"
                )
            }
        }
    }
}

/// A normalised request host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestHost {
    /// A host name: lowercase ASCII letters, digits, `-` and `_`, dot-separated, no port, no
    /// trailing dot.
    Name(String),
    /// An IPv4 or IPv6 literal: it names no tenant.
    Ip(IpAddr),
}

/// Normalises a raw authority (`Host` header value or URI authority).
///
/// ```
/// use tenantry_tower::resolve::{normalise, Malformed, RequestHost};
///
/// assert_eq!(normalise("Acme.Example.com:8080."), Err(Malformed::InvalidPort));
/// assert_eq!(normalise("Acme.Example.com.:8080"), Ok(RequestHost::Name("acme.example.com".into())));
/// assert!(matches!(normalise("[::1]:3000"), Ok(RequestHost::Ip(_))));
/// assert_eq!(normalise("a\"b.example.com"), Err(Malformed::IllegalCharacter { position: 1 }));
/// ```
///
/// # Errors
/// [`Malformed`] naming what is wrong.
pub fn normalise(raw: &str) -> Result<RequestHost, Malformed> {
    if raw.is_empty() {
        return Err(Malformed::Empty);
    }
    if let Some(position) = raw.bytes().position(|b| !(b.is_ascii_graphic())) {
        // Space is ASCII but not graphic; everything else here is a control byte or UTF-8.
        return Err(if raw.as_bytes()[position] == b' ' {
            Malformed::IllegalCharacter { position }
        } else {
            Malformed::NotVisibleAscii
        });
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return ipv6_literal(rest);
    }
    let host = match raw.rsplit_once(':') {
        Some((host, port)) => {
            check_port(port)?;
            host
        }
        None => raw,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(Malformed::Empty);
    }
    if host.len() > MAX_HOST_BYTES {
        return Err(Malformed::HostTooLong);
    }
    let mut label_len = 0;
    for (position, byte) in host.bytes().enumerate() {
        match byte {
            b'.' if label_len == 0 => return Err(Malformed::EmptyLabel),
            b'.' => label_len = 0,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => {
                label_len += 1;
                if label_len > MAX_LABEL_BYTES {
                    return Err(Malformed::LabelTooLong);
                }
            }
            _ => return Err(Malformed::IllegalCharacter { position }),
        }
    }
    // WHATWG URL: a host whose last label is a number is an IPv4 address, or invalid. No
    // public suffix is numeric, so this never hides a tenant.
    let last = host.rsplit('.').next().unwrap_or(host);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return host.parse::<Ipv4Addr>().map(|ip| RequestHost::Ip(ip.into())).map_err(|_| Malformed::InvalidAddress);
    }
    Ok(RequestHost::Name(host.to_ascii_lowercase()))
}

fn ipv6_literal(rest: &str) -> Result<RequestHost, Malformed> {
    let Some((address, after)) = rest.split_once(']') else {
        return Err(Malformed::IllegalCharacter { position: 0 });
    };
    match after.strip_prefix(':') {
        Some(port) => check_port(port)?,
        None if after.is_empty() => {}
        None => return Err(Malformed::IllegalCharacter { position: address.len() + 2 }),
    }
    address.parse::<Ipv6Addr>().map(|ip| RequestHost::Ip(ip.into())).map_err(|_| Malformed::InvalidAddress)
}

/// RFC 3986 allows an empty port (`host:`); otherwise 1–5 digits up to 65535.
fn check_port(port: &str) -> Result<(), Malformed> {
    if port.is_empty() || (port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()) {
        Ok(())
    } else {
        Err(Malformed::InvalidPort)
    }
}

/// Where host-based resolvers read the host from.
///
/// By default only from the request itself: the URI authority (absolute-form requests and
/// HTTP/2's `:authority`, which RFC 9112 §3.2.2 puts first), else the `Host` header. The
/// forwarded-host headers are ignored because any client can send them (axum removed its
/// `Host` extractor for trusting them, axum issue #3442); [`HostSource::forwarded`] honours
/// them only from the proxies you name.
#[derive(Debug, Clone, Default)]
pub struct HostSource {
    trusted: Option<TrustedProxies>,
}

impl HostSource {
    /// The request's own host only (the default).
    pub fn direct() -> Self {
        Self::default()
    }

    /// The forwarded host when the connection comes from one of `proxies`, read from the one
    /// header they write (see [`TrustedProxies`] and
    /// [`ForwardedHeader`](crate::ForwardedHeader)), else the request's own host.
    pub fn forwarded(proxies: TrustedProxies) -> Self {
        Self { trusted: Some(proxies) }
    }

    /// The normalised host of `parts`.
    ///
    /// # Errors
    /// [`Malformed`] for a missing, repeated or malformed host.
    pub fn host(&self, parts: &Parts) -> Result<RequestHost, Malformed> {
        if let Some(proxies) = &self.trusted {
            if let Some(forwarded) = proxies.forwarded_host(parts)? {
                return normalise(&forwarded);
            }
        }
        normalise(raw_host(parts)?)
    }
}

/// The host name of `parts` for a host-based resolver, or what it must answer instead: no
/// tenant for an IP address, rejected for a malformed host.
pub(crate) fn host_name(source: &HostSource, parts: &Parts) -> Result<String, Resolution> {
    match source.host(parts) {
        Ok(RequestHost::Name(name)) => Ok(name),
        Ok(RequestHost::Ip(_)) => Err(Resolution::NoTenant),
        Err(problem) => Err(Resolution::Rejected(Error::Malformed { part: "host", problem })),
    }
}

/// The request's own authority: the URI's, else the single `Host` header.
fn raw_host(parts: &Parts) -> Result<&str, Malformed> {
    if let Some(authority) = parts.uri.authority() {
        let authority = authority.as_str();
        if let Some(position) = authority.find('@') {
            // userinfo has no place in a host; refuse rather than strip.
            return Err(Malformed::IllegalCharacter { position });
        }
        return Ok(authority);
    }
    let mut values = parts.headers.get_all(http::header::HOST).iter();
    let value = values.next().ok_or(Malformed::Missing)?;
    if values.next().is_some() {
        return Err(Malformed::MultipleValues);
    }
    value.to_str().map_err(|_| Malformed::NotVisibleAscii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> String {
        match normalise(raw) {
            Ok(RequestHost::Name(name)) => name,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn strips_port_and_trailing_dot_and_folds_case() {
        assert_eq!(name("Acme.Example.COM"), "acme.example.com");
        assert_eq!(name("acme.example.com:8080"), "acme.example.com");
        assert_eq!(name("acme.example.com."), "acme.example.com");
        assert_eq!(name("acme.example.com.:443"), "acme.example.com");
        assert_eq!(name("acme.example.com:"), "acme.example.com");
        assert_eq!(name("localhost"), "localhost");
        assert_eq!(name("xn--caf-dma.example.com"), "xn--caf-dma.example.com");
    }

    #[test]
    fn ip_literals_are_addresses() {
        for raw in ["127.0.0.1", "127.0.0.1:3000", "[::1]", "[::1]:3000", "[2001:db8::1]", "10.0.0.1."] {
            assert!(matches!(normalise(raw), Ok(RequestHost::Ip(_))), "{raw}");
        }
        assert_eq!(normalise("1.2.3"), Err(Malformed::InvalidAddress));
        assert_eq!(normalise("999.0.0.1"), Err(Malformed::InvalidAddress));
        assert_eq!(normalise("[zz::1]"), Err(Malformed::InvalidAddress));
        assert_eq!(normalise("::1"), Err(Malformed::IllegalCharacter { position: 0 }));
    }

    #[test]
    fn refuses_what_is_not_a_host() {
        let cases: &[(&str, Malformed)] = &[
            ("", Malformed::Empty),
            (".", Malformed::Empty),
            (":80", Malformed::Empty),
            ("a..b", Malformed::EmptyLabel),
            (".a", Malformed::EmptyLabel),
            ("a b", Malformed::IllegalCharacter { position: 1 }),
            ("a\"b", Malformed::IllegalCharacter { position: 1 }),
            ("a;b", Malformed::IllegalCharacter { position: 1 }),
            ("a%41b", Malformed::IllegalCharacter { position: 1 }),
            ("user@host", Malformed::IllegalCharacter { position: 4 }),
            ("a\0b", Malformed::NotVisibleAscii),
            ("a\tb", Malformed::NotVisibleAscii),
            ("café.example.com", Malformed::NotVisibleAscii),
            ("host:port", Malformed::InvalidPort),
            ("host:65536", Malformed::InvalidPort),
            ("host:-1", Malformed::InvalidPort),
            ("[::1", Malformed::IllegalCharacter { position: 0 }),
            ("[::1]x", Malformed::IllegalCharacter { position: 5 }),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalise(raw), Err(*expected), "{raw:?}");
        }
        assert_eq!(normalise(&format!("{}.com", "a".repeat(64))), Err(Malformed::LabelTooLong));
        assert_eq!(name(&format!("{}.com", "a".repeat(63))).len(), 67);
        let long = vec!["a".repeat(50); 6].join(".");
        assert_eq!(normalise(&long), Err(Malformed::HostTooLong));
    }

    #[test]
    fn reads_the_uri_authority_before_the_host_header() {
        let request = http::Request::get("http://from-uri.example.com/x")
            .header("host", "from-header.example.com")
            .body(())
            .expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(HostSource::direct().host(&parts), Ok(RequestHost::Name("from-uri.example.com".into())));

        let request = http::Request::get("/x").header("host", "From-Header.example.com").body(()).expect("request");
        let (parts, ()) = request.into_parts();
        assert_eq!(HostSource::direct().host(&parts), Ok(RequestHost::Name("from-header.example.com".into())));
    }

    #[test]
    fn missing_and_repeated_hosts_are_malformed() {
        let (parts, ()) = http::Request::get("/x").body(()).expect("request").into_parts();
        assert_eq!(HostSource::direct().host(&parts), Err(Malformed::Missing));
        let (parts, ()) = http::Request::get("/x")
            .header("host", "a.example.com")
            .header("host", "b.example.com")
            .body(())
            .expect("request")
            .into_parts();
        assert_eq!(HostSource::direct().host(&parts), Err(Malformed::MultipleValues));
    }

    #[test]
    fn forwarded_headers_are_ignored_by_default() {
        let (parts, ()) = http::Request::get("/x")
            .header("host", "real.example.com")
            .header("x-forwarded-host", "spoofed.example.com")
            .header("forwarded", "host=spoofed.example.com")
            .body(())
            .expect("request")
            .into_parts();
        assert_eq!(HostSource::direct().host(&parts), Ok(RequestHost::Name("real.example.com".into())));
    }
}
