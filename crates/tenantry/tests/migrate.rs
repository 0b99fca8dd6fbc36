//! Migrations across every tenant on a real PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};

use common::{
    applied_versions, columns, concurrent_index_migration, create_tenants, raw_client, setup_migrator as setup,
    workload,
};
use tenantry::migrate::{
    CreateMethod, CreateOptions, Goal, MigrationEvent, MigrationSource, Migrator, Outcome, RunOptions, Selection,
    SkipReason,
};
use tenantry::{Error, Tenantry};
use tenantry_test_support::test_database;

fn target(version: i64) -> RunOptions {
    RunOptions::goal(Goal::Target(version))
}

#[tokio::test]
async fn migrates_every_tenant_then_leaves_them_untouched() {
    let db = test_database("migrate_all").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 12).await;
    let raw = raw_client(&db.url()).await;

    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.tenant_counts(), (12, 0, 0));
    for result in &report.tenants {
        assert!(
            matches!(&result.outcome, Outcome::Succeeded { applied, .. } if *applied == (1..=10).collect::<Vec<_>>())
        );
    }
    assert!(matches!(report.template.as_ref().map(|r| &r.outcome), Some(Outcome::Succeeded { .. })));
    for tenant in &tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, (1..=10).collect::<Vec<_>>());
    }
    assert_eq!(applied_versions(&raw, "tenantry_template").await, (1..=10).collect::<Vec<_>>());
    assert!(columns(&raw, tenants[0].schema(), "sales_order").await.contains(&"currency".to_owned()));
    let template_listed = tenantry.list().await.expect("lists").iter().any(|t| t.schema() == "tenantry_template");
    assert!(!template_listed, "the template is never a tenant");

    // Up to date: nothing is touched, no bookkeeping row changes.
    let before: i64 = raw
        .query_one("SELECT max(xmin::text::bigint) FROM \"t-000\".tenantry_migrations", &[])
        .await
        .expect("xmin")
        .get(0);
    let again = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(again.is_success());
    assert!(again.tenants.iter().all(|r| r.outcome == Outcome::Skipped { reason: SkipReason::UpToDate }), "{again}");
    let after: i64 = raw
        .query_one("SELECT max(xmin::text::bigint) FROM \"t-000\".tenantry_migrations", &[])
        .await
        .expect("xmin")
        .get(0);
    assert_eq!(before, after);
    assert!(again.to_string().contains("Up to date: 12/12"), "{again}");
}

