//! A tour of tenantry: tenants as schemas, scoped work, shared tables, and the names it refuses.
//!
//! ```text
//! cargo run -p tenantry --example demo
//! ```
//!
//! With `DATABASE_URL` set it uses that database (creating the demo tenants if missing);
//! otherwise it starts a throwaway PostgreSQL cluster from the machine's binaries, removed
//! when the demo exits.

use tenantry::{Config, Error, Tenantry};

const TENANTS: [(&str, &[i64]); 3] = [("acme", &[1200, 350, 99]), ("globex", &[42]), ("initech", &[5000, 7])];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::load(None)?;
    let _throwaway = if config.database_url.is_none() {
        let db = tenantry_test_support::test_database("demo").await;
        config.database_url = Some(db.url());
        println!("Using a throwaway PostgreSQL cluster ({}).", db.url());
        Some(db)
    } else {
        None
    };
    config.schema_prefix = "tenant_".into();
    config.shared_schemas = vec!["shared".into()];
    let tenantry = Tenantry::connect(config).await?;

    // Shared tables live in the shared schema, visible from every tenant.
    let mut tx = tenantry.transaction().await?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS shared;
         CREATE TABLE IF NOT EXISTS shared.plans (name text PRIMARY KEY, monthly_cents bigint);
         INSERT INTO shared.plans VALUES ('startup', 4900), ('enterprise', 99900) ON CONFLICT DO NOTHING",
    )
    .await?;
    tx.commit().await?;

    for (name, amounts) in TENANTS {
        let tenant = tenantry.tenant(name)?;
        if tenantry.exists(&tenant).await? {
            continue;
        }
        tenantry.create(&tenant).await?;
        let mut tx = tenantry.transaction_in(Some(&tenant)).await?;
        tx.batch_execute("CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, cents bigint NOT NULL)").await?;
        for cents in amounts {
            tx.execute("INSERT INTO orders (cents) VALUES ($1)", &[cents]).await?;
        }
        tx.commit().await?;
    }
    let tenants = tenantry.list().await?;
    println!(
        "\nTenants: {}",
        tenants.iter().map(|t| format!("{t} (schema {})", t.schema())).collect::<Vec<_>>().join(", ")
    );

    println!("\nThe same SQL in each tenant's scope sees only that tenant's rows:");
    for tenant in &tenants {
        let (count, total, plans) = tenantry
            .scope(tenant, async {
                let mut tx = tenantry.transaction().await?;
                let row = tx.query_one("SELECT count(*), coalesce(sum(cents), 0)::bigint FROM orders", &[]).await?;
                let plans = tx.query_one("SELECT count(*) FROM plans", &[]).await?;
                tx.commit().await?;
                Ok::<_, Error>((row.get::<_, i64>(0), row.get::<_, i64>(1), plans.get::<_, i64>(0)))
            })
            .await??;
        println!(
            "  {tenant:<8} SELECT … FROM orders → {count} orders, {:.2} total; shared plans visible: {plans}  [search_path {}]",
            total as f64 / 100.0,
            tenantry.search_path(Some(tenant)).as_sql()
        );
    }

    let umbrella = tenantry.tenant("umbrella")?;
    let refused = tenantry.scope(&umbrella, async {}).await.expect_err("umbrella was never created");
    println!("\nScoping an unknown tenant is refused before any query:\n  {refused}");

    println!("\nNames that never reach SQL:");
    for hostile in [
        "Acme",
        "x\"; DROP SCHEMA public CASCADE; --",
        "pg_catalog",
        "tenant-with-a-name-far-too-long-for-postgresql-identifiers",
        "",
    ] {
        let err = tenantry.tenant(hostile).expect_err("hostile names are rejected");
        println!("  {err}");
    }
    Ok(())
}
