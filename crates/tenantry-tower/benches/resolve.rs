#![allow(missing_docs)] // criterion_group! generates an undocumented public function
//! Resolution cost per request, for each resolver, and the whole layer's overhead.
//!
//! ```text
//! cargo bench -p tenantry-tower --all-features --bench resolve
//! ```
//!
//! Resolvers run on a request head built once; each iteration resolves it and takes the
//! ready answer (no runtime: resolvers without I/O are ready at once). The `layer` group runs
//! a trivial service with and without `ResolveTenantLayer` (resolve, naming rules,
//! known-tenants cache hit, scope, scoped body) on a throwaway PostgreSQL that only serves
//! the cache's first load.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use http::request::Parts;
use http::{Request, Response};
use tenantry_tower::resolve::{
    normalise, Cached, Domain, FirstSubdomain, Header, Host, HostMap, PathPrefix, Resolution, Resolve, Subdomain,
};
use tenantry_tower::ResolveTenantLayer;
use tower::{Layer, Service, ServiceExt};

fn head(host: &str, path: &str) -> Parts {
    Request::get(path).header("host", host).header("x-tenant-id", "acme").body(()).expect("request").into_parts().0
}

fn bench_resolver(c: &mut Criterion, name: &str, resolver: impl Resolve, parts: &Parts) {
    assert!(
        matches!(resolver.resolve(parts).now_or_never(), Some(Resolution::Tenant(_))),
        "{name} must resolve a tenant in its benchmark"
    );
    c.bench_function(&format!("resolve/{name}"), |b| {
        b.iter(|| black_box(resolver.resolve(black_box(parts)).now_or_never()));
    });
}

fn resolvers(c: &mut Criterion) {
    let host = head("Acme.Example.com:8080", "/t/acme/orders?page=2");
    let uk = head("acme.shop.co.uk", "/");
    c.bench_function("resolve/normalise (host only)", |b| {
        b.iter(|| black_box(normalise(black_box("Acme.Example.com:8080"))))
    });
    bench_resolver(c, "Subdomain (acme.example.com)", Subdomain::new(), &host);
    bench_resolver(c, "Subdomain (acme.shop.co.uk)", Subdomain::new(), &uk);
    bench_resolver(c, "FirstSubdomain", FirstSubdomain::under(["example.com"]), &host);
    bench_resolver(c, "Domain", Domain::new(), &uk);
    bench_resolver(c, "Host", Host::new(), &host);
    let mut map = HostMap::new();
    for i in 0..1000 {
        map = map.with(&format!("tenant{i}.example.org"), format!("tenant{i}")).expect("valid host");
    }
    let map = map.with("acme.example.com", "acme").expect("valid host");
    bench_resolver(c, "HostMap (1,001 hosts)", map.clone(), &host);
    bench_resolver(c, "Header", Header::default(), &host);
    bench_resolver(c, "PathPrefix (URI rewritten)", PathPrefix::default(), &host);
    let cached = Cached::new(|host: String| async move {
        Ok::<_, tenantry_tower::BoxError>(host.split('.').next().map(str::to_owned))
    });
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(cached.resolve(&host));
    bench_resolver(c, "Cached (hit)", cached, &host);
    bench_resolver(c, "HostMap.or(Subdomain), map misses", HostMap::new().or(Subdomain::new()), &host);
    let closure = |parts: &Parts| {
        let tenant = parts.headers.get("x-tenant-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        async move { tenant.map_or(Resolution::NoTenant, Resolution::tenant) }
    };
    bench_resolver(c, "closure (header)", closure, &host);
}

fn layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let db = runtime.block_on(tenantry_test_support::test_database("bench_layer"));
    let tenantry = runtime.block_on(async {
        let mut config = tenantry::Config::default();
        config.database_url = Some(db.url());
        let tenantry = tenantry::Tenantry::connect(config).await.expect("connects");
        let acme = tenantry.tenant("acme").expect("valid");
        tenantry.create(&acme).await.expect("creates");
        tenantry
    });
    let inner = tower::service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::from("ok"))) });
    let layered = ResolveTenantLayer::new(tenantry.clone(), Subdomain::new()).layer(inner);
    let request = || Request::get("/").header("host", "acme.example.com").body(()).expect("request");
    let mut group = c.benchmark_group("layer");
    group.bench_function("bare service", |b| {
        b.iter(|| runtime.block_on(inner.oneshot(request())).map(|r| r.into_body()));
    });
    group.bench_function("ResolveTenantLayer(Subdomain) + service", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut service = layered.clone();
                let response = service.ready().await?.call(request()).await?;
                Ok::<_, Infallible>(response.status())
            })
        });
    });
    group.finish();
    drop(tenantry);
    drop(db);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = resolvers, layer
}
criterion_main!(benches);
