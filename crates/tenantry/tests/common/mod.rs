//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use tenantry::{Config, TenantName, Tenantry};
use tenantry_test_support::TestDatabase;

/// A `Tenantry` on `db`, with `edit` applied to the default configuration.
pub async fn connect(db: &TestDatabase, edit: impl FnOnce(&mut Config)) -> Tenantry {
    let mut config = Config::default();
    config.database_url = Some(db.url());
    edit(&mut config);
    Tenantry::connect(config).await.expect("tenantry connects to the test database")
}

/// A plain tokio-postgres client on `url`, for setting up and inspecting behind tenantry's back.
pub async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("raw connection");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Creates `name` and gives it a `marker` table holding its own name.
pub async fn create_with_marker(tenantry: &Tenantry, name: &str) -> TenantName {
    let tenant = tenantry.tenant(name).expect("valid name");
    tenantry.create(&tenant).await.expect("creates tenant");
    let mut tx = tenantry.transaction_in(Some(&tenant)).await.expect("begins");
    tx.batch_execute("CREATE TABLE marker (tenant text NOT NULL)").await.expect("creates marker table");
    tx.execute("INSERT INTO marker VALUES ($1)", &[&tenant.as_str()]).await.expect("inserts marker");
    tx.commit().await.expect("commits");
    tenant
}

/// The marker the current scope's transaction sees, with the current schema.
pub async fn read_marker(tenantry: &Tenantry) -> Result<(String, String), tenantry::Error> {
    let mut tx = tenantry.transaction().await?;
    let row = tx.query_one("SELECT tenant, current_schema()::text FROM marker", &[]).await?;
    tx.commit().await?;
    Ok((row.get(0), row.get(1)))
}
