//! Cost of tenant context per borrow, beside plain tokio-postgres baselines in the same run.
//!
//! ```text
//! cargo bench -p tenantry --bench context
//! ```
//!
//! One task, one connection (pool size 1) over the Unix socket, 50 tenants, a primary-key
//! lookup per borrow. Scenarios run interleaved (round-robin, `ITERATIONS` borrows each per
//! round) so machine noise hits them alike; the median round is reported, in µs per borrow.

use std::time::{Duration, Instant};

use tenantry::{Config, Error, TenantName, Tenantry};
use tokio_postgres::{Client, NoTls, Statement};

const TENANTS: usize = 50;
const ITERATIONS: usize = 2000;
const ROUNDS: usize = 7;
const LOOKUP: &str = "SELECT name FROM items WHERE id = $1";

const SCENARIOS: [(&str, &str); 13] = [
    ("plain tokio-postgres: autocommit query (schema-qualified)", "1"),
    ("plain tokio-postgres: BEGIN / query / COMMIT", "3"),
    ("plain tokio-postgres: BEGIN; SET LOCAL search_path / query / COMMIT", "3"),
    ("plain tokio-postgres: BEGIN; SET LOCAL; schema assertion / query / COMMIT", "3"),
    ("plain tokio-postgres: DISCARD TEMP; BEGIN; SET LOCAL … pg_temp / query / COMMIT", "3"),
    ("plain tokio-postgres: the advisory guard's BEGIN (existence lock, path set if present) / query / COMMIT", "3"),
    ("tenantry: transaction_in(tenant), tenants alternating", "3"),
    ("tenantry: scope(tenant) + transaction(), tenants alternating", "3"),
    ("tenantry with a shared schema: transaction_in(tenant), tenants alternating", "3"),
    ("tenantry: session_in(tenant), same tenant every borrow", "3"),
    ("tenantry: session_in(tenant), tenants alternating", "3"),
    ("tenantry with a shared schema: session_in(tenant), tenants alternating", "3"),
    ("plain tokio-postgres: the anchor guard's BEGIN (LOCK TABLE … tenantry_migrations) / query / COMMIT", "3"),
];

