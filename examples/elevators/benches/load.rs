//! Requests per second of the example app with the tenant layer (50 tenants, a random one per
//! request) against the same app without it (one schema), driven over loopback by `wrk`.
//!
//! Two more variants split the difference: the app without the layer but each request run in
//! one fixed tenant by a plain `Tenantry::scope` middleware (the cost of a tenant transaction:
//! `SET LOCAL search_path` plus the schema assertion), and the app with the layer but every
//! request sent to one tenant (the layer's cost without the spread over 50 schemas). A fifth
//! serves the layer from a `Tenantry` with a shared schema configured after the tenants: its
//! transactions take the guard (the tenant's existence lock and the fresh schema check,
//! docs/context.md).
//!
//! ```text
//! apt-get install -y wrk
//! cargo bench -p tenantry-example-elevators --bench load
//! ```
//!
//! Both servers run in this process on one throwaway PostgreSQL cluster, with the same pool
//! size; `wrk` runs against each in turn, `ROUNDS` times, so machine noise hits both alike.
//! Each request is `GET /whoami`: one transaction, one query. The median round of each is
//! reported, and their ratio. `LOAD_SECONDS`, `LOAD_ROUNDS` and `LOAD_CONNECTIONS` override
//! the defaults.

use std::net::SocketAddr;
use std::process::Command;

use tenantry::{Config, Tenantry};
use tenantry_example_elevators::{create_tenant, prepare_default_schema, router, router_without_tenancy};

const TENANTS: usize = 50;
const POOL_SIZE: usize = 8;

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const SCRIPT: &str = r#"
local hosts = {}
for i = 0, 49 do hosts[#hosts + 1] = string.format("tenant-%02d.localhost", i) end
math.randomseed(42)
request = function()
  return wrk.format("GET", "/whoami", { ["Host"] = hosts[math.random(#hosts)] })
end
"#;

const ONE_TENANT_SCRIPT: &str = r#"
request = function()
  return wrk.format("GET", "/whoami", { ["Host"] = "tenant-00.localhost" })
end
"#;

/// The app without the layer, each request in `tenant` through `Tenantry::scope`.
fn router_in_one_tenant(tenantry: Tenantry, tenant: tenantry::TenantName) -> axum::Router {
    let scoping = tenantry.clone();
    router_without_tenancy(tenantry).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let (tenantry, tenant) = (scoping.clone(), tenant.clone());
            async move { tenantry.scope(&tenant, next.run(request)).await.expect("a known tenant") }
        },
    ))
}

/// Runs wrk and returns requests/second; panics if any response was not 2xx.
fn wrk(address: SocketAddr, seconds: u32, connections: u32, script: &std::path::Path) -> f64 {
    let output = Command::new("wrk")
        .args(["-t", "1", "-c", &connections.to_string(), "-d", &format!("{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://{address}/whoami"))
        .output()
        .unwrap_or_else(|err| panic!("cannot run wrk ({err}); install it: apt-get install -y wrk"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("Non-2xx"), "some responses failed:\n{text}");
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:").map(|n| n.trim().parse().expect("a number")))
        .unwrap_or_else(|| {
            panic!("no Requests/sec in wrk's output:\n{text}\n{}", String::from_utf8_lossy(&output.stderr))
        })
}

/// This round's ratio of the first variant to the baseline.
fn results_ratio(results: &[Vec<f64>], round: u32) -> f64 {
    let at = round as usize - 1;
    results[0][at] / results[1][at]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (seconds, rounds, connections) =
        (setting("LOAD_SECONDS", 8), setting("LOAD_ROUNDS", 5), setting("LOAD_CONNECTIONS", 32));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let db = runtime.block_on(tenantry_test_support::test_database("bench_load"));
    let (with_layer, without_layer, scoped_one, with_shared) = runtime.block_on(async {
        let mut config = Config::default();
        config.database_url = Some(db.url());
        config.pool.max_size = POOL_SIZE;
        let tenantry = Tenantry::connect(config).await.expect("connects");
        for index in 0..TENANTS {
            let tenant = create_tenant(&tenantry, &format!("tenant-{index:02}")).await.expect("creates tenant");
            // The bookkeeping table the migrator gives every tenant: the anchor that guarded
            // transactions lock (docs/context.md, "A tenant dropped or renamed while in use").
            let mut tx = tenantry.transaction_in(Some(&tenant)).await.expect("begins");
            tx.batch_execute(&tenantry::migrate::bookkeeping::create_table_sql(tenant.schema()))
                .await
                .expect("creates the bookkeeping table");
            tx.commit().await.expect("commits");
        }
        prepare_default_schema(&tenantry, "single-schema").await.expect("prepares the default schema");
        let serve = |app: axum::Router| async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
            let address = listener.local_addr().expect("address");
            tokio::spawn(async move { axum::serve(listener, app).await });
            address
        };
        let mut tx = tenantry.transaction_in(None).await.expect("begins");
        tx.batch_execute("CREATE SCHEMA shared").await.expect("creates the shared schema");
        tx.commit().await.expect("commits");
        let mut shared_config = Config::default();
        shared_config.database_url = Some(db.url());
        shared_config.pool.max_size = POOL_SIZE;
        shared_config.shared_schemas = vec!["shared".into()];
        let tenantry_with_shared = Tenantry::connect(shared_config).await.expect("connects");
        let first = tenantry.tenant("tenant-00").expect("valid");
        (
            serve(router(tenantry.clone())).await,
            serve(router_without_tenancy(tenantry.clone())).await,
            serve(router_in_one_tenant(tenantry, first)).await,
            serve(router(tenantry_with_shared)).await,
        )
    });
    let script = std::env::temp_dir().join(format!("tenantry-load-{}.lua", std::process::id()));
    std::fs::write(&script, SCRIPT).expect("writes the wrk script");
    let one = std::env::temp_dir().join(format!("tenantry-load-one-{}.lua", std::process::id()));
    std::fs::write(&one, ONE_TENANT_SCRIPT).expect("writes the wrk script");

    let variants = [
        ("with ResolveTenantLayer(Subdomain), 50 tenants", with_layer, &script),
        ("without the layer, one schema (baseline)", without_layer, &script),
        ("without the layer, scope(one tenant) middleware", scoped_one, &script),
        ("with ResolveTenantLayer(Subdomain), one tenant", with_layer, &one),
        ("with the layer, 50 tenants, a shared schema configured", with_shared, &script),
    ];
    println!("warming up…");
    for (_, address, script) in &variants {
        wrk(*address, 2, connections, script);
    }
    let mut results = vec![Vec::new(); variants.len()];
    for round in 1..=rounds {
        let mut line = format!("round {round}:");
        for ((_, address, script), results) in variants.iter().zip(&mut results) {
            let rate = wrk(*address, seconds, connections, script);
            line.push_str(&format!(" {rate:.0}"));
            results.push(rate);
        }
        println!("{line} req/s; ratio {:.3}", results_ratio(&results, round));
    }
    let medians: Vec<f64> = results.iter_mut().map(|r| median(r)).collect();
    println!("\nmedian of {rounds} rounds of {seconds} s, wrk -t1 -c{connections}, pool {POOL_SIZE}:");
    for ((name, _, _), rate) in variants.iter().zip(&medians) {
        println!("  {name:<50} {rate:>6.0} req/s  ({:.3} of the baseline)", rate / medians[1]);
    }
    println!("  ratio (with the layer, 50 tenants / baseline): {:.3}", medians[0] / medians[1]);
    let _ = std::fs::remove_file(&script);
    let _ = std::fs::remove_file(&one);
    drop(runtime);
    drop(db);
}
