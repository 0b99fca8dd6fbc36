//! Isolation over real HTTP: a real server, real PostgreSQL, 50 tenants, 20,000 requests on
//! 64 concurrent client connections, a random tenth of the clients dropping their connection
//! mid-request (half a request written) or mid-query (closed while the handler sits in
//! `pg_sleep`). Every response must come from its own tenant's schema, and every note written
//! must be in its tenant's table and nowhere else.
//!
//! Set `TEST_TENANTRY_SEED` to replay a run; the seed is printed.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json};
use common::{connect, spawn, Answer, Connection};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::Value;
use tenantry::Tenantry;
use tenantry_example_elevators::{create_tenant, routes, tenant_layer, AppError};

const TENANTS: usize = 50;
const REQUESTS: usize = 20_000;
const CLIENTS: usize = 64;
const POOL_SIZE: usize = 16;
/// Of a disconnecting client's requests, the share it abandons.
const ABANDON_PERCENT: u32 = 25;

/// Handlers of `/cancellable` started, finished, and dropped before finishing.
#[derive(Debug, Default)]
struct Counters {
    started: AtomicUsize,
    finished: AtomicUsize,
    dropped: AtomicUsize,
}

struct Guard(Arc<Counters>, bool);

impl Drop for Guard {
    fn drop(&mut self) {
        let counter = if self.1 { &self.0.finished } else { &self.0.dropped };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Deserialize)]
struct Sleep {
    ms: u64,
}

/// `/slow` with counters: the test's evidence that handlers were dropped mid-query.
async fn cancellable(
    State(tenantry): State<Tenantry>,
    Extension(counters): Extension<Arc<Counters>>,
    Query(sleep): Query<Sleep>,
) -> Result<Json<Value>, AppError> {
    counters.started.fetch_add(1, Ordering::SeqCst);
    let mut guard = Guard(counters, false);
    #[allow(clippy::cast_precision_loss)]
    let seconds = sleep.ms as f64 / 1000.0;
    let mut tx = tenantry.transaction().await?;
    let name: String = tx.query_one("SELECT name FROM tenant_info, pg_sleep($1)", &[&seconds]).await?.get(0);
    tx.commit().await?;
    guard.1 = true;
    Ok(Json(serde_json::json!({ "tenant": name })))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Whoami,
    Slow,
    AddNote,
    ListNotes,
    AbandonHalfWritten,
    AbandonMidQuery,
}

#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    abandoned_half_written: usize,
    abandoned_mid_query: usize,
    mismatches: Vec<String>,
    errors: Vec<String>,
    notes_added: HashMap<String, usize>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.completed += other.completed;
        self.abandoned_half_written += other.abandoned_half_written;
        self.abandoned_mid_query += other.abandoned_mid_query;
        self.mismatches.extend(other.mismatches);
        self.errors.extend(other.errors);
        for (tenant, count) in other.notes_added {
            *self.notes_added.entry(tenant).or_default() += count;
        }
    }
}

