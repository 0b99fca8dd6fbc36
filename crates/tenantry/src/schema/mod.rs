//! Tenants stored as PostgreSQL schemas: lifecycle operations and tenant sources.
//!
//! All SQL specific to the schema-per-tenant strategy lives in [`statements`], so another
//! storage strategy (a database per tenant, …) can be added beside it.

pub mod clone;
mod lifecycle;
mod membership;
mod source;
pub mod statements;

pub(crate) use lifecycle::{create_schema, drop_schema, not_found, rename_schema, schema_exists, RegistryTable};
pub(crate) use membership::check_tenants;
pub use membership::ForeignSchema;
pub(crate) use source::list_tenants;
pub use source::{ListFuture, TenantSource};