#[tokio::test]
async fn one_failing_tenant_never_stops_the_others() {
    let db = test_database("migrate_isolated_failure").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |config| config.migrations.jobs = 4).await;
    let tenants = create_tenants(&tenantry, "t", 200).await;
    let report = migrator.run(&target(8)).await.expect("runs");
    assert!(report.is_success(), "{report}");

    // One tenant gets an object that makes migration 9 fail.
    let raw = raw_client(&db.url()).await;
    let victim = &tenants[117];
    raw.batch_execute(&format!("ALTER TABLE \"{}\".customer ADD COLUMN loyalty_points text", victim.schema()))
        .await
        .expect("conflict");
    let columns_before = columns(&raw, victim.schema(), "customer").await;

    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(!report.is_success());
    assert_eq!(report.tenant_counts(), (199, 1, 0), "{report}");
    let (subject, failure) = report.failures().next().expect("one failure");
    assert_eq!(subject.tenant(), Some(victim));
    assert_eq!(failure.version, Some(9));
    assert_eq!(failure.sqlstate.as_deref(), Some("42701"), "duplicate_column: {failure}");
    assert!(failure.applied_before_failure.is_empty());
    assert!(report.to_string().contains("Succeeded: 199/200"), "{report}");
    assert!(report.to_string().contains("t-117: version 9: [42701]"), "{report}");

    // Exactly at version 8: bookkeeping and schema.
    assert_eq!(applied_versions(&raw, victim.schema()).await, (1..=8).collect::<Vec<_>>());
    assert_eq!(columns(&raw, victim.schema(), "customer").await, columns_before);
    assert!(!columns(&raw, victim.schema(), "sales_order").await.contains(&"currency".to_owned()), "10 not applied");
    assert_eq!(applied_versions(&raw, tenants[0].schema()).await, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_runs_never_interleave() {
    let db = test_database("migrate_concurrent").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 40).await;
    let waited = Arc::new(Mutex::new(false));
    let flag = waited.clone();
    let second = migrator.clone().on_event(move |event| {
        if matches!(event, MigrationEvent::WaitingForRunLock) {
            *flag.lock().expect("not poisoned") = true;
        }
    });
    let options = RunOptions::default();
    let (first, second_report) = tokio::join!(migrator.run(&options), async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        second.run(&options).await
    });
    let (first, second_report) = (first.expect("first runs"), second_report.expect("second runs"));
    assert!(first.is_success() && second_report.is_success(), "{first}\n{second_report}");
    assert!(*waited.lock().expect("not poisoned"), "the second run must report that it waited");
    let applied_twice = second_report
        .tenants
        .iter()
        .any(|r| matches!(&r.outcome, Outcome::Succeeded { applied, .. } if !applied.is_empty()));
    assert!(!applied_twice, "the second run found everything done: {second_report}");
    let raw = raw_client(&db.url()).await;
    for tenant in &tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, (1..=10).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn no_wait_refuses_while_another_run_holds_the_lock() {
    let db = test_database("migrate_no_wait").await;
    let dir = workload(2);
    let (_tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let holder = raw_client(&db.url()).await;
    holder.batch_execute(tenantry::migrate::lock::RUN_LOCK_SQL).await.expect("holds the run lock");
    let options = RunOptions { no_wait: true, ..RunOptions::default() };
    let err = migrator.run(&options).await.expect_err("locked");
    assert!(matches!(err, Error::MigrationRunLocked), "{err:?}");
    assert!(err.to_string().contains("another migration run"), "{err}");
}

#[tokio::test]
async fn an_edited_migration_blocks_its_tenants_until_accepted() {
    let db = test_database("migrate_checksum").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 3).await;
    migrator.run(&target(8)).await.expect("runs");

    let file = dir.path().join("tenant/0003_orders.up.sql");
    let mut text = std::fs::read_to_string(&file).expect("reads");
    text.push_str("\n-- edited after it was applied\n");
    std::fs::write(&file, text).expect("writes");
    let migrator = Migrator::new(&tenantry, MigrationSource::load(dir.path()).expect("loads"));

    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert_eq!(report.tenant_counts(), (0, 3, 0), "{report}");
    let (_, failure) = report.failures().next().expect("blocked");
    assert_eq!(failure.version, Some(3));
    assert!(failure.message.contains("changed on disk"), "{failure}");
    let raw = raw_client(&db.url()).await;
    assert_eq!(applied_versions(&raw, tenants[0].schema()).await, (1..=8).collect::<Vec<_>>(), "nothing applied");

    let accept = RunOptions { accept_changed_checksums: true, ..RunOptions::default() };
    let report = migrator.run(&accept).await.expect("runs");
    assert!(report.is_success(), "{report}");
    let again = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(again.is_success(), "the accepted checksum is now the recorded one: {again}");
    assert_eq!(applied_versions(&raw, tenants[2].schema()).await, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn rollback_target_redo_up_and_down() {
    let db = test_database("migrate_rollback").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 5).await;
    let raw = raw_client(&db.url()).await;
    let schema = tenants[4].schema();
    migrator.run(&RunOptions::default()).await.expect("runs");

    let report = migrator.run(&RunOptions::goal(Goal::Rollback(2))).await.expect("rolls back");
    assert!(report.is_success(), "{report}");
    assert!(matches!(&report.tenants[0].outcome, Outcome::Succeeded { reverted, .. } if *reverted == [10, 9]));
    assert_eq!(applied_versions(&raw, schema).await, (1..=8).collect::<Vec<_>>());
    assert!(!columns(&raw, schema, "customer").await.contains(&"phone".to_owned()));
    assert_eq!(applied_versions(&raw, "tenantry_template").await, (1..=8).collect::<Vec<_>>(), "the template follows");

    migrator.run(&target(10)).await.expect("up again");
    assert_eq!(applied_versions(&raw, schema).await, (1..=10).collect::<Vec<_>>());
    migrator.run(&RunOptions::goal(Goal::Redo)).await.expect("redo");
    assert_eq!(applied_versions(&raw, schema).await, (1..=10).collect::<Vec<_>>());

    let only_one =
        RunOptions { selection: Selection::Tenants(vec![tenants[1].clone()]), ..RunOptions::goal(Goal::Revert(10)) };
    let report = migrator.run(&only_one).await.expect("down 10");
    assert_eq!(report.tenants.len(), 1);
    assert_eq!(applied_versions(&raw, tenants[1].schema()).await, (1..=9).collect::<Vec<_>>());
    assert_eq!(applied_versions(&raw, tenants[0].schema()).await, (1..=10).collect::<Vec<_>>(), "others untouched");
    migrator
        .run(&RunOptions {
            selection: Selection::Tenants(vec![tenants[1].clone()]),
            ..RunOptions::goal(Goal::Apply(10))
        })
        .await
        .expect("up 10");
    assert_eq!(applied_versions(&raw, tenants[1].schema()).await, (1..=10).collect::<Vec<_>>());

    let ghost = tenantry.tenant("ghost").expect("valid");
    let err = migrator
        .run(&RunOptions { selection: Selection::Tenants(vec![ghost]), ..RunOptions::default() })
        .await
        .expect_err("unknown tenant");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn per_migration_transactions_report_what_committed_before_a_failure() {
    let db = test_database("migrate_per_migration").await;
    let dir = workload(10);
    let (tenantry, migrator) =
        setup(&db, dir.path(), |config| config.migrations.transaction_per_migration = true).await;
    let tenants = create_tenants(&tenantry, "t", 2).await;
    migrator.run(&target(8)).await.expect("runs");
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!("ALTER TABLE \"{}\".sales_order ADD COLUMN notes int", tenants[0].schema()))
        .await
        .expect("conflict");
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    let (_, failure) = report.failures().next().expect("fails");
    assert_eq!(failure.version, Some(10));
    assert_eq!(failure.applied_before_failure, [9]);
    assert_eq!(applied_versions(&raw, tenants[0].schema()).await, (1..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn no_transaction_migrations_run_outside_a_transaction() {
    let db = test_database("migrate_no_transaction").await;
    let dir = workload(3);
    concurrent_index_migration(dir.path(), 4);
    std::fs::write(dir.path().join("tenant/0005_after.up.sql"), "CREATE TABLE after_index (id int)").expect("writes");
    std::fs::write(dir.path().join("tenant/0005_after.down.sql"), "DROP TABLE after_index").expect("writes");
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 3).await;
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    let raw = raw_client(&db.url()).await;
    assert_eq!(applied_versions(&raw, tenants[2].schema()).await, [1, 2, 3, 4, 5]);
    let valid: bool = raw
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = (quote_ident($1) || '.customer_created_idx')::regclass",
            &[&tenants[2].schema()],
        )
        .await
        .expect("index exists")
        .get(0);
    assert!(valid);
    let report = migrator.run(&RunOptions::goal(Goal::Target(3))).await.expect("runs down");
    assert!(report.is_success(), "{report}");
    assert_eq!(applied_versions(&raw, tenants[2].schema()).await, [1, 2, 3]);
}

#[tokio::test]
async fn the_dump_is_written_after_success_and_skipped_after_a_failure() {
    let db = test_database("migrate_dump").await;
    let dir = workload(10);
    let dump_path = dir.path().join("db/schema.sql");
    let path = dump_path.clone();
    let (tenantry, migrator) = setup(&db, dir.path(), move |config| {
        config.migrations.dump = true;
        config.migrations.dump_path = path;
    })
    .await;
    let tenants = create_tenants(&tenantry, "t", 2).await;
    let report = migrator.run(&target(9)).await.expect("runs");
    assert!(!dump_path.exists(), "only plain migrate runs dump");
    assert!(report.is_success());

    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!("ALTER TABLE \"{}\".sales_order ADD COLUMN notes int", tenants[1].schema()))
        .await
        .expect("conflict");
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(!report.is_success());
    assert!(!dump_path.exists(), "no dump after a failed tenant");

    raw.batch_execute(&format!("ALTER TABLE \"{}\".sales_order DROP COLUMN notes", tenants[1].schema()))
        .await
        .expect("fix");
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    let dump = std::fs::read_to_string(&dump_path).expect("dump written");
    assert!(dump.contains("CREATE TABLE tenantry_template.sales_order"), "the template's structure");
    assert!(!dump.contains("\"t-000\""), "never a tenant's");
    assert!(!dump.contains("\\restrict"), "stable output");
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let db = test_database("migrate_dry_run").await;
    let dir = workload(4);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 2).await;
    let report = migrator.run(&RunOptions { dry_run: true, ..RunOptions::default() }).await.expect("plans");
    assert!(report.tenants.iter().all(|r| r.outcome == Outcome::Skipped { reason: SkipReason::DryRun }));
    assert_eq!(report.tenants[0].planned, [(1, true), (2, true), (3, true), (4, true)]);
    let raw = raw_client(&db.url()).await;
    // The bookkeeping table is there from the creation (docs/tenants.md), and stays empty.
    assert!(applied_versions(&raw, tenants[0].schema()).await.is_empty());
    let has_customer: bool = raw
        .query_one("SELECT to_regclass(quote_ident($1) || '.customer') IS NOT NULL", &[&tenants[0].schema()])
        .await
        .expect("query")
        .get(0);
    assert!(!has_customer);
}

