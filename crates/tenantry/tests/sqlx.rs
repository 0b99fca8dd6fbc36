//! The sqlx adapter against a real PostgreSQL.
#![cfg(feature = "sqlx")]

mod common;

use common::{connect, create_with_marker};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tenantry::Error;
use tenantry_test_support::test_database;

async fn sqlx_pool(url: &str) -> sqlx::PgPool {
    let options: PgConnectOptions = url.parse().expect("sqlx parses the URL");
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(tenantry::sqlx::connect_options(options))
        .await
        .expect("sqlx connects")
}

#[tokio::test]
async fn sqlx_transactions_are_scoped_to_the_tenant_and_leave_nothing_behind() {
    let db = test_database("sqlx_scope").await;
    let tenantry = connect(&db, |_| {}).await;
    let acme = create_with_marker(&tenantry, "acme").await;
    let narrow = create_with_marker(&tenantry, "narrow").await;
    sqlx::query("ALTER TABLE narrow.marker ADD COLUMN extra int DEFAULT 1")
        .execute(&sqlx_pool(&db.url()).await)
        .await
        .expect("alter");
    let pool = sqlx_pool(&db.url()).await;

    for _ in 0..5 {
        for (tenant, columns) in [(&acme, 1_usize), (&narrow, 2)] {
            let (marker, width) = tenantry
                .scope(tenant, async {
                    let mut tx = tenantry.sqlx_transaction(&pool).await?;
                    let row = sqlx::query("SELECT * FROM marker").fetch_one(&mut *tx).await.expect("reads");
                    use sqlx::Row;
                    let marker: String = row.get(0);
                    tx.commit().await.expect("commits");
                    Ok::<_, Error>((marker, row.len()))
                })
                .await
                .expect("known")
                .expect("reads");
            assert_eq!((marker.as_str(), width), (tenant.as_str(), columns));
        }
    }

    // A dropped sqlx transaction rolls back and the path dies with it.
    tenantry
        .scope(&acme, async {
            let mut tx = tenantry.sqlx_transaction(&pool).await.expect("begins");
            sqlx::query("INSERT INTO marker VALUES ('dropped')").execute(&mut *tx).await.expect("inserts");
        })
        .await
        .expect("known");
    let path: String = sqlx::query_scalar("SHOW search_path").fetch_one(&pool).await.expect("shows");
    assert_eq!(path, "\"$user\", public", "the pooled connection is back to the server default");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM acme.marker").fetch_one(&pool).await.expect("counts");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn sqlx_transaction_never_falls_through_from_a_missing_schema() {
    let db = test_database("sqlx_missing").await;
    let pool = sqlx_pool(&db.url()).await;
    sqlx::query("CREATE SCHEMA shared").execute(&pool).await.expect("shared schema");
    sqlx::query("CREATE TABLE shared.marker (tenant text)").execute(&pool).await.expect("shared table");

    // With shared schemas after it, a missing tenant schema is refused at BEGIN.
    let with_shared = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let ghost = with_shared.tenant("ghost").expect("valid");
    let err = with_shared.sqlx_transaction_in(&pool, Some(&ghost)).await.expect_err("missing");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err:?}");

    // Alone on the path, it has nothing to fall through to: queries fail.
    let alone = connect(&db, |_| {}).await;
    let mut tx = alone.sqlx_transaction_in(&pool, Some(&ghost)).await.expect("begins");
    let err = sqlx::query("SELECT * FROM marker").fetch_all(&mut *tx).await.expect_err("no relation");
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("42P01"), "{err:?}");
}
