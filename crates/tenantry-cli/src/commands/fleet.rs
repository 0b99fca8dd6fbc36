//! Commands that work across tenants: migrate, rollback, redo, up, down, seed, exec, status, dump.

use std::path::Path;

use anyhow::Context as _;
use serde_json::json;
use tenantry::migrate::{Goal, MigrationReport, RunOptions, SchemaStatus, Selection};

use super::{tenant_names, usage, Context};
use crate::cli::{Command, FleetArgs};
use crate::exit::Exit;
use crate::output::Progress;
use crate::write::{errln, outln};

/// Every fleet command: options from flags, one library call, the report rendered.
pub(crate) async fn run(context: &mut Context, command: &Command) -> anyhow::Result<Exit> {
    let migrator = context.migrator().await?;
    let (fleet, goal) = match command {
        Command::Migrate { fleet, target, .. } => (fleet, target.map_or(Goal::Latest, Goal::Target)),
        Command::Rollback { fleet, steps, target } => (fleet, target.map_or(Goal::Rollback(*steps), Goal::Target)),
        Command::Redo { fleet } => (fleet, Goal::Redo),
        Command::Up { fleet, version } => (fleet, Goal::Apply(*version)),
        Command::Down { fleet, version } => (fleet, Goal::Revert(*version)),
        Command::Seed { fleet } | Command::Exec { fleet, .. } => (fleet, Goal::Latest),
        _ => unreachable!("not a fleet command"),
    };
    let mut options = options(&migrator, fleet, goal)?;
    if let Command::Migrate { shared_only, tenants_only, dry_run, no_dump, accept_changed_checksums, verify, .. } =
        command
    {
        if *shared_only {
            options.selection = Selection::SharedOnly;
        } else if *tenants_only && options.selection == Selection::All {
            options.selection = Selection::TenantsOnly;
        }
        options.dry_run = *dry_run;
        options.accept_changed_checksums = *accept_changed_checksums;
        options.verify = *verify;
        if *no_dump {
            options.dump = Some(false);
        }
    }
    let progress = Progress::new(context.output);
    let sink = progress.clone();
    let migrator = migrator.on_event(move |event| sink.handle(event));
    let report = match command {
        Command::Seed { .. } => {
            let path = migrator.tenantry().config().migrations.seed_file.clone().ok_or_else(|| {
                usage("no seed file configured; set migrations.seed_file in tenantry.toml (or TENANTRY_SEED_FILE)")
            })?;
            let sql =
                std::fs::read_to_string(&path).with_context(|| format!("reading the seed file {}", path.display()))?;
            migrator.exec(&sql, &options).await?
        }
        Command::Exec { sql, file, .. } => {
            let sql = match (sql, file) {
                (Some(sql), _) => sql.clone(),
                (None, Some(file)) => {
                    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
                }
                (None, None) => return Err(usage("give the SQL, or --file")),
            };
            migrator.exec(&sql, &options).await?
        }
        _ => migrator.run(&options).await?,
    };
    progress.finish();
    finish(context, &report)
}

fn options(migrator: &tenantry::migrate::Migrator, fleet: &FleetArgs, goal: Goal) -> anyhow::Result<RunOptions> {
    let selection = if fleet.tenant.is_empty() {
        Selection::All
    } else {
        Selection::Tenants(tenant_names(migrator.tenantry(), &fleet.tenant)?)
    };
    Ok(RunOptions {
        goal,
        selection,
        jobs: fleet.jobs.map(usize::from),
        fail_fast: fleet.fail_fast,
        no_wait: fleet.no_wait,
        ..RunOptions::default()
    })
}

fn finish(context: &Context, report: &MigrationReport) -> anyhow::Result<Exit> {
    if !context.output.quiet || context.output.json || !report.is_success() {
        context.output.report(report);
    }
    Ok(if report.is_success() { Exit::Success } else { Exit::TenantFailed })
}

/// `tenantry status`; with `check`, exit 1 unless the fleet is ready (`status_gate.rs`).
pub(crate) async fn status(
    context: &mut Context,
    tenants: &[String],
    pending_only: bool,
    verify: bool,
    check: bool,
) -> anyhow::Result<Exit> {
    let migrator = context.migrator().await?;
    let selection = if tenants.is_empty() {
        Selection::All
    } else {
        Selection::Tenants(tenant_names(migrator.tenantry(), tenants)?)
    };
    let status = migrator.status(&selection, verify).await?;
    if context.output.json {
        let entries: Vec<_> = status
            .tenants
            .iter()
            .filter(|t| !pending_only || !t.status.is_current())
            .map(|entry| match &entry.status {
                SchemaStatus::Present { applied, pending, checksum_mismatch, unknown_applied } => json!({
                    "tenant": entry.subject.tenant().map(ToString::to_string),
                    "schema": entry.subject.schema(),
                    "missing": false,
                    "applied": applied,
                    "pending": pending.iter().map(|p| json!({"version": p.version, "description": p.description})).collect::<Vec<_>>(),
                    "checksum_mismatch": checksum_mismatch,
                    "unknown_applied": unknown_applied,
                }),
                _ => json!({
                    "tenant": entry.subject.tenant().map(ToString::to_string),
                    "schema": entry.subject.schema(),
                    "missing": true,
                    "applied": [], "pending": [], "checksum_mismatch": [], "unknown_applied": [],
                }),
            })
            .collect();
        context.output.document(&json!({
            "summary": {
                "tenants": status.tenants.len(),
                "current": status.current_tenants(),
                "pending_migrations": status.pending_migrations(),
            },
            "tenants": entries,
        }));
    } else {
        let text = status.to_string();
        let mut lines: Vec<&str> = text.lines().collect();
        let summary = lines.pop().unwrap_or_default();
        for line in lines {
            outln!("{line}");
        }
        if !pending_only && !context.output.quiet {
            for entry in status.tenants.iter().filter(|t| t.status.is_current()) {
                if let SchemaStatus::Present { applied, .. } = &entry.status {
                    outln!(
                        "{}: current at {}",
                        entry.subject,
                        applied.last().map_or("nothing".to_owned(), ToString::to_string)
                    );
                }
            }
        }
        outln!("{summary}");
    }
    let verdict = super::status_gate::Verdict::of(&status);
    if check && !verdict.is_ready() {
        errln!("{verdict}");
        return Ok(Exit::TenantFailed);
    }
    Ok(Exit::Success)
}

/// `tenantry dump`.
pub(crate) async fn dump(context: &mut Context, output: Option<&Path>) -> anyhow::Result<Exit> {
    let migrator = context.migrator().await?;
    let path = migrator.dump(output).await?;
    context.output.line(format!("wrote {}", path.display()));
    Ok(Exit::Success)
}
