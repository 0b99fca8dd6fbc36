//! Fleet migrations and creations whose history holds no-transaction `CREATE INDEX
//! CONCURRENTLY` steps: 4 jobs against 1 (issue 9).
//!
//! ```text
//! cargo bench -p tenantry --bench no_transaction
//! TENANTRY_BENCH_TENANTS=20 TENANTRY_BENCH_ROUNDS=5 TENANTRY_BENCH_ROWS=2000 \
//!   TENANTRY_BENCH_SCENARIOS=all,data,create,long,long-clone cargo bench -p tenantry --bench no_transaction
//! ```
//!
//! The history is the workload (tests/fixtures/workload, 10 migrations) followed by three
//! non-simple concurrent index builds (two expression indexes, one partial index) with a
//! transactional migration between each: 15 versions. Three scenarios (`all`, `data`,
//! `create`), each in a fresh database of N tenants for every round and job count, rounds
//! alternating 1 and 4 jobs, with tenantry's defaults otherwise
//! (`lock_timeout` 5 s, 3 retries, no template):
//! - `migrate` 0 → 15 of N empty tenants;
//! - `migrate` 10 → 15 of N tenants holding data (ROWS customers, 5 × ROWS orders each): the
//!   deploy that adds the indexes to a live fleet;
//! - `create_many` of N tenants by migrations (no clone).
//!
//! Two more scenarios (`long`, `long-clone`) create N tenants from a long generated history
//! ([`long_history_dir`]: 300 migrations of tables, columns, indexes, trigger functions, views,
//! checks, and 7 no-transaction expression index builds), by migrations and by clone of the
//! migrated template.
//!
//! The table says, for every round, how many tenants succeeded and how many indexes were left
//! invalid.

use std::path::Path;
use std::time::{Duration, Instant};

use tenantry::migrate::{CreateOptions, Goal, Migrator, RunOptions};
use tenantry::{sql::quote_ident, Config, Tenantry};
use tenantry_test_support::Cluster;

const CONCURRENT_STEPS: [(&str, &str); 5] = [
    (
        "0011_customer_lower_email.sql",
        "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS customer_lower_email ON customer (lower(email))",
    ),
    ("0012_customer_note.sql", "ALTER TABLE customer ADD COLUMN note text"),
    (
        "0013_sales_order_open.sql",
        "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS sales_order_open ON sales_order (placed_at) \
         WHERE status = 'open'",
    ),
    ("0014_sales_order_channel.sql", "ALTER TABLE sales_order ADD COLUMN channel text"),
    (
        "0015_sales_order_lower_notes.sql",
        "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS sales_order_lower_notes ON sales_order \
         (lower(notes))",
    ),
];

fn migrations_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = dir.path().join("tenant");
    std::fs::create_dir_all(&tenant).expect("mkdir");
    let workload = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workload");
    for entry in std::fs::read_dir(workload).expect("workload").filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().ends_with(".sql") {
            std::fs::copy(entry.path(), tenant.join(entry.file_name())).expect("copy");
        }
    }
    for (name, sql) in CONCURRENT_STEPS {
        std::fs::write(tenant.join(name), sql).expect("write");
    }
    dir
}

/// Versions in [`long_history_dir`].
const LONG_HISTORY: usize = 300;

/// A history as long as a real project's (issue 9: 285 migrations, 7 of them concurrent index
/// builds): in every five migrations a table, an added column with an index, a trigger
/// function with its trigger, a view and a check constraint; every 40th migration builds an
/// expression index concurrently, outside a transaction, instead of the check.
fn long_history_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = dir.path().join("tenant");
    std::fs::create_dir_all(&tenant).expect("mkdir");
    for i in 1..=LONG_HISTORY {
        let sql = match i % 5 {
            1 => format!(
                "CREATE TABLE t{i} (id bigserial PRIMARY KEY, name text NOT NULL DEFAULT '', \
                 created_at timestamptz NOT NULL DEFAULT now())"
            ),
            2 => format!("ALTER TABLE t{t} ADD COLUMN amount numeric(12, 2) NOT NULL DEFAULT 0; CREATE INDEX t{t}_amount ON t{t} (amount)", t = i - 1),
            3 => format!(
                "CREATE FUNCTION f{i}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := lower(NEW.name); RETURN NEW; END $$; \
                 CREATE TRIGGER trg{i} BEFORE INSERT ON t{t} FOR EACH ROW EXECUTE FUNCTION f{i}()",
                t = i - 2
            ),
            4 => format!("CREATE VIEW v{i} AS SELECT id, name FROM t{t} WHERE amount > 0", t = i - 3),
            _ if i % 40 == 0 => format!(
                "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t{t}_lower_name ON t{t} (lower(name))",
                t = i - 4
            ),
            _ => format!("ALTER TABLE t{t} ADD CONSTRAINT t{t}_name_length CHECK (length(name) < 200)", t = i - 4),
        };
        std::fs::write(tenant.join(format!("{i:04}_step{i}.sql")), sql).expect("write");
    }
    dir
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one timed run gave.
struct Run {
    elapsed: Duration,
    succeeded: usize,
    invalid_indexes: i64,
}

