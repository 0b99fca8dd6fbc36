//! The isolation test: no task ever reads another tenant's rows.
//!
//! 50 tenants each hold a marker row naming themselves; 20,000 scoped tasks run over a pool of
//! 10 connections, a random tenth of them cancelled mid-query and some panicking with a
//! transaction open; every completed read must return its own tenant's marker. It runs once
//! against PostgreSQL directly (transaction and session borrowers mixed) and once through
//! PgBouncer in transaction pooling mode, where session-bound settings leak in other tools.
//!
//! Set `TEST_TENANTRY_SEED` to replay a run; the seed is printed.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, create_with_marker, raw_client};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tenantry::{Error, TenantName, Tenantry};
use tokio::sync::Semaphore;

const TENANTS: usize = 50;
const TASKS: usize = 20_000;
const POOL_SIZE: usize = 10;
const IN_FLIGHT: usize = 64;
const PANIC_MESSAGE: &str = "intentional panic (isolation test)";

#[derive(Debug, Clone, Copy)]
enum Action {
    /// Read in a transaction.
    Read,
    /// Read in session mode.
    SessionRead,
    /// Start a slow read in a transaction and drop it mid-query.
    CancelTransaction,
    /// Start a slow read in session mode and drop it mid-query.
    CancelSession,
    /// Panic with a transaction open, before or after reading.
    Panic { after_read: bool },
}

#[derive(Debug)]
enum Outcome {
    Read { marker: String, schema: String },
    Cancelled,
}

#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    mismatches: Vec<String>,
    cancelled: usize,
    panicked: usize,
    errors: Vec<String>,
}

fn choose(rng: &mut StdRng, sessions: bool) -> Action {
    match rng.random_range(0..100) {
        0..5 => Action::CancelTransaction,
        5..10 if sessions => Action::CancelSession,
        5..10 => Action::CancelTransaction,
        10..13 => Action::Panic { after_read: rng.random_bool(0.5) },
        13..43 if sessions => Action::SessionRead,
        _ => Action::Read,
    }
}

async fn perform(tenantry: Tenantry, tenant: TenantName, action: Action) -> Result<Outcome, Error> {
    let work = async {
        let sql = "SELECT tenant, current_schema()::text FROM marker";
        let slow = "SELECT tenant, current_schema()::text FROM marker, pg_sleep(0.005)";
        match action {
            Action::Read => {
                let mut tx = tenantry.transaction().await?;
                let row = tx.query_one(sql, &[]).await?;
                tx.commit().await?;
                Ok(Outcome::Read { marker: row.get(0), schema: row.get(1) })
            }
            Action::SessionRead => {
                let mut session = tenantry.session().await?;
                let row = session.query_one(sql, &[]).await?;
                Ok(Outcome::Read { marker: row.get(0), schema: row.get(1) })
            }
            Action::CancelTransaction => {
                let mut tx = tenantry.transaction().await?;
                match tokio::time::timeout(Duration::from_millis(1), tx.query_one(slow, &[])).await {
                    Ok(row) => {
                        let row = row?;
                        tx.commit().await?;
                        Ok(Outcome::Read { marker: row.get(0), schema: row.get(1) })
                    }
                    Err(_elapsed) => Ok(Outcome::Cancelled),
                }
            }
            Action::CancelSession => {
                let mut session = tenantry.session().await?;
                match tokio::time::timeout(Duration::from_millis(1), session.query_one(slow, &[])).await {
                    Ok(row) => {
                        let row = row?;
                        Ok(Outcome::Read { marker: row.get(0), schema: row.get(1) })
                    }
                    Err(_elapsed) => Ok(Outcome::Cancelled),
                }
            }
            Action::Panic { after_read } => {
                let mut tx = tenantry.transaction().await?;
                if after_read {
                    tx.query_one(sql, &[]).await?;
                }
                panic!("{PANIC_MESSAGE}");
            }
        }
    };
    tenantry.scope(&tenant, work).await?
}

/// Silences the test's own panics; any other panic still prints.
fn quiet_intentional_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.contains(PANIC_MESSAGE) {
            default_hook(info);
        }
    }));
}

