//! Migrations across a fleet, beside the same SQL through plain `psql` in the same run.
//!
//! ```text
//! cargo bench -p tenantry --bench migrate
//! TENANTRY_BENCH_SIZES=100,1000 TENANTRY_BENCH_FLEET=10000 cargo bench -p tenantry --bench migrate
//! ```
//!
//! The workload is tests/fixtures/workload (10 migrations Django emits). For each size N, two
//! databases hold N tenants each, one driven by tenantry (default settings: 4 jobs, a tenant's
//! migrations in one transaction), one by a single `psql` session running one transaction per
//! migration file with its bookkeeping row: the practical floor. No-op and status run as a
//! separate process (this binary re-executed), so process start and connecting are included.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tenantry::migrate::{CreateMethod, CreateOptions, Goal, MigrationSource, Migrator, RunOptions, Selection};
use tenantry::{sql::quote_ident, Config, Tenantry};
use tenantry_test_support::Cluster;

mod support;

use support::{migrations_dir, psql, psql_script};

const CHILD: &str = "TEST_TENANTRY_BENCH_CHILD";
const CHILD_URL: &str = "TEST_TENANTRY_BENCH_URL";

fn config(url: &str, dir: &Path) -> Config {
    support::config(url, dir, false)
}

fn config_with_template(url: &str, dir: &Path) -> Config {
    support::config(url, dir, true)
}

async fn fresh_database(label: &str) -> tenantry_test_support::TestDatabase {
    Cluster::shared().database(label).await
}

fn child(kind: &str, url: &str, dir: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(std::env::current_exe().expect("bench binary"))
        .env(CHILD, kind)
        .env(CHILD_URL, url)
        .env("TEST_TENANTRY_BENCH_DIR", dir)
        .stdout(Stdio::null())
        .status()
        .expect("child runs");
    assert!(status.success(), "child {kind} failed");
    started.elapsed()
}

async fn run_child(kind: &str) {
    let url = std::env::var(CHILD_URL).expect("url");
    let dir = PathBuf::from(std::env::var("TEST_TENANTRY_BENCH_DIR").expect("dir"));
    let tenantry = Tenantry::connect(config(&url, &dir)).await.expect("connects");
    let migrator = Migrator::load(&tenantry).expect("loads");
    match kind {
        "noop" => {
            let report = migrator.run(&RunOptions::default()).await.expect("runs");
            assert!(report.is_success() && report.tenant_counts().0 == 0, "{report}");
        }
        _ => {
            let status = migrator.status(&Selection::All, false).await.expect("status");
            assert!(status.is_current(), "{status}");
        }
    }
}

fn rate(n: usize, elapsed: Duration) -> String {
    format!("{:.2} s ({:.0} tenants/s)", elapsed.as_secs_f64(), n as f64 / elapsed.as_secs_f64())
}

fn row(step: &str, n: usize, tenantry: Duration, psql: Option<Duration>) {
    let psql_text = psql.map_or("—".to_owned(), |p| rate(n, p));
    let ratio = psql.map_or("—".to_owned(), |p| format!("{:.2}×", p.as_secs_f64() / tenantry.as_secs_f64()));
    println!("| {step} | {n} | {} | {psql_text} | {ratio} |", rate(n, tenantry));
}

