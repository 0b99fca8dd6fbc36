//! `exec` across a server restart: what cannot be confirmed on disk is not reported done. A
//! test file of its own: restarting the cluster would disturb other tests.

mod common;

use std::time::{Duration, Instant};

use common::{connect_through_restarts, create_tenants, raw_client, workload};
use tenantry::migrate::{Migrator, Outcome, RunOptions};
use tenantry_test_support::Cluster;

/// `exec` leaves no bookkeeping to read again, and its workers commit asynchronously: after a
/// restart during the run, nothing it did can be confirmed on disk, so nothing is reported done
/// (crates/tenantry/src/migrate/durability.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_across_a_server_restart_reports_its_tenants_unconfirmed() {
    let db = tenantry_test_support::test_database("exec_restart").await;
    let dir = workload(1);
    let tenantry = connect_through_restarts(&db, dir.path()).await;
    create_tenants(&tenantry, "e", 150).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute("CREATE TABLE public.progress (n int)").await.expect("progress table");
    let url = db.url();
    let watcher = tokio::spawn(async move {
        let raw = raw_client(&url).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let done: i64 = raw.query_one("SELECT count(*) FROM public.progress", &[]).await.expect("counts").get(0);
            if done >= 20 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::task::spawn_blocking(|| Cluster::shared().restart()).await.expect("restarts");
    });
    let migrator = Migrator::load(&tenantry).expect("loads");
    let report = migrator
        .exec("INSERT INTO public.progress VALUES (1); SELECT pg_sleep(0.01)", &RunOptions::default())
        .await
        .expect("the run survives the restart");
    watcher.await.expect("watcher");
    println!("exec across a restart: {report}; warnings: {:?}", report.warnings);
    let succeeded = report.tenants.iter().filter(|r| matches!(r.outcome, Outcome::Succeeded { .. })).count();
    let unconfirmed = report
        .tenants
        .iter()
        .filter(|r| matches!(&r.outcome, Outcome::Failed(f) if f.message.starts_with("unconfirmed")))
        .count();
    assert_eq!(succeeded, 0, "nothing may be reported done that the restart could have lost");
    assert!(unconfirmed >= 20, "the tenants done before the restart are reported unconfirmed: {unconfirmed}");
    assert!(report.warnings.iter().any(|w| w.contains("server restarted")), "{:?}", report.warnings);
}
