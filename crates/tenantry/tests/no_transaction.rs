//! No-transaction migrations (`CREATE INDEX CONCURRENTLY`) on a real PostgreSQL: a timed-out
//! build is never recorded with its index invalid, a crashed attempt's invalid index is repaired
//! by the next run, and parallel runs with such steps succeed (issues 8 and 9).

mod common;

use common::{applied_versions, connect, create_tenants, raw_client, workload};
use tenantry::migrate::{CreateOptions, Goal, Migrator, RunOptions};
use tenantry::{Config, TenantName};
use tenantry_test_support::{test_database, TestDatabase};

/// An expression index (not "simple": PostgreSQL makes other index builds wait for it).
const LOWER_EMAIL: &str =
    "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS customer_lower_email ON customer (lower(email))";
/// An unnamed expression index: PostgreSQL picks the name (`customer_lower_idx`).
const LOWER_NAME: &str = "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY ON customer (lower(name))";
/// A partial index.
const OPEN_ORDERS: &str = "-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS sales_order_open \
                           ON sales_order (placed_at) WHERE status = 'open'";

/// Writes `tenant/<file>` into a migrations directory.
fn write(dir: &tempfile::TempDir, file: &str, sql: &str) {
    std::fs::write(dir.path().join("tenant").join(file), sql).expect("writes a migration");
}

async fn migrator(db: &TestDatabase, dir: &tempfile::TempDir, edit: impl FnOnce(&mut Config)) -> Migrator {
    let path = dir.path().to_owned();
    let tenantry = connect(db, |config| {
        config.migrations.directory = path;
        config.migrations.dump = false;
        config.migrations.template = false;
        config.migrations.retry_backoff_ms = 20;
        edit(config);
    })
    .await;
    Migrator::load(&tenantry).expect("loads migrations")
}

/// Every index of `schema`'s tables with its validity, by name.
async fn indexes(client: &tokio_postgres::Client, schema: &str) -> Vec<(String, bool)> {
    client
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relnamespace = $1::text::regnamespace ORDER BY 1",
            &[&tenantry::sql::quote_ident(schema)],
        )
        .await
        .expect("reads indexes")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn validity(indexes: &[(String, bool)], name: &str) -> Option<bool> {
    indexes.iter().find(|(n, _)| n == name).map(|(_, valid)| *valid)
}

fn invalid(indexes: &[(String, bool)]) -> Vec<&str> {
    indexes.iter().filter(|(_, valid)| !valid).map(|(n, _)| n.as_str()).collect()
}

/// A session holding a transaction with a snapshot open: `CREATE INDEX CONCURRENTLY` in the
/// same database waits for it (PostgreSQL manual, "Building Indexes Concurrently").
async fn snapshot_holder(url: &str) -> tokio_postgres::Client {
    let client = raw_client(url).await;
    client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1").await.expect("holds a snapshot");
    client
}

/// One tenant, and a history of workload 1–3 then [`LOWER_EMAIL`] (version 4).
async fn one_tenant_and_an_index_build(
    db: &TestDatabase,
    lock_timeout_ms: u64,
    max_retries: u32,
) -> (tempfile::TempDir, Migrator, TenantName) {
    let dir = workload(3);
    write(&dir, "0004_lower_email.sql", LOWER_EMAIL);
    let migrator = migrator(db, &dir, |config| {
        config.migrations.lock_timeout_ms = lock_timeout_ms;
        config.migrations.max_retries = max_retries;
    })
    .await;
    let tenant = create_tenants(migrator.tenantry(), "t", 1).await.remove(0);
    (dir, migrator, tenant)
}

