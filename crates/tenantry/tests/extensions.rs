//! Extensions and shared objects that tenants use (issue 10): extension types and functions live
//! once in a shared schema, every tenant's migrations and queries use them, and a cloned tenant
//! is the same as a migrated one.

mod common;

use common::{raw_client, setup_migrator};
use tenantry::config::SharedSchemasPosition;
use tenantry::migrate::{CreateMethod, CreateOptions, Goal, RunOptions};
use tenantry::{Config, TenantName};
use tenantry_test_support::test_database;

/// Shared migrations in `extensions` (pgcrypto, uuid-ossp) and `public` (plans); tenant
/// migrations that install citext, ltree and pg_trgm into `extensions` and use them all.
fn migrations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |path: &str, sql: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, sql).expect("writes a migration");
    };
    write(
        "shared/0001_extensions.up.sql",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;\nCREATE EXTENSION IF NOT EXISTS \"uuid-ossp\";\n\
         CREATE TABLE public.plans (id int PRIMARY KEY, name text NOT NULL);\n\
         INSERT INTO public.plans VALUES (1, 'free'), (2, 'pro');",
    );
    write(
        "shared/0001_extensions.down.sql",
        "DROP TABLE public.plans; DROP EXTENSION \"uuid-ossp\"; DROP EXTENSION pgcrypto;",
    );
    write(
        "tenant/0001_accounts.up.sql",
        "CREATE EXTENSION IF NOT EXISTS citext SCHEMA extensions;\n\
         CREATE EXTENSION IF NOT EXISTS ltree SCHEMA extensions;\n\
         CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA extensions;\n\
         CREATE TABLE accounts (\n\
           id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),\n\
           email citext NOT NULL UNIQUE CHECK (email LIKE '%@%'),\n\
           aliases citext[] NOT NULL DEFAULT '{}',\n\
           path ltree,\n\
           name text NOT NULL,\n\
           api_key text NOT NULL DEFAULT encode(gen_random_bytes(16), 'hex'),\n\
           plan_id int NOT NULL DEFAULT 1 REFERENCES plans (id));\n\
         CREATE INDEX accounts_name_trgm ON accounts USING gin (name gin_trgm_ops);\n\
         CREATE INDEX accounts_path ON accounts USING gist (path);",
    );
    write("tenant/0001_accounts.down.sql", "DROP TABLE accounts;");
    write(
        "tenant/0002_nicknames.up.sql",
        "ALTER TABLE accounts ADD COLUMN nickname citext;\n\
         CREATE INDEX accounts_nickname_trgm ON accounts USING gist ((nickname::text) gist_trgm_ops);",
    );
    write(
        "tenant/0002_nicknames.down.sql",
        "DROP INDEX accounts_nickname_trgm; ALTER TABLE accounts DROP COLUMN nickname;",
    );
    dir
}

/// `pg_dump --schema-only` of `schema`, its name replaced (`common::dump`), also where the
/// bookkeeping table's summary comment names it (`crates/tenantry/src/migrate/bookkeeping.rs`).
async fn dump(db: &tenantry_test_support::TestDatabase, schema: &str) -> String {
    common::dump(db, schema).await.replace(&format!(" schema={schema}'"), " schema=SCHEMA'")
}

fn shared(config: &mut Config) {
    config.shared_schemas = vec!["extensions".into(), "public".into()];
    config.migrations.shared_schema = Some("extensions".into());
}

