//! # tenantry-tower
//!
//! Tower middleware that picks each request's tenant before the application runs (what
//! Ruby's apartment calls *elevators*), checks it, and runs the rest of the request, response
//! body included, inside [`tenantry`]'s tenant scope: every transaction the handler opens
//! through tenantry sees that tenant's schema and no other.
//!
//! ```no_run
//! # #[cfg(feature = "axum")] mod example {
//! use axum::{http::StatusCode, routing::get, Router};
//! use tenantry::{Config, Tenantry};
//! use tenantry_tower::resolve::Subdomain;
//! use tenantry_tower::{ResolveTenantLayer, Tenant, TenantTx};
//!
//! async fn whoami(Tenant(tenant): Tenant, mut tx: TenantTx) -> Result<String, StatusCode> {
//!     // tx is a transaction in the tenant's schema: `orders` is acme's for acme.example.com.
//!     let row = tx.query_one("SELECT count(*) FROM orders", &[]).await.map_err(internal)?;
//!     tx.into_inner().commit().await.map_err(internal)?;
//!     Ok(format!("{tenant}: {} orders", row.get::<_, i64>(0)))
//! }
//!
//! fn internal(error: tenantry::Error) -> StatusCode {
//!     tracing::error!(%error, "query failed");
//!     StatusCode::INTERNAL_SERVER_ERROR
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tenantry = Tenantry::connect(Config::load(None)?).await?;
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     // Outermost: sessions, auth and everything else run inside the tenant (docs/http.md).
//!     .layer(ResolveTenantLayer::new(tenantry, Subdomain::new()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) } }
//! ```
//!
//! ## What happens to a request
//! 1. A [resolver](resolve) names the tenant: [`Subdomain`](resolve::Subdomain),
//!    [`FirstSubdomain`](resolve::FirstSubdomain), [`Domain`](resolve::Domain),
//!    [`Host`](resolve::Host), [`HostMap`](resolve::HostMap), [`Cached`](resolve::Cached)
//!    (a registry behind a cache), [`Header`](resolve::Header),
//!    [`PathPrefix`](resolve::PathPrefix), any async closure, or several chained with
//!    [`or`](resolve::Resolve::or). Only the `Host` header (or URI authority) is read;
//!    forwarded-host headers only from [`TrustedProxies`].
//! 2. The name goes through tenantry's naming rules: `public`, `pg_catalog`, quotes,
//!    overlong names are refused here and never reach SQL.
//! 3. The tenant is checked against tenantry's known-tenants cache (no query while fresh).
//! 4. The inner service runs in the tenant's scope, and so does every poll of its response
//!    body ([`ScopedBody`]). Handlers read the tenant with the [`Tenant`] extractor (feature
//!    `axum`) or [`RequestTenant`].
//!
//! A refused request gets a response, never a service error: `400` for a malformed host,
//! `404` for a tenant that is invalid, unknown or unmapped, or for no tenant at all (unless
//! [`NoTenant::DefaultSchema`]), `503` when a lookup fails. See [`Error`] and
//! [`ResolveTenantLayer::on_rejection`] for your own responses.
//!
//! docs/http.md covers layer ordering (the tenant layer must wrap sessions and auth),
//! not-found policies and proxies.
//!
//! ## Features
//! - `axum`: the [`Tenant`] and [`TenantTx`] extractors, and axum's `ConnectInfo` as the
//!   peer address for [`TrustedProxies`].

mod body;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod forwarded;
mod future;
mod layer;
mod policy;
mod request;
pub mod resolve;
mod service;

pub use crate::body::ScopedBody;
pub use crate::error::{BoxError, Error};
#[cfg(feature = "axum")]
pub use crate::extract::{Tenant, TenantRejection, TenantTx};
pub use crate::forwarded::{ForwardedHeader, ForwardedProblem, PeerAddr, TrustedProxies};
pub use crate::future::ResponseFuture;
pub use crate::layer::ResolveTenantLayer;
pub use crate::policy::{DefaultRejection, NoTenant, OnRejection};
pub use crate::request::RequestTenant;
pub use crate::service::ResolveTenant;