fn seed() -> u64 {
    std::env::var("TEST_TENANTRY_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(rand::random)
}

fn choose(rng: &mut StdRng, disconnects: bool) -> Kind {
    if disconnects && rng.random_ratio(ABANDON_PERCENT, 100) {
        return if rng.random_bool(0.5) { Kind::AbandonHalfWritten } else { Kind::AbandonMidQuery };
    }
    match rng.random_range(0..100) {
        0..80 => Kind::Whoami,
        80..88 => Kind::Slow,
        88..94 => Kind::AddNote,
        _ => Kind::ListNotes,
    }
}

/// Checks one answer against the tenant it was sent to.
fn check(kind: Kind, tenant: &str, answer: &Answer, tally: &mut Tally) {
    let expected_status = if matches!(kind, Kind::AddNote) { 201 } else { 200 };
    if answer.status != expected_status {
        tally.errors.push(format!("{kind:?} for {tenant}: status {} {}", answer.status, answer.body));
        return;
    }
    tally.completed += 1;
    let body: Value = match serde_json::from_str(&answer.body) {
        Ok(body) => body,
        Err(err) => return tally.errors.push(format!("{kind:?} for {tenant}: {err}: {:?}", answer.body)),
    };
    match kind {
        Kind::Whoami | Kind::Slow if body["tenant"] != tenant => {
            tally.mismatches.push(format!("{kind:?} for {tenant} answered {body}"));
        }
        Kind::ListNotes => {
            let foreign = body["notes"]
                .as_array()
                .map(|notes| {
                    notes
                        .iter()
                        .filter(|n| !n["body"].as_str().is_some_and(|b| b.starts_with(&format!("{tenant}#"))))
                        .count()
                })
                .unwrap_or(usize::MAX);
            if body["tenant"] != tenant || foreign > 0 {
                tally.mismatches.push(format!("notes of {tenant}: {foreign} foreign, tenant {}", body["tenant"]));
            }
        }
        Kind::AddNote => *tally.notes_added.entry(tenant.to_owned()).or_default() += 1,
        _ => {}
    }
}

async fn client(address: SocketAddr, index: usize, requests: usize, disconnects: bool, seed: u64) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let mut conn = None;
    for n in 0..requests {
        let tenant = format!("tenant-{:02}", rng.random_range(0..TENANTS));
        let host = format!("{tenant}.localhost");
        let kind = choose(&mut rng, disconnects);
        if conn.is_none() {
            match Connection::open(address).await {
                Ok(opened) => conn = Some(opened),
                Err(err) => {
                    tally.errors.push(format!("client {index}: connect: {err}"));
                    continue;
                }
            }
        }
        let Some(open) = conn.as_mut() else { continue };
        let result = match kind {
            Kind::Whoami => open.send("GET", &host, "/whoami", None).await,
            Kind::Slow => open.send("GET", &host, "/slow?ms=5", None).await,
            Kind::ListNotes => open.send("GET", &host, "/notes", None).await,
            Kind::AddNote => {
                let body = format!(r#"{{"body":"{tenant}#{index}-{n}"}}"#);
                open.send("POST", &host, "/notes", Some(&body)).await
            }
            Kind::AbandonHalfWritten => {
                let raw = Connection::request("GET", &host, "/whoami", None);
                let _ = open.write(&raw[..raw.len() / 2]).await;
                conn = None; // dropped: the server sees half a request, then EOF
                tally.abandoned_half_written += 1;
                continue;
            }
            Kind::AbandonMidQuery => {
                let raw = Connection::request("GET", &host, "/cancellable?ms=300", None);
                let _ = open.write(&raw).await;
                tokio::time::sleep(Duration::from_millis(rng.random_range(20..60))).await;
                conn = None; // dropped while the handler sleeps in PostgreSQL
                tally.abandoned_mid_query += 1;
                continue;
            }
        };
        match result {
            Ok(answer) => check(kind, &tenant, &answer, &mut tally),
            Err(err) => {
                tally.errors.push(format!("client {index} {kind:?} for {tenant}: {err}"));
                conn = None;
            }
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_comes_from_its_own_tenant() {
    let seed = seed();
    println!("TEST_TENANTRY_SEED={seed}");
    let db = tenantry_test_support::test_database("elevators_isolation").await;
    let tenantry = connect(&db, POOL_SIZE).await;
    for index in 0..TENANTS {
        create_tenant(&tenantry, &format!("tenant-{index:02}")).await.expect("creates tenant");
    }
    let counters = Arc::new(Counters::default());
    let app = routes()
        .route("/cancellable", get(cancellable))
        .layer(tenant_layer(tenantry.clone()))
        .layer(Extension(counters.clone()))
        .with_state(tenantry.clone());
    let address = spawn(app).await;

    let mut rng = StdRng::seed_from_u64(seed);
    let mut disconnecting: Vec<bool> = (0..CLIENTS).map(|i| i < CLIENTS.div_ceil(10)).collect();
    disconnecting.shuffle(&mut rng);
    let started = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let requests = REQUESTS / CLIENTS + usize::from(index < REQUESTS % CLIENTS);
            tokio::spawn(client(address, index, requests, disconnecting[index], rng.random()))
        })
        .collect();
    let mut tally = Tally::default();
    for handle in handles {
        tally.merge(handle.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    // Let the server notice the last dropped connections.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (begun, finished, dropped) = (
        counters.started.load(Ordering::SeqCst),
        counters.finished.load(Ordering::SeqCst),
        counters.dropped.load(Ordering::SeqCst),
    );
    println!(
        "{REQUESTS} requests over {CLIENTS} connections ({} disconnecting) in {elapsed:.1?}: {} answered and checked, \
         {} mismatches, {} errors; abandoned: {} half-written, {} mid-query (server: {begun} begun, {dropped} \
         dropped mid-query, {finished} finished)",
        disconnecting.iter().filter(|d| **d).count(),
        tally.completed,
        tally.mismatches.len(),
        tally.errors.len(),
        tally.abandoned_half_written,
        tally.abandoned_mid_query,
    );

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
    assert_eq!(tally.completed + tally.abandoned_half_written + tally.abandoned_mid_query, REQUESTS);
    assert!(tally.abandoned_half_written > 50, "too few half-written requests: {}", tally.abandoned_half_written);
    assert!(tally.abandoned_mid_query > 50, "too few mid-query disconnects: {}", tally.abandoned_mid_query);
    assert!(dropped > 0, "no handler was dropped mid-query: the disconnects did not reach the server in time");

    // Every note is in its own tenant's table, none lost, none elsewhere.
    let mut conn = Connection::open(address).await.expect("connects");
    for index in 0..TENANTS {
        let tenant = format!("tenant-{index:02}");
        let answer = conn.send("GET", &format!("{tenant}.localhost"), "/notes", None).await.expect("notes");
        let body: Value = serde_json::from_str(&answer.body).expect("JSON");
        let notes = body["notes"].as_array().expect("notes");
        assert_eq!(notes.len(), tally.notes_added.get(&tenant).copied().unwrap_or(0), "notes of {tenant}");
        assert!(notes.iter().all(|n| n["body"].as_str().is_some_and(|b| b.starts_with(&format!("{tenant}#")))));
    }
}
