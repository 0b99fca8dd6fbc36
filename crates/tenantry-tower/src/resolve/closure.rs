//! Any async closure over the request head is a resolver (apartment's `Generic` elevator).

use std::future::Future;

use http::request::Parts;

use super::resolution::{Resolution, Resolve};

impl<F, Fut> Resolve for F
where
    F: Fn(&Parts) -> Fut,
    Fut: Future<Output = Resolution> + Send + 'static,
{
    type Future = Fut;

    fn resolve(&self, parts: &Parts) -> Fut {
        self(parts)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn closures_resolve() {
        let from_path = |parts: &Parts| {
            let first = parts.uri.path().trim_start_matches('/').split('/').next().map(str::to_owned);
            async move { first.filter(|s| !s.is_empty()).map_or(Resolution::NoTenant, Resolution::tenant) }
        };
        let (parts, ()) = http::Request::get("/acme/x").body(()).expect("request").into_parts();
        match from_path.resolve(&parts).now_or_never() {
            Some(Resolution::Tenant(candidate)) => assert_eq!(candidate.name(), "acme"),
            other => panic!("{other:?}"),
        }
    }
}
