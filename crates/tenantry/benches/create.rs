//! Creating tenants at fleet scale: by clone and by migrations, one at a time and 4 at a time,
//! beside the plain `psql` floor in the same run, with fsync on and off.
//!
//! ```text
//! cargo bench -p tenantry --bench create
//! TENANTRY_BENCH_CREATE=500,5000 TENANTRY_BENCH_FSYNC=on cargo bench -p tenantry --bench create
//! TENANTRY_BENCH_HOW=psql,clone-4,migrations-4 cargo bench -p tenantry --bench create
//! ```
//!
//! For each durability (`TENANTRY_BENCH_FSYNC`, default `on,off`: a cluster with `fsync`,
//! `synchronous_commit` and `full_page_writes` on, `Cluster::durable`, and the test cluster with
//! them off), each size (`TENANTRY_BENCH_CREATE`, default `500`) and each way
//! (`TENANTRY_BENCH_HOW`, default all), N tenants are created at version 10 of the workload
//! (tests/fixtures/workload) in a database of their own, so that every way meets the same
//! catalog growth. The ways:
//! - `psql`: one `psql` session, one transaction per migration file with its bookkeeping row (the
//!   floor a hand-written script reaches).
//! - `clone-1`, `clone-4`: `Migrator::create_many` with the template current, 1 or 4 at a time.
//! - `migrations-1`, `migrations-4`: the same with `CreateOptions { clone: false }`
//!   (`tenantry create --no-clone`).
//! - `fallback-4`: clone asked for, but the template holds an object the clone refuses (a
//!   domain), so every tenant falls back to migrations, 4 at a time: it must cost what
//!   `migrations-4` costs.
//!
//! Tenants are created in batches of 100, the ways taking turns batch by batch (each in its own
//! database), so that a noisy machine slows them alike; the per-tenant time of the first and the
//! last batch shows whether a creation gets slower as the database fills. psql keeps one session
//! for the whole run, fed one batch at a time.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tenantry::migrate::{CreateMethod, CreateOptions, MigrationSource, Migrator, RunOptions};
use tenantry::Tenantry;
use tenantry_test_support::Cluster;

mod support;

use support::{config, files, migrations_dir, psql_tenant};

const BATCH: usize = 100;
const WAYS: [&str; 6] = ["psql", "clone-1", "clone-4", "migrations-1", "migrations-4", "fallback-4"];

/// One way's run: the time of each batch of [`BATCH`] tenants.
#[derive(Default)]
struct Run {
    batches: Vec<Duration>,
}

impl Run {
    fn total(&self) -> Duration {
        self.batches.iter().sum()
    }

    fn per_tenant_ms(batch: Duration) -> f64 {
        batch.as_secs_f64() * 1000.0 / BATCH as f64
    }

    fn first_ms(&self) -> f64 {
        Self::per_tenant_ms(self.batches[0])
    }

    fn last_ms(&self) -> f64 {
        Self::per_tenant_ms(*self.batches.last().expect("at least one batch"))
    }
}

fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One `psql` session, fed a batch at a time; a batch is done when the clock query behind it
/// answers.
struct PsqlSession {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl PsqlSession {
    fn start(url: &str) -> Self {
        let mut child = Command::new(Cluster::shared().bin_dir().join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("psql starts");
        let input = child.stdin.take().expect("psql's stdin");
        let output = BufReader::new(child.stdout.take().expect("psql's stdout"));
        Self { child, input, output }
    }

    fn run(&mut self, script: &str) -> Duration {
        let started = Instant::now();
        self.input.write_all(script.as_bytes()).expect("psql takes the script");
        self.input.write_all(b"SELECT 'batch done';\n").expect("psql takes the script");
        self.input.flush().expect("psql takes the script");
        let mut line = String::new();
        while line.trim() != "batch done" {
            line.clear();
            let read = self.output.read_line(&mut line).expect("psql answers");
            assert!(read > 0, "psql stopped: {:?}", self.child.try_wait());
        }
        started.elapsed()
    }
}

/// One way of creating tenants, set up in its own database.
enum Way {
    Psql(PsqlSession),
    Tenantry { tenantry: Tenantry, migrator: Migrator, options: CreateOptions, jobs: usize, clone: bool },
}

impl Way {
    async fn set_up(way: &str, url: &str, dir: &Path) -> Self {
        let (clone, jobs) = match way {
            "psql" => return Self::Psql(PsqlSession::start(url)),
            "clone-1" => (true, 1),
            "clone-4" => (true, 4),
            "migrations-1" => (false, 1),
            "migrations-4" => (false, 4),
            "fallback-4" => (true, 4),
            other => panic!("unknown way {other}; choose among {WAYS:?}"),
        };
        let tenantry = Tenantry::connect(config(url, dir, clone)).await.expect("connects");
        let migrator = Migrator::new(&tenantry, MigrationSource::load(dir).expect("loads"));
        if clone {
            migrator.run(&RunOptions::default()).await.expect("migrates the template");
        }
        if way == "fallback-4" {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connects");
            tokio::spawn(connection);
            client
                .batch_execute("CREATE DOMAIN tenantry_template.positive AS integer CHECK (VALUE > 0)")
                .await
                .expect("makes the template unusable");
        }
        let options = CreateOptions { clone, seed: false };
        Self::Tenantry { tenantry, migrator, options, jobs, clone: way.starts_with("clone") }
    }

