//! Create, drop, rename and look up tenant schemas on one connection.

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::statements;
use crate::error::Error;
use crate::name::TenantName;

/// Registry table to keep in step with the schemas, when the tenant source is a registry.
#[derive(Debug, Clone)]
pub(crate) struct RegistryTable {
    pub(crate) schema: String,
    pub(crate) table: String,
}

/// `CREATE SCHEMA`, inside the caller's transaction.
pub(crate) async fn create_schema(
    client: &Client,
    tenant: &TenantName,
    registry: Option<&RegistryTable>,
) -> Result<(), Error> {
    client
        .batch_execute(&statements::create_schema(tenant.schema()))
        .await
        .map_err(|err| map_exists(err, tenant, "creating tenant schema"))?;
    if let Some(registry) = registry {
        client
            .execute(&statements::insert_registry(&registry.schema, &registry.table), &[&tenant.as_str()])
            .await
            .map_err(|err| map_exists(err, tenant, "adding tenant to the registry table"))?;
    }
    Ok(())
}

/// `DROP SCHEMA … CASCADE`, inside the caller's transaction, once the tenant's open
/// transactions and sessions have ended ([`wait_until_unused`]).
pub(crate) async fn drop_schema(
    client: &Client,
    tenant: &TenantName,
    registry: Option<&RegistryTable>,
    lock_timeout_ms: u64,
) -> Result<(), Error> {
    wait_until_unused(client, &[tenant], "dropped", lock_timeout_ms).await?;
    client.batch_execute(&statements::drop_schema(tenant.schema())).await.map_err(|err| match err.code() {
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => busy(tenant, "dropped", lock_timeout_ms),
        _ => map_missing(err, tenant, "dropping tenant schema"),
    })?;
    if let Some(registry) = registry {
        client
            .execute(&statements::delete_registry(&registry.schema, &registry.table), &[&tenant.as_str()])
            .await
            .map_err(|err| Error::database("removing tenant from the registry table", Some(tenant.as_str()), err))?;
    }
    Ok(())
}

/// `ALTER SCHEMA … RENAME TO …`, inside the caller's transaction, once both names' open
/// transactions and sessions have ended ([`wait_until_unused`]).
pub(crate) async fn rename_schema(
    client: &Client,
    from: &TenantName,
    to: &TenantName,
    registry: Option<&RegistryTable>,
    lock_timeout_ms: u64,
) -> Result<(), Error> {
    wait_until_unused(client, &[from, to], "renamed", lock_timeout_ms).await?;
    client.batch_execute(&statements::rename_schema(from.schema(), to.schema())).await.map_err(|err| {
        match err.code() {
            Some(code) if *code == SqlState::DUPLICATE_SCHEMA => exists(to),
            Some(code) if *code == SqlState::INVALID_SCHEMA_NAME => not_found(from),
            Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => busy(from, "renamed", lock_timeout_ms),
            _ => Error::database("renaming tenant schema", Some(from.as_str()), err),
        }
    })?;
    if let Some(registry) = registry {
        client
            .execute(&statements::rename_registry(&registry.schema, &registry.table), &[&from.as_str(), &to.as_str()])
            .await
            .map_err(|err| map_exists(err, to, "renaming tenant in the registry table"))?;
    }
    Ok(())
}

/// Takes the tenants' existence locks and anchors exclusively for the rest of the caller's
/// transaction: waits for every open transaction and session of theirs (which hold one of them
/// shared: `crates/tenantry/src/schema/statements.rs`, `Guard`), and keeps new ones waiting
/// until the caller commits. `lock_timeout_ms` (0: none) then bounds this and every later lock wait of the
/// transaction ([`Error::TenantBusy`]). Locks are taken in a fixed order, so two renames of the
/// same pair cannot deadlock.
async fn wait_until_unused(
    client: &Client,
    tenants: &[&TenantName],
    action: &'static str,
    lock_timeout_ms: u64,
) -> Result<(), Error> {
    let mut schemas: Vec<&str> = tenants.iter().map(|tenant| tenant.schema()).collect();
    schemas.sort_unstable();
    schemas.dedup();
    let mut sql = format!("SET LOCAL lock_timeout = {}", crate::sql::quote_literal(&format!("{lock_timeout_ms}ms")));
    for schema in &schemas {
        sql.push_str("; ");
        sql.push_str(&statements::existence_lock_exclusive_xact(schema));
    }
    // Then each anchor, which tenant transactions lock instead when the schema has one: the
    // existence locks, held now, keep the migrator from creating one meanwhile
    // (`crates/tenantry/src/migrate/apply.rs`).
    for schema in &schemas {
        sql.push_str("; ");
        sql.push_str(&statements::anchor_lock_exclusive_xact(schema));
    }
    client.batch_execute(&sql).await.map_err(|err| match err.code() {
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => busy(tenants[0], action, lock_timeout_ms),
        _ => Error::database("waiting for the tenant's open transactions", Some(tenants[0].as_str()), err),
    })
}

/// Whether the tenant's schema exists (one catalog lookup).
pub(crate) async fn schema_exists(client: &Client, tenant: &TenantName) -> Result<bool, Error> {
    let row = client
        .query_one(statements::SCHEMA_EXISTS, &[&tenant.schema()])
        .await
        .map_err(|err| Error::database("looking up tenant schema", Some(tenant.as_str()), err))?;
    row.try_get(0).map_err(|err| Error::database("looking up tenant schema", Some(tenant.as_str()), err))
}

fn busy(tenant: &TenantName, action: &'static str, waited_ms: u64) -> Error {
    Error::TenantBusy { tenant: tenant.to_string(), action, waited_ms }
}

pub(crate) fn exists(tenant: &TenantName) -> Error {
    Error::TenantExists { tenant: tenant.to_string(), schema: tenant.schema().to_owned() }
}

pub(crate) fn not_found(tenant: &TenantName) -> Error {
    Error::TenantNotFound { tenant: tenant.to_string(), schema: tenant.schema().to_owned() }
}

fn map_exists(err: tokio_postgres::Error, tenant: &TenantName, action: &'static str) -> Error {
    match err.code() {
        Some(code) if *code == SqlState::DUPLICATE_SCHEMA || *code == SqlState::UNIQUE_VIOLATION => exists(tenant),
        _ => Error::database(action, Some(tenant.as_str()), err),
    }
}

fn map_missing(err: tokio_postgres::Error, tenant: &TenantName, action: &'static str) -> Error {
    match err.code() {
        Some(code) if *code == SqlState::INVALID_SCHEMA_NAME => not_found(tenant),
        _ => Error::database(action, Some(tenant.as_str()), err),
    }
}
