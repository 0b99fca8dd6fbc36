//! The walk from the right: the host the nearest trusted hop recorded.

use std::borrow::Cow;

use http::HeaderMap;

use super::element::{Element, ForwardedProblem, Node};
use super::list::{Quotes, RightToLeft};
use super::TrustedProxies;
use crate::resolve::Malformed;

/// The right-most value of `X-Forwarded-Host`: the one the peer (trusted) set or appended.
/// An empty right-most value is refused rather than passed over: what lies left of it may be
/// the client's.
pub(super) fn x_forwarded_host(headers: &HeaderMap) -> Result<Option<&str>, Malformed> {
    let mut entries = RightToLeft::new(headers.get_all("x-forwarded-host"), Quotes::Ignored);
    let Some(entry) = entries.next() else {
        return Ok(None);
    };
    let entry = entry.map_err(|problem| Malformed::Forwarded { header: "X-Forwarded-Host", problem })?;
    if entry.is_empty() {
        return Err(Malformed::Empty);
    }
    std::str::from_utf8(entry).map(Some).map_err(|_| Malformed::NotVisibleAscii)
}

/// The `host=` of the right-most `Forwarded` element a trusted hop appended.
///
/// The right-most element is the peer's. If it names no host, the element left of it was
/// appended by the hop its `for=` names, and is read only if that hop is a trusted proxy;
/// and so on (nginx's `real_ip_recursive`, applied to `for=`). The walk stops at the first
/// element whose `for=` is missing, `unknown`, obfuscated or untrusted: everything left of
/// it is the client's, and is never parsed.
pub(super) fn forwarded<'a>(
    proxies: &TrustedProxies,
    headers: &'a HeaderMap,
) -> Result<Option<Cow<'a, str>>, Malformed> {
    let malformed = |problem: ForwardedProblem| Malformed::Forwarded { header: "Forwarded", problem };
    for entry in RightToLeft::new(headers.get_all(http::header::FORWARDED), Quotes::Honoured) {
        let element = Element::parse(entry.map_err(malformed)?).map_err(malformed)?;
        if element.host.is_some() {
            return Ok(element.host);
        }
        match element.for_node {
            Some(Node::Ip(address)) if proxies.contains(address) => {}
            Some(Node::Ip(_) | Node::Hidden) | None => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::forwarded::{ForwardedHeader, PeerAddr};
    use crate::resolve::{HostSource, RequestHost};

    const PROXY: &str = "10.0.0.1:5000";

    fn parts(peer: Option<&str>, headers: &[(&str, &str)]) -> http::request::Parts {
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

    fn proxies(header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new()
            .address("10.0.0.1".parse().expect("ip"))
            .network("fd00::".parse().expect("ip"), 8)
            .header(header)
    }

    fn host(header: ForwardedHeader, headers: &[(&str, &str)]) -> Result<String, Malformed> {
        match HostSource::forwarded(proxies(header)).host(&parts(Some(PROXY), headers)) {
            Ok(RequestHost::Name(name)) => Ok(name),
            Ok(RequestHost::Ip(ip)) => Ok(ip.to_string()),
            Err(problem) => Err(problem),
        }
    }

    fn ok(host: &str) -> Result<String, Malformed> {
        Ok(host.to_owned())
    }

    use ForwardedHeader::{Forwarded, XForwardedHost};

    #[test]
    fn only_trusted_peers_are_believed() {
        let source = HostSource::forwarded(proxies(XForwardedHost));
        let spoof = [("x-forwarded-host", "other.example.com")];
        let name = |peer| match source.host(&parts(peer, &spoof)) {
            Ok(RequestHost::Name(name)) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name(Some(PROXY)), "other.example.com");
        assert_eq!(name(Some("10.0.0.2:5000")), "direct.example.com");
        assert_eq!(name(None), "direct.example.com");
    }

    #[test]
    fn the_header_not_named_is_ignored_entirely() {
        // The leak this module was rewritten for: the proxy sets X-Forwarded-Host, the client
        // sent its own Forwarded, in either order.
        for headers in [
            [("forwarded", "host=evil.example.com"), ("x-forwarded-host", "real.example.com")],
            [("x-forwarded-host", "real.example.com"), ("forwarded", "host=evil.example.com")],
        ] {
            assert_eq!(host(XForwardedHost, &headers), ok("real.example.com"));
        }
        for headers in [
            [("forwarded", "for=192.0.2.1;host=real.example.com"), ("x-forwarded-host", "evil.example.com")],
            [("x-forwarded-host", "evil.example.com"), ("forwarded", "for=192.0.2.1;host=real.example.com")],
        ] {
            assert_eq!(host(Forwarded, &headers), ok("real.example.com"));
        }
        // Named header missing: the request's Host (which the trusted peer sent), never the
        // other header.
        assert_eq!(host(XForwardedHost, &[("forwarded", "host=evil.example.com")]), ok("direct.example.com"));
        assert_eq!(host(Forwarded, &[("x-forwarded-host", "evil.example.com")]), ok("direct.example.com"));
    }

    #[test]
    fn x_forwarded_host_takes_the_right_most_value() {
        assert_eq!(
            host(XForwardedHost, &[("x-forwarded-host", "evil.example.com, real.example.com")]),
            ok("real.example.com")
        );
        let lines = [("x-forwarded-host", "evil.example.com"), ("x-forwarded-host", "real.example.com")];
        assert_eq!(host(XForwardedHost, &lines), ok("real.example.com"));
        // X-Forwarded-For plays no part: a forged chain of trusted hops changes nothing.
        let forged =
            [("x-forwarded-for", "10.0.0.1, 10.0.0.1"), ("x-forwarded-host", "evil.example.com, real.example.com")];
        assert_eq!(host(XForwardedHost, &forged), ok("real.example.com"));
        assert_eq!(host(XForwardedHost, &[("x-forwarded-host", "evil.example.com, ")]), Err(Malformed::Empty));
        assert_eq!(host(XForwardedHost, &[("x-forwarded-host", "\"evil.example.com\"")]).map_err(|_| ()), Err(()));
        assert_eq!(host(XForwardedHost, &[("x-forwarded-host", "[2001:db8::1]:443")]), ok("2001:db8::1"));
    }

    #[test]
    fn forwarded_walks_trusted_hops_without_a_host() {
        let cases: &[(&[&str], Result<String, Malformed>)] = &[
            (&["for=192.0.2.1;host=real.example.com"], ok("real.example.com")),
            (&["for=192.0.2.1;host=evil.example.com", "for=192.0.2.1;host=\"real.example.com:443\";proto=https"], ok("real.example.com")),
            (&["host=evil.example.com, for=192.0.2.1;host=real.example.com"], ok("real.example.com")),
            // The peer's element has no host, and its for= is a trusted proxy: that proxy's
            // element (left of it) is read; IPv4 and bracketed IPv6, quoted, with ports.
            (&["for=192.0.2.1;host=real.example.com, for=10.0.0.1"], ok("real.example.com")),
            (&["host=evil.example.com, for=192.0.2.1;host=real.example.com, for=\"[fd00::7]:4711\";proto=https, for=\"10.0.0.1:80\""], ok("real.example.com")),
            (&["for=192.0.2.1;host=real.example.com", "for=\"[::ffff:10.0.0.1]\""], ok("real.example.com")),
            // A for= that is not trusted (an address, unknown, obfuscated, missing) ends the walk:
            // what is left of it is the client's, so the Host header the peer sent is used.
            (&["host=evil.example.com, for=192.0.2.1"], ok("direct.example.com")),
            (&["host=evil.example.com, for=\"[2001:db8::1]\""], ok("direct.example.com")),
            (&["host=evil.example.com, for=unknown"], ok("direct.example.com")),
            (&["host=evil.example.com, for=_hidden"], ok("direct.example.com")),
            (&["host=evil.example.com, proto=https"], ok("direct.example.com")),
            (&["host=evil.example.com,"], ok("direct.example.com")),
            // Quoted commas and semicolons stay inside their element.
            (&["ext=\"a,b;c\";host=real.example.com"], ok("real.example.com")),
            // Malformed entries a trusted hop appended: refused, never skipped.
            (&["for=192.0.2.1;host=real.example.com;host=evil.example.com"], Err(Malformed::Forwarded { header: "Forwarded", problem: ForwardedProblem::RepeatedParameter })),
            (&["for=10.0.0.1;host=\"unclosed"], Err(Malformed::Forwarded { header: "Forwarded", problem: ForwardedProblem::UnbalancedQuote })),
            (&["host=real.example.com, for=::1"], Err(Malformed::Forwarded { header: "Forwarded", problem: ForwardedProblem::NotAPair })),
            (&["host=real.example.com, for=\"::1\""], Err(Malformed::Forwarded { header: "Forwarded", problem: ForwardedProblem::InvalidNode })),
            (&["host=evil.example.com, for=10.0.0.1, garbage"], Err(Malformed::Forwarded { header: "Forwarded", problem: ForwardedProblem::NotAPair })),
            (&["host=\"a;b.example.com\""], Err(Malformed::IllegalCharacter { position: 1 })),
        ];
        for (lines, expected) in cases {
            let headers: Vec<(&str, &str)> = lines.iter().map(|line| ("forwarded", *line)).collect();
            assert_eq!(&host(Forwarded, &headers), expected, "{lines:?}");
        }
    }

    #[test]
    fn the_client_part_is_never_parsed() {
        // Malformed or non-ASCII bytes left of the trusted element change nothing.
        let mut headers = HeaderMap::new();
        headers.append("forwarded", http::HeaderValue::from_bytes(b"for=\"\xff, host=\"").expect("value"));
        headers.append(
            "forwarded",
            http::HeaderValue::from_bytes(b"host=\"unclosed\\\", for=192.0.2.1;host=real.example.com").expect("value"),
        );
        let host = forwarded(&proxies(Forwarded), &headers).expect("parses");
        assert_eq!(host.as_deref(), Some("real.example.com"));
    }

    /// A trusted suffix as a proxy chain writes it: the edge element records an untrusted
    /// client; each later element records a trusted hop and may omit `host=`.
    fn trusted_suffix() -> impl Strategy<Value = Vec<String>> {
        let client = prop_oneof![
            Just("for=192.0.2.9".to_owned()),
            Just("for=\"[2001:db8::9]:1234\"".to_owned()),
            Just("for=unknown".to_owned()),
            Just("for=_client".to_owned()),
        ];
        let hop = prop_oneof![Just("for=10.0.0.1"), Just("for=\"[fd00::1]\""), Just("for=\"10.0.0.1:443\"")];
        let host = prop_oneof![Just(""), Just(";host=acme.example.com"), Just(";host=\"globex.example.com:8443\"")];
        (client, host.clone(), proptest::collection::vec((hop, host), 0..4)).prop_map(|(client, host, hops)| {
            let mut elements = vec![format!("{client}{host};proto=https")];
            elements.extend(hops.into_iter().map(|(hop, host)| format!("{hop}{host}")));
            elements
        })
    }

    /// What a client can send: any header-value bytes, heavy on the grammar's punctuation.
    fn client_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            4 => prop::sample::select(b"\",;=\\ \tfor=host=10.0.0.1_[]:".to_vec()),
            1 => 0x21u8..=0x7e,
            1 => 0x80u8..=0xff,
        ];
        proptest::collection::vec(byte, 0..40)
    }

    proptest! {
        /// No client-controlled prefix of the header list, whether on earlier lines or at the
        /// start of the line the proxy rebuilt, changes the result.
        #[test]
        fn no_client_prefix_changes_the_result(
            suffix in trusted_suffix(),
            earlier_lines in proptest::collection::vec(client_bytes(), 0..3),
            same_line in proptest::option::of(client_bytes()),
            xfh in proptest::collection::vec("[a-z.,\" ]{0,20}", 0..3),
        ) {
            let trusted = suffix.join(", ");
            let mut clean = HeaderMap::new();
            clean.append("forwarded", http::HeaderValue::from_str(&trusted).expect("value"));
            let mut spoofed = HeaderMap::new();
            for line in &earlier_lines {
                if let Ok(value) = http::HeaderValue::from_bytes(line) {
                    spoofed.append("forwarded", value);
                }
            }
            let last = match &same_line {
                Some(prefix) => [prefix.as_slice(), b", ", trusted.as_bytes()].concat(),
                None => trusted.clone().into_bytes(),
            };
            if let Ok(value) = http::HeaderValue::from_bytes(&last) {
                spoofed.append("forwarded", value);
            } else {
                spoofed.append("forwarded", http::HeaderValue::from_str(&trusted).expect("value"));
            }
            for value in &xfh {
                spoofed.append("x-forwarded-host", http::HeaderValue::from_str(value).expect("value"));
            }
            let proxies = proxies(Forwarded);
            let expected = forwarded(&proxies, &clean).map(|host| host.map(Cow::into_owned));
            prop_assert!(expected.is_ok());
            let actual = forwarded(&proxies, &spoofed).map(|host| host.map(Cow::into_owned));
            prop_assert_eq!(actual, expected);

            // X-Forwarded-Host: a client's values on earlier lines, or left on the line the
            // proxy appended to, change nothing either.
            let mut clean = HeaderMap::new();
            clean.append("x-forwarded-host", http::HeaderValue::from_static("acme.example.com"));
            let mut spoofed = HeaderMap::new();
            for line in &earlier_lines {
                if let Ok(value) = http::HeaderValue::from_bytes(line) {
                    spoofed.append("x-forwarded-host", value);
                }
            }
            let appended = [same_line.unwrap_or_default().as_slice(), b", acme.example.com"].concat();
            spoofed.append(
                "x-forwarded-host",
                http::HeaderValue::from_bytes(&appended).unwrap_or(http::HeaderValue::from_static("acme.example.com")),
            );
            prop_assert_eq!(x_forwarded_host(&spoofed), x_forwarded_host(&clean));
        }
    }
}
