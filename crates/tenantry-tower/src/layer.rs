//! [`ResolveTenantLayer`]: the layer's configuration.

use std::sync::Arc;

use tenantry::Tenantry;
use tower_layer::Layer;

use crate::policy::{DefaultRejection, NoTenant};
use crate::service::{ResolveTenant, Shared};

/// Resolves each request's tenant and runs the rest of the request, response body included,
/// inside that tenant (see the [crate docs](crate)).
///
/// Defaults: requests that name no tenant are refused ([`NoTenant::Reject`]), and refusals are
/// plain-text responses with [`Error::status`](crate::Error::status) ([`DefaultRejection`]).
///
/// **Order:** make it the outermost layer around anything that reads or writes tenant data,
/// sessions and authentication above all (in axum, the last `.layer(…)`): a session layer
/// outside the tenant loads sessions before any tenant is known, and a session made on one
/// tenant's host is then valid on another's. A resolver that rewrites the URI
/// ([`PathPrefix`](crate::resolve::PathPrefix)) must wrap the whole `Router`, not be added with
/// `Router::layer`, which wraps each route after routing. See docs/http.md.
#[derive(Debug, Clone)]
pub struct ResolveTenantLayer<R, P = DefaultRejection> {
    tenantry: Tenantry,
    resolver: R,
    no_tenant: NoTenant,
    on_rejection: P,
}

impl<R> ResolveTenantLayer<R> {
    /// Finds tenants with `resolver` and checks them against `tenantry`'s naming rules and
    /// known tenants.
    pub fn new(tenantry: Tenantry, resolver: R) -> Self {
        Self { tenantry, resolver, no_tenant: NoTenant::default(), on_rejection: DefaultRejection }
    }
}

impl<R, P> ResolveTenantLayer<R, P> {
    /// What to do with requests that name no tenant (default: [`NoTenant::Reject`]).
    #[must_use]
    pub fn no_tenant(mut self, policy: NoTenant) -> Self {
        self.no_tenant = policy;
        self
    }

    /// Makes refusal responses with `on_rejection` (any `Fn(&Error) -> Response<B>`, see
    /// [`OnRejection`](crate::OnRejection)).
    pub fn on_rejection<Q>(self, on_rejection: Q) -> ResolveTenantLayer<R, Q> {
        ResolveTenantLayer { tenantry: self.tenantry, resolver: self.resolver, no_tenant: self.no_tenant, on_rejection }
    }
}

impl<S, R: Clone, P: Clone> Layer<S> for ResolveTenantLayer<R, P> {
    type Service = ResolveTenant<S, R, P>;

    fn layer(&self, inner: S) -> Self::Service {
        ResolveTenant::from_shared(
            inner,
            Arc::new(Shared {
                tenantry: self.tenantry.clone(),
                resolver: self.resolver.clone(),
                no_tenant: self.no_tenant,
                on_rejection: self.on_rejection.clone(),
            }),
        )
    }
}