#[tokio::test]
async fn a_timed_out_concurrent_index_is_never_recorded_and_the_next_run_builds_it() {
    let db = test_database("no_tx_timeout").await;
    let (_dir, migrator, tenant) = one_tenant_and_an_index_build(&db, 300, 1).await;
    let raw = raw_client(&db.url()).await;

    let blocker = snapshot_holder(&db.url()).await;
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    let versions = applied_versions(&raw, tenant.schema()).await;
    let now = indexes(&raw, tenant.schema()).await;
    assert!(
        !versions.contains(&4) || validity(&now, "customer_lower_email") == Some(true),
        "version 4 is recorded while its index is {:?}: {now:?}\n{report}",
        validity(&now, "customer_lower_email")
    );
    assert!(invalid(&now).is_empty(), "invalid indexes left behind: {now:?}");
    let (_, failure) = report.failures().next().expect("the blocked step fails");
    assert_eq!(failure.version, Some(4), "{report}");
    assert_eq!(failure.sqlstate.as_deref(), Some("55P03"), "{report}");
    assert_eq!(failure.attempts, 2, "{report}");
    assert!(failure.message.contains("\"customer_lower_email\""), "the report names the index: {report}");
    assert!(failure.message.contains("run migrate again"), "and says what to do: {report}");
    assert_eq!(versions, [1, 2, 3], "what committed before the step stays");

    blocker.batch_execute("COMMIT").await.expect("the blocker goes away");
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    assert_eq!(applied_versions(&raw, tenant.schema()).await, [1, 2, 3, 4]);
    let now = indexes(&raw, tenant.schema()).await;
    assert_eq!(validity(&now, "customer_lower_email"), Some(true), "{now:?}");
    assert!(invalid(&now).is_empty(), "{now:?}");
}

#[tokio::test]
async fn a_crashed_attempts_invalid_index_is_repaired_by_the_next_run() {
    let db = test_database("no_tx_repair").await;
    let dir = workload(3);
    write(&dir, "0004_lower_email.sql", LOWER_EMAIL);
    write(&dir, "0005_lower_name.sql", LOWER_NAME);
    let migrator = migrator(&db, &dir, |config| config.migrations.lock_timeout_ms = 2000).await;
    let tenant = create_tenants(migrator.tenantry(), "t", 1).await.remove(0);
    let report = migrator.run(&RunOptions::goal(Goal::Target(3))).await.expect("runs");
    assert!(report.is_success(), "{report}");

    // What a process killed during steps 4 and 5 leaves: their indexes, INVALID, unrecorded.
    let raw = raw_client(&db.url()).await;
    let blocker = snapshot_holder(&db.url()).await;
    raw.batch_execute(&format!(
        "SET search_path TO {}; SET lock_timeout = '200ms'",
        tenantry::sql::quote_ident(tenant.schema())
    ))
    .await
    .expect("sets up");
    for sql in [LOWER_EMAIL, LOWER_NAME] {
        let error = raw.batch_execute(sql).await.expect_err("the build times out");
        assert_eq!(error.code().map(|c| c.code()), Some("55P03"), "{error}");
    }
    blocker.batch_execute("COMMIT").await.expect("the blocker goes away");
    let before = indexes(&raw, tenant.schema()).await;
    assert_eq!(invalid(&before), ["customer_lower_email", "customer_lower_idx"], "{before:?}");

    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    assert_eq!(applied_versions(&raw, tenant.schema()).await, [1, 2, 3, 4, 5]);
    let after = indexes(&raw, tenant.schema()).await;
    assert!(invalid(&after).is_empty(), "the crashed attempts' indexes are repaired: {after:?}");
    assert_eq!(validity(&after, "customer_lower_email"), Some(true), "{after:?}");
    let lower_name = after.iter().filter(|(name, _)| name.starts_with("customer_lower_idx")).count();
    assert_eq!(lower_name, 1, "one index for step 5, not a leftover beside it: {after:?}");
}

