//! The application keeps serving while the fleet changes under it: statements cached before a
//! migration changed their tables, and queries whose caller went away (issue 8;
//! docs/context.md).

mod common;

use std::time::{Duration, Instant};

use common::{connect, raw_client};
use tenantry::{Error, Tenantry};
use tenantry_test_support::test_database;

#[tokio::test]
async fn statements_cached_before_a_migration_are_prepared_again() {
    let db = test_database("live_stale_statements").await;
    let tenantry = connect(&db, |config| config.pool.max_size = 1).await;
    let acme = tenantry.tenant("acme").expect("valid");
    tenantry.create(&acme).await.expect("creates");
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE TABLE acme.items (id int PRIMARY KEY, name text); INSERT INTO acme.items VALUES (1, 'one')",
    )
    .await
    .expect("table");
    let select_all = |tenantry: Tenantry, first: bool| {
        let acme = acme.clone();
        async move {
            let mut tx = tenantry.transaction_in(Some(&acme)).await?;
            if !first {
                tx.query("SELECT 1", &[]).await?;
            }
            let row = tx.query_one("SELECT * FROM items WHERE id = 1", &[]).await?;
            tx.commit().await?;
            Ok::<usize, Error>(row.len())
        }
    };
    assert_eq!(select_all(tenantry.clone(), true).await.expect("reads"), 2);

    // A migration adds a column: the connection's cached `SELECT *` no longer matches.
    raw.batch_execute("ALTER TABLE acme.items ADD COLUMN price int").await.expect("migrates");
    let columns = select_all(tenantry.clone(), true).await.expect("the first statement is retried transparently");
    assert_eq!(columns, 3);

    // Not the transaction's first statement: it cannot be retried, but it fails once only.
    raw.batch_execute("ALTER TABLE acme.items ADD COLUMN weight int").await.expect("migrates");
    let err = select_all(tenantry.clone(), false).await.expect_err("refused mid-transaction");
    assert_eq!(err.sqlstate(), Some("0A000"), "{err}");
    let columns = select_all(tenantry.clone(), false).await.expect("the stale statement was evicted");
    assert_eq!(columns, 4);
}

