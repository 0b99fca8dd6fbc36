//! Why a request was refused: the one error type of `tenantry-tower`.
//!
//! The layer never fails as a service: each of these becomes a response, by default with the
//! status of [`Error::status`] and a short plain-text body that never echoes the request's
//! input. Supply your own with [`ResolveTenantLayer::on_rejection`](crate::ResolveTenantLayer::on_rejection).

use http::StatusCode;
use tenantry::{InvalidNameReason, TenantName};

use crate::resolve::Malformed;

/// A boxed error from a resolver's lookup (a registry query).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the layer refused a request instead of running it in a tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The part of the request that names the tenant (the `Host` header, a tenant header, the
    /// path) is malformed: not a host at all. `400 Bad Request`.
    #[error("malformed {part} in the request: {problem}")]
    Malformed {
        /// Which part of the request: `host`, `tenant header` or `path`.
        part: &'static str,
        /// What is wrong with it.
        problem: Malformed,
    },

    /// The request names a tenant whose name breaks tenantry's naming rules (`public`,
    /// `pg_catalog`, uppercase, too long…). It never reaches SQL. `404 Not Found`: for the
    /// client there is simply no such tenant.
    #[error("invalid tenant name {name:?}: {reason}")]
    InvalidTenantName {
        /// The rejected name, as the resolver produced it.
        name: String,
        /// The naming rule it broke.
        reason: InvalidNameReason,
    },

    /// The request names a valid tenant that does not exist (not in tenantry's known-tenants
    /// cache). `404 Not Found`.
    #[error("tenant `{tenant}` does not exist; create it, or check the host the request was sent to")]
    TenantNotFound {
        /// The tenant the request named.
        tenant: TenantName,
    },

    /// The resolver knows the request should name a tenant but found none for it (a host
    /// missing from a [`HostMap`](crate::resolve::HostMap) or a registry). `404 Not Found`.
    #[error("no tenant is mapped to this request; add its host to the map or registry")]
    Unmapped,

    /// The request names no tenant (an apex domain, an excluded subdomain such as `www`, no
    /// tenant header) and the layer is set to refuse such requests. `404 Not Found`.
    #[error(
        "the request names no tenant; send it to a tenant's host, or let such requests run in \
         the default schema with `ResolveTenantLayer::no_tenant(NoTenant::DefaultSchema)`"
    )]
    NoTenant,

    /// A resolver's own lookup failed (its registry query). `503 Service Unavailable`.
    #[error("the tenant lookup failed: {source}; check the registry's database")]
    Lookup {
        /// The lookup's error.
        #[source]
        source: BoxError,
    },

    /// tenantry could not tell whether the tenant exists (its cache had to reload and the
    /// database did not answer). `503 Service Unavailable`.
    #[error("could not check whether the tenant exists: {source}")]
    Registry {
        /// tenantry's error.
        #[source]
        source: tenantry::Error,
    },
}

impl Error {
    /// The response status for this refusal: 400 for a malformed request, 404 for every "no
    /// such tenant" (invalid name, unknown, unmapped, none), 503 when a lookup failed.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidTenantName { .. } | Self::TenantNotFound { .. } | Self::Unmapped | Self::NoTenant => {
                StatusCode::NOT_FOUND
            }
            Self::Lookup { .. } | Self::Registry { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short message for the client that never echoes the request's input (hostile hosts
    /// must not be reflected into responses).
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "bad request: malformed host or tenant identifier",
            Self::InvalidTenantName { .. } | Self::TenantNotFound { .. } | Self::Unmapped => "tenant not found",
            Self::NoTenant => "no tenant in this request",
            Self::Lookup { .. } | Self::Registry { .. } => "tenant lookup unavailable, try again later",
        }
    }

    /// A stable code for logs and JSON bodies: `malformed`, `invalid_tenant_name`,
    /// `tenant_not_found`, `unmapped`, `no_tenant`, `lookup_failed`, `registry_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed",
            Self::InvalidTenantName { .. } => "invalid_tenant_name",
            Self::TenantNotFound { .. } => "tenant_not_found",
            Self::Unmapped => "unmapped",
            Self::NoTenant => "no_tenant",
            Self::Lookup { .. } => "lookup_failed",
            Self::Registry { .. } => "registry_unavailable",
        }
    }
}
