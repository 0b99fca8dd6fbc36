//! `tenantry demo`: tenants from the example migrations, migrated with the progress view,
//! status, and (with `--serve`) the example web app. Idempotent: a second run reuses what exists.

use std::path::Path;

use anyhow::Context as _;
use tenantry::migrate::{CreateMethod, CreateOptions, Migrator, RunOptions};
use tenantry::Tenantry;

use crate::commands::Context;
use crate::exit::Exit;
use crate::output::Progress;
use crate::settings::EMBEDDED;

/// The example migrations, built into the binary so `demo` works from any directory: the
/// benchmark workload (the SQL Django emits for a small commerce schema, shared with the
/// library's tests), plus the demo's own `tenant_info` table and shared `plans`.
const MIGRATIONS: &[(&str, &str)] = &[
    ("tenant/0001_customers.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0001_customers.down.sql")),
    ("tenant/0001_customers.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0001_customers.up.sql")),
    ("tenant/0002_catalog.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0002_catalog.down.sql")),
    ("tenant/0002_catalog.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0002_catalog.up.sql")),
    ("tenant/0003_orders.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0003_orders.down.sql")),
    ("tenant/0003_orders.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0003_orders.up.sql")),
    ("tenant/0004_invoices.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0004_invoices.down.sql")),
    ("tenant/0004_invoices.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0004_invoices.up.sql")),
    ("tenant/0005_payments.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0005_payments.down.sql")),
    ("tenant/0005_payments.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0005_payments.up.sql")),
    ("tenant/0006_tags.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0006_tags.down.sql")),
    ("tenant/0006_tags.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0006_tags.up.sql")),
    ("tenant/0007_audit.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0007_audit.down.sql")),
    ("tenant/0007_audit.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0007_audit.up.sql")),
    ("tenant/0008_shipments.down.sql", include_str!("../../tenantry/tests/fixtures/workload/0008_shipments.down.sql")),
    ("tenant/0008_shipments.up.sql", include_str!("../../tenantry/tests/fixtures/workload/0008_shipments.up.sql")),
    (
        "tenant/0009_customer_product_columns.down.sql",
        include_str!("../../tenantry/tests/fixtures/workload/0009_customer_product_columns.down.sql"),
    ),
    (
        "tenant/0009_customer_product_columns.up.sql",
        include_str!("../../tenantry/tests/fixtures/workload/0009_customer_product_columns.up.sql"),
    ),
    (
        "tenant/0010_order_columns_and_index.down.sql",
        include_str!("../../tenantry/tests/fixtures/workload/0010_order_columns_and_index.down.sql"),
    ),
    (
        "tenant/0010_order_columns_and_index.up.sql",
        include_str!("../../tenantry/tests/fixtures/workload/0010_order_columns_and_index.up.sql"),
    ),
    ("tenant/0011_tenant_info.down.sql", include_str!("../demo/migrations/tenant/0011_tenant_info.down.sql")),
    ("tenant/0011_tenant_info.up.sql", include_str!("../demo/migrations/tenant/0011_tenant_info.up.sql")),
    ("tenant/0012_notes.down.sql", include_str!("../demo/migrations/tenant/0012_notes.down.sql")),
    ("tenant/0012_notes.up.sql", include_str!("../demo/migrations/tenant/0012_notes.up.sql")),
    ("shared/0001_plans.down.sql", include_str!("../demo/migrations/shared/0001_plans.down.sql")),
    ("shared/0001_plans.up.sql", include_str!("../demo/migrations/shared/0001_plans.up.sql")),
];

const SEED: &str = include_str!("../demo/seed.sql");

/// Memorable names first, for `acme.localhost:3000`; numbered ones after.
const NAMES: [&str; 8] = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka"];

/// The name of the demo's `index`-th tenant.
fn tenant_name(index: usize) -> String {
    NAMES.get(index).map_or_else(|| format!("tenant-{:04}", index + 1), |name| (*name).to_owned())
}