/// Ten slow queries on a pool of ten, abandoned by their callers: the pool must serve again at
/// once (its acquire timeout is one second) and the server must stop running them.
async fn abandoned_queries_free_the_pool(tenantry: Tenantry, url: &str) {
    let acme = tenantry.tenant("acme").expect("valid");
    let mut slow = Vec::new();
    for _ in 0..10 {
        let (tenantry, acme) = (tenantry.clone(), acme.clone());
        slow.push(tokio::spawn(async move {
            let mut tx = tenantry.transaction_in(Some(&acme)).await?;
            tx.query("SELECT pg_sleep(60)", &[]).await
        }));
    }
    let raw = raw_client(url).await;
    let running = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active' AND datname = current_database()";
    let started = Instant::now();
    while raw.query_one(running, &[]).await.expect("counts").get::<_, i64>(0) < 10 {
        assert!(started.elapsed() < Duration::from_secs(10), "the slow queries never all started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in &slow {
        task.abort(); // the client went away: its future is dropped mid-query
    }
    let mut fast = Vec::new();
    for _ in 0..10 {
        let (tenantry, acme) = (tenantry.clone(), acme.clone());
        fast.push(tokio::spawn(async move {
            let mut tx = tenantry.transaction_in(Some(&acme)).await?;
            let row = tx.query_one("SELECT 1", &[]).await?;
            tx.commit().await?;
            Ok::<i32, Error>(row.get(0))
        }));
    }
    for task in fast {
        let served = task.await.expect("joins");
        assert_eq!(served.expect("the pool serves again within its one-second acquire timeout"), 1);
    }
    let started = Instant::now();
    while raw.query_one(running, &[]).await.expect("counts").get::<_, i64>(0) > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the abandoned queries were not cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_queries_are_cancelled_and_the_pool_recovers() {
    let db = test_database("live_abandoned").await;
    let tenantry = connect(&db, |config| {
        config.pool.max_size = 10;
        config.pool.acquire_timeout_secs = 1;
    })
    .await;
    tenantry.create(&tenantry.tenant("acme").expect("valid")).await.expect("creates");
    abandoned_queries_free_the_pool(tenantry, &db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_queries_are_cancelled_over_tls() {
    // The cancel request must use TLS too: tenantry's connections here do (sslmode=require).
    let db = tenantry_test_support::Cluster::tls().database("live_abandoned_tls").await;
    let url = format!("{}?sslmode=require", db.url());
    let tenantry = connect(&db, |config| {
        config.database_url = Some(url);
        config.pool.max_size = 10;
        config.pool.acquire_timeout_secs = 1;
    })
    .await;
    tenantry.create(&tenantry.tenant("acme").expect("valid")).await.expect("creates");
    abandoned_queries_free_the_pool(tenantry, &db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_queries_are_cancelled_and_the_pool_recovers_behind_pgbouncer() {
    let db = test_database("live_abandoned_pgbouncer").await;
    // What docs/context.md asks of servers behind PgBouncer: a backend whose client went away
    // stops its statement (tenantry sends no cancel request through PgBouncer).
    let raw = raw_client(&db.url()).await;
    let database = tenantry::sql::quote_ident(db.name());
    raw.batch_execute(&format!("ALTER DATABASE {database} SET client_connection_check_interval = '200ms'"))
        .await
        .expect("sets the check interval");
    let setup = connect(&db, |_| {}).await;
    setup.create(&setup.tenant("acme").expect("valid")).await.expect("creates");
    setup.close();
    let mut config = tenantry::Config::default();
    config.database_url = Some(db.pgbouncer_url());
    config.pool.behind_pgbouncer = true;
    config.pool.max_size = 10;
    config.pool.acquire_timeout_secs = 1;
    let tenantry = Tenantry::connect(config).await.expect("connects through PgBouncer");
    abandoned_queries_free_the_pool(tenantry, &db.url()).await;
}

/// The two-statement transaction an application runs: its `SELECT *` is never the first, so
/// only an announcement (not the first-statement retry) can spare it a stale statement.
async fn read_item(tenantry: &Tenantry, tenant: &tenantry::TenantName) -> Result<usize, Error> {
    let mut tx = tenantry.transaction_in(Some(tenant)).await?;
    tx.query("SELECT 1", &[]).await?;
    let row = tx.query_one("SELECT * FROM items WHERE id = 1", &[]).await?;
    tx.commit().await?;
    Ok(row.len())
}

/// A migrations directory whose one tenant migration makes `items` with one row, and its
/// `tenant/` folder.
fn items_migrations() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant_dir = dir.path().join("tenant");
    std::fs::create_dir_all(&tenant_dir).expect("tenant dir");
    std::fs::create_dir_all(dir.path().join("shared")).expect("shared dir");
    std::fs::write(
        tenant_dir.join("0001_items.sql"),
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');",
    )
    .expect("migration");
    (dir, tenant_dir)
}

/// Adds a `price` column to `items` by a migration that `admin` runs, and waits until `changes`
/// hears that `acme` changed.
async fn add_price_column(
    admin: &Tenantry,
    tenant_dir: &std::path::Path,
    changes: &mut tokio::sync::broadcast::Receiver<tenantry::announce::SchemaChange>,
) {
    use tenantry::announce::SchemaChange;
    std::fs::write(tenant_dir.join("0002_price.sql"), "ALTER TABLE items ADD COLUMN price int;").expect("migration");
    let migrator = tenantry::migrate::Migrator::load(admin).expect("loads");
    migrator.run(&tenantry::migrate::RunOptions::default()).await.expect("migrates");
    announced(changes, |c| matches!(c, SchemaChange::Changed { schemas } if schemas.iter().any(|s| s == "acme"))).await;
}

/// Waits for an announcement matching `wanted` on `changes`.
async fn announced(
    changes: &mut tokio::sync::broadcast::Receiver<tenantry::announce::SchemaChange>,
    wanted: impl Fn(&tenantry::announce::SchemaChange) -> bool,
) {
    let wait = async {
        loop {
            match changes.recv().await {
                Ok(change) if wanted(&change) => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(err) => panic!("the listener stopped: {err}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("announced within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_and_drops_are_announced_to_every_application_instance() {
    use tenantry::announce::SchemaChange;
    use tenantry::migrate::RunOptions;

    let db = test_database("live_announcements").await;
    let (dir, tenant_dir) = items_migrations();
    let (admin, _) = common::setup_migrator(&db, dir.path(), |_| {}).await;
    let acme = admin.tenant("acme").expect("valid");
    admin.create(&acme).await.expect("creates");
    tenantry::migrate::Migrator::load(&admin).expect("loads").run(&RunOptions::default()).await.expect("migrates");

    // Two application instances on one connection each: one listening (the default), one not.
    let listening = connect(&db, |config| config.pool.max_size = 1).await;
    let deaf = connect(&db, |config| {
        config.pool.max_size = 1;
        config.pool.listen_for_schema_changes = false;
    })
    .await;
    let mut changes = listening.schema_changes();
    assert_eq!(read_item(&listening, &acme).await.expect("reads"), 2);
    assert_eq!(read_item(&deaf, &acme).await.expect("reads"), 2);

    add_price_column(&admin, &tenant_dir, &mut changes).await;
    assert_eq!(read_item(&listening, &acme).await.expect("the announced change re-prepared the statement"), 3);
    let err = read_item(&deaf, &acme).await.expect_err("without announcements the stale statement fails once");
    assert_eq!(err.sqlstate(), Some("0A000"), "{err}");

    assert!(listening.is_known(&acme).await.expect("looks up"), "cached as known");
    assert!(deaf.is_known(&acme).await.expect("looks up"), "cached as known");
    admin.drop(&acme).await.expect("another instance drops acme");
    announced(&mut changes, |c| matches!(c, SchemaChange::Dropped { schemas } if schemas.iter().any(|s| s == "acme")))
        .await;
    assert!(!listening.is_known(&acme).await.expect("looks up"), "the dropped tenant left the cache at once");
    assert!(deaf.is_known(&acme).await.expect("looks up"), "the deaf instance still believes in it until its TTL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_dropped_under_a_running_transaction_is_reported_as_not_found() {
    let db = test_database("live_dropped_mid_transaction").await;
    let tenantry = connect(&db, |_| {}).await; // no shared schemas: nothing to fall through to
    let acme = common::create_with_marker(&tenantry, "acme").await;
    let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    tx.query("SELECT 1", &[]).await.expect("touches none of acme's tables");
    let other = connect(&db, |_| {}).await;
    other.drop(&acme).await.expect("drops: nothing holds acme's tables");
    let err = tx.query("SELECT tenant FROM marker", &[]).await.expect_err("acme is gone");
    assert!(matches!(err, Error::TenantNotFound { .. }), "an HTTP app answers this with 404, not 500: {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_shared_schemas_first_a_tenant_migration_still_renews_its_statements() {
    use tenantry::config::SharedSchemasPosition;
    use tenantry::migrate::RunOptions;

    let db = test_database("live_shared_first").await;
    raw_client(&db.url()).await.batch_execute("CREATE SCHEMA extensions").await.expect("a shared schema");
    let (dir, tenant_dir) = items_migrations();
    // The tenant's schema is not the first on its path: "extensions", "acme", pg_temp.
    let shared_first = |config: &mut tenantry::Config| {
        config.shared_schemas = vec!["extensions".into()];
        config.shared_schemas_position = SharedSchemasPosition::Before;
    };
    let (admin, _) = common::setup_migrator(&db, dir.path(), shared_first).await;
    let acme = admin.tenant("acme").expect("valid");
    admin.create(&acme).await.expect("creates");
    tenantry::migrate::Migrator::load(&admin).expect("loads").run(&RunOptions::default()).await.expect("migrates");
    let listening = connect(&db, |config| {
        shared_first(config);
        config.pool.max_size = 1;
    })
    .await;
    assert_eq!(listening.search_path(Some(&acme)).as_sql(), r#""extensions", "acme", pg_temp"#);
    let mut changes = listening.schema_changes();
    assert_eq!(read_item(&listening, &acme).await.expect("reads"), 2);

    add_price_column(&admin, &tenant_dir, &mut changes).await;
    assert_eq!(read_item(&listening, &acme).await.expect("the tenant's announced change re-prepared the statement"), 3);
}