#[tokio::test]
async fn status_names_pending_migrations_drift_and_missing_schemas() {
    let db = test_database("migrate_status").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 6).await;
    migrator.run(&RunOptions::default()).await.expect("runs");
    let behind =
        RunOptions { selection: Selection::Tenants(vec![tenants[1].clone(), tenants[2].clone()]), ..target(8) };
    migrator.run(&behind).await.expect("rolls two back");

    let status = migrator.status(&Selection::All, false).await.expect("status");
    assert_eq!(status.tenants.len(), 6);
    assert_eq!(status.current_tenants(), 4, "{status}");
    assert_eq!(status.pending_migrations().into_iter().collect::<Vec<_>>(), [9, 10]);
    let tenantry::migrate::SchemaStatus::Present { pending, .. } = &status.tenants[1].status else { panic!("present") };
    assert_eq!(pending[0].description, "customer product columns");
    let text = status.to_string();
    assert!(text.ends_with("4/6 tenants current, 2 migrations pending"), "{text}");
    assert!(text.contains("t-001: at 8; pending: 9 customer product columns, 10 order columns and index"), "{text}");
    assert_eq!(
        (status.read.from_summary, status.read.from_table),
        (8, 0),
        "template + 6 tenants + shared from summaries"
    );

    // A bookkeeping row edited by hand bypasses the summary: only a verifying status sees it.
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!(
        "UPDATE \"{}\".tenantry_migrations SET checksum = '\\x00' WHERE version = 2",
        tenants[3].schema()
    ))
    .await
    .expect("hand edit");
    let verified = migrator.status(&Selection::All, true).await.expect("status");
    let tenantry::migrate::SchemaStatus::Present { checksum_mismatch, .. } = &verified.tenants[3].status else {
        panic!("present")
    };
    assert_eq!(checksum_mismatch, &[2]);
    assert_eq!(verified.current_tenants(), 3);

    // A migration file edited after it was applied is drift every status sees.
    let file = dir.path().join("tenant/0005_payments.up.sql");
    let text = std::fs::read_to_string(&file).expect("reads") + "\n-- edited\n";
    std::fs::write(&file, text).expect("writes");
    let status = Migrator::load(&tenantry).expect("loads").status(&Selection::All, false).await.expect("status");
    assert_eq!(status.current_tenants(), 0, "{status}");
    assert!(status.to_string().contains("changed on disk: [5]"), "{status}");
    assert!(status.read.from_table >= 6, "summaries no longer match the files, so tables are read");

    // A tenant listed by the source whose schema is gone.
    raw.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", tenants[5].schema())).await.expect("drop");
    let listed = Tenantry::builder({
        let mut config = tenantry.config().clone();
        config.migrations.directory = dir.path().to_owned();
        config
    })
    .tenant_source(tenantry::TenantSource::custom(|| async { Ok(vec!["t-004".to_owned(), "t-005".to_owned()]) }))
    .connect()
    .await
    .expect("connects");
    let status = Migrator::load(&listed).expect("loads").status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!(status.tenants[1].status, tenantry::migrate::SchemaStatus::Missing);
    assert!(status.to_string().contains("1 schemas missing"), "{status}");
}

