//! A fleet migration and a tenant drop while the app serves traffic: the HTTP isolation test's
//! requests keep flowing while `migrate` adds a column to the table `/profile` reads with
//! `SELECT *`, and then one tenant is dropped. No request may fail but the dropped tenant's
//! 404s, and no answer may come from another tenant (issue 8; docs/context.md).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect, spawn, Connection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tenantry::migrate::{Migrator, RunOptions};
use tenantry_example_elevators::{create_tenant, router};

const TENANTS: usize = 20;
const CLIENTS: usize = 24;
const DROPPED: &str = "tenant-07";

#[derive(Debug, Default)]
struct Tally {
    served: usize,
    widened: usize,
    dropped_404s: usize,
    failures: Vec<String>,
}

async fn client(address: std::net::SocketAddr, seed: u64, stop: Arc<AtomicBool>, dropped: Arc<AtomicBool>) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let mut conn = Connection::open(address).await.expect("connects");
    while !stop.load(Ordering::SeqCst) {
        let tenant = format!("tenant-{:02}", rng.random_range(0..TENANTS));
        let path = if rng.random_bool(0.5) { "/profile" } else { "/whoami" };
        // Read before sending: a 404 is allowed once the drop has begun.
        let drop_begun = dropped.load(Ordering::SeqCst);
        let answer = match conn.send("GET", &format!("{tenant}.localhost"), path, None).await {
            Ok(answer) => answer,
            Err(err) => {
                tally.failures.push(format!("{path} for {tenant}: {err}"));
                conn = Connection::open(address).await.expect("reconnects");
                continue;
            }
        };
        if answer.status == 404 && tenant == DROPPED && drop_begun {
            tally.dropped_404s += 1;
            continue;
        }
        if answer.status != 200 {
            tally.failures.push(format!("{path} for {tenant}: {} {}", answer.status, answer.body));
            continue;
        }
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        if body["tenant"] != tenant.as_str() {
            tally.failures.push(format!("{path} for {tenant} answered {body}"));
            continue;
        }
        tally.served += 1;
        if body["columns"] == 2 {
            tally.widened += 1;
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_serves_through_a_fleet_migration_and_a_tenant_drop() {
    let db = tenantry_test_support::test_database("app_live_migration").await;
    let tenantry = connect(&db, 16).await;
    for index in 0..TENANTS {
        create_tenant(&tenantry, &format!("tenant-{index:02}")).await.expect("creates tenant");
    }
    let address = spawn(router(tenantry.clone())).await;

    let stop = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| tokio::spawn(client(address, seed.wrapping_add(index as u64), stop.clone(), dropped.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A deploy's migration, run by another process's Tenantry, as `tenantry migrate` does.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("tenant")).expect("tenant dir");
    std::fs::create_dir_all(dir.path().join("shared")).expect("shared dir");
    std::fs::write(
        dir.path().join("tenant/0001_plan.sql"),
        "ALTER TABLE tenant_info ADD COLUMN plan text NOT NULL DEFAULT 'free';",
    )
    .expect("migration");
    let mut config = tenantry::Config::default();
    config.database_url = Some(db.url());
    config.migrations.directory = dir.path().to_owned();
    config.migrations.dump = false;
    // The app creates its tables itself (`create_tenant`), not by migrations: no template.
    config.migrations.template = false;
    let deployer = tenantry::Tenantry::connect(config).await.expect("connects");
    let report = Migrator::load(&deployer).expect("loads").run(&RunOptions::default()).await.expect("migrates");
    assert!(report.is_success(), "{report:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    dropped.store(true, Ordering::SeqCst);
    deployer.drop(&deployer.tenant(DROPPED).expect("valid")).await.expect("drops while traffic flows");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);

    let mut total = Tally::default();
    for client in clients {
        let tally = client.await.expect("joins");
        total.served += tally.served;
        total.widened += tally.widened;
        total.dropped_404s += tally.dropped_404s;
        total.failures.extend(tally.failures);
    }
    println!(
        "{} served, {} of them after the new column, {} 404s for the dropped tenant",
        total.served, total.widened, total.dropped_404s
    );
    assert!(
        total.failures.is_empty(),
        "{} failed requests: {:?}",
        total.failures.len(),
        &total.failures[..total.failures.len().min(10)]
    );
    assert!(total.widened > 0, "no /profile request saw the new column: the migration did not run under traffic");
    assert!(total.served > 1_000, "too little traffic to mean anything: {}", total.served);
}
