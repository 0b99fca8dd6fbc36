//! One module per group of commands; each parses nothing and decides nothing the library can.

mod fleet;
mod project;
mod status_gate;
mod tenants;

use anyhow::Context as _;
use tenantry::migrate::Migrator;
use tenantry::{TenantName, Tenantry};

use crate::cli::{Cli, Command};
use crate::exit::{Exit, UsageError};
use crate::output::Output;
use crate::settings::Settings;

/// What every command gets: the flags, the resolved settings, and where to print.
pub(crate) struct Context {
    pub(crate) settings: Settings,
    pub(crate) output: Output,
}

impl Context {
    /// Connects to the configured database (starting the embedded cluster if configured).
    pub(crate) async fn tenantry(&mut self) -> anyhow::Result<Tenantry> {
        crate::connect::resolve_database_url(&mut self.settings).await?;
        Ok(Tenantry::connect(self.settings.config.clone()).await?)
    }

    /// A migrator with the configured migrations.
    pub(crate) async fn migrator(&mut self) -> anyhow::Result<Migrator> {
        let tenantry = self.tenantry().await?;
        Ok(Migrator::load(&tenantry)?)
    }
}

/// Validates names given on the command line.
pub(crate) fn tenant_names(tenantry: &Tenantry, names: &[String]) -> anyhow::Result<Vec<TenantName>> {
    names.iter().map(|name| tenantry.tenant(name).map_err(anyhow::Error::from)).collect()
}

/// Runs the command; the exit status says how it went.
pub(crate) async fn run(cli: &Cli) -> anyhow::Result<Exit> {
    let json = match &cli.command {
        Command::List { json } | Command::Status { json, .. } | Command::Create { json, .. } => *json,
        Command::Migrate { fleet, .. }
        | Command::Rollback { fleet, .. }
        | Command::Redo { fleet }
        | Command::Up { fleet, .. }
        | Command::Down { fleet, .. }
        | Command::Seed { fleet }
        | Command::Exec { fleet, .. } => fleet.json,
        _ => false,
    };
    let output = Output::new(cli, json);
    if let Command::Init { force } = &cli.command {
        return project::init(*force, &output);
    }
    let settings = Settings::load(cli).context("loading the configuration")?;
    let mut context = Context { settings, output };
    match &cli.command {
        Command::Init { .. } => unreachable!("handled above"),
        Command::New { description, shared, irreversible } => {
            project::new(&context, description, *shared, *irreversible)
        }
        Command::Create { tenants, no_clone, no_seed, jobs, .. } => {
            tenants::create(&mut context, tenants, !*no_clone, !*no_seed, jobs.map(usize::from)).await
        }
        Command::Drop { tenants, force } => tenants::drop(&mut context, tenants, *force).await,
        Command::Rename { old, new } => tenants::rename(&mut context, old, new).await,
        Command::List { .. } => tenants::list(&mut context).await,
        Command::Status { tenant, pending_only, verify, check, .. } => {
            fleet::status(&mut context, tenant, *pending_only, *verify, *check).await
        }
        Command::Dump { output } => fleet::dump(&mut context, output.as_deref()).await,
        Command::Embedded { action } => crate::connect::embedded(&context, *action),
        Command::Demo { tenants, serve, port } => crate::demo::run(&mut context, *tenants, *serve, *port).await,
        other => fleet::run(&mut context, other).await,
    }
}

/// Refuses a command that needs `--force` off a terminal.
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}
