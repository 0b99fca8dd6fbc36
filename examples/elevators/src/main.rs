//! Serves the elevators example on 127.0.0.1:3000 (or `PORT`).
//!
//! With `DATABASE_URL` set it uses that database (creating the demo tenants if missing);
//! otherwise it starts a throwaway PostgreSQL cluster from the machine's binaries, removed
//! when the process exits.

use tenantry::{Config, Tenantry};
use tenantry_example_elevators::{create_tenant, serve, DEMO_TENANTS};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut config = Config::load(None)?;
    let _throwaway = if config.database_url.is_none() {
        let db = tenantry_test_support::test_database("elevators").await;
        config.database_url = Some(db.url());
        println!("Using a throwaway PostgreSQL cluster ({}).", db.url());
        Some(db)
    } else {
        None
    };
    let tenantry = Tenantry::connect(config).await?;
    for name in DEMO_TENANTS {
        create_tenant(&tenantry, name).await?;
    }
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    println!("Serving on http://{address}. Try:");
    for name in DEMO_TENANTS {
        println!("  curl http://{name}.localhost:{port}/whoami");
    }
    println!("  curl http://umbrella.localhost:{port}/whoami   # unknown tenant: 404");
    println!("(If your curl does not resolve *.localhost: curl -H 'Host: acme.localhost' http://{address}/whoami)");
    tokio::select! {
        served = serve(tenantry, listener) => served?,
        _ = tokio::signal::ctrl_c() => println!("\nStopping."),
    }
    Ok(())
}