/// A history with two non-simple concurrent index builds, then a slow data migration: the
/// builds of one tenant would wait for the other workers' transactions. No retries are allowed:
/// tenantry's own transactions never make a build wait, so none may time out.
async fn parallel_setup(db: &TestDatabase) -> (tempfile::TempDir, Migrator) {
    let dir = workload(3);
    write(&dir, "0004_lower_email.sql", LOWER_EMAIL);
    write(&dir, "0005_open_orders.sql", OPEN_ORDERS);
    write(&dir, "0006_backfill.sql", "SELECT pg_sleep(0.4); UPDATE customer SET is_active = true");
    let migrator = migrator(db, &dir, |config| {
        config.migrations.lock_timeout_ms = 200;
        config.migrations.max_retries = 0;
        config.migrations.jobs = 4;
    })
    .await;
    (dir, migrator)
}

async fn assert_all_current(db: &TestDatabase, tenants: &[TenantName]) {
    let raw = raw_client(&db.url()).await;
    for tenant in tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, [1, 2, 3, 4, 5, 6], "{tenant}");
        let now = indexes(&raw, tenant.schema()).await;
        assert_eq!(validity(&now, "customer_lower_email"), Some(true), "{tenant}: {now:?}");
        assert_eq!(validity(&now, "sales_order_open"), Some(true), "{tenant}: {now:?}");
        assert!(invalid(&now).is_empty(), "{tenant}: {now:?}");
    }
}

#[tokio::test]
async fn parallel_migrate_with_concurrent_index_steps_succeeds_for_every_tenant() {
    let db = test_database("no_tx_parallel_migrate").await;
    let (_dir, migrator) = parallel_setup(&db).await;
    let tenants = create_tenants(migrator.tenantry(), "t", 12).await;
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    assert_all_current(&db, &tenants).await;
}

#[tokio::test]
async fn parallel_create_with_concurrent_index_steps_succeeds_for_every_tenant() {
    let db = test_database("no_tx_parallel_create").await;
    let (_dir, migrator) = parallel_setup(&db).await;
    let tenants: Vec<TenantName> =
        (0..12).map(|i| migrator.tenantry().tenant(&format!("c-{i:03}")).expect("valid name")).collect();
    let results = migrator.create_many(&tenants, &CreateOptions { clone: false, seed: false }, 4).await;
    let failed: Vec<String> = results.iter().filter_map(|r| r.as_ref().err().map(|e| format!("{e:#}"))).collect();
    assert!(failed.is_empty(), "{} of 12 creations failed: {failed:#?}", failed.len());
    assert_all_current(&db, &tenants).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_many_runs_the_no_transaction_steps_of_its_tenants_side_by_side() {
    let db = test_database("no_tx_create_overlap").await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("tenant")).expect("tenant dir");
    std::fs::create_dir_all(dir.path().join("shared")).expect("shared dir");
    write(&dir, "0001_items.sql", "CREATE TABLE items (id int PRIMARY KEY)");
    // Each tenant's step holds a shared advisory lock for a while and records how many steps
    // held it at that moment: more than one means the steps of several tenants overlapped.
    write(
        &dir,
        "0002_overlap.sql",
        "-- tenantry:no-transaction\n\
         SELECT pg_advisory_lock_shared(424242);\n\
         SELECT pg_sleep(0.3);\n\
         INSERT INTO public.overlap SELECT count(*) FROM pg_locks \
           WHERE locktype = 'advisory' AND objid = 424242 AND granted;\n\
         SELECT pg_advisory_unlock_shared(424242);",
    );
    raw_client(&db.url()).await.batch_execute("CREATE TABLE public.overlap (holders bigint)").await.expect("log table");
    let migrator = migrator(&db, &dir, |config| config.migrations.jobs = 4).await;
    let tenants: Vec<TenantName> =
        (0..4).map(|i| migrator.tenantry().tenant(&format!("o-{i}")).expect("valid name")).collect();
    let results = migrator.create_many(&tenants, &CreateOptions { clone: false, seed: false }, 4).await;
    for result in &results {
        let report = result.as_ref().expect("creates");
        assert_eq!(report.versions, [1, 2], "{report:?}");
        assert_eq!(report.applied_after_commit, [2], "{report:?}");
    }
    let raw = raw_client(&db.url()).await;
    let (steps, most): (i64, i64) = {
        let row = raw.query_one("SELECT count(*), max(holders) FROM public.overlap", &[]).await.expect("reads");
        (row.get(0), row.get(1))
    };
    assert_eq!(steps, 4, "one step per tenant");
    assert!(most > 1, "the four tenants' steps ran one after another, each in a run of its own: {most}");
}

