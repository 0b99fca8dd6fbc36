//! Test helpers: run a resolver on a host and describe the outcome in one word.

use futures_util::FutureExt;

use super::resolution::{Resolution, Resolve};

/// `foo` for a tenant, `-` for no tenant, `unmapped`, or `rejected`.
pub(crate) fn outcome(resolver: &impl Resolve, host: &str) -> String {
    let request = http::Request::get("/").header("host", host).body(()).expect("request");
    let (parts, ()) = request.into_parts();
    describe(resolver.resolve(&parts).now_or_never().expect("resolvers without I/O are ready at once"))
}

pub(crate) fn describe(resolution: Resolution) -> String {
    match resolution {
        Resolution::Tenant(candidate) => candidate.name().to_owned(),
        Resolution::NoTenant => "-".to_owned(),
        Resolution::Unmapped => "unmapped".to_owned(),
        Resolution::Rejected(_) => "rejected".to_owned(),
    }
}

/// Asserts each `(host, expected)` row.
pub(crate) fn check_table(resolver: &impl Resolve, table: &[(&str, &str)]) {
    for (host, expected) in table {
        assert_eq!(outcome(resolver, host), *expected, "host {host:?}");
    }
}
