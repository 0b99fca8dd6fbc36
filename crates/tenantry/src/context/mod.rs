//! Tenant context: which tenant the current task works for, and connections that see only
//! that tenant's schema (see docs/context.md).

mod anchors;
mod connection;
mod generations;
mod pool;
mod scope;
mod search_path;
mod session;
mod statement_cache;
mod transaction;

#[cfg(feature = "sqlx")]
pub(crate) use anchors::is_refusal as anchor_refused;
pub(crate) use anchors::Anchors;
pub(crate) use generations::Generations;
pub(crate) use pool::{build_pool, pool_error, Manager as PoolManager, PgPool};
pub(crate) use scope::in_scope;
pub use scope::{current_tenant, spawn, sync_scope, CurrentTenantExt, WithCurrentTenant};
pub use search_path::SearchPath;
pub use session::TenantSession;
pub use transaction::TenantTransaction;