struct Fixture {
    tenantry: Tenantry,
    /// The same tenants with `shared` configured after them: paths that could fall through,
    /// so transactions and sessions take the guard.
    with_shared: Tenantry,
    tenants: Vec<TenantName>,
    raw: Client,
    qualified: Vec<Statement>,
    begin_set: Vec<String>,
    begin_set_assert: Vec<String>,
    begin_discard: Vec<String>,
    begin_guarded: Vec<String>,
    begin_anchored: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = tenantry_test_support::test_database("bench_context").await;
    let mut config = Config::default();
    // The Unix socket: what a co-located app uses, and the quieter transport to measure on.
    config.database_url = Some(db.conninfo());
    config.pool.max_size = 1;
    let tenantry = Tenantry::connect(config).await?;
    let mut tenants = Vec::new();
    for index in 0..TENANTS {
        let tenant = tenantry.tenant(&format!("t{index:02}"))?;
        tenantry.create(&tenant).await?;
        let mut tx = tenantry.transaction_in(Some(&tenant)).await?;
        tx.batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text);
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g",
        )
        .await?;
        // The bookkeeping table every tenant the migrator made has: the guard's anchor.
        tx.batch_execute(&tenantry::migrate::bookkeeping::create_table_sql(tenant.schema())).await?;
        tx.commit().await?;
        tenants.push(tenant);
    }
    tenantry.list().await?; // warm the known-tenants cache
    let (raw, connection) = tokio_postgres::connect(&db.conninfo(), NoTls).await?;
    tokio::spawn(connection);
    raw.batch_execute("CREATE SCHEMA shared").await?;
    let mut shared_config = Config::default();
    shared_config.database_url = Some(db.conninfo());
    shared_config.pool.max_size = 1;
    shared_config.shared_schemas = vec!["shared".into()];
    let with_shared = Tenantry::connect(shared_config).await?;
    with_shared.list().await?;

    let mut qualified = Vec::new();
    let mut begin_set = Vec::new();
    let mut begin_set_assert = Vec::new();
    let mut begin_discard = Vec::new();
    let mut begin_guarded = Vec::new();
    let mut begin_anchored = Vec::new();
    for tenant in &tenants {
        let schema = tenantry::sql::quote_ident(tenant.schema());
        qualified.push(raw.prepare(&format!("SELECT name FROM {schema}.items WHERE id = $1")).await?);
        begin_set.push(format!("BEGIN; SET LOCAL search_path TO {schema}"));
        begin_set_assert.push(format!(
            "BEGIN; SET LOCAL search_path TO {schema}; SELECT {}::regnamespace",
            tenantry::sql::quote_literal(&schema)
        ));
        begin_discard.push(format!("DISCARD TEMP; BEGIN; SET LOCAL search_path TO {schema}, pg_temp"));
        let path = format!("{schema}, \"shared\", pg_temp");
        use tenantry::schema::statements::{begin_with_search_path, Guard, MissingSchema, Prelude};
        let prelude = Prelude { deallocate_all: false, discard_temp: true };
        let advisory = Guard::Advisory(tenant.schema(), MissingSchema::Counted);
        begin_guarded.push(begin_with_search_path(&path, Some(advisory), prelude));
        begin_anchored.push(begin_with_search_path(&path, Some(Guard::Anchor(tenant.schema())), prelude));
    }
    let fixture = Fixture {
        tenantry,
        with_shared,
        tenants,
        raw,
        qualified,
        begin_set,
        begin_set_assert,
        begin_discard,
        begin_guarded,
        begin_anchored,
    };

    let mut samples = vec![Vec::with_capacity(ROUNDS); SCENARIOS.len()];
    for scenario in 0..SCENARIOS.len() {
        for i in 0..200 {
            borrow(&fixture, scenario, i).await?; // warm-up: caches, statements
        }
    }
    for _ in 0..ROUNDS {
        for (scenario, sample) in samples.iter_mut().enumerate() {
            let started = Instant::now();
            for i in 0..ITERATIONS {
                borrow(&fixture, scenario, i).await?;
            }
            sample.push(started.elapsed() / u32::try_from(ITERATIONS).unwrap_or(u32::MAX));
        }
    }

    println!("| scenario | round trips | µs per borrow (median of {ROUNDS}) | min–max |");
    println!("|---|---|---|---|");
    for ((name, round_trips), mut sample) in SCENARIOS.into_iter().zip(samples) {
        sample.sort();
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {name} | {round_trips} | {:.1} | {:.1}–{:.1} |",
            micros(sample[ROUNDS / 2]),
            micros(sample[0]),
            micros(sample[ROUNDS - 1])
        );
    }
    Ok(())
}

fn pg(source: tokio_postgres::Error) -> Error {
    Error::Database { action: "bench", tenant: None, source }
}

async fn borrow(f: &Fixture, scenario: usize, i: usize) -> Result<(), Error> {
    let k = i % TENANTS;
    match scenario {
        0 => f.raw.query_one(&f.qualified[k], &[&1_i32]).await.map(drop).map_err(pg),
        1..=5 | 12 => {
            let begin = match scenario {
                1 => "BEGIN",
                2 => &f.begin_set[k],
                3 => &f.begin_set_assert[k],
                4 => &f.begin_discard[k],
                5 => &f.begin_guarded[k],
                _ => &f.begin_anchored[k],
            };
            f.raw.batch_execute(begin).await.map_err(pg)?;
            f.raw.query_one(&f.qualified[k], &[&1_i32]).await.map_err(pg)?;
            f.raw.batch_execute("COMMIT").await.map_err(pg)
        }
        6 | 8 => {
            let tenantry = if scenario == 6 { &f.tenantry } else { &f.with_shared };
            let mut tx = tenantry.transaction_in(Some(&f.tenants[k])).await?;
            tx.query_one(LOOKUP, &[&1_i32]).await?;
            tx.commit().await
        }
        7 => {
            f.tenantry
                .scope(&f.tenants[k], async {
                    let mut tx = f.tenantry.transaction().await?;
                    tx.query_one(LOOKUP, &[&1_i32]).await?;
                    tx.commit().await
                })
                .await?
        }
        9..=11 => {
            let tenant = if scenario == 9 { &f.tenants[0] } else { &f.tenants[k] };
            let tenantry = if scenario == 11 { &f.with_shared } else { &f.tenantry };
            let mut session = tenantry.session_in(Some(tenant)).await?;
            session.query_one(LOOKUP, &[&1_i32]).await.map(drop)
        }
        _ => unreachable!("scenario {scenario}"),
    }
}
