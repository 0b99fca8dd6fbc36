//! One hop's `Forwarded` element (RFC 7239 §4), parsed strictly. Only entries a trusted hop appended are ever parsed (see `list.rs`), so
//! anything here that breaks the grammar is a proxy writing garbage: refused, never guessed.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What is wrong with a forwarded header that a trusted proxy sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedProblem {
    /// A quoted string is not closed.
    UnbalancedQuote,
    /// A part of an element is not `name=value` with a token for the name and a token or a
    /// quoted string for the value (RFC 7239 §4), or holds a byte that is not visible ASCII.
    NotAPair,
    /// A parameter appears twice in one element (RFC 7239 §4 forbids it).
    RepeatedParameter,
    /// A `for=` value is not a node: an IPv4 address or an IPv6 address in brackets,
    /// optionally with a port, `unknown`, or an obfuscated `_name` (RFC 7239 §6).
    InvalidNode,
}

impl fmt::Display for ForwardedProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnbalancedQuote => "a quoted string is not closed",
            Self::NotAPair => "a part is not `name=value` (RFC 7239 §4)",
            Self::RepeatedParameter => "a parameter appears twice in one element (RFC 7239 §4)",
            Self::InvalidNode => {
                "a `for=` value is not an IP address (IPv6 in brackets), `unknown` or `_obfuscated` (RFC 7239 §6)"
            }
        })
    }
}

/// Who a hop says its peer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    /// An address: trusted if it is one of the proxies.
    Ip(IpAddr),
    /// `unknown` or an obfuscated identifier: never a trusted proxy.
    Hidden,
}

/// The parameters of one `Forwarded` element that the walk reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Element<'a> {
    pub(super) for_node: Option<Node>,
    pub(super) host: Option<Cow<'a, str>>,
}

impl<'a> Element<'a> {
    /// Parses `forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )`, OWS
    /// allowed around each pair. An empty element (`a, , b`; lists may hold them, RFC 9110
    /// §5.6.1) has no parameters.
    pub(super) fn parse(element: &'a [u8]) -> Result<Self, ForwardedProblem> {
        let mut parsed = Self::default();
        let (mut seen_by, mut seen_proto) = (false, false);
        let mut rest = element;
        loop {
            let (pair, after) = split_pair(rest)?;
            let pair = super::list::trim(pair);
            if !pair.is_empty() {
                let (name, value) = name_value(pair)?;
                let repeated = match name.to_ascii_lowercase().as_slice() {
                    b"for" => parsed.for_node.replace(node(&value)?).is_some(),
                    b"host" => parsed.host.replace(value).is_some(),
                    b"by" => std::mem::replace(&mut seen_by, true),
                    b"proto" => std::mem::replace(&mut seen_proto, true),
                    _ => repeated_later(name, after)?,
                };
                if repeated {
                    return Err(ForwardedProblem::RepeatedParameter);
                }
            }
            if after.is_empty() {
                break;
            }
            rest = after;
        }
        Ok(parsed)
    }
}

/// Splits off the first pair of `rest` at a `;` outside quotes; `rest` after it has the `;`
/// removed (empty when the pair was the last).
fn split_pair(rest: &[u8]) -> Result<(&[u8], &[u8]), ForwardedProblem> {
    let mut quoted = false;
    let mut escaped = false;
    for (index, &byte) in rest.iter().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => return Ok((&rest[..index], &rest[index + 1..])),
            _ => {}
        }
    }
    if quoted {
        return Err(ForwardedProblem::UnbalancedQuote);
    }
    Ok((rest, &[]))
}

/// Whether an extension parameter named `name` appears again in the rest of the element.
fn repeated_later(name: &[u8], mut rest: &[u8]) -> Result<bool, ForwardedProblem> {
    while !rest.is_empty() {
        let (pair, after) = split_pair(rest)?;
        rest = after;
        if let Some(position) = pair.iter().position(|&b| b == b'=') {
            if super::list::trim(&pair[..position]).eq_ignore_ascii_case(name) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `token "=" ( token / quoted-string )`, the value unescaped.
fn name_value(pair: &[u8]) -> Result<(&[u8], Cow<'_, str>), ForwardedProblem> {
    let position = pair.iter().position(|&b| b == b'=').ok_or(ForwardedProblem::NotAPair)?;
    let (name, value) = (&pair[..position], &pair[position + 1..]);
    if !is_token(name) {
        return Err(ForwardedProblem::NotAPair);
    }
    if is_token(value) {
        return Ok((name, Cow::Borrowed(ascii(value)?)));
    }
    let inner = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .filter(|_| value.len() >= 2)
        .ok_or(ForwardedProblem::NotAPair)?;
    let mut unescaped = String::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&byte) = bytes.next() {
        let byte = match byte {
            b'\\' => *bytes.next().ok_or(ForwardedProblem::NotAPair)?,
            b'"' => return Err(ForwardedProblem::NotAPair),
            byte => byte,
        };
        // qdtext and quoted-pair also allow obs-text (bytes ≥ 0x80); no host or address
        // holds one, so they are refused here rather than decoded.
        if !(byte.is_ascii_graphic() || byte == b' ' || byte == b'\t') {
            return Err(ForwardedProblem::NotAPair);
        }
        unescaped.push(char::from(byte));
    }
    Ok((name, Cow::Owned(unescaped)))
}

/// RFC 9110 §5.6.2 `tchar`s, at least one.
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

fn ascii(bytes: &[u8]) -> Result<&str, ForwardedProblem> {
    std::str::from_utf8(bytes).map_err(|_| ForwardedProblem::NotAPair)
}

/// A node (RFC 7239 §6): IPv4, bracketed IPv6 (`"[2001:db8::1]:4711"`), `unknown` or
/// `_obfuscated`, each optionally with a port.
fn node(raw: &str) -> Result<Node, ForwardedProblem> {
    if let Some(rest) = raw.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or(ForwardedProblem::InvalidNode)?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(ForwardedProblem::InvalidNode)?),
        };
        check_port(port)?;
        return address.parse::<Ipv6Addr>().map(|a| Node::Ip(IpAddr::V6(a))).map_err(|_| ForwardedProblem::InvalidNode);
    }
    // A bare IPv6 address (`::1`) has colons left here: RFC 7239 §6 requires brackets.
    let (name, port) = match raw.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (raw, None),
    };
    check_port(port)?;
    if name.eq_ignore_ascii_case("unknown") || is_obfuscated(name) {
        return Ok(Node::Hidden);
    }
    name.parse::<Ipv4Addr>().map(|a| Node::Ip(IpAddr::V4(a))).map_err(|_| ForwardedProblem::InvalidNode)
}