    /// Creates `names`; every tenant must have been cloned for the `clone-*` ways and migrated
    /// for the others.
    async fn create(&mut self, names: &[String], files: &[(i64, String, String, String)]) -> Duration {
        match self {
            Self::Psql(session) => {
                let up_all: Vec<(i64, bool)> = (1..=10).map(|v| (v, true)).collect();
                let script: String = names.iter().map(|name| psql_tenant(name, &up_all, true, files)).collect();
                session.run(&script)
            }
            Self::Tenantry { tenantry, migrator, options, jobs, clone } => {
                let tenants: Vec<_> = names.iter().map(|name| tenantry.tenant(name).expect("valid")).collect();
                let started = Instant::now();
                for result in migrator.create_many(&tenants, options, *jobs).await {
                    let report = result.expect("creates");
                    assert_eq!(report.method == CreateMethod::Cloned, *clone, "{report:?}");
                }
                started.elapsed()
            }
        }
    }
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = list("TENANTRY_BENCH_CREATE", "500").iter().filter_map(|s| s.parse().ok()).collect();
    let ways = list("TENANTRY_BENCH_HOW", &WAYS.join(","));
    let dir = migrations_dir();
    let files = files();
    println!("| fsync | tenants | how | total | tenants/s | ms per tenant, first 100 | last 100 | last / first | × psql floor |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for fsync in list("TENANTRY_BENCH_FSYNC", "on,off") {
        let cluster = match fsync.as_str() {
            "on" => Cluster::durable(),
            "off" => Cluster::shared(),
            other => panic!("TENANTRY_BENCH_FSYNC: {other}? use on, off or on,off"),
        };
        for &n in &sizes {
            assert!(n >= 2 * BATCH && n % BATCH == 0, "sizes are multiples of {BATCH}, at least {}", 2 * BATCH);
            let names: Vec<String> = (0..n).map(|i| format!("t{i:05}")).collect();
            let mut databases = Vec::new();
            let mut set_up = Vec::new();
            for way in &ways {
                let db = cluster.database(&format!("bench_create_{way}_{n}")).await;
                set_up.push((way.as_str(), Way::set_up(way, &db.url(), dir.path()).await, Run::default()));
                databases.push(db);
            }
            for batch in names.chunks(BATCH) {
                for (_, way, run) in &mut set_up {
                    run.batches.push(way.create(batch, &files).await);
                }
            }
            let floor = set_up.iter().find(|(way, _, _)| *way == "psql").map(|(_, _, run)| run.total());
            for (way, _, run) in &set_up {
                let total = run.total();
                let versus =
                    floor.map_or("—".to_owned(), |f| format!("{:.2}×", f.as_secs_f64() / total.as_secs_f64()));
                println!(
                    "| {fsync} | {n} | {way} | {:.1} s | {:.1} | {:.1} | {:.1} | {:.2} | {versus} |",
                    total.as_secs_f64(),
                    rate(n, total),
                    run.first_ms(),
                    run.last_ms(),
                    run.last_ms() / run.first_ms(),
                );
            }
            for (_, way, _) in set_up {
                if let Way::Tenantry { tenantry, .. } = way {
                    tenantry.close();
                }
            }
            drop(databases);
        }
    }
}
