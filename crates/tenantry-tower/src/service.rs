//! [`ResolveTenant`]: the middleware service.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use http::{Request, Response, Uri};
use tenantry::{TenantName, Tenantry};
use tower_service::Service;

use crate::body::ScopedBody;
use crate::error::Error;
use crate::future::ResponseFuture;
use crate::layer::ResolveTenantLayer;
use crate::policy::{DefaultRejection, NoTenant, OnRejection};
use crate::resolve::{Resolution, Resolve};

/// Middleware that resolves the request's tenant, then calls the inner service, and polls
/// its future and response body, inside that tenant's scope. Made by [`ResolveTenantLayer`].
///
/// For each request:
/// 1. the resolver names a tenant (or none, or refuses the request);
/// 2. the name is checked with tenantry's naming rules ([`Tenantry::tenant`]): a name that
///    fails them is refused before anything else, so it never reaches SQL;
/// 3. the tenant is checked against the known-tenants cache ([`Tenantry::is_known`]: no
///    query while the cache is fresh);
/// 4. a [`RequestTenant`](crate::RequestTenant) is put in the request's extensions, and the
///    inner service runs in the tenant's scope: every `tenantry.transaction()` it opens is
///    the tenant's.
///
/// A refusal is a response, never a service error.
#[derive(Debug)]
pub struct ResolveTenant<S, R, P = DefaultRejection> {
    inner: S,
    shared: Arc<Shared<R, P>>,
}

#[derive(Debug)]
pub(crate) struct Shared<R, P> {
    pub(crate) tenantry: Tenantry,
    pub(crate) resolver: R,
    pub(crate) no_tenant: NoTenant,
    pub(crate) on_rejection: P,
}

/// Where the layer lets a request through to: its tenant (`None`: the default schema) and
/// the URI the inner service sees.
pub(crate) struct Admitted {
    pub(crate) tenant: Option<TenantName>,
    pub(crate) uri: Option<Uri>,
    pub(crate) tenantry: Tenantry,
}

impl<S, R> ResolveTenant<S, R> {
    /// Wraps `inner` with the default policies.
    pub fn new(inner: S, tenantry: Tenantry, resolver: R) -> Self {
        Self::from_shared(
            inner,
            Arc::new(Shared { tenantry, resolver, no_tenant: NoTenant::default(), on_rejection: DefaultRejection }),
        )
    }

    /// The layer: `ResolveTenantLayer::new(tenantry, resolver)`.
    pub fn layer(tenantry: Tenantry, resolver: R) -> ResolveTenantLayer<R> {
        ResolveTenantLayer::new(tenantry, resolver)
    }
}

impl<S, R, P> ResolveTenant<S, R, P> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<R, P>>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, R, P> Clone for ResolveTenant<S, R, P> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<S, R, P, ReqBody, ResBody> Service<Request<ReqBody>> for ResolveTenant<S, R, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: Resolve + Send + Sync + 'static,
    P: OnRejection<ResBody> + Send + Sync + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ScopedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let resolving = self.shared.resolver.resolve(&parts);
        let decision = decide(self.shared.clone(), resolving).boxed();
        // The ready service goes with the request; a clone stays for the next one (the
        // usual tower pattern: the clone has not been polled ready).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(decision, inner, Request::from_parts(parts, body))
    }
}

/// Resolution, validation, existence: the tenant to run in, or the refusal response.
async fn decide<R, P, B>(
    shared: Arc<Shared<R, P>>,
    resolving: impl std::future::Future<Output = Resolution>,
) -> Result<Admitted, Response<B>>
where
    P: OnRejection<B>,
{
    let resolution = resolving.await;
    match admit(&shared, resolution).await {
        Ok((tenant, uri)) => Ok(Admitted { tenant, uri, tenantry: shared.tenantry.clone() }),
        Err(error) => {
            tracing::debug!(code = error.code(), %error, "request refused");
            Err(shared.on_rejection.response(&error))
        }
    }
}

async fn admit<R, P>(
    shared: &Shared<R, P>,
    resolution: Resolution,
) -> Result<(Option<TenantName>, Option<Uri>), Error> {
    match resolution {
        Resolution::Tenant(candidate) => {
            let (name, uri) = candidate.into_parts();
            // The naming rules run before anything touches the database: a hostile name ends
            // here.
            let tenant = shared.tenantry.tenant(&name).map_err(|error| match error {
                tenantry::Error::InvalidTenantName { name, reason } => Error::InvalidTenantName { name, reason },
                source => Error::Registry { source },
            })?;
            match shared.tenantry.is_known(&tenant).await {
                Ok(true) => Ok((Some(tenant), uri)),
                Ok(false) => Err(Error::TenantNotFound { tenant }),
                Err(source) => Err(Error::Registry { source }),
            }
        }
        Resolution::NoTenant => match shared.no_tenant {
            NoTenant::DefaultSchema => Ok((None, None)),
            NoTenant::Reject => Err(Error::NoTenant),
        },
        Resolution::Unmapped => Err(Error::Unmapped),
        Resolution::Rejected(error) => Err(error),
    }
}