#[tokio::test]
async fn create_brings_a_new_tenant_to_the_latest_version_with_its_seed() {
    let db = test_database("migrate_create").await;
    let dir = workload(10);
    let seed = dir.path().join("seed.sql");
    std::fs::write(&seed, "INSERT INTO customer (name, email, created_at, is_active, phone, loyalty_points) VALUES ('first', 'a@b.c', now(), true, '', 0)").expect("seed");
    let seed_path = seed.clone();
    let (tenantry, migrator) =
        setup(&db, dir.path(), move |config| config.migrations.seed_file = Some(seed_path)).await;
    let acme = tenantry.tenant("acme").expect("valid");
    let report = migrator.create(&acme, &CreateOptions::default()).await.expect("creates");
    assert!(
        matches!(&report.method, CreateMethod::Migrated { why_not_cloned: Some(why) } if why.contains("does not exist yet")),
        "{report:?}"
    );
    assert_eq!(report.versions, (1..=10).collect::<Vec<_>>());
    assert!(report.seeded);
    let raw = raw_client(&db.url()).await;
    assert_eq!(applied_versions(&raw, "acme").await, (1..=10).collect::<Vec<_>>());
    let customers: i64 = raw.query_one("SELECT count(*) FROM acme.customer", &[]).await.expect("counts").get(0);
    assert_eq!(customers, 1);
    let status = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert!(status.tenants[0].status.is_current(), "the summary is written at creation: {status}");
    assert_eq!(status.read.from_table, 0);

    // A seed that fails leaves no schema behind.
    std::fs::write(&seed, "INSERT INTO no_such_table VALUES (1)").expect("seed");
    let broken = tenantry.tenant("broken").expect("valid");
    let err = migrator.create(&broken, &CreateOptions::default()).await.expect_err("seed fails");
    assert!(err.to_string().contains("seed file") && err.to_string().contains("42P01"), "{err}");
    assert!(!tenantry.exists(&broken).await.expect("exists"));
    // Without the seed it works.
    migrator
        .create(&broken, &CreateOptions { seed: false, ..CreateOptions::default() })
        .await
        .expect("creates without seed");
}

