//! A database that is not only tenants (issue 10): schemas of extensions and of other software
//! are never tenants, and no tenant operation touches them.

mod common;

use common::{connect, raw_client, setup_migrator, workload};
use tenantry::config::TenantSourceKind;
use tenantry::migrate::{CreateOptions, RunOptions, Selection};
use tenantry::schema::ForeignSchema;
use tenantry::{Error, TenantName};
use tenantry_test_support::{create_supabase_like, snapshot_schemas, test_database, SUPABASE_SCHEMAS};

/// The foreign schemas and the app's shared tables in `public`.
fn foreign() -> Vec<&'static str> {
    SUPABASE_SCHEMAS.iter().copied().chain(["public"]).collect()
}

fn refused(result: Result<impl std::fmt::Debug, Error>, schema: &str) -> ForeignSchema {
    match result {
        Err(Error::NotATenant { schema: refused, kind }) if refused == schema => kind,
        other => panic!("`{schema}` should be refused as not a tenant, got {other:?}"),
    }
}

#[tokio::test]
async fn a_supabase_like_database_keeps_its_schemas_untouched() {
    let db = test_database("foreign_supabase").await;
    create_supabase_like(&db).await;
    let dir = workload(2);
    let (tenantry, migrator) = setup_migrator(&db, dir.path(), |_| {}).await;
    migrator.run(&RunOptions::default()).await.expect("prepares shared bookkeeping and the template");
    let names: Vec<TenantName> = (0..50).map(|i| tenantry.tenant(&format!("shop-{i:02}")).expect("valid")).collect();
    for result in migrator.create_many(&names, &CreateOptions { clone: true, seed: false }, 4).await {
        result.expect("creates a tenant");
    }
    let listed = tenantry.list().await.expect("lists");
    assert_eq!(listed, names, "exactly the 50 tenants, none of the foreign schemas");
    let before = snapshot_schemas(&db, &foreign()).await;
    assert!(before.iter().any(|line| line.starts_with("extension ") && line.contains("uuid-ossp")), "{before:?}");

    // migrate: one more migration, in the 50 tenants only.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workload");
    for file in ["0003_orders.up.sql", "0003_orders.down.sql"] {
        std::fs::copy(fixtures.join(file), dir.path().join("tenant").join(file)).expect("copies a migration");
    }
    let migrator = tenantry::migrate::Migrator::load(&tenantry).expect("loads");
    let report = migrator.run(&RunOptions::default()).await.expect("migrates");
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.tenants.len(), 50);
    assert_eq!(snapshot_schemas(&db, &foreign()).await, before, "migrate changed a foreign schema");

    // status and exec: the 50 tenants only.
    let status = migrator.status(&Selection::All, true).await.expect("status");
    assert_eq!(status.tenants.len(), 50);
    let report =
        migrator.exec("CREATE TABLE IF NOT EXISTS exec_marker ()", &RunOptions::default()).await.expect("execs");
    assert!(report.is_success() && report.tenants.len() == 50, "{report:?}");
    assert_eq!(snapshot_schemas(&db, &foreign()).await, before, "status or exec changed a foreign schema");

    // Every operation naming a foreign schema is refused, saying what it is.
    let auth = tenantry.tenant("auth").expect("a valid name");
    assert_eq!(refused(tenantry.drop(&auth).await, "auth"), ForeignSchema::NoBookkeeping);
    let extensions = tenantry.tenant("extensions").expect("a valid name");
    assert_eq!(
        refused(tenantry.drop(&extensions).await, "extensions"),
        ForeignSchema::Extension { extensions: vec!["pgcrypto".into(), "uuid-ossp".into()] }
    );
    let storage = tenantry.tenant("storage").expect("a valid name");
    let elsewhere = tenantry.tenant("elsewhere").expect("a valid name");
    refused(tenantry.rename(&storage, &elsewhere).await, "storage");
    let realtime = tenantry.tenant("realtime").expect("a valid name");
    let only = |tenant: &TenantName| RunOptions {
        selection: Selection::Tenants(vec![tenant.clone()]),
        ..RunOptions::default()
    };
    refused(migrator.run(&only(&realtime)).await, "realtime");
    let graphql = tenantry.tenant("graphql_public").expect("a valid name");
    refused(migrator.exec("DROP FUNCTION graphql(text, jsonb)", &only(&graphql)).await, "graphql_public");
    refused(migrator.status(&Selection::Tenants(vec![auth.clone()]), false).await, "auth");
    let message = tenantry.drop(&auth).await.expect_err("refused").to_string();
    assert!(message.contains("not a tenant") && message.contains("tenantry_migrations"), "{message}");
    let err = tenantry.tenant("public").expect_err("the default schema is never a tenant's");
    assert!(err.to_string().contains("the default schema"), "{err}");
    assert_eq!(snapshot_schemas(&db, &foreign()).await, before, "a refused operation changed a foreign schema");

    // Tenants still work after all that.
    let dropped = names[0].clone();
    tenantry.drop(&dropped).await.expect("drops a tenant");
    assert_eq!(tenantry.list().await.expect("lists").len(), 49);
    assert_eq!(snapshot_schemas(&db, &foreign()).await, before);
}

#[tokio::test]
async fn a_tenant_is_a_schema_with_bookkeeping_or_a_prefixed_name() {
    let db = test_database("foreign_rule").await;
    let client = raw_client(&db.url()).await;
    client.batch_execute("CREATE SCHEMA audit; CREATE SCHEMA tenant_legacy").await.expect("foreign schemas");
    let tenantry = connect(&db, |_| {}).await;
    let acme = tenantry.tenant("acme").expect("valid");
    tenantry.create(&acme).await.expect("a plain create writes the bookkeeping");
    assert_eq!(
        tenantry.list().await.expect("lists"),
        std::slice::from_ref(&acme),
        "audit and tenant_legacy are not tenants"
    );
    assert!(tenantry.scope(&tenantry.tenant("audit").expect("valid"), async {}).await.is_err());
    assert_eq!(common::applied_versions(&client, "acme").await, Vec::<i64>::new());

    // With a prefix, the name is the mark: a prefixed schema is a tenant without bookkeeping.
    let prefixed = connect(&db, |config| config.schema_prefix = "tenant_".into()).await;
    let legacy = prefixed.tenant("legacy").expect("valid");
    assert_eq!(prefixed.list().await.expect("lists"), std::slice::from_ref(&legacy));
    prefixed.check_tenants(std::slice::from_ref(&legacy)).await.expect("a prefixed schema is a tenant");

    // With the registry, the row is the mark.
    let registry = connect(&db, |config| config.tenants.source = TenantSourceKind::Registry).await;
    let audit = registry.tenant("audit").expect("valid");
    match refused(registry.drop(&audit).await, "audit") {
        ForeignSchema::NotInRegistry { registry } => assert_eq!(registry, "public.tenantry_tenants"),
        other => panic!("{other:?}"),
    }
    assert!(
        client.query_one("SELECT 1 FROM pg_namespace WHERE nspname = 'audit'", &[]).await.is_ok(),
        "audit is still there"
    );
}