/// Another process holding `key` of the no-transaction lock class exclusively, as its step
/// running alone (key 0, the running lock) or about to (key 1, the alone lock) would.
async fn hold_no_tx_lock(url: &str, key: i32) -> tokio_postgres::Client {
    let client = raw_client(url).await;
    client
        .query_one("SELECT pg_advisory_lock($1, $2)", &[&tenantry::migrate::lock::NO_TX_LOCK_CLASS, &key])
        .await
        .expect("takes the lock");
    client
}

/// Runs `migrator` in the background while another process holds `key`; checks that nothing
/// is applied meanwhile, then releases it. With no retries allowed, the wait never counts as a
/// failed attempt.
async fn waits_for_other_process(db: &TestDatabase, dir: &tempfile::TempDir, key: i32, expected: &[i64]) {
    let migrator = migrator(db, dir, |config| {
        config.migrations.lock_timeout_ms = 200;
        config.migrations.max_retries = 0;
        config.migrations.jobs = 2;
    })
    .await;
    let tenants = create_tenants(migrator.tenantry(), "t", 2).await;
    let raw = raw_client(&db.url()).await;
    if key == 1 {
        // The no-transaction step must wait too: apply what precedes it first.
        let report = migrator.run(&RunOptions::goal(Goal::Target(3))).await.expect("runs");
        assert!(report.is_success(), "{report}");
    }
    let before: Vec<Vec<i64>> =
        futures_util::future::join_all(tenants.iter().map(|t| applied_versions_or_none(&raw, t.schema()))).await;
    let other = hold_no_tx_lock(&db.url(), key).await;
    let run = tokio::spawn({
        let migrator = migrator.clone();
        async move { migrator.run(&RunOptions::default()).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    for (tenant, was) in tenants.iter().zip(&before) {
        assert_eq!(&applied_versions_or_none(&raw, tenant.schema()).await, was, "{tenant} waits");
    }
    assert!(!run.is_finished(), "the run waits for the other process");
    other.batch_execute("SELECT pg_advisory_unlock_all()").await.expect("releases");
    let report = run.await.expect("joins").expect("runs");
    assert!(report.is_success(), "{report}");
    for tenant in &tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, expected, "{tenant}");
    }
}

/// The versions recorded in `schema`, or none when it has no bookkeeping table yet.
async fn applied_versions_or_none(client: &tokio_postgres::Client, schema: &str) -> Vec<i64> {
    let exists: bool = client
        .query_one("SELECT to_regclass(quote_ident($1) || '.tenantry_migrations') IS NOT NULL", &[&schema])
        .await
        .expect("looks for the table")
        .get(0);
    if exists {
        applied_versions(client, schema).await
    } else {
        Vec::new()
    }
}

#[tokio::test]
async fn migration_transactions_wait_while_another_process_runs_a_step_alone() {
    let db = test_database("no_tx_other_process_step").await;
    let dir = workload(3);
    waits_for_other_process(&db, &dir, 0, &[1, 2, 3]).await;
}

#[tokio::test]
async fn steps_wait_while_another_process_is_about_to_run_a_step_alone() {
    let db = test_database("no_tx_other_process_queue").await;
    let dir = workload(3);
    write(&dir, "0004_lower_email.sql", LOWER_EMAIL);
    waits_for_other_process(&db, &dir, 1, &[1, 2, 3, 4]).await;
}

#[tokio::test]
async fn a_partitioned_index_made_invalid_on_purpose_is_recorded() {
    let db = test_database("no_tx_on_only").await;
    let dir = workload(0);
    write(
        &dir,
        "0001_measurement.sql",
        "CREATE TABLE measurement (day date NOT NULL) PARTITION BY RANGE (day); \
         CREATE TABLE measurement_2026 PARTITION OF measurement FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
    );
    // Invalid until every partition's index is attached (PostgreSQL manual, "Partition Maintenance").
    write(
        &dir,
        "0002_measurement_day.sql",
        "-- tenantry:no-transaction\nCREATE INDEX measurement_day ON ONLY measurement (day)",
    );
    let migrator = migrator(&db, &dir, |_| {}).await;
    let tenant = create_tenants(migrator.tenantry(), "t", 1).await.remove(0);
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    let raw = raw_client(&db.url()).await;
    assert_eq!(applied_versions(&raw, tenant.schema()).await, [1, 2]);
    assert_eq!(validity(&indexes(&raw, tenant.schema()).await, "measurement_day"), Some(false), "kept as made");
}

#[tokio::test]
async fn a_build_that_timed_out_beside_a_transaction_runs_again_alone() {
    let db = test_database("no_tx_fallback_alone").await;
    let (_dir, migrator, tenant) = one_tenant_and_an_index_build(&db, 200, 0).await;
    let report = migrator.run(&RunOptions::goal(Goal::Target(3))).await.expect("runs");
    assert!(report.is_success(), "{report}");

    // Another process's migration transaction: the running lock shared, and a snapshot.
    let other = raw_client(&db.url()).await;
    other.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ").await.expect("begins");
    other
        .execute("SELECT pg_advisory_xact_lock_shared($1, 0)", &[&tenantry::migrate::lock::NO_TX_LOCK_CLASS])
        .await
        .expect("takes the running lock shared");
    let run = tokio::spawn({
        let migrator = migrator.clone();
        async move { migrator.run(&RunOptions::default()).await }
    });
    // The build times out beside it (200 ms), then waits to run alone, holding the alone lock.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let raw = raw_client(&db.url()).await;
    let alone: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid = 1 AND granted",
            &[&i64::from(tenantry::migrate::lock::NO_TX_LOCK_CLASS)],
        )
        .await
        .expect("reads pg_locks")
        .get(0);
    assert_eq!(alone, 1, "the step waits to run alone");
    assert!(!run.is_finished());
    other.batch_execute("COMMIT").await.expect("the other transaction ends");
    let report = run.await.expect("joins").expect("runs");
    assert!(report.is_success(), "no attempt was counted for the build beside: {report}");
    assert_eq!(applied_versions(&raw, tenant.schema()).await, [1, 2, 3, 4]);
    assert_eq!(validity(&indexes(&raw, tenant.schema()).await, "customer_lower_email"), Some(true));
}

