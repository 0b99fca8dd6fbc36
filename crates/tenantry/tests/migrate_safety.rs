//! What a migrator connection must not carry from one tenant to the next (temporary objects),
//! and when `migrate` may trust a schema's summary comment instead of its bookkeeping rows.

mod common;

use common::{applied_versions, columns, create_tenants, raw_client, setup_migrator as setup, workload};
use tenantry::migrate::{CreateMethod, CreateOptions, Goal, Outcome, RunOptions, Selection, SkipReason};
use tenantry::sql::{quote_ident, quote_literal};
use tenantry::{TenantName, Tenantry};
use tenantry_test_support::test_database;

/// A migrations directory whose `tenant/` holds these irreversible migrations, numbered from 1.
fn migrations(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("shared")).expect("shared dir");
    std::fs::create_dir_all(dir.path().join("tenant")).expect("tenant dir");
    for (index, sql) in files.iter().enumerate() {
        let path = dir.path().join(format!("tenant/{:04}_step.sql", index + 1));
        std::fs::write(path, sql).expect("writes migration");
    }
    dir
}

/// Asserts that `table` in each of `schemas` holds one row, whose `column` names that schema.
async fn assert_each_holds_its_own(
    client: &tokio_postgres::Client,
    schemas: &[&str],
    table: &str,
    column: &str,
    why: &str,
) {
    let mut held = Vec::with_capacity(schemas.len());
    for schema in schemas {
        let sql = format!("SELECT {column} FROM {}.{table} ORDER BY 1", quote_ident(schema));
        let rows: Vec<String> = client.query(&sql, &[]).await.expect("reads").iter().map(|row| row.get(0)).collect();
        held.push(rows);
    }
    let own: Vec<Vec<&str>> = schemas.iter().map(|schema| vec![*schema]).collect();
    assert_eq!(held, own, "{why}");
}

/// The summary comment on `schema`'s bookkeeping table.
async fn summary(client: &tokio_postgres::Client, schema: &str) -> String {
    let table = format!("{}.tenantry_migrations", quote_ident(schema));
    client
        .query_one("SELECT obj_description($1::text::regclass, 'pg_class')", &[&table])
        .await
        .expect("reads the comment")
        .get(0)
}

async fn set_summary(client: &tokio_postgres::Client, schema: &str, comment: &str) {
    let sql = format!("COMMENT ON TABLE {}.tenantry_migrations IS {}", quote_ident(schema), quote_literal(comment));
    client.batch_execute(&sql).await.expect("writes the comment");
}

fn one_worker() -> RunOptions {
    RunOptions { jobs: Some(1), ..RunOptions::default() }
}

#[tokio::test]
async fn a_migrations_temporary_tables_never_reach_the_next_tenant_on_its_worker() {
    let db = test_database("safety_temp_migrate").await;
    let dir = migrations(&[
        "CREATE TABLE orders (note text NOT NULL); CREATE TABLE imported (origin text NOT NULL)",
        // A staging table, and a temporary table named like a tenant table; neither ON COMMIT DROP.
        "CREATE TEMP TABLE IF NOT EXISTS staging AS SELECT current_schema()::text AS origin;
         INSERT INTO imported SELECT origin FROM staging;
         CREATE TEMP TABLE IF NOT EXISTS orders (note text);
         INSERT INTO orders VALUES (current_schema())",
    ]);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 3).await;
    // One worker: every tenant runs on the same connection, one after the other.
    let report = migrator.run(&one_worker()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    let raw = raw_client(&db.url()).await;
    let schemas: Vec<&str> = tenants.iter().map(TenantName::schema).collect();
    assert_each_holds_its_own(&raw, &schemas, "imported", "origin", "staged another tenant's rows").await;
    assert_each_holds_its_own(&raw, &schemas, "orders", "note", "wrote into a temporary table").await;
}