#[tokio::test]
async fn exec_runs_sql_in_every_tenant_with_the_same_report() {
    let db = test_database("migrate_exec").await;
    let dir = workload(1);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 8).await;
    migrator.run(&RunOptions::default()).await.expect("runs");
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!("DROP TABLE \"{}\".customer CASCADE", tenants[3].schema())).await.expect("break one");

    let report = migrator
        .exec(
            "INSERT INTO customer (name, email, created_at, is_active) VALUES ('x', 'x@y.z', now(), true)",
            &RunOptions::default(),
        )
        .await
        .expect("execs");
    assert_eq!(report.tenant_counts(), (7, 1, 0), "{report}");
    let (subject, failure) = report.failures().next().expect("one failure");
    assert_eq!(subject.tenant(), Some(&tenants[3]));
    assert_eq!(failure.sqlstate.as_deref(), Some("42P01"));
    let count: i64 = raw.query_one("SELECT count(*) FROM \"t-000\".customer", &[]).await.expect("counts").get(0);
    assert_eq!(count, 1);
    let template_rows: i64 =
        raw.query_one("SELECT count(*) FROM tenantry_template.customer", &[]).await.expect("counts").get(0);
    assert_eq!(template_rows, 0, "exec runs in tenants, not the template");
}

#[tokio::test]
async fn fail_fast_stops_dispatching_and_events_and_hooks_see_everything() {
    use futures_util::future::BoxFuture;
    use tenantry::migrate::{MigrationHooks, MigrationReport, SchemaResult, Subject};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);
    impl MigrationHooks for Recorder {
        fn before_schema<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, ()> {
            Box::pin(async move { self.0.lock().expect("lock").push(format!("before {subject}")) })
        }
        fn after_schema<'a>(&'a self, result: &'a SchemaResult) -> BoxFuture<'a, ()> {
            Box::pin(async move { self.0.lock().expect("lock").push(format!("after {}", result.subject)) })
        }
        fn after_run<'a>(&'a self, report: &'a MigrationReport) -> BoxFuture<'a, ()> {
            Box::pin(async move { self.0.lock().expect("lock").push(format!("run {}", report.tenants.len())) })
        }
    }

    let db = test_database("migrate_fail_fast").await;
    let dir = workload(2);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let tenants = create_tenants(&tenantry, "t", 30).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!("CREATE TABLE \"{}\".customer (id int)", tenants[0].schema())).await.expect("conflict");

    let recorder = Arc::new(Recorder::default());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let migrator = migrator.with_hooks(recorder.clone()).on_event(move |event| {
        let name = match event {
            MigrationEvent::Planned { pending, .. } => format!("planned {pending}"),
            MigrationEvent::Started { .. } => "started".to_owned(),
            MigrationEvent::Finished { .. } => "finished".to_owned(),
            _ => return,
        };
        sink.lock().expect("lock").push(name);
    });
    let options =
        RunOptions { fail_fast: true, jobs: Some(1), selection: Selection::TenantsOnly, ..RunOptions::default() };
    let report = migrator.run(&options).await.expect("runs");
    let (succeeded, failed, skipped) = report.tenant_counts();
    assert_eq!(
        (succeeded, failed, skipped),
        (0, 1, 29),
        "one worker, the first tenant fails, nothing else starts: {report}"
    );
    assert!(report.tenants[1..].iter().all(|r| r.outcome == Outcome::Skipped { reason: SkipReason::FailFast }));

    let events = events.lock().expect("lock").clone();
    assert_eq!(events.iter().filter(|e| e.as_str() == "planned 30").count(), 1, "{events:?}");
    assert_eq!(events.iter().filter(|e| e.as_str() == "started").count(), 2, "template + first tenant: {events:?}");
    let calls = recorder.0.lock().expect("lock").clone();
    assert_eq!(calls.first().map(String::as_str), Some("before template (tenantry_template)"));
    assert!(calls.contains(&"after t-000".to_owned()), "{calls:?}");
    assert_eq!(calls.last().map(String::as_str), Some("run 30"));
}

