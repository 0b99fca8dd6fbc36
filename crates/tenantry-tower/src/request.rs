//! What the layer leaves in the request for handlers: the tenant it resolved.

use tenantry::{TenantName, Tenantry};

/// The layer's answer for this request, in the request's extensions: the tenant (or `None`
/// when it runs in the default schema) and the [`Tenantry`] it was checked with.
///
/// The axum extractors read it; without axum, read it with
/// `request.extensions().get::<RequestTenant>()`.
#[derive(Debug, Clone)]
pub struct RequestTenant {
    tenant: Option<TenantName>,
    tenantry: Tenantry,
}

impl RequestTenant {
    pub(crate) fn new(tenant: Option<TenantName>, tenantry: Tenantry) -> Self {
        Self { tenant, tenantry }
    }

    /// The request's tenant; `None` when the request names none and runs in the default
    /// schema ([`NoTenant::DefaultSchema`](crate::NoTenant::DefaultSchema)).
    pub fn tenant(&self) -> Option<&TenantName> {
        self.tenant.as_ref()
    }

    /// The `Tenantry` the layer checked the tenant with.
    pub fn tenantry(&self) -> &Tenantry {
        &self.tenantry
    }
}