async fn fresh(label: &str, dir: &Path) -> (tenantry_test_support::TestDatabase, Migrator) {
    fresh_with(label, dir, false).await
}

/// A fresh database and a migrator on `dir`, with the template schema when `template`.
async fn fresh_with(label: &str, dir: &Path, template: bool) -> (tenantry_test_support::TestDatabase, Migrator) {
    let db = Cluster::shared().database(label).await;
    let mut config = Config::default();
    config.database_url = Some(db.url());
    config.migrations.directory = dir.to_owned();
    config.migrations.dump = false;
    config.migrations.template = template;
    let tenantry = Tenantry::connect(config).await.expect("connects");
    let migrator = Migrator::load(&tenantry).expect("loads");
    (db, migrator)
}

async fn invalid_indexes(migrator: &Migrator) -> i64 {
    let mut tx = migrator.tenantry().transaction_in(None).await.expect("begins");
    let count: i64 =
        tx.query_one("SELECT count(*) FROM pg_index WHERE NOT indisvalid", &[]).await.expect("counts").get(0);
    tx.commit().await.expect("commits");
    count
}

async fn bare_tenants(migrator: &Migrator, n: usize) -> Vec<tenantry::TenantName> {
    let mut tenants = Vec::with_capacity(n);
    for i in 0..n {
        let tenant = migrator.tenantry().tenant(&format!("t{i:03}")).expect("name");
        migrator.tenantry().create(&tenant).await.expect("creates");
        tenants.push(tenant);
    }
    tenants
}

async fn migrate_all(dir: &Path, n: usize, jobs: usize, round: usize) -> Run {
    let (_db, migrator) = fresh(&format!("bench_notx_all_{jobs}_{round}"), dir).await;
    bare_tenants(&migrator, n).await;
    let started = Instant::now();
    let report = migrator.run(&RunOptions { jobs: Some(jobs), ..RunOptions::default() }).await.expect("runs");
    let elapsed = started.elapsed();
    Run { elapsed, succeeded: report.tenant_counts().0, invalid_indexes: invalid_indexes(&migrator).await }
}

async fn migrate_with_data(dir: &Path, n: usize, rows: usize, jobs: usize, round: usize) -> Run {
    let (_db, migrator) = fresh(&format!("bench_notx_data_{jobs}_{round}"), dir).await;
    let tenants = bare_tenants(&migrator, n).await;
    let report = migrator.run(&RunOptions::goal(Goal::Target(10))).await.expect("runs");
    assert!(report.is_success(), "{report}");
    for tenant in &tenants {
        let mut tx = migrator.tenantry().transaction_in(None).await.expect("begins");
        tx.batch_execute(&format!(
            "SET LOCAL search_path TO {schema}; \
             INSERT INTO customer (name, email, created_at, is_active, phone, loyalty_points) \
             SELECT 'c' || g, 'c' || g || '@example.com', now(), true, '', 0 FROM generate_series(1, {rows}) g; \
             INSERT INTO sales_order (status, placed_at, total, customer_id, notes, currency) \
             SELECT CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END, now() - g * interval '1 minute', g, 1 + g % {rows}, \
             'Note ' || g, 'EUR' FROM generate_series(1, {orders}) g; ANALYZE customer; ANALYZE sales_order",
            schema = quote_ident(tenant.schema()),
            orders = rows * 5
        ))
        .await
        .expect("inserts data");
        tx.commit().await.expect("commits");
    }
    let started = Instant::now();
    let report = migrator.run(&RunOptions { jobs: Some(jobs), ..RunOptions::default() }).await.expect("runs");
    let elapsed = started.elapsed();
    Run { elapsed, succeeded: report.tenant_counts().0, invalid_indexes: invalid_indexes(&migrator).await }
}