#[tokio::test]
async fn exec_tenants_never_resolve_each_others_temporary_tables_or_views() {
    let db = test_database("safety_temp_exec").await;
    let dir = migrations(&["CREATE TABLE orders (note text NOT NULL); CREATE TABLE settings (origin text NOT NULL); \
         CREATE TABLE log (origin text NOT NULL); INSERT INTO settings VALUES (current_schema())"]);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 3).await;
    assert!(migrator.run(&RunOptions::default()).await.expect("runs").is_success());

    let writes = "INSERT INTO orders VALUES (current_schema()); CREATE TEMP TABLE orders (note text)";
    let report = migrator.exec(writes, &one_worker()).await.expect("execs");
    assert!(report.is_success(), "{report}");
    let reads = "INSERT INTO log SELECT origin FROM settings; \
                 CREATE OR REPLACE TEMP VIEW settings AS SELECT 'another tenant''s view'::text AS origin";
    let report = migrator.exec(reads, &one_worker()).await.expect("execs");
    assert!(report.is_success(), "{report}");
    let raw = raw_client(&db.url()).await;
    let schemas: Vec<&str> = tenants.iter().map(TenantName::schema).collect();
    assert_each_holds_its_own(&raw, &schemas, "orders", "note", "wrote into another tenant's table").await;
    assert_each_holds_its_own(&raw, &schemas, "log", "origin", "read another tenant's view").await;
}

#[tokio::test]
async fn create_leaves_no_temporary_table_on_the_pooled_connection() {
    let db = test_database("safety_temp_create").await;
    let dir = migrations(&["CREATE TABLE origin_log (origin text NOT NULL)"]);
    let seed = dir.path().join("seed.sql");
    std::fs::write(
        &seed,
        "CREATE TEMP TABLE IF NOT EXISTS seed_source AS SELECT current_schema()::text AS origin;
         INSERT INTO origin_log SELECT origin FROM seed_source",
    )
    .expect("seed");
    // One pooled connection: both creations and the check below share it.
    let (tenantry, migrator) = setup(&db, dir.path(), |config| {
        config.migrations.seed_file = Some(seed);
        config.pool.max_size = 1;
    })
    .await;
    let raw = raw_client(&db.url()).await;
    let migrated = tenantry.tenant("migrated").expect("valid");
    let report = migrator.create(&migrated, &CreateOptions::default()).await.expect("creates");
    assert!(matches!(report.method, CreateMethod::Migrated { .. }), "{report:?}");
    assert_no_temp_table(&tenantry, &migrated).await;
    assert!(migrator.run(&RunOptions::default()).await.expect("migrates the template").is_success());
    let cloned = tenantry.tenant("cloned").expect("valid");
    let report = migrator.create(&cloned, &CreateOptions::default()).await.expect("creates");
    assert_eq!(report.method, CreateMethod::Cloned);
    assert_no_temp_table(&tenantry, &cloned).await;
    let schemas = ["migrated", "cloned"];
    assert_each_holds_its_own(&raw, &schemas, "origin_log", "origin", "a seed read another tenant's rows").await;
}

async fn assert_no_temp_table(tenantry: &Tenantry, tenant: &TenantName) {
    let mut tx = tenantry.transaction_in(Some(tenant)).await.expect("begins");
    let left: Option<String> =
        tx.query_one("SELECT to_regclass('pg_temp.seed_source')::text", &[]).await.expect("looks up").get(0);
    tx.commit().await.expect("commits");
    assert_eq!(left, None, "the seed's temporary table outlived the creation of {tenant}");
}

#[tokio::test]
async fn a_summary_copied_from_another_schema_or_in_the_old_format_is_not_trusted() {
    let db = test_database("safety_summary").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 3).await;
    assert!(migrator.run(&RunOptions::default()).await.expect("runs").is_success());
    let behind = RunOptions {
        selection: Selection::Tenants(vec![tenants[1].clone(), tenants[2].clone()]),
        ..RunOptions::goal(Goal::Target(8))
    };
    assert!(migrator.run(&behind).await.expect("rolls back").is_success());
    let raw = raw_client(&db.url()).await;
    let current = summary(&raw, tenants[0].schema()).await;
    // t-001 gets t-000's summary, as a schema restored from t-000's dump would carry it.
    set_summary(&raw, tenants[1].schema(), &current).await;
    // t-002 gets a summary of the first format, claiming all ten migrations.
    let digest = current.split("digest=").nth(1).and_then(|rest| rest.split(' ').next()).expect("a digest");
    set_summary(&raw, tenants[2].schema(), &format!("tenantry:1 count=10 max=10 digest={digest}")).await;

    let status = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!(status.current_tenants(), 1, "{status}");
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    for behind in &tenants[1..] {
        let result = report.tenants.iter().find(|r| r.subject.tenant() == Some(behind)).expect("reported");
        assert!(
            matches!(&result.outcome, Outcome::Succeeded { applied, .. } if *applied == [9, 10]),
            "{behind}: {:?}",
            result.outcome
        );
        assert_eq!(applied_versions(&raw, behind.schema()).await, (1..=10).collect::<Vec<_>>());
        let rewritten = summary(&raw, behind.schema()).await;
        assert!(
            rewritten.starts_with("tenantry:2 ") && rewritten.ends_with(&format!(" schema={behind}")),
            "{rewritten}"
        );
    }
    let again = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!((again.current_tenants(), again.read.from_table), (3, 0), "{again}");
}

