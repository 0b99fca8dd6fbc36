//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use http_body_util::BodyExt;
use tenantry::{Config, TenantName, TenantSource, Tenantry};
use tenantry_test_support::TestDatabase;
use tower::ServiceExt;

/// A `Tenantry` on `db` whose known tenants come from a closure that counts its calls:
/// `tenants` plus whatever `create_with_marker` adds to it. Every unknown name reloads the
/// cache (miss interval 0), so the counter counts the existence checks of unknown names.
pub struct Fixture {
    pub tenantry: Tenantry,
    pub lists: Arc<AtomicUsize>,
    names: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Fixture {
    pub async fn new(db: &TestDatabase) -> Self {
        client(&db.url())
            .await
            .batch_execute("CREATE TABLE public.marker (tenant text); INSERT INTO public.marker VALUES ('DEFAULT')")
            .await
            .expect("default marker");
        let lists = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let source = {
            let (lists, names) = (lists.clone(), names.clone());
            TenantSource::custom(move || {
                lists.fetch_add(1, Ordering::SeqCst);
                let names = names.lock().expect("names").clone();
                async move { Ok(names) }
            })
        };
        let mut config = Config::default();
        config.database_url = Some(db.url());
        config.tenants.miss_refresh_interval_ms = 0;
        let tenantry = Tenantry::builder(config).tenant_source(source).connect().await.expect("connects");
        Self { tenantry, lists, names }
    }

    /// Creates `name` with a `marker` table holding its name.
    pub async fn create_with_marker(&self, name: &str) -> TenantName {
        let tenant = self.tenantry.tenant(name).expect("valid name");
        self.names.lock().expect("names").push(name.to_owned());
        self.tenantry.create(&tenant).await.expect("creates tenant");
        let mut tx = self.tenantry.transaction_in(Some(&tenant)).await.expect("begins");
        tx.batch_execute("CREATE TABLE marker (tenant text NOT NULL)").await.expect("marker table");
        tx.execute("INSERT INTO marker VALUES ($1)", &[&tenant.as_str()]).await.expect("marker row");
        tx.commit().await.expect("commits");
        self.tenantry.list().await.expect("lists");
        tenant
    }

    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
}

/// A plain tokio-postgres client.
pub async fn client(url: &str) -> tenantry::tokio_postgres::Client {
    let (client, connection) =
        tenantry::tokio_postgres::connect(url, tenantry::tokio_postgres::NoTls).await.expect("raw connection");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Sends a GET for `path` with the `Host` header `host` through `service`.
pub async fn get<S>(service: S, host: &[u8], path: &str) -> (u16, String)
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>,
{
    let request = Request::get(path)
        .header("host", http::HeaderValue::from_bytes(host).expect("a header value"))
        .body(Body::empty())
        .expect("request");
    send(service, request).await
}

pub async fn send<S>(service: S, request: Request<Body>) -> (u16, String)
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>,
{
    let response = service.oneshot(request).await.unwrap_or_else(|never| match never {});
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}
