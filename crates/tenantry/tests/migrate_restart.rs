//! The server restarted mid-run: in-flight tenants are retried or fail cleanly, and a re-run
//! completes. A test file of its own: restarting the cluster would disturb other tests.

mod common;

use std::time::{Duration, Instant};

use common::{applied_versions, connect_through_restarts, create_tenants, raw_client, workload};
use tenantry::migrate::{Migrator, Outcome, RunOptions};
use tenantry_test_support::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_run_then_rerun_completes() {
    let db = tenantry_test_support::test_database("migrate_restart").await;
    let dir = workload(10);
    let tenantry = connect_through_restarts(&db, dir.path()).await;
    let tenants = create_tenants(&tenantry, "t", 300).await;
    let migrator = Migrator::load(&tenantry).expect("loads");
    let url = db.url();
    let watcher = tokio::spawn(async move {
        let raw = raw_client(&url).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done: i64 = raw
                .query_one("SELECT count(*) FROM pg_class WHERE relname = 'sales_order' AND relnamespace::regnamespace::text <> 'tenantry_template'", &[])
                .await
                .expect("counts")
                .get(0);
            if done >= 30 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::spawn_blocking(|| Cluster::shared().restart()).await.expect("restarts");
    });
    let report = migrator.run(&RunOptions::default()).await.expect("the run survives the restart");
    watcher.await.expect("watcher");
    let retried_or_failed = report.tenants.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))).count();
    println!("restart mid-run: {report}");
    println!("{retried_or_failed} tenants failed cleanly; warnings: {:?}", report.warnings);

    let raw = raw_client(&db.url()).await;
    for tenant in &tenants {
        let versions = applied_versions(&raw, tenant.schema()).await;
        assert!(versions.is_empty() || versions == (1..=10).collect::<Vec<_>>(), "{tenant} half-applied: {versions:?}");
    }
    let rerun = migrator.run(&RunOptions::default()).await.expect("re-runs");
    assert!(rerun.is_success(), "{rerun}");
    for tenant in &tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, (1..=10).collect::<Vec<_>>(), "{tenant}");
    }
}