/// A new tenant whose no-transaction step fails after its creation committed is a tenant
/// failure naming the tenant and the step, not an unusable migration source (issue 11).
#[tokio::test]
async fn a_new_tenant_whose_no_transaction_step_fails_is_a_tenant_failure_naming_the_step() {
    let db = test_database("no_tx_create_fails").await;
    let dir = workload(3);
    write(
        &dir,
        "0004_broken_index.sql",
        "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY broken ON no_such_table (id)",
    );
    let migrator = migrator(&db, &dir, |_| {}).await;
    let tenant = migrator.tenantry().naming_rules().parse("acme").expect("valid");

    let err = migrator.create(&tenant, &CreateOptions::default()).await.expect_err("the step fails");
    match &err {
        tenantry::Error::TenantCreatedIncomplete { tenant: name, version, path, sqlstate, .. } => {
            assert_eq!(name, "acme", "{err}");
            assert_eq!(*version, Some(4), "{err}");
            assert!(path.as_ref().is_some_and(|p| p.ends_with("0004_broken_index.sql")), "{err}");
            assert_eq!(sqlstate.as_deref(), Some("42P01"), "{err}");
        }
        other => panic!("expected TenantCreatedIncomplete, got {other:?}"),
    }
    let raw = raw_client(&db.url()).await;
    assert_eq!(applied_versions(&raw, tenant.schema()).await, [1, 2, 3], "the tenant exists at version 3");
}
