//! The current tenant of a task: a task-local set for the duration of one future.
//!
//! The value lives only while the scoped future is being polled, so it is reset however the
//! future ends: success, error, panic, or being dropped mid-way (cancellation). Nested scopes
//! restore the outer tenant. New tasks do not inherit it: [`spawn`] and
//! [`CurrentTenantExt::with_current_tenant`] carry it over explicitly.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::name::TenantName;

tokio::task_local! {
    /// `Some(tenant)` inside a tenant scope, `None` inside an explicit default scope.
    static CURRENT_TENANT: Option<TenantName>;
}

/// The tenant of the current task, or `None` outside any tenant scope.
pub fn current_tenant() -> Option<TenantName> {
    CURRENT_TENANT.try_with(Clone::clone).ok().flatten()
}

/// Runs `f` now, synchronously, with `tenant` as the current tenant (`None`: the default
/// schema), restoring the previous value when `f` returns or panics.
///
/// For code that polls futures or response bodies by hand, such as HTTP middleware that must
/// keep a streaming body inside the tenant: it enters the scope for each poll. Unlike
/// [`Tenantry::scope`](crate::Tenantry::scope), it does **not** check that the tenant exists
/// (check with [`Tenantry::is_known`](crate::Tenantry::is_known) first) and opens no tracing
/// span. Transactions still assert that the schema exists when they begin.
///
/// ```
/// use tenantry::{context, current_tenant, NamingRules};
///
/// let acme = NamingRules::default().parse("acme")?;
/// let seen = context::sync_scope(Some(acme.clone()), current_tenant);
/// assert_eq!(seen, Some(acme));
/// assert_eq!(current_tenant(), None);
/// # Ok::<(), tenantry::Error>(())
/// ```
pub fn sync_scope<R>(tenant: Option<TenantName>, f: impl FnOnce() -> R) -> R {
    CURRENT_TENANT.sync_scope(tenant, f)
}

/// Runs `future` with `tenant` as the current tenant (`None`: the default schema), inside a
/// `tenant` tracing span. Callers check that the tenant exists first.
pub(crate) fn in_scope<F: Future>(tenant: Option<TenantName>, future: F) -> impl Future<Output = F::Output> {
    let span = match &tenant {
        Some(tenant) => tracing::info_span!("tenant", tenant = %tenant),
        None => tracing::info_span!("tenant", tenant = "(default)"),
    };
    CURRENT_TENANT.scope(tenant, future).instrument(span)
}

/// A future that runs in the tenant that was current when it was made.
pub struct WithCurrentTenant<F: Future> {
    inner: Pin<Box<dyn Future<Output = F::Output> + Send>>,
    _marker: std::marker::PhantomData<fn() -> F>,
}

impl<F: Future> Future for WithCurrentTenant<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// Carries the current tenant into a future that will run elsewhere (a spawned task).
pub trait CurrentTenantExt: Future + Sized {
    /// Wraps the future so it runs in the tenant current *now*, wherever it is polled.
    ///
    /// ```no_run
    /// use tenantry::context::CurrentTenantExt;
    /// # async fn f() {
    /// let handle = tokio::spawn(async { /* tenant work */ }.with_current_tenant());
    /// # }
    /// ```
    fn with_current_tenant(self) -> WithCurrentTenant<Self>
    where
        Self: Send + 'static,
        Self::Output: Send,
    {
        let inner: Pin<Box<dyn Future<Output = Self::Output> + Send>> = match CURRENT_TENANT.try_with(Clone::clone) {
            Ok(tenant) => Box::pin(in_scope(tenant, self)),
            Err(_) => Box::pin(self),
        };
        WithCurrentTenant { inner, _marker: std::marker::PhantomData }
    }
}

impl<F: Future> CurrentTenantExt for F {}

/// `tokio::spawn`, with the current tenant carried into the new task.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.with_current_tenant())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamingRules;

    fn tenant(name: &str) -> TenantName {
        NamingRules::default().parse(name).expect("valid")
    }

    #[tokio::test]
    async fn nested_scopes_restore_the_outer_tenant() {
        assert_eq!(current_tenant(), None);
        in_scope(Some(tenant("outer")), async {
            assert_eq!(current_tenant(), Some(tenant("outer")));
            in_scope(Some(tenant("inner")), async {
                assert_eq!(current_tenant(), Some(tenant("inner")));
                in_scope(None, async { assert_eq!(current_tenant(), None) }).await;
                assert_eq!(current_tenant(), Some(tenant("inner")));
            })
            .await;
            assert_eq!(current_tenant(), Some(tenant("outer")));
        })
        .await;
        assert_eq!(current_tenant(), None);
    }

    #[tokio::test]
    async fn reset_after_panic_and_cancellation() {
        let panicked = tokio::spawn(in_scope(Some(tenant("a")), async { panic!("boom") })).await;
        assert!(panicked.is_err());
        assert_eq!(current_tenant(), None);

        let slow = in_scope(Some(tenant("b")), tokio::time::sleep(std::time::Duration::from_secs(10)));
        let cancelled = tokio::time::timeout(std::time::Duration::from_millis(1), slow).await;
        assert!(cancelled.is_err());
        assert_eq!(current_tenant(), None);
    }

    #[tokio::test]
    async fn sync_scope_nests_and_restores() {
        in_scope(Some(tenant("outer")), async {
            let inner = sync_scope(Some(tenant("inner")), || {
                let nested = sync_scope(None, current_tenant);
                (current_tenant(), nested)
            });
            assert_eq!(inner, (Some(tenant("inner")), None));
            assert_eq!(current_tenant(), Some(tenant("outer")));
        })
        .await;
        let panicked = std::panic::catch_unwind(|| sync_scope(Some(tenant("boom")), || panic!("boom")));
        assert!(panicked.is_err());
        assert_eq!(current_tenant(), None);
    }

    #[tokio::test]
    async fn spawned_tasks_inherit_only_when_asked() {
        in_scope(Some(tenant("acme")), async {
            let plain = tokio::spawn(async { current_tenant() }).await.expect("joins");
            assert_eq!(plain, None);
            let carried = spawn(async { current_tenant() }).await.expect("joins");
            assert_eq!(carried, Some(tenant("acme")));
        })
        .await;
    }
}
