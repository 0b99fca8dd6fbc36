//! The layer end to end, on a real PostgreSQL: tenants resolved, refused, scoped (handler,
//! extractors and streaming body), and the policies.

mod common;

use std::convert::Infallible;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::{get as request, send, Fixture};
use futures_util::StreamExt;
use tenantry::{current_tenant, Tenantry};
use tenantry_tower::resolve::{Cached, Header, HostMap, PathPrefix, Resolve, Subdomain};
use tenantry_tower::{BoxError, Error, NoTenant, ResolveTenantLayer, Tenant, TenantTx, TrustedProxies};
use tower::ServiceExt;

async fn marker(tenantry: &Tenantry) -> String {
    let mut tx = tenantry.transaction().await.expect("begins");
    let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
    tx.commit().await.expect("commits");
    marker
}

/// `/scope`: the task-local tenant and the marker its transaction reads; `/tx`: the marker
/// through the `TenantTx` extractor; `/tenant`: the `Tenant` extractor; `/maybe`:
/// `Option<Tenant>`; `/stream`: a body whose chunks are produced after the handler returned.
fn routes(tenantry: Tenantry) -> Router {
    let scoped = tenantry.clone();
    let streaming = tenantry.clone();
    Router::new()
        .route(
            "/scope",
            get(move || {
                let tenantry = scoped.clone();
                async move {
                    let tenant = current_tenant().map(|t| t.to_string()).unwrap_or_default();
                    format!("{tenant}:{}", marker(&tenantry).await)
                }
            }),
        )
        .route(
            "/tx",
            get(|mut tx: TenantTx| async move {
                let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
                tx.into_inner().commit().await.expect("commits");
                marker
            }),
        )
        .route("/tenant", get(|Tenant(tenant): Tenant| async move { tenant.to_string() }))
        .route(
            "/maybe",
            get(|tenant: Option<Tenant>| async move { tenant.map_or("(none)".to_owned(), |t| t.0.to_string()) }),
        )
        .route(
            "/stream",
            get(move || {
                let tenantry = streaming.clone();
                async move {
                    // Each chunk reads the scope and the database when the body is polled,
                    // long after the handler's future finished.
                    let chunks = futures_util::stream::iter(0..3).then(move |i| {
                        let tenantry = tenantry.clone();
                        async move {
                            tokio::task::yield_now().await;
                            let tenant = current_tenant().map(|t| t.to_string()).unwrap_or_default();
                            Ok::<_, Infallible>(format!("{i}:{tenant}:{};", marker(&tenantry).await))
                        }
                    });
                    Body::from_stream(chunks)
                }
            }),
        )
}

fn app(fixture: &Fixture, resolver: impl Resolve + Clone + Send + Sync + 'static) -> Router {
    routes(fixture.tenantry.clone()).layer(ResolveTenantLayer::new(fixture.tenantry.clone(), resolver))
}

#[tokio::test]
async fn requests_run_in_their_tenant() {
    let db = tenantry_test_support::test_database("layer_scope").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    fixture.create_with_marker("globex").await;
    let app = app(&fixture, Subdomain::new());

    assert_eq!(request(app.clone(), b"acme.example.com", "/scope").await, (200, "acme:acme".into()));
    assert_eq!(request(app.clone(), b"Globex.Example.com:8080", "/scope").await, (200, "globex:globex".into()));
    assert_eq!(request(app.clone(), b"acme.example.com", "/tx").await, (200, "acme".into()));
    assert_eq!(request(app.clone(), b"globex.example.com", "/tenant").await, (200, "globex".into()));
    assert_eq!(request(app.clone(), b"acme.localhost:3000", "/maybe").await, (200, "acme".into()));
    assert_eq!(
        request(app.clone(), b"globex.example.com", "/stream").await,
        (200, "0:globex:globex;1:globex:globex;2:globex:globex;".into())
    );
}

#[tokio::test]
async fn refusals_have_their_status() {
    let db = tenantry_test_support::test_database("layer_refusals").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    let app = app(&fixture, Subdomain::new());

    let (status, body) = request(app.clone(), b"initech.example.com", "/scope").await;
    assert_eq!((status, body.as_str()), (404, "tenant not found\n"));
    assert_eq!(request(app.clone(), b"public.example.com", "/scope").await.0, 404);
    assert_eq!(request(app.clone(), b"example.com", "/scope").await, (404, "no tenant in this request\n".into()));
    assert_eq!(request(app.clone(), b"www.example.com", "/scope").await.0, 404);
    assert_eq!(request(app.clone(), b"127.0.0.1:3000", "/scope").await.0, 404);
    let (status, body) = request(app.clone(), b"a\"b.example.com", "/scope").await;
    assert_eq!((status, body.as_str()), (400, "bad request: malformed host or tenant identifier\n"));
}

#[tokio::test]
async fn no_tenant_can_run_in_the_default_schema() {
    let db = tenantry_test_support::test_database("layer_default").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    let app = routes(fixture.tenantry.clone())
        .layer(ResolveTenantLayer::new(fixture.tenantry.clone(), Subdomain::new()).no_tenant(NoTenant::DefaultSchema));

    assert_eq!(request(app.clone(), b"example.com", "/scope").await, (200, ":DEFAULT".into()));
    assert_eq!(request(app.clone(), b"www.example.com", "/tx").await, (200, "DEFAULT".into()));
    assert_eq!(request(app.clone(), b"example.com", "/maybe").await, (200, "(none)".into()));
    assert_eq!(request(app.clone(), b"example.com", "/tenant").await, (404, "no tenant in this request".into()));
    assert_eq!(request(app.clone(), b"acme.example.com", "/scope").await, (200, "acme:acme".into()));
    // Unknown tenants are still refused: only *no* tenant falls back.
    assert_eq!(request(app.clone(), b"initech.example.com", "/scope").await.0, 404);
}

