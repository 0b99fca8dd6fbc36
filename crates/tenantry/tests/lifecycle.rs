//! Tenant lifecycle on a real PostgreSQL: create, drop, rename, exists, list, sources, hooks.

mod common;

use common::{connect, raw_client};
use futures_util::future::BoxFuture;
use tenantry::config::TenantSourceKind;
use tenantry::error::BoxError;
use tenantry::{CreateHook, Error, TenantName, TenantSource, TenantTransaction, Tenantry};
use tenantry_test_support::test_database;

fn names(tenants: &[TenantName]) -> Vec<&str> {
    tenants.iter().map(TenantName::as_str).collect()
}

#[tokio::test]
async fn create_exists_list_rename_drop() {
    let db = test_database("lifecycle").await;
    let tenantry = connect(&db, |_| {}).await;
    let acme = tenantry.tenant("acme").expect("valid");
    let globex = tenantry.tenant("globex-corp").expect("valid");

    assert!(!tenantry.exists(&acme).await.expect("exists"));
    tenantry.create(&acme).await.expect("creates");
    tenantry.create(&globex).await.expect("creates");
    assert!(tenantry.exists(&acme).await.expect("exists"));
    assert_eq!(names(&tenantry.list().await.expect("lists")), ["acme", "globex-corp"]);

    let initech = tenantry.tenant("initech").expect("valid");
    tenantry.rename(&acme, &initech).await.expect("renames");
    assert!(!tenantry.exists(&acme).await.expect("exists"));
    assert_eq!(names(&tenantry.list().await.expect("lists")), ["globex-corp", "initech"]);

    tenantry.drop(&initech).await.expect("drops");
    tenantry.drop(&globex).await.expect("drops");
    assert!(tenantry.list().await.expect("lists").is_empty());
}

