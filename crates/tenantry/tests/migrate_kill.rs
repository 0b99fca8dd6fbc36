//! Crash safety: a migration process killed with SIGKILL mid-run leaves every tenant entirely
//! at its old version or entirely at the new one, and a re-run completes the work.
//!
//! The test re-executes its own binary as the child that migrates (the `child_migrates` test,
//! ignored in normal runs), so the kill hits a real, separate process.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{applied_versions, columns, connect, create_tenants, raw_client, workload};
use tenantry::migrate::{Migrator, RunOptions};

const CHILD_URL: &str = "TEST_TENANTRY_CHILD_URL";
const CHILD_DIR: &str = "TEST_TENANTRY_CHILD_DIR";
const TENANTS: usize = 300;

#[tokio::test]
#[ignore = "the child process of kill_9_mid_run_then_rerun_completes"]
async fn child_migrates() {
    let (Ok(url), Ok(dir)) = (std::env::var(CHILD_URL), std::env::var(CHILD_DIR)) else { return };
    let mut config = tenantry::Config::default();
    config.database_url = Some(url);
    config.migrations.directory = dir.into();
    config.migrations.dump = false;
    config.migrations.jobs = 2;
    let tenantry = tenantry::Tenantry::connect(config).await.expect("child connects");
    Migrator::load(&tenantry).expect("loads").run(&RunOptions::default()).await.expect("child runs");
}

#[tokio::test]
async fn kill_9_mid_run_then_rerun_completes() {
    let db = tenantry_test_support::test_database("migrate_kill").await;
    let dir = workload(10);
    let path = dir.path().to_owned();
    let tenantry = connect(&db, move |config| {
        config.migrations.directory = path;
        config.migrations.dump = false;
    })
    .await;
    let tenants = create_tenants(&tenantry, "t", TENANTS).await;
    let raw = raw_client(&db.url()).await;

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child_migrates", "--include-ignored", "--test-threads=1"])
        .env(CHILD_URL, db.url())
        .env(CHILD_DIR, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns the child");
    // Kill once some, not all, tenants are done.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: i64 = raw
            .query_one("SELECT count(*) FROM pg_class WHERE relname = 'sales_order' AND relnamespace::regnamespace::text <> 'tenantry_template'", &[])
            .await
            .expect("counts")
            .get(0);
        if done >= 30 {
            break;
        }
        assert!(Instant::now() < deadline, "the child made no progress");
        assert!(child.try_wait().expect("polls").is_none(), "the child finished before it could be killed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // Every tenant is at 0 or 10, and its objects agree with its bookkeeping.
    let (mut at_zero, mut at_ten) = (0, 0);
    for tenant in &tenants {
        let has_table: bool = raw
            .query_one("SELECT to_regclass(quote_ident($1) || '.tenantry_migrations') IS NOT NULL", &[&tenant.schema()])
            .await
            .expect("query")
            .get(0);
        let versions = if has_table { applied_versions(&raw, tenant.schema()).await } else { Vec::new() };
        let has_orders: bool = raw
            .query_one("SELECT to_regclass(quote_ident($1) || '.sales_order') IS NOT NULL", &[&tenant.schema()])
            .await
            .expect("query")
            .get(0);
        if versions.is_empty() {
            assert!(!has_orders, "{tenant}: objects without bookkeeping");
            at_zero += 1;
        } else {
            assert_eq!(versions, (1..=10).collect::<Vec<_>>(), "{tenant}: half-applied");
            assert!(columns(&raw, tenant.schema(), "sales_order").await.contains(&"currency".to_owned()), "{tenant}");
            at_ten += 1;
        }
    }
    println!("after SIGKILL: {at_ten} tenants at version 10, {at_zero} at version 0");
    assert!(at_ten >= 30 && at_zero > 0, "the kill must land mid-run: {at_ten} done, {at_zero} not");

    let report = Migrator::load(&tenantry).expect("loads").run(&RunOptions::default()).await.expect("re-runs");
    assert!(report.is_success(), "{report}");
    for tenant in &tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, (1..=10).collect::<Vec<_>>(), "{tenant}");
    }
}
