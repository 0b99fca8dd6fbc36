//! [`ScopedBody`]: a response body polled inside the request's tenant scope.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tenantry::TenantName;
use tracing::Span;

pin_project! {
    /// The response body of [`ResolveTenant`](crate::ResolveTenant): the inner service's body,
    /// each poll of which runs inside the request's tenant scope and tracing span.
    ///
    /// A streaming body (server-sent events, a query streamed row by row) keeps producing
    /// after the handler has returned; without this, the code producing it would run outside
    /// any tenant. Refusals made by the layer itself have no tenant.
    #[derive(Debug)]
    pub struct ScopedBody<B> {
        #[pin]
        inner: B,
        tenant: Option<TenantName>,
        span: Span,
    }
}

impl<B> ScopedBody<B> {
    pub(crate) fn new(inner: B, tenant: Option<TenantName>, span: Span) -> Self {
        Self { inner, tenant, span }
    }

    pub(crate) fn unscoped(inner: B) -> Self {
        Self { inner, tenant: None, span: Span::none() }
    }

    /// The tenant the body is polled in.
    pub fn tenant(&self) -> Option<&TenantName> {
        self.tenant.as_ref()
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The inner body, out of its scope.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for ScopedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let _entered = this.span.enter();
        let inner = this.inner;
        tenantry::context::sync_scope(this.tenant.clone(), || inner.poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