fn seed() -> u64 {
    std::env::var("TEST_TENANTRY_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(rand::random)
}

async fn setup(db_url: &str, tenantry: &Tenantry) -> Vec<TenantName> {
    raw_client(db_url)
        .await
        .batch_execute("CREATE TABLE public.marker (tenant text); INSERT INTO public.marker VALUES ('DEFAULT')")
        .await
        .expect("default marker");
    let mut tenants = Vec::with_capacity(TENANTS);
    for index in 0..TENANTS {
        tenants.push(create_with_marker(tenantry, &format!("tenant-{index:02}")).await);
    }
    tenants
}

async fn hammer(label: &str, tenantry: Tenantry, tenants: Vec<TenantName>, sessions: bool) -> Tally {
    quiet_intentional_panics();
    let seed = seed();
    println!("{label}: TEST_TENANTRY_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let tenant = tenants[rng.random_range(0..tenants.len())].clone();
        let action = choose(&mut rng, sessions);
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore open");
        let tenantry = tenantry.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            (tenant.clone(), action, perform(tenantry, tenant, action).await)
        }));
    }
    let mut tally = Tally::default();
    for handle in handles {
        match handle.await {
            Ok((tenant, _, Ok(Outcome::Read { marker, schema }))) => {
                tally.completed += 1;
                if marker != tenant.as_str() || schema != tenant.schema() {
                    tally.mismatches.push(format!("{tenant} read marker {marker:?} in schema {schema:?}"));
                }
            }
            Ok((_, _, Ok(Outcome::Cancelled))) => tally.cancelled += 1,
            Ok((tenant, action, Err(err))) => tally.errors.push(format!("{tenant} {action:?}: {err}")),
            Err(join) if join.is_panic() => tally.panicked += 1,
            Err(join) => tally.errors.push(format!("task failed: {join}")),
        }
    }
    println!(
        "{label}: {} tasks in {:.1?}: {} reads completed, {} mismatches, {} cancelled mid-query, {} panicked, {} errors",
        TASKS,
        started.elapsed(),
        tally.completed,
        tally.mismatches.len(),
        tally.cancelled,
        tally.panicked,
        tally.errors.len()
    );

    // Borrowers outside any scope must land in the default schema, whatever the connections
    // went through.
    for _ in 0..(POOL_SIZE * 5) {
        let mut tx = tenantry.transaction().await.expect("default transaction");
        let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
        tx.commit().await.expect("commits");
        if marker != "DEFAULT" {
            tally.mismatches.push(format!("an unscoped borrower read {marker:?}"));
        }
    }
    tally
}

fn assert_isolated(tally: &Tally) {
    assert!(
        tally.mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        tally.mismatches.len(),
        &tally.mismatches[..tally.mismatches.len().min(5)]
    );
    assert!(
        tally.errors.is_empty(),
        "{} errors, first: {:?}",
        tally.errors.len(),
        &tally.errors[..tally.errors.len().min(5)]
    );
    assert_eq!(tally.completed + tally.cancelled + tally.panicked, TASKS);
    // The mix must really have exercised cancellation and panics.
    assert!(tally.cancelled > TASKS / 20, "only {} cancelled", tally.cancelled);
    assert!(tally.panicked > TASKS / 100, "only {} panicked", tally.panicked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_reads_another_tenants_rows() {
    let db = tenantry_test_support::test_database("isolation_direct").await;
    let tenantry = connect(&db, |config| config.pool.max_size = POOL_SIZE).await;
    let tenants = setup(&db.url(), &tenantry).await;
    let tally = hammer("direct", tenantry, tenants, true).await;
    assert_isolated(&tally);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_reads_another_tenants_rows_behind_pgbouncer() {
    let db = tenantry_test_support::test_database("isolation_pgbouncer").await;
    let setup_tenantry = connect(&db, |_| {}).await;
    let tenants = setup(&db.url(), &setup_tenantry).await;
    setup_tenantry.close();

    let mut config = tenantry::Config::default();
    config.database_url = Some(db.pgbouncer_url());
    config.pool.max_size = POOL_SIZE;
    config.pool.behind_pgbouncer = true;
    let tenantry = Tenantry::connect(config).await.expect("connects through PgBouncer");
    let tally = hammer("pgbouncer", tenantry, tenants, false).await;
    assert_isolated(&tally);
}
