//! [`Header`]: the tenant is named by a request header (`X-Tenant-Id`).

use std::future::{ready, Ready};

use http::header::HeaderName;
use http::request::Parts;

use super::host::Malformed;
use super::resolution::{Resolution, Resolve};
use crate::error::Error;

/// The tenant is the value of a header, `X-Tenant-Id` by default: for APIs whose clients
/// are told their tenant. The value is taken as it is (no case folding: a tenant header is
/// an identifier, not a host) and then checked by the naming rules like any other.
///
/// | `X-Tenant-Id` | tenant |
/// |---|---|
/// | `acme` | `acme` |
/// | absent | none |
/// | empty, repeated, or not visible ASCII | rejected: `400` |
/// | `Acme`, `public`, `a;b` | `Acme`, … then refused by the naming rules: `404` |
///
/// Put it behind your authentication: a header is whatever the client says.
#[derive(Debug, Clone)]
pub struct Header {
    name: HeaderName,
}

impl Default for Header {
    fn default() -> Self {
        Self { name: HeaderName::from_static("x-tenant-id") }
    }
}

impl Header {
    /// The tenant is the value of `name`.
    pub fn new(name: HeaderName) -> Self {
        Self { name }
    }

    fn resolve_header(&self, parts: &Parts) -> Resolution {
        let mut values = parts.headers.get_all(&self.name).iter();
        let Some(value) = values.next() else { return Resolution::NoTenant };
        let rejected = |problem| Resolution::Rejected(Error::Malformed { part: "tenant header", problem });
        if values.next().is_some() {
            return rejected(Malformed::MultipleValues);
        }
        match value.to_str() {
            Ok("") => rejected(Malformed::Empty),
            Ok(name) if name.bytes().all(|b| b.is_ascii_graphic()) => Resolution::tenant(name),
            _ => rejected(Malformed::NotVisibleAscii),
        }
    }
}

impl Resolve for Header {
    type Future = Ready<Resolution>;

    fn resolve(&self, parts: &Parts) -> Self::Future {
        ready(self.resolve_header(parts))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::resolve::testing::describe;

    fn outcome(resolver: &Header, values: &[&[u8]]) -> String {
        let mut builder = http::Request::get("/");
        for value in values {
            builder = builder.header("x-tenant-id", http::HeaderValue::from_bytes(value).expect("header value"));
        }
        let (parts, ()) = builder.body(()).expect("request").into_parts();
        describe(resolver.resolve(&parts).now_or_never().expect("ready"))
    }

    #[test]
    fn documented_table() {
        let header = Header::default();
        assert_eq!(outcome(&header, &[b"acme"]), "acme");
        assert_eq!(outcome(&header, &[]), "-");
        assert_eq!(outcome(&header, &[b""]), "rejected");
        assert_eq!(outcome(&header, &[b"a", b"b"]), "rejected");
        assert_eq!(outcome(&header, &[b"caf\xc3\xa9"]), "rejected");
        assert_eq!(outcome(&header, &[b"a b"]), "rejected");
        assert_eq!(outcome(&header, &[b"Acme"]), "Acme");
        assert_eq!(outcome(&header, &[b"a;b"]), "a;b");
    }

    #[test]
    fn the_header_name_is_configurable() {
        let header = Header::new(HeaderName::from_static("x-org"));
        let (parts, ()) = http::Request::get("/").header("x-org", "acme").body(()).expect("request").into_parts();
        assert_eq!(describe(header.resolve(&parts).now_or_never().expect("ready")), "acme");
    }
}
