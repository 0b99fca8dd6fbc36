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

/// `DROP SCHEMA … CASCADE`, inside the caller's transaction.
pub(crate) async fn drop_schema(
    client: &Client,
    tenant: &TenantName,
    registry: Option<&RegistryTable>,
) -> Result<(), Error> {
    client
        .batch_execute(&statements::drop_schema(tenant.schema()))
        .await
        .map_err(|err| map_missing(err, tenant, "dropping tenant schema"))?;
    if let Some(registry) = registry {
        client
            .execute(&statements::delete_registry(&registry.schema, &registry.table), &[&tenant.as_str()])
            .await
            .map_err(|err| Error::database("removing tenant from the registry table", Some(tenant.as_str()), err))?;
    }
    Ok(())
}

/// `ALTER SCHEMA … RENAME TO …`, inside the caller's transaction.
pub(crate) async fn rename_schema(
    client: &Client,
    from: &TenantName,
    to: &TenantName,
    registry: Option<&RegistryTable>,
) -> Result<(), Error> {
    client.batch_execute(&statements::rename_schema(from.schema(), to.schema())).await.map_err(|err| {
        match err.code() {
            Some(code) if *code == SqlState::DUPLICATE_SCHEMA => exists(to),
            Some(code) if *code == SqlState::INVALID_SCHEMA_NAME => not_found(from),
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

/// Whether the tenant's schema exists (one catalog lookup).
pub(crate) async fn schema_exists(client: &Client, tenant: &TenantName) -> Result<bool, Error> {
    let row = client
        .query_one(statements::SCHEMA_EXISTS, &[&tenant.schema()])
        .await
        .map_err(|err| Error::database("looking up tenant schema", Some(tenant.as_str()), err))?;
    row.try_get(0).map_err(|err| Error::database("looking up tenant schema", Some(tenant.as_str()), err))
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