async fn extension_schemas(client: &tokio_postgres::Client) -> Vec<(String, String)> {
    let rows = client
        .query(
            "SELECT e.extname::text, n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .await
        .expect("lists extensions");
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

#[tokio::test]
async fn extension_types_live_once_and_every_tenant_uses_them() {
    let db = test_database("extensions").await;
    let dir = migrations();
    let (tenantry, migrator) = setup_migrator(&db, dir.path(), shared).await;
    let report = migrator.run(&RunOptions::default()).await.expect("migrates");
    assert!(report.is_success(), "{report}");
    let client = raw_client(&db.url()).await;
    let in_extensions =
        |names: &[&str]| names.iter().map(|n| ((*n).to_owned(), "extensions".to_owned())).collect::<Vec<_>>();
    assert_eq!(
        extension_schemas(&client).await,
        in_extensions(&["citext", "ltree", "pg_trgm", "pgcrypto", "uuid-ossp"])
    );

    let name = |prefix: &str, i: usize| tenantry.tenant(&format!("{prefix}_{i:02}")).expect("valid");
    let migrated: Vec<TenantName> = (0..10).map(|i| name("migrated", i)).collect();
    let cloned: Vec<TenantName> = (0..10).map(|i| name("cloned", i)).collect();
    for (tenants, clone) in [(&migrated, false), (&cloned, true)] {
        for result in migrator.create_many(tenants, &CreateOptions { clone, seed: false }, 4).await {
            let report = result.expect("creates");
            assert_eq!(report.method == CreateMethod::Cloned, clone, "{:?}", report.method);
        }
    }
    let (a, b) = (dump(&db, migrated[0].schema()).await, dump(&db, cloned[0].schema()).await);
    assert!(a.contains("extensions.citext") && a.contains("extensions.gin_trgm_ops"), "{a}");
    assert_eq!(a, b, "a cloned tenant's pg_dump differs from a migrated one's");

    for tenant in migrated.iter().chain(&cloned) {
        let mut tx = tenantry.transaction_in(Some(tenant)).await.expect("begins");
        tx.batch_execute(
            "INSERT INTO accounts (email, aliases, path, name, nickname) \
             VALUES ('Ann@Example.com', '{ANNIE@example.com}', 'top.sales', 'Annabelle', 'Annie')",
        )
        .await
        .expect("inserts with extension types and defaults");
        let row = tx
            .query_one(
                "SELECT count(*), min(p.name) FROM accounts a JOIN plans p ON p.id = a.plan_id \
                 WHERE a.email = 'ann@example.com' AND 'annie@EXAMPLE.com' = ANY (a.aliases) \
                 AND a.path <@ 'top' AND a.name % 'Anabelle' AND length(a.api_key) = 32",
                &[],
            )
            .await
            .expect("queries with citext, ltree, pg_trgm and pgcrypto");
        assert_eq!((row.get::<_, i64>(0), row.get::<_, Option<String>>(1)), (1, Some("free".to_owned())), "{tenant}");
        let err = tx.batch_execute("INSERT INTO accounts (email, name) VALUES ('not-an-email', 'x')").await;
        assert!(err.is_err(), "the check on a citext column holds in {tenant}");
        tx.rollback().await.expect("rolls back");
    }

    let report = migrator.run(&RunOptions::goal(Goal::Target(0))).await.expect("rolls back");
    assert!(report.is_success() && report.tenants.len() == 20, "{report}");
    let left: i64 =
        client.query_one("SELECT count(*) FROM pg_class WHERE relname = 'accounts'", &[]).await.expect("counts").get(0);
    assert_eq!(left, 0, "every tenant (and the template) rolled back");
    assert_eq!(extension_schemas(&client).await.len(), 5, "the extensions stay, shared");
    let report = migrator.run(&RunOptions::default()).await.expect("migrates again");
    assert!(report.is_success() && report.tenants.len() == 20, "{report}");
    assert_eq!(dump(&db, cloned[9].schema()).await, a, "migrated again, the same schema");
}

#[tokio::test]
async fn shared_schemas_before_the_tenant_win_lookups_but_ddl_lands_in_the_tenant() {
    let db = test_database("extensions_before").await;
    let client = raw_client(&db.url()).await;
    client
        .batch_execute(
            "CREATE SCHEMA extensions; \
             CREATE FUNCTION extensions.whoami() RETURNS text LANGUAGE sql AS $$ SELECT 'shared' $$",
        )
        .await
        .expect("a shared function");
    let dir = common::workload(1);
    let position = |position| {
        move |config: &mut Config| {
            config.shared_schemas = vec!["extensions".into()];
            config.shared_schemas_position = position;
        }
    };
    let (after, _) = setup_migrator(&db, dir.path(), position(SharedSchemasPosition::After)).await;
    let (before, migrator) = setup_migrator(&db, dir.path(), position(SharedSchemasPosition::Before)).await;
    let acme = before.tenant("acme").expect("valid");
    migrator.create(&acme, &CreateOptions { clone: false, seed: false }).await.expect("creates");
    let report = migrator
        .exec("CREATE FUNCTION whoami() RETURNS text LANGUAGE sql AS $$ SELECT 'tenant' $$", &RunOptions::default())
        .await
        .expect("execs");
    assert!(report.is_success(), "{report}");
    for (tenantry, expected) in [(&after, "tenant"), (&before, "shared")] {
        let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
        let who: String = tx.query_one("SELECT whoami()", &[]).await.expect("calls").get(0);
        assert_eq!(who, expected);
        tx.commit().await.expect("commits");
    }
    let placed = client
        .query(
            "SELECT n.nspname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.proname = 'whoami' ORDER BY 1",
            &[],
        )
        .await
        .expect("finds the functions");
    let placed: Vec<String> = placed.iter().map(|row| row.get(0)).collect();
    assert_eq!(placed, ["acme", "extensions"], "exec created the tenant's function in the tenant");
    assert_eq!(common::columns(&client, "acme", "customer").await.first().map(String::as_str), Some("id"));
}
