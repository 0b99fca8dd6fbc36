//! [`ResponseFuture`]: the future of [`ResolveTenant`](crate::ResolveTenant).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tenantry::TenantName;
use tower_service::Service;
use tracing::Span;

use crate::body::ScopedBody;
use crate::request::RequestTenant;
use crate::service::Admitted;

type Decision<B> = BoxFuture<'static, Result<Admitted, Response<B>>>;

pin_project! {
    /// Resolves the tenant, then runs the inner service's future inside its scope.
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, S::Future, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqBody, ResBody> {
        Deciding {
            decision: Decision<ResBody>,
            inner: Option<S>,
            request: Option<Request<ReqBody>>,
        },
        Running {
            #[pin]
            future: F,
            tenant: Option<TenantName>,
            span: Span,
        },
        Done,
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn new(decision: Decision<ResBody>, inner: S, request: Request<ReqBody>) -> Self {
        Self { state: State::Deciding { decision, inner: Some(inner), request: Some(request) } }
    }
}

fn tenant_span(tenant: Option<&TenantName>) -> Span {
    // The same span as `Tenantry::scope`, so log lines look alike inside and outside HTTP.
    match tenant {
        Some(tenant) => tracing::info_span!("tenant", tenant = %tenant),
        None => tracing::info_span!("tenant", tenant = "(default)"),
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ScopedBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Deciding { decision, inner, request } => {
                    let decided = ready!(decision.as_mut().poll(cx));
                    let (Some(mut inner), Some(mut request)) = (inner.take(), request.take()) else {
                        panic!("tenantry-tower ResponseFuture polled after completion");
                    };
                    let admitted = match decided {
                        Ok(admitted) => admitted,
                        Err(refusal) => {
                            state.set(State::Done);
                            return Poll::Ready(Ok(refusal.map(ScopedBody::unscoped)));
                        }
                    };
                    if let Some(uri) = admitted.uri {
                        *request.uri_mut() = uri;
                    }
                    let tenant = admitted.tenant;
                    request.extensions_mut().insert(RequestTenant::new(tenant.clone(), admitted.tenantry));
                    let span = tenant_span(tenant.as_ref());
                    // `call` may do work too; it runs in the tenant like the future.
                    let future = {
                        let _entered = span.enter();
                        tenantry::context::sync_scope(tenant.clone(), || inner.call(request))
                    };
                    state.set(State::Running { future, tenant, span });
                }
                StateProj::Running { future, tenant, span } => {
                    let polled = {
                        let _entered = span.enter();
                        tenantry::context::sync_scope(tenant.clone(), || future.poll(cx))
                    };
                    let result = ready!(polled);
                    let (tenant, span) = (tenant.take(), span.clone());
                    state.set(State::Done);
                    return Poll::Ready(
                        result.map(|response| response.map(|body| ScopedBody::new(body, tenant, span))),
                    );
                }
                StateProj::Done => panic!("tenantry-tower ResponseFuture polled after completion"),
            }
        }
    }
}

impl<S, ReqBody, ResBody> std::fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
