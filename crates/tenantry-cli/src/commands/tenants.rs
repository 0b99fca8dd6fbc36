//! `create`, `drop`, `rename`, `list`: tenant lifecycle.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;
use tenantry::migrate::{CreateMethod, CreateOptions};

use super::{tenant_names, usage, Context};
use crate::exit::Exit;
use crate::output::Progress;

/// `tenantry create <tenant>…`: each at the latest version (clone of the template, or
/// migrations), with the seed file, up to `jobs` at a time, with `migrate`'s progress view.
/// Every tenant is tried; the first failure decides the exit status.
pub(crate) async fn create(
    context: &mut Context,
    names: &[String],
    clone: bool,
    seed: bool,
    jobs: Option<usize>,
) -> anyhow::Result<Exit> {
    let migrator = context.migrator().await?;
    let tenants = tenant_names(migrator.tenantry(), names)?;
    let jobs = jobs.unwrap_or(migrator.tenantry().config().migrations.jobs);
    let progress = Progress::new(context.output);
    let sink = progress.clone();
    let migrator = migrator.on_event(move |event| sink.handle(event));
    let results = migrator.create_many(&tenants, &CreateOptions { clone, seed }, jobs).await;
    progress.finish();
    let mut created = Vec::new();
    let (mut cloned, mut first_error) = (0, None);
    for result in results {
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                first_error.get_or_insert(error);
                continue;
            }
        };
        let why_not_cloned = match &report.method {
            CreateMethod::Cloned => {
                cloned += 1;
                None
            }
            CreateMethod::Migrated { why_not_cloned } => why_not_cloned.clone(),
            _ => None,
        };
        created.push(json!({
            "tenant": report.tenant.as_str(),
            "schema": report.tenant.schema(),
            "method": if report.method == CreateMethod::Cloned { "clone" } else { "migrations" },
            "why_not_cloned": why_not_cloned,
            "versions": report.versions,
            "seeded": report.seeded,
        }));
    }
    let failed = tenants.len() - created.len();
    let mut summary = format!(
        "created {} of {} tenants: {cloned} cloned from the template, {} by migrations",
        created.len(),
        tenants.len(),
        created.len() - cloned
    );
    if failed > 0 {
        summary.push_str(&format!("; {failed} failed"));
    }
    context.output.line(summary);
    let status = if first_error.is_some() { "failed" } else { "succeeded" };
    context.output.document(&json!({ "status": status, "created": created }));
    match first_error {
        Some(error) => Err(error.into()),
        None => Ok(Exit::Success),
    }
}

/// `tenantry drop <tenant>…`: asks on a terminal; without one, needs `--force`.
pub(crate) async fn drop(context: &mut Context, names: &[String], force: bool) -> anyhow::Result<Exit> {
    let tenantry = context.tenantry().await?;
    let tenants = tenant_names(&tenantry, names)?;
    // Say which tenant does not exist, or is not a tenant, before asking to confirm anything:
    // with --force too, a schema that is not a tenant's is never dropped (exit 2).
    tenantry.check_tenants(&tenants).await?;
    if !force {
        if !std::io::stdin().is_terminal() {
            return Err(usage(
                "drop deletes tenants and all their data; without a terminal to confirm on, pass --force",
            ));
        }
        let list: Vec<String> = tenants.iter().map(|t| format!("{t} (schema {})", t.schema())).collect();
        eprint!("Drop {} and ALL their data? Type 'yes' to confirm: ", list.join(", "));
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            eprintln!("nothing dropped");
            return Ok(Exit::Usage);
        }
    }
    for tenant in &tenants {
        tenantry.drop(tenant).await?;
        context.output.line(format!("dropped {tenant} (schema {})", tenant.schema()));
    }
    Ok(Exit::Success)
}

/// `tenantry rename <old> <new>`.
pub(crate) async fn rename(context: &mut Context, old: &str, new: &str) -> anyhow::Result<Exit> {
    let tenantry = context.tenantry().await?;
    let (old, new) = (tenantry.tenant(old)?, tenantry.tenant(new)?);
    tenantry.rename(&old, &new).await?;
    context.output.line(format!("renamed {old} to {new} (schema {})", new.schema()));
    Ok(Exit::Success)
}

/// `tenantry list`.
pub(crate) async fn list(context: &mut Context) -> anyhow::Result<Exit> {
    let tenantry = context.tenantry().await?;
    let tenants = tenantry.list().await?;
    if context.output.json {
        let items: Vec<_> = tenants.iter().map(|t| json!({ "tenant": t.as_str(), "schema": t.schema() })).collect();
        context.output.document(&json!({ "tenants": items }));
    } else {
        for tenant in &tenants {
            if tenant.as_str() == tenant.schema() {
                println!("{tenant}");
            } else {
                println!("{tenant}\t{}", tenant.schema());
            }
        }
        if tenants.is_empty() && !context.output.quiet {
            eprintln!("no tenants; create one with `tenantry create <name>`");
        }
    }
    Ok(Exit::Success)
}