#[tokio::test]
async fn custom_rejections_and_chains() {
    let db = tenantry_test_support::test_database("layer_custom").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    fixture.create_with_marker("globex").await;
    let map = HostMap::new().with("shop.acme.com", "acme").expect("valid host");
    let json =
        |error: &Error| (error.status(), axum::Json(serde_json::json!({ "error": error.code() }))).into_response();
    let app = routes(fixture.tenantry.clone())
        .layer(ResolveTenantLayer::new(fixture.tenantry.clone(), map.or(Header::default())).on_rejection(json));

    assert_eq!(request(app.clone(), b"shop.acme.com", "/scope").await, (200, "acme:acme".into()));
    let by_header = http::Request::get("/scope")
        .header("host", "api.example.com")
        .header("x-tenant-id", "globex")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(app.clone(), by_header).await, (200, "globex:globex".into()));
    assert_eq!(request(app.clone(), b"other.com", "/scope").await, (404, r#"{"error":"unmapped"}"#.into()));
    let bad_header = http::Request::get("/scope")
        .header("host", "api.example.com")
        .header("x-tenant-id", "pg_catalog")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(app.clone(), bad_header).await, (404, r#"{"error":"invalid_tenant_name"}"#.into()));
}

#[tokio::test]
async fn path_prefix_passes_the_rest_of_the_path_on() {
    let db = tenantry_test_support::test_database("layer_path").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    // A layer that rewrites the URI must wrap the Router itself: `Router::layer` wraps each
    // route after routing, when the original path has already missed.
    let layer = ResolveTenantLayer::new(fixture.tenantry.clone(), PathPrefix::default());
    let service = tower::Layer::layer(&layer, routes(fixture.tenantry.clone()));
    let app = ServiceExt::<http::Request<Body>>::map_response(
        service,
        |response: http::Response<tenantry_tower::ScopedBody<Body>>| response.map(Body::new),
    );
    assert_eq!(request(app.clone(), b"example.com", "/t/acme/scope").await, (200, "acme:acme".into()));
    assert_eq!(request(app.clone(), b"example.com", "/t/acme/tenant?x=1").await, (200, "acme".into()));
    assert_eq!(request(app.clone(), b"example.com", "/t/ac%6De/scope").await.0, 404);
    assert_eq!(request(app.clone(), b"example.com", "/scope").await.0, 404);
}

#[tokio::test]
async fn extractors_name_the_missing_layer() {
    let db = tenantry_test_support::test_database("layer_missing").await;
    let fixture = Fixture::new(&db).await;
    let bare = routes(fixture.tenantry.clone());
    for path in ["/tenant", "/tx", "/maybe"] {
        let (status, body) = request(bare.clone(), b"acme.example.com", path).await;
        assert_eq!(status, 500, "{path}");
        assert!(body.contains("ResolveTenantLayer"), "{path}: {body}");
    }
}

#[tokio::test]
async fn registry_lookups_are_cached() {
    let db = tenantry_test_support::test_database("layer_cached").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    common::client(&db.url())
        .await
        .batch_execute(
            "CREATE TABLE public.domains (host text PRIMARY KEY, tenant text NOT NULL);
                        INSERT INTO public.domains VALUES ('shop.acme.com', 'acme')",
        )
        .await
        .expect("registry table");
    let queries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let lookup = {
        let (tenantry, queries) = (fixture.tenantry.clone(), queries.clone());
        move |host: String| {
            let (tenantry, queries) = (tenantry.clone(), queries.clone());
            async move {
                queries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut tx = tenantry.transaction_in(None).await?;
                let row = tx.query_opt("SELECT tenant FROM domains WHERE host = $1", &[&host]).await?;
                tx.commit().await?;
                Ok::<_, BoxError>(row.map(|row| row.get::<_, String>(0)))
            }
        }
    };
    let app = app(&fixture, Cached::new(lookup).or(Subdomain::new()));
    for _ in 0..20 {
        assert_eq!(request(app.clone(), b"shop.acme.com", "/scope").await, (200, "acme:acme".into()));
        assert_eq!(request(app.clone(), b"Unknown.example.org", "/scope").await.0, 404);
    }
    // The chain falls through to subdomains for hosts the registry does not know.
    assert_eq!(request(app.clone(), b"acme.example.org", "/scope").await, (200, "acme:acme".into()));
    let queries = queries.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(queries, 3, "one query per distinct host, found or not, then none");
}

#[tokio::test]
async fn forwarded_hosts_only_from_trusted_proxies() {
    let db = tenantry_test_support::test_database("layer_forwarded").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    let trusting = |proxy: &str| {
        let proxies = TrustedProxies::new().address(proxy.parse().expect("ip"));
        app(&fixture, Subdomain::new().trust_forwarded(proxies))
    };
    let from_proxy = || {
        let mut request = http::Request::get("/scope")
            .header("host", "internal.example.net")
            .header("x-forwarded-host", "acme.example.com")
            .body(Body::empty())
            .expect("request");
        let peer: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("address");
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        request
    };
    assert_eq!(send(trusting("127.0.0.1"), from_proxy()).await, (200, "acme:acme".into()));
    // Another peer: the header is ignored and the Host (tenant `internal`, unknown) is used.
    assert_eq!(send(trusting("10.0.0.1"), from_proxy()).await.0, 404);
    // No opt-in at all: ignored too.
    assert_eq!(send(app(&fixture, Subdomain::new()), from_proxy()).await.0, 404);
}