#[tokio::main]
async fn main() {
    if let Ok(kind) = std::env::var(CHILD) {
        run_child(&kind).await;
        return;
    }
    let sizes: Vec<usize> = std::env::var("TENANTRY_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let fleet: usize = std::env::var("TENANTRY_BENCH_FLEET").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let dir = migrations_dir();
    println!("| step | tenants | tenantry | psql, one session | speed-up vs psql |");
    println!("|---|---|---|---|---|");
    for n in sizes {
        measure(n, dir.path()).await;
    }
    if fleet > 0 {
        measure_fleet(fleet, dir.path()).await;
    }
}

async fn measure(n: usize, dir: &Path) {
    let names: Vec<String> = (0..n).map(|i| format!("t{i:05}")).collect();
    let up_all: Vec<(i64, bool)> = (1..=10).map(|v| (v, true)).collect();

    // Create N tenants at version 10, one at a time (a signup flow; psql is one session too).
    let psql_db = fresh_database(&format!("bench_psql_{n}")).await;
    let psql_create = psql(&psql_db.url(), &psql_script(&names, &up_all, true));
    let db = fresh_database(&format!("bench_tenantry_{n}")).await;
    let tenantry = Tenantry::connect(config(&db.url(), dir)).await.expect("connects");
    let migrator = Migrator::new(&tenantry, MigrationSource::load(dir).expect("loads"));
    let by_migrations = CreateOptions { clone: false, seed: false };
    let started = Instant::now();
    for name in &names {
        migrator.create(&tenantry.tenant(name).expect("valid"), &by_migrations).await.expect("creates");
    }
    row("create at version 10, by migrations", n, started.elapsed(), Some(psql_create));

    let clone_db = fresh_database(&format!("bench_clone_{n}")).await;
    let cloning = Tenantry::connect(config_with_template(&clone_db.url(), dir)).await.expect("connects");
    let clone_migrator = Migrator::new(&cloning, MigrationSource::load(dir).expect("loads"));
    clone_migrator.run(&RunOptions::default()).await.expect("migrates the template");
    let started = Instant::now();
    for name in &names {
        let report = clone_migrator
            .create(&cloning.tenant(name).expect("valid"), &CreateOptions::default())
            .await
            .expect("creates");
        assert_eq!(report.method, CreateMethod::Cloned, "{report:?}");
    }
    row("create at version 10, by clone", n, started.elapsed(), Some(psql_create));
    cloning.close();

    // The same, four tenants at a time (`tenantry create --jobs 4`, the demo).
    let parallel_db = fresh_database(&format!("bench_clone_parallel_{n}")).await;
    let parallel = Tenantry::connect(config_with_template(&parallel_db.url(), dir)).await.expect("connects");
    let parallel_migrator = Migrator::new(&parallel, MigrationSource::load(dir).expect("loads"));
    parallel_migrator.run(&RunOptions::default()).await.expect("migrates the template");
    let tenants: Vec<_> = names.iter().map(|name| parallel.tenant(name).expect("valid")).collect();
    let started = Instant::now();
    for result in parallel_migrator.create_many(&tenants, &CreateOptions::default(), 4).await {
        assert_eq!(result.expect("creates").method, CreateMethod::Cloned);
    }
    row("create at version 10, by clone, 4 at a time", n, started.elapsed(), Some(psql_create));
    parallel.close();

    // Roll back 10 → 8.
    let psql_down = psql(&psql_db.url(), &psql_script(&names, &[(10, false), (9, false)], false));
    let started = Instant::now();
    let report = migrator.run(&RunOptions::goal(Goal::Target(8))).await.expect("runs");
    assert!(report.is_success(), "{report}");
    row("rollback 10 → 8", n, started.elapsed(), Some(psql_down));

    // Upgrade 8 → 10.
    let psql_up = psql(&psql_db.url(), &psql_script(&names, &[(9, true), (10, true)], false));
    let started = Instant::now();
    let report = migrator.run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");
    row("upgrade 8 → 10", n, started.elapsed(), Some(psql_up));

    // No-op and status, as processes; psql baseline: read every tenant's bookkeeping in one session.
    let check: String =
        names.iter().map(|s| format!("SELECT max(version) FROM {}.tenantry_migrations;\n", quote_ident(s))).collect();
    let psql_check = psql(&psql_db.url(), &check);
    row("no-op migrate (process)", n, child("noop", &db.url(), dir), Some(psql_check));
    row("status (process)", n, child("status", &db.url(), dir), Some(psql_check));
    tenantry.close();
}

async fn measure_fleet(n: usize, dir: &Path) {
    let db = fresh_database(&format!("bench_fleet_{n}")).await;
    let names: Vec<String> = (0..n).map(|i| format!("f{i:05}")).collect();
    let started = Instant::now();
    let tenantry = Tenantry::connect(config(&db.url(), dir)).await.expect("connects");
    for chunk in names.chunks(500) {
        // Each with tenantry's bookkeeping table, as a creation writes it: that makes it a tenant
        // (docs/tenants.md).
        let script: String = chunk
            .iter()
            .map(|s| {
                format!("CREATE SCHEMA {};\n{};\n", quote_ident(s), tenantry::migrate::bookkeeping::create_table_sql(s))
            })
            .collect();
        psql(&db.url(), &script);
    }
    let migrator = Migrator::new(&tenantry, MigrationSource::load(dir).expect("loads"));
    let options = RunOptions { jobs: Some(4), ..RunOptions::default() };
    let report = migrator.run(&options).await.expect("runs");
    assert!(report.is_success(), "{report}");
    eprintln!("fleet of {n} created and migrated in {:.0?}", started.elapsed());
    let check: String =
        names.iter().map(|s| format!("SELECT max(version) FROM {}.tenantry_migrations;\n", quote_ident(s))).collect();
    let psql_check = psql(&db.url(), &check);
    row("no-op migrate (process)", n, child("noop", &db.url(), dir), Some(psql_check));
    row("status (process)", n, child("status", &db.url(), dir), Some(psql_check));
}