#[tokio::test]
async fn verify_applies_what_rows_deleted_behind_an_intact_summary_hid() {
    let db = test_database("safety_verify").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 2).await;
    assert!(migrator.run(&RunOptions::default()).await.expect("runs").is_success());
    // By hand, behind tenantry's back: migration 10 undone in t-001 and its row deleted; the
    // summary still says 10.
    let raw = raw_client(&db.url()).await;
    let down = std::fs::read_to_string(dir.path().join("tenant/0010_order_columns_and_index.down.sql")).expect("reads");
    raw.batch_execute(&format!(
        "BEGIN; SET LOCAL search_path TO {}; {down}\n; DELETE FROM tenantry_migrations WHERE version = 10; COMMIT",
        quote_ident(tenants[1].schema())
    ))
    .await
    .expect("undoes migration 10 by hand");

    // The statistics that a plain run compares with the summary are gone (as after a crash),
    // so only `verify` can tell. The deletion's counts are handed over first, or they would
    // arrive after the reset and survive it.
    statistics_show(&raw, tenants[1].schema(), 9).await;
    raw.batch_execute("SELECT pg_stat_reset()").await.expect("resets the statistics");

    let up_to_date = Some(Outcome::Skipped { reason: SkipReason::UpToDate });
    let plain = migrator.run(&RunOptions::default()).await.expect("runs");
    assert_eq!(outcome(&plain, &tenants[1]), up_to_date, "a plain run trusts the summary: {plain}");

    let verified = migrator.run(&RunOptions { verify: true, ..RunOptions::default() }).await.expect("runs");
    assert!(verified.is_success(), "{verified}");
    assert!(
        matches!(outcome(&verified, &tenants[1]), Some(Outcome::Succeeded { applied, .. }) if applied == [10]),
        "{verified}"
    );
    assert_eq!(outcome(&verified, &tenants[0]), up_to_date, "{verified}");
    assert_eq!(applied_versions(&raw, tenants[1].schema()).await, (1..=10).collect::<Vec<_>>());
    assert!(columns(&raw, tenants[1].schema(), "sales_order").await.contains(&"currency".to_owned()));
}

/// What `report` says happened to `tenant`.
fn outcome(report: &tenantry::migrate::MigrationReport, tenant: &TenantName) -> Option<Outcome> {
    report.tenants.iter().find(|r| r.subject.tenant() == Some(tenant)).map(|r| r.outcome.clone())
}

