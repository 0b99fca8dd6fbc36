//! axum extractors (feature `axum`): [`Tenant`] and [`TenantTx`].
//!
//! Both read the [`RequestTenant`] that [`ResolveTenantLayer`](crate::ResolveTenantLayer)
//! puts in the request. Without the layer they are rejected with `500` and a message naming
//! the missing layer: a route that forgot the layer fails loudly instead of running in the
//! default schema.

use std::ops::{Deref, DerefMut};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;
use tenantry::{TenantName, TenantTransaction};

use crate::request::RequestTenant;

const MISSING_LAYER: &str = "tenantry-tower: this route has no tenant layer; wrap the router (or this route) \
                             in `tenantry_tower::ResolveTenantLayer` to use the `Tenant` and `TenantTx` extractors";

/// The request's tenant, as resolved and checked by the layer.
///
/// Rejected with `404` when the request runs in the default schema
/// ([`NoTenant::DefaultSchema`](crate::NoTenant::DefaultSchema)); use `Option<Tenant>` to
/// accept both.
///
/// ```
/// use tenantry_tower::Tenant;
///
/// async fn whoami(Tenant(tenant): Tenant) -> String {
///     format!("you are {tenant}")
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(whoami);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant(pub TenantName);

/// Why [`Tenant`] or [`TenantTx`] could not be extracted.
#[derive(Debug)]
#[non_exhaustive]
pub enum TenantRejection {
    /// No [`ResolveTenantLayer`](crate::ResolveTenantLayer) wraps the route: `500`.
    MissingLayer,
    /// The request runs in the default schema, with no tenant: `404`.
    NoTenant,
    /// The tenant's transaction could not begin: `404` if its schema has gone since the
    /// cache looked, `503` otherwise (pool exhausted, database down).
    Transaction(tenantry::Error),
}

impl TenantRejection {
    /// The status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NoTenant | Self::Transaction(tenantry::Error::TenantNotFound { .. }) => StatusCode::NOT_FOUND,
            Self::Transaction(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The message sent to the client.
    pub fn body_text(&self) -> &'static str {
        match self {
            Self::MissingLayer => MISSING_LAYER,
            Self::NoTenant => "no tenant in this request",
            Self::Transaction(tenantry::Error::TenantNotFound { .. }) => "tenant not found",
            Self::Transaction(_) => "the tenant's database is unavailable, try again later",
        }
    }
}

impl std::fmt::Display for TenantRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transaction(error) => write!(f, "{}: {error}", self.body_text()),
            _ => f.write_str(self.body_text()),
        }
    }
}

impl std::error::Error for TenantRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transaction(error) => Some(error),
            _ => None,
        }
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        match &self {
            Self::MissingLayer => tracing::error!("{MISSING_LAYER}"),
            Self::Transaction(error) => tracing::warn!(%error, "could not begin the tenant's transaction"),
            Self::NoTenant => {}
        }
        (self.status(), self.body_text()).into_response()
    }
}

fn request_tenant(parts: &Parts) -> Result<&RequestTenant, TenantRejection> {
    parts.extensions.get::<RequestTenant>().ok_or(TenantRejection::MissingLayer)
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        request_tenant(parts)?.tenant().cloned().map(Tenant).ok_or(TenantRejection::NoTenant)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Tenant {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(request_tenant(parts)?.tenant().cloned().map(Tenant))
    }
}

/// A transaction in the request's tenant (`BEGIN; SET LOCAL search_path …`, one round trip),
/// or in the default schema for a request without one. Dropped without
/// [`commit`](TenantTransaction::commit), it rolls back.
///
/// ```
/// use tenantry_tower::TenantTx;
///
/// async fn count(mut tx: TenantTx) -> Result<String, tenantry::Error> {
///     let row = tx.query_one("SELECT count(*) FROM orders", &[]).await?;
///     tx.into_inner().commit().await?;
///     Ok(row.get::<_, i64>(0).to_string())
/// }
/// # let _ = count;
/// ```
#[derive(Debug)]
pub struct TenantTx(pub TenantTransaction);

impl TenantTx {
    /// The transaction, to commit it.
    pub fn into_inner(self) -> TenantTransaction {
        self.0
    }
}

impl Deref for TenantTx {
    type Target = TenantTransaction;

    fn deref(&self) -> &TenantTransaction {
        &self.0
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut TenantTransaction {
        &mut self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantTx {
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = request_tenant(parts)?;
        let transaction = request.tenantry().transaction_in(request.tenant()).await;
        transaction.map(TenantTx).map_err(TenantRejection::Transaction)
    }
}