/// Writes the example migrations and seed under `<dir>`.
fn write_files(dir: &Path) -> anyhow::Result<()> {
    for (name, text) in MIGRATIONS {
        let path = dir.join("migrations").join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(dir.join("seed.sql"), SEED).context("writing the demo seed file")?;
    Ok(())
}

/// `tenantry demo`.
pub(crate) async fn run(context: &mut Context, count: usize, serve: bool, port: u16) -> anyhow::Result<Exit> {
    let dir = context.settings.project_dir.join(".tenantry").join("demo");
    write_files(&dir)?;
    let config = &mut context.settings.config;
    if config.database_url.is_none() {
        config.database_url = Some(EMBEDDED.to_owned());
    }
    config.migrations.directory = dir.join("migrations");
    config.migrations.seed_file = Some(dir.join("seed.sql"));
    config.migrations.dump_path = dir.join("schema.sql");
    config.migrations.template = true;
    let tenantry = context.tenantry().await?;
    let url = tenantry.config().database_url.clone().unwrap_or_default();
    context.output.line(format!("database: {}", tenantry::error::mask_password(&url)));

    let progress = Progress::new(context.output);
    let sink = progress.clone();
    let migrator = Migrator::load(&tenantry)?.on_event(move |event| sink.handle(event));
    let report = migrator.run(&RunOptions::default()).await?;
    progress.finish();
    if !report.is_success() {
        context.output.report(&report);
        return Ok(Exit::TenantFailed);
    }

    let existing = tenantry.list().await?;
    let wanted: Vec<_> = (0..count).map(tenant_name).collect::<Vec<_>>();
    let missing: Vec<_> = wanted.iter().filter(|name| !existing.iter().any(|t| t.as_str() == name.as_str())).collect();
    context.output.line(format!(
        "creating {} of {count} demo tenants ({} exist already)",
        missing.len(),
        count - missing.len()
    ));
    let (mut cloned, mut migrated) = (0, 0);
    let missing: Vec<_> = missing.iter().map(|name| tenantry.tenant(name)).collect::<Result<_, _>>()?;
    let jobs = tenantry.config().migrations.jobs;
    // A progress view of its own: the migration run's is finished.
    let creation = Progress::new(context.output);
    let sink = creation.clone();
    let creator = migrator.clone().on_event(move |event| sink.handle(event));
    let results = creator.create_many(&missing, &CreateOptions::default(), jobs).await;
    creation.finish();
    for result in results {
        match result?.method {
            CreateMethod::Cloned => cloned += 1,
            _ => migrated += 1,
        }
    }
    if !missing.is_empty() {
        context.output.line(format!("created {cloned} by cloning the template, {migrated} by migrations"));
    }
    let status = migrator.status(&tenantry::migrate::Selection::All, false).await?;
    context.output.line(status.to_string().lines().last().unwrap_or_default());
    if serve {
        return serve_app(context, tenantry, port).await;
    }
    context.output.line("run `tenantry demo --serve` to browse the tenants over HTTP");
    Ok(Exit::Success)
}

/// Serves the example web app (`examples/elevators`) until the process is stopped.
async fn serve_app(context: &Context, tenantry: Tenantry, port: u16) -> anyhow::Result<Exit> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}; choose a free port with --port"))?;
    let port = listener.local_addr().map_or(port, |addr| addr.port());
    context.output.line(format!("serving the example app on 127.0.0.1:{port} (Ctrl-C to stop); open:"));
    for name in NAMES.iter().take(3) {
        context.output.line(format!("  http://{name}.localhost:{port}/whoami"));
    }
    context.output.line(format!("  http://nobody.localhost:{port}/whoami   (an unknown tenant: 404)"));
    tenantry_example_elevators::serve(tenantry, listener).await.context("serving the example app")?;
    Ok(Exit::Success)
}