/// `node-port = port / obfport`: 1 to 5 digits, or `_name`.
fn check_port(port: Option<&str>) -> Result<(), ForwardedProblem> {
    match port {
        None => Ok(()),
        Some(port) if is_obfuscated(port) => Ok(()),
        Some(port) if (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Some(_) => Err(ForwardedProblem::InvalidNode),
    }
}

/// `obfnode = "_" 1*( ALPHA / DIGIT / "." / "_" / "-")`.
fn is_obfuscated(name: &str) -> bool {
    name.strip_prefix('_')
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(element: &str) -> Result<Element<'_>, ForwardedProblem> {
        Element::parse(element.as_bytes())
    }

    fn ip(address: &str) -> Option<Node> {
        Some(Node::Ip(address.parse().expect("ip")))
    }

    #[test]
    fn elements_give_their_for_and_host() {
        let element = parse("for=192.0.2.60;proto=http;by=203.0.113.43;host=acme.example.com").expect("parses");
        assert_eq!(element.for_node, ip("192.0.2.60"));
        assert_eq!(element.host.as_deref(), Some("acme.example.com"));
        let element = parse(r#"For="[2001:db8:cafe::17]:4711" ; HOST="acme.example.com:443""#).expect("parses");
        assert_eq!(element.for_node, ip("2001:db8:cafe::17"));
        assert_eq!(element.host.as_deref(), Some("acme.example.com:443"));
        assert_eq!(parse(r#"host="a\.b""#).expect("parses").host.as_deref(), Some("a.b"));
        assert_eq!(parse("").expect("parses"), Element::default());
        assert_eq!(parse(";;for=unknown;").expect("parses").for_node, Some(Node::Hidden));
        assert_eq!(parse("for=\"_hidden:_port\";ext=1").expect("parses").for_node, Some(Node::Hidden));
        assert_eq!(parse("for=\"192.0.2.1:8080\"").expect("parses").for_node, ip("192.0.2.1"));
    }

    #[test]
    fn anything_else_is_refused() {
        let cases = [
            ("host=a;host=b", ForwardedProblem::RepeatedParameter),
            ("HOST=a;host=a", ForwardedProblem::RepeatedParameter),
            ("for=1.2.3.4;FOR=1.2.3.4", ForwardedProblem::RepeatedParameter),
            ("ext=1;by=x;Ext=2", ForwardedProblem::RepeatedParameter),
            ("host", ForwardedProblem::NotAPair),
            ("host=", ForwardedProblem::NotAPair),
            ("=x", ForwardedProblem::NotAPair),
            ("host = a", ForwardedProblem::NotAPair),
            ("host=a b", ForwardedProblem::NotAPair),
            ("host=\"a\"b", ForwardedProblem::NotAPair),
            ("host=\"a", ForwardedProblem::UnbalancedQuote),
            ("host=\"", ForwardedProblem::UnbalancedQuote),
            ("host=\"a\\\"", ForwardedProblem::UnbalancedQuote),
            ("host=[::1]", ForwardedProblem::NotAPair),
            ("host=\"caf\u{e9}\"", ForwardedProblem::NotAPair),
            ("for=\"::1\"", ForwardedProblem::InvalidNode),
            ("for=\"[::1\"", ForwardedProblem::InvalidNode),
            ("for=\"[zz::1]\"", ForwardedProblem::InvalidNode),
            ("for=\"[::1]x\"", ForwardedProblem::InvalidNode),
            ("for=1.2.3", ForwardedProblem::InvalidNode),
            ("for=\"1.2.3.4:123456\"", ForwardedProblem::InvalidNode),
            ("for=_", ForwardedProblem::InvalidNode),
            ("for=evil.example.com", ForwardedProblem::InvalidNode),
        ];
        for (element, problem) in cases {
            assert_eq!(parse(element), Err(problem), "{element:?}");
        }
    }
}