/// (relname, relkind) of every relation in `schema`, and its constraint names: the shape a
/// clone must reproduce (tests/clone.rs compares full pg_dump output).
async fn shape(client: &tokio_postgres::Client, schema: &str) -> (Vec<(String, i8)>, Vec<String>) {
    let relations = client
        .query(
            "SELECT relname::text, relkind FROM pg_class WHERE relnamespace = $1::text::regnamespace ORDER BY 1",
            &[&schema],
        )
        .await
        .expect("relations")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let constraints = client
        .query(
            "SELECT conname::text FROM pg_constraint WHERE connamespace = $1::text::regnamespace ORDER BY 1",
            &[&schema],
        )
        .await
        .expect("constraints")
        .iter()
        .map(|r| r.get(0))
        .collect();
    (relations, constraints)
}

#[tokio::test]
async fn create_clones_a_current_template_and_falls_back_saying_why() {
    let db = test_database("migrate_create_clone").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    migrator.run(&RunOptions::default()).await.expect("migrates the template");
    let raw = raw_client(&db.url()).await;

    let cloned = tenantry.tenant("cloned").expect("valid");
    let report = migrator.create(&cloned, &CreateOptions::default()).await.expect("creates");
    assert_eq!(report.method, CreateMethod::Cloned);
    assert_eq!(report.versions, (1..=10).collect::<Vec<_>>());
    let migrated = tenantry.tenant("migrated").expect("valid");
    let report =
        migrator.create(&migrated, &CreateOptions { clone: false, ..CreateOptions::default() }).await.expect("creates");
    assert_eq!(report.method, CreateMethod::Migrated { why_not_cloned: None });
    assert_eq!(shape(&raw, "cloned").await, shape(&raw, "migrated").await);
    assert_eq!(applied_versions(&raw, "cloned").await, (1..=10).collect::<Vec<_>>());
    let status = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!(status.current_tenants(), 2, "{status}");
    assert_eq!(status.read.from_table, 0, "the clone carries a valid summary");
    // The clone is a working tenant: identity columns and foreign keys behave.
    raw.batch_execute(
        "INSERT INTO cloned.customer (name, email, created_at, is_active, phone, loyalty_points) VALUES ('a', 'a@b.c', now(), true, '', 0);
         INSERT INTO cloned.customer (name, email, created_at, is_active, phone, loyalty_points) VALUES ('b', 'b@b.c', now(), true, '', 0)",
    )
    .await
    .expect("identity works");
    let template_rows: i64 =
        raw.query_one("SELECT count(*) FROM tenantry_template.customer", &[]).await.expect("count").get(0);
    assert_eq!(template_rows, 0);

    // An object kind tenantry cannot copy (materialized views are copied since issue 9; a
    // domain is still refused): it says so and runs the migrations.
    raw.batch_execute("CREATE DOMAIN tenantry_template.positive AS integer CHECK (VALUE > 0)").await.expect("domain");
    let refused = tenantry.tenant("refused").expect("valid");
    let report = migrator.create(&refused, &CreateOptions::default()).await.expect("creates by migrations");
    assert!(
        matches!(&report.method, CreateMethod::Migrated { why_not_cloned: Some(why) } if why.contains("domain")),
        "{report:?}"
    );
    raw.batch_execute("DROP DOMAIN tenantry_template.positive").await.expect("drop");

    // A change too small to add an object (a comment) still refreshes the cached script.
    raw.batch_execute("COMMENT ON COLUMN tenantry_template.customer.name IS 'display name'").await.expect("comment");
    let commented = tenantry.tenant("commented").expect("valid");
    assert_eq!(
        migrator.create(&commented, &CreateOptions::default()).await.expect("creates").method,
        CreateMethod::Cloned
    );
    let comment: Option<String> =
        raw.query_one("SELECT col_description('commented.customer'::regclass, 2)", &[]).await.expect("comment").get(0);
    assert_eq!(comment.as_deref(), Some("display name"));

    // An index added by hand (reached only through pg_index) is cloned too.
    raw.batch_execute("CREATE INDEX customer_phone_idx ON tenantry_template.customer (phone)").await.expect("index");
    let indexed = tenantry.tenant("indexed").expect("valid");
    assert_eq!(
        migrator.create(&indexed, &CreateOptions::default()).await.expect("creates").method,
        CreateMethod::Cloned
    );
    let has_index: bool =
        raw.query_one("SELECT to_regclass('indexed.customer_phone_idx') IS NOT NULL", &[]).await.expect("query").get(0);
    assert!(has_index, "the cached script was refreshed");
    raw.batch_execute("DROP INDEX tenantry_template.customer_phone_idx").await.expect("drop index");

    // A template behind the files: not used until migrate brings it up.
    std::fs::write(dir.path().join("tenant/0011_notes.up.sql"), "CREATE TABLE notes (id int)").expect("writes");
    std::fs::write(dir.path().join("tenant/0011_notes.down.sql"), "DROP TABLE notes").expect("writes");
    let migrator = Migrator::load(&tenantry).expect("reloads");
    let behind = tenantry.tenant("behind").expect("valid");
    let report = migrator.create(&behind, &CreateOptions::default()).await.expect("creates");
    assert!(
        matches!(&report.method, CreateMethod::Migrated { why_not_cloned: Some(why) } if why.contains("not at the latest version")),
        "{report:?}"
    );
    assert_eq!(report.versions, (1..=11).collect::<Vec<_>>());
    migrator.run(&RunOptions::default()).await.expect("migrates");
    let after = tenantry.tenant("after").expect("valid");
    assert_eq!(migrator.create(&after, &CreateOptions::default()).await.expect("creates").method, CreateMethod::Cloned);
}

#[tokio::test]
async fn create_many_works_in_parallel_and_isolates_failures() {
    let db = test_database("migrate_create_many").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    migrator.run(&RunOptions::default()).await.expect("migrates the template");
    tenantry.create(&tenantry.tenant("taken").expect("valid")).await.expect("creates");
    let names = ["n1", "n2", "taken", "n3", "n4", "n5"].map(|n| tenantry.tenant(n).expect("valid"));
    let results = migrator.create_many(&names, &CreateOptions::default(), 3).await;
    assert_eq!(results.len(), 6);
    for (name, result) in names.iter().zip(&results) {
        match (name.as_str(), result) {
            ("taken", Err(tenantry::Error::TenantExists { .. })) => {}
            (_, Ok(report)) => {
                assert_eq!(&report.tenant, name, "results keep the order given");
                assert_eq!(report.method, CreateMethod::Cloned);
            }
            (name, other) => panic!("{name}: {other:?}"),
        }
    }
    let status = migrator.status(&Selection::TenantsOnly, false).await.expect("status");
    assert_eq!(status.current_tenants(), 5, "the five new tenants are current; `taken` has no migrations: {status}");
}