#[tokio::test]
async fn errors_say_which_tenant_and_what_happened() {
    let db = test_database("lifecycle_errors").await;
    let tenantry = connect(&db, |_| {}).await;
    let acme = tenantry.tenant("acme").expect("valid");
    let ghost = tenantry.tenant("ghost").expect("valid");
    tenantry.create(&acme).await.expect("creates");

    let err = tenantry.create(&acme).await.expect_err("exists");
    assert!(matches!(&err, Error::TenantExists { tenant, .. } if tenant == "acme"), "{err:?}");
    assert!(err.to_string().contains("choose another name"), "{err}");

    let err = tenantry.drop(&ghost).await.expect_err("missing");
    assert!(matches!(&err, Error::TenantNotFound { tenant, .. } if tenant == "ghost"), "{err:?}");

    let err = tenantry.rename(&ghost, &tenantry.tenant("other").expect("valid")).await.expect_err("missing");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err:?}");

    let bravo = tenantry.tenant("bravo").expect("valid");
    tenantry.create(&bravo).await.expect("creates");
    let err = tenantry.rename(&acme, &bravo).await.expect_err("target exists");
    assert!(matches!(&err, Error::TenantExists { tenant, .. } if tenant == "bravo"), "{err:?}");
    assert!(tenantry.exists(&acme).await.expect("exists"), "a refused rename changes nothing");

    for protected in ["public", "information_schema", "pg_catalog", "pg_toast"] {
        let err = tenantry.tenant(protected).expect_err("protected schemas are never tenants");
        assert!(matches!(err, Error::InvalidTenantName { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn prefix_and_suffix_map_names_to_schemas_and_list_skips_the_rest() {
    let db = test_database("lifecycle_prefix").await;
    let tenantry = connect(&db, |config| {
        config.schema_prefix = "tenant_".into();
        config.shared_schemas = vec!["shared".into()];
    })
    .await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        r#"CREATE SCHEMA shared; CREATE SCHEMA reporting; CREATE SCHEMA "tenant_Bad"; CREATE SCHEMA "tenant_""x""""#,
    )
    .await
    .expect("setup");

    let acme = tenantry.tenant("acme").expect("valid");
    assert_eq!(acme.schema(), "tenant_acme");
    tenantry.create(&acme).await.expect("creates");
    let schema_exists: bool = raw
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_acme')", &[])
        .await
        .expect("query")
        .get(0);
    assert!(schema_exists);
    assert_eq!(names(&tenantry.list().await.expect("lists")), ["acme"], "non-tenant and invalid schemas are skipped");
}

#[tokio::test]
async fn registry_source_keeps_its_table_in_step() {
    let db = test_database("lifecycle_registry").await;
    let tenantry = connect(&db, |config| {
        config.shared_schemas = vec!["shared".into()];
        config.tenants.source = TenantSourceKind::Registry;
        config.tenants.registry_schema = Some("shared".into());
    })
    .await;
    let raw = raw_client(&db.url()).await;
    let acme = tenantry.tenant("acme").expect("valid");
    tenantry.create(&acme).await.expect("creates");
    let registered: Vec<String> = raw
        .query("SELECT name FROM shared.tenantry_tenants", &[])
        .await
        .expect("query")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(registered, ["acme"]);

    // Rows a person inserted by hand: blank and invalid ones are skipped, never sent to SQL.
    raw.batch_execute(r#"INSERT INTO shared.tenantry_tenants (name) VALUES (''), ('  '), ('Bad'), ('x"; DROP SCHEMA shared; --'), ('zeta')"#)
        .await
        .expect("insert");
    assert_eq!(names(&tenantry.list().await.expect("lists")), ["acme", "zeta"]);

    let renamed = tenantry.tenant("acme-2").expect("valid");
    tenantry.rename(&acme, &renamed).await.expect("renames");
    tenantry.drop(&renamed).await.expect("drops");
    assert_eq!(names(&tenantry.list().await.expect("lists")), ["zeta"]);
}

#[tokio::test]
async fn custom_source_filters_bad_names() {
    let db = test_database("lifecycle_custom").await;
    let mut config = tenantry::Config::default();
    config.database_url = Some(db.url());
    let tenantry = Tenantry::builder(config)
        .tenant_source(TenantSource::custom(|| async {
            Ok(vec!["globex".to_owned(), String::new(), "acme".to_owned(), "pg_x".to_owned(), "acme".to_owned()])
        }))
        .connect()
        .await
        .expect("connects");
    assert_eq!(names(&tenantry.list().await.expect("lists")), ["acme", "globex"]);
}

struct CreateTable;

impl CreateHook for CreateTable {
    fn after_create<'a>(
        &'a self,
        tenant: &'a TenantName,
        transaction: &'a mut TenantTransaction,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            transaction.batch_execute("CREATE TABLE settings (key text PRIMARY KEY)").await?;
            if tenant.as_str() == "broken" {
                transaction.batch_execute("CREATE TABLE settings (key text)").await?;
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn create_hooks_run_in_the_new_tenant_and_failures_leave_nothing() {
    let db = test_database("lifecycle_hooks").await;
    let mut config = tenantry::Config::default();
    config.database_url = Some(db.url());
    let tenantry = Tenantry::builder(config).on_create(CreateTable).connect().await.expect("connects");
    let acme = tenantry.tenant("acme").expect("valid");
    tenantry.create(&acme).await.expect("creates");
    let raw = raw_client(&db.url()).await;
    let table_schema: String = raw
        .query_one("SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'settings'", &[])
        .await
        .expect("one settings table")
        .get(0);
    assert_eq!(table_schema, "acme");

    let broken = tenantry.tenant("broken").expect("valid");
    let err = tenantry.create(&broken).await.expect_err("hook fails");
    // A hook's own tenantry error comes back as it was, SQLSTATE included.
    assert_eq!(err.sqlstate(), Some("42P07"), "{err:?}");
    assert!(!tenantry.exists(&broken).await.expect("exists"), "a failed hook rolls the schema back");
}