async fn create_many(dir: &Path, n: usize, jobs: usize, round: usize) -> Run {
    let (_db, migrator) = fresh(&format!("bench_notx_create_{jobs}_{round}"), dir).await;
    let tenants: Vec<_> = (0..n).map(|i| migrator.tenantry().tenant(&format!("c{i:03}")).expect("name")).collect();
    let started = Instant::now();
    let results = migrator.create_many(&tenants, &CreateOptions { clone: false, seed: false }, jobs).await;
    let elapsed = started.elapsed();
    let succeeded = results.iter().filter(|r| r.as_ref().is_ok_and(|report| report.versions.len() == 15)).count();
    Run { elapsed, succeeded, invalid_indexes: invalid_indexes(&migrator).await }
}

/// `create_many` of `n` tenants from the long history: by clone of the template (migrated
/// before the clock starts) or by migrations. A tenant counts as succeeded when it reached the
/// last version, and, for `clone`, was cloned.
async fn create_long(dir: &Path, n: usize, jobs: usize, round: usize, clone: bool) -> Run {
    let label = format!("bench_notx_long_{}_{jobs}_{round}", if clone { "clone" } else { "migrations" });
    let (_db, migrator) = fresh_with(&label, dir, clone).await;
    if clone {
        let report = migrator.run(&RunOptions::default()).await.expect("migrates the template");
        assert!(report.is_success(), "{report}");
    }
    let tenants: Vec<_> = (0..n).map(|i| migrator.tenantry().tenant(&format!("l{i:03}")).expect("name")).collect();
    let started = Instant::now();
    let results = migrator.create_many(&tenants, &CreateOptions { clone, seed: false }, jobs).await;
    let elapsed = started.elapsed();
    let succeeded = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|report| report.versions.len() == LONG_HISTORY)
        .filter(|report| !clone || matches!(report.method, tenantry::migrate::CreateMethod::Cloned))
        .count();
    Run { elapsed, succeeded, invalid_indexes: invalid_indexes(&migrator).await }
}

fn summary(runs: &[&Run]) -> (f64, f64, f64) {
    let mut times: Vec<f64> = runs.iter().map(|r| r.elapsed.as_secs_f64()).collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

#[tokio::main]
async fn main() {
    let n = env_number("TENANTRY_BENCH_TENANTS", 20);
    let rounds = env_number("TENANTRY_BENCH_ROUNDS", 5).max(1);
    let rows = env_number("TENANTRY_BENCH_ROWS", 2000).max(1);
    let only =
        std::env::var("TENANTRY_BENCH_SCENARIOS").unwrap_or_else(|_| "all,data,create,long,long-clone".to_owned());
    let dir = migrations_dir();
    let long = long_history_dir();
    println!(
        "| scenario | tenants | jobs | seconds, median of {rounds} (min–max) | tenants succeeded (each round) | invalid indexes left |"
    );
    println!("|---|---|---|---|---|---|");
    for (key, scenario) in [
        ("all", "migrate 0 → 15, empty tenants"),
        ("data", "migrate 10 → 15, tenants with data"),
        ("create", "create by migrations"),
        ("long", "create by migrations, 300-migration history"),
        ("long-clone", "create by clone, 300-migration history"),
    ] {
        if !only.split(',').any(|s| s.trim() == key) {
            continue;
        }
        // Rounds alternate 1 and 4 jobs, so that a slow moment of a shared machine hits both.
        let mut runs: Vec<(usize, Run)> = Vec::with_capacity(rounds * 2);
        for round in 0..rounds {
            for jobs in [1, 4] {
                let run = match key {
                    "all" => migrate_all(dir.path(), n, jobs, round).await,
                    "data" => migrate_with_data(dir.path(), n, rows, jobs, round).await,
                    "long" => create_long(long.path(), n, jobs, round, false).await,
                    "long-clone" => create_long(long.path(), n, jobs, round, true).await,
                    _ => create_many(dir.path(), n, jobs, round).await,
                };
                runs.push((jobs, run));
            }
        }
        for jobs in [1, 4] {
            let these: Vec<&Run> = runs.iter().filter(|(j, _)| *j == jobs).map(|(_, r)| r).collect();
            let (median, min, max) = summary(&these);
            let succeeded: Vec<String> = these.iter().map(|r| r.succeeded.to_string()).collect();
            let invalid: i64 = these.iter().map(|r| r.invalid_indexes).sum();
            println!(
                "| {scenario} | {n} | {jobs} | {median:.2} ({min:.2}–{max:.2}) | {} | {invalid} |",
                succeeded.join(", ")
            );
        }
        let mut ratios: Vec<f64> =
            runs.chunks(2).map(|pair| pair[0].1.elapsed.as_secs_f64() / pair[1].1.elapsed.as_secs_f64()).collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "| ↳ 4 jobs vs 1, median of the rounds' ratios (min–max) | | | {:.2}× ({:.2}–{:.2}) | | |",
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}