/// Waits (at most 30 s) until PostgreSQL's statistics count `live` rows in `schema`'s
/// bookkeeping table: a backend hands its counts over when a transaction ends (at most once a
/// second; otherwise after 10 s idle) and when it exits.
async fn statistics_show(raw: &tokio_postgres::Client, schema: &str, live: i64) {
    let table = format!("{}.tenantry_migrations", quote_ident(schema));
    let started = std::time::Instant::now();
    loop {
        let row = raw
            .query_one("SELECT pg_stat_get_live_tuples(to_regclass($1)), pg_stat_clear_snapshot()::text", &[&table])
            .await
            .expect("reads statistics");
        if row.get::<_, i64>(0) == live {
            return;
        }
        let seen: i64 = row.get(0);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "statistics never showed {live} rows (last {seen})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_run_applies_what_rows_deleted_by_hand_hid_once_the_statistics_show_it() {
    let db = test_database("safety_statistics").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 2).await;
    assert!(migrator.run(&RunOptions::default()).await.expect("runs").is_success());
    let down = std::fs::read_to_string(dir.path().join("tenant/0010_order_columns_and_index.down.sql")).expect("reads");
    {
        // By hand, on a connection of its own that then ends (handing its counts over).
        let by_hand = raw_client(&db.url()).await;
        by_hand
            .batch_execute(&format!(
                "BEGIN; SET LOCAL search_path TO {}; {down}\n; DELETE FROM tenantry_migrations WHERE version = 10; COMMIT",
                quote_ident(tenants[1].schema())
            ))
            .await
            .expect("undoes migration 10 by hand");
    }
    let raw = raw_client(&db.url()).await;
    statistics_show(&raw, tenants[1].schema(), 9).await;

    let plain = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(plain.is_success(), "{plain}");
    assert!(
        matches!(outcome(&plain, &tenants[1]), Some(Outcome::Succeeded { applied, .. }) if applied == [10]),
        "the summary says 10, the statistics 9 rows: the table is read: {plain}"
    );
    assert_eq!(outcome(&plain, &tenants[0]), Some(Outcome::Skipped { reason: SkipReason::UpToDate }), "{plain}");
    assert_eq!(applied_versions(&raw, tenants[1].schema()).await, (1..=10).collect::<Vec<_>>());
    assert!(columns(&raw, tenants[1].schema(), "sales_order").await.contains(&"currency".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_lost_and_then_counted_again_are_refreshed_once_the_table_proved_the_summary_right() {
    let db = test_database("safety_statistics_lost").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 1).await;
    let schema = tenants[0].schema();
    let raw = raw_client(&db.url()).await;
    let table = format!("{}.tenantry_migrations", quote_ident(schema));
    let to_nine = RunOptions::goal(tenantry::migrate::Goal::Target(9));
    assert!(migrator.run(&to_nine).await.expect("runs").is_success());
    // Every count handed over first, or one arriving after the reset would survive it.
    statistics_show(&raw, schema, 9).await;
    // Counts lost (as in a crash), then migration 10 counted: 1 live row against 10 applied.
    raw.batch_execute("SELECT pg_stat_reset()").await.expect("resets the statistics");
    assert!(migrator.run(&RunOptions::default()).await.expect("runs").is_success());
    statistics_show(&raw, schema, 1).await;

    let status = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!(status.read.doubted, 2, "the tenant's and the template's summaries are doubted: {:?}", status.read);
    let analyzed: Option<std::time::SystemTime> = raw
        .query_one("SELECT last_analyze::timestamptz FROM pg_stat_user_tables WHERE relid = to_regclass($1)", &[&table])
        .await
        .expect("reads")
        .get(0);
    assert!(analyzed.is_some(), "the table proved the summary right: its statistics were refreshed");
    statistics_show(&raw, schema, 10).await;
    let status = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!(status.read.doubted, 0, "trusted from its summary again: {:?}", status.read);
}

/// Creates one tenant, bare (as an application on older code would), after the first schema the
/// run finishes.
struct CreatesATenantMidRun {
    tenantry: Tenantry,
    created: std::sync::atomic::AtomicBool,
}

impl tenantry::migrate::MigrationHooks for CreatesATenantMidRun {
    fn after_schema<'a>(&'a self, _: &'a tenantry::migrate::SchemaResult) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            if !self.created.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let late = self.tenantry.tenant("t-late").expect("valid");
                self.tenantry.create(&late).await.expect("creates a tenant mid-run");
            }
        })
    }
}

#[tokio::test]
async fn a_tenant_created_during_the_run_is_migrated_too() {
    let db = test_database("safety_created_mid_run").await;
    let dir = workload(3);
    let (tenantry, migrator) = setup(&db, dir.path(), |config| config.migrations.jobs = 1).await;
    create_tenants(&tenantry, "t", 3).await;
    let hook = CreatesATenantMidRun { tenantry: tenantry.clone(), created: false.into() };
    let report = migrator.with_hooks(hook).run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    let raw = raw_client(&db.url()).await;
    assert_eq!(applied_versions(&raw, "t-late").await, vec![1, 2, 3], "left behind by the run: {report}");
    assert!(report.tenants.iter().any(|r| r.subject.schema() == "t-late"), "the report names it: {report}");
}
