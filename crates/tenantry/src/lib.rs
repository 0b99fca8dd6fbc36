//! # tenantry
//!
//! Schema-per-tenant multi-tenancy for PostgreSQL: each tenant lives in its own schema;
//! tenantry creates, drops, renames and lists them, and runs your code *inside* a tenant so
//! that every connection it uses sees that tenant's schema and no other.
//!
//! ```no_run
//! use tenantry::{Config, Tenantry};
//!
//! # async fn example() -> Result<(), tenantry::Error> {
//! let mut config = Config::load(None)?; // ./tenantry.toml + DATABASE_URL / TENANTRY_*
//! config.shared_schemas = vec!["shared".into()];
//! let tenantry = Tenantry::connect(config).await?;
//!
//! let acme = tenantry.tenant("acme")?; // validated: the only way a name reaches SQL
//! if !tenantry.exists(&acme).await? {
//!     tenantry.create(&acme).await?;
//! }
//!
//! let orders = tenantry
//!     .scope(&acme, async {
//!         // The existence lock, BEGIN and the search path "acme", "shared", pg_temp: one round trip.
//!         let mut tx = tenantry.transaction().await?;
//!         tx.batch_execute("CREATE TABLE IF NOT EXISTS orders (id bigint)").await?;
//!         let count: i64 = tx.query_one("SELECT count(*) FROM orders", &[]).await?.get(0);
//!         tx.commit().await?;
//!         Ok::<_, tenantry::Error>(count)
//!     })
//!     .await??;
//! # let _ = orders;
//! # Ok(()) }
//! ```
//!
//! ## What keeps tenants apart
//! - [`TenantName`] is the only way a tenant reaches SQL: validated once ([`name`] lists the
//!   rules), quoted always ([`sql::quote_ident`]).
//! - [`Tenantry::scope`] checks the tenant against a cache of known tenants, then sets a
//!   task-local that ends with the future, however it ends.
//! - [`Tenantry::transaction`] opens `BEGIN; SET LOCAL search_path …, pg_temp` in one
//!   message: the path dies with the transaction, and temporary objects never shadow a table
//!   or reach another tenant (`DISCARD TEMP` on a tenant switch). With shared schemas after
//!   the tenant, the transaction also holds the tenant's existence lock and sets its path only
//!   if the schema is there, so a tenant dropped or renamed meanwhile is an error (drop and
//!   rename wait for its transactions), never a silent fall-through to shared tables.
//! - Session mode resets the session when it is released, whatever its user ran.
//! - Prepared statements are cached per connection by (search path, SQL); statements of a
//!   schema that a migration changed are prepared again ([`announce`]).
//!
//! See docs/context.md for the two context modes and their trade-offs.
//!
//! ## Features
//! - `sqlx`: [`Tenantry::sqlx_transaction`], a tenant-scoped sqlx transaction.

pub mod announce;
pub mod cache;
pub mod config;
pub mod connect;
pub mod context;
pub mod error;
pub mod migrate;
pub mod name;
pub mod schema;
mod secret;
pub mod sql;
#[cfg(feature = "sqlx")]
pub mod sqlx;
mod tenantry;

pub use crate::cache::TenantCache;
pub use crate::config::Config;
pub use crate::context::{current_tenant, SearchPath, TenantSession, TenantTransaction};
pub use crate::error::Error;
pub use crate::name::{InvalidNameReason, NamingRules, TenantName};
pub use crate::schema::TenantSource;
pub use crate::tenantry::{CreateHook, Tenantry, TenantryBuilder};

/// Re-exported so hooks and callers can name the driver's types without a direct dependency.
pub use tokio_postgres;
