//! Command-line flags, as parsed (resolved settings live in `settings.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Schema-per-tenant PostgreSQL: tenant lifecycle and migrations across every tenant.
///
/// Settings resolve flags > environment (DATABASE_URL, TENANTRY_*) > tenantry.toml > defaults.
/// Exit codes: 0 success; 1 at least one tenant failed (status --check: a tenant is behind,
/// drifted or missing); 2 usage, configuration or validation error; 3 cannot connect to the
/// database, or the run lock is held and --no-wait was given.
#[derive(Debug, Parser)]
#[command(name = "tenantry", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// Configuration file [default: ./tenantry.toml if present]
    #[arg(long, global = true, value_name = "FILE", env = "TENANTRY_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// PostgreSQL URL, or "embedded" for the project-local cluster (overrides the environment and file)
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
    /// Print only errors and the final summary
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Print debug logs (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write tenantry.toml and migrations/{shared,tenant}/
    Init {
        /// Overwrite an existing tenantry.toml
        #[arg(long)]
        force: bool,
    },
    /// Create timestamped migration file(s)
    New {
        /// What the migration does (becomes the file name)
        description: String,
        /// A shared migration (default schema) instead of a tenant migration
        #[arg(long)]
        shared: bool,
        /// One irreversible file instead of .up.sql/.down.sql
        #[arg(long)]
        irreversible: bool,
    },
    /// Create tenants at the latest version (clone of the template, or migrations)
    Create {
        /// Tenant names
        #[arg(required = true)]
        tenants: Vec<String>,
        /// Run every migration instead of cloning the template
        #[arg(long)]
        no_clone: bool,
        /// Do not run the seed file
        #[arg(long)]
        no_seed: bool,
        /// Tenants created in parallel [default: migrations.jobs]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Print a JSON document
        #[arg(long)]
        json: bool,
    },
    /// Drop tenants and all their data (asks on a terminal; needs --force otherwise)
    Drop {
        /// Tenant names
        #[arg(required = true)]
        tenants: Vec<String>,
        /// Do not ask
        #[arg(long)]
        force: bool,
    },
    /// Rename a tenant
    Rename {
        /// The current name
        old: String,
        /// The new name
        new: String,
    },
    /// List tenants
    List {
        /// Print a JSON document
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations: shared, then the template, then every tenant
    Migrate {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Migrate up or down to exactly this version
        #[arg(long, value_name = "VERSION")]
        target: Option<i64>,
        /// Only the shared migrations
        #[arg(long, conflicts_with_all = ["tenants_only", "tenant"])]
        shared_only: bool,
        /// Only the template and the tenants
        #[arg(long)]
        tenants_only: bool,
        /// Plan only; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Do not write the schema dump
        #[arg(long)]
        no_dump: bool,
        /// Record the new checksums of applied migrations edited on disk, instead of blocking
        #[arg(long)]
        accept_changed_checksums: bool,
        /// Read every bookkeeping table instead of trusting the summaries
        #[arg(long)]
        verify: bool,
    },
    /// Revert migrations (default: the last one) in every tenant
    Rollback {
        #[command(flatten)]
        fleet: FleetArgs,
        /// How many migrations to revert
        #[arg(long, default_value_t = 1, conflicts_with = "target")]
        steps: usize,
        /// Revert down to exactly this version
        #[arg(long, value_name = "VERSION")]
        target: Option<i64>,
    },
    /// Revert the last migration and apply it again
    Redo {
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Apply one migration
    Up {
        /// The version
        version: i64,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Revert one migration
    Down {
        /// The version
        version: i64,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Show applied and pending migrations for every tenant
    Status {
        /// Only these tenants
        #[arg(long = "tenant", value_name = "TENANT")]
        tenant: Vec<String>,
        /// List only tenants that are not current
        #[arg(long)]
        pending_only: bool,
        /// Read every bookkeeping table instead of trusting the summaries
        #[arg(long)]
        verify: bool,
        /// Gate a deploy: exit 1 when the shared schema or any selected tenant is behind (migrations
        /// pending), drifted (an applied file changed or is gone) or missing; without it, status
        /// exits 0 whatever it finds
        #[arg(long)]
        check: bool,
        /// Print a JSON document
        #[arg(long)]
        json: bool,
    },
    /// Run the seed file in tenants
    Seed {
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Run SQL in every tenant, each in its own transaction
    Exec {
        /// The SQL
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        sql: Option<String>,
        /// Read the SQL from a file
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Write pg_dump --schema-only of the default and template schemas
    Dump {
        /// Where [default: migrations.dump_path]
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Create tenants from the example migrations, migrate them, show status (and serve the example app)
    Demo {
        /// How many tenants
        #[arg(long, default_value_t = 100)]
        tenants: usize,
        /// Start the example web app afterwards
        #[arg(long)]
        serve: bool,
        /// Port for --serve
        #[arg(long, default_value_t = 3000, requires = "serve")]
        port: u16,
    },
    /// Manage the project-local PostgreSQL cluster (database_url = "embedded")
    Embedded {
        #[command(subcommand)]
        action: EmbeddedAction,
    },
}

/// `tenantry embedded …`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum EmbeddedAction {
    /// Start it if needed and print its URL
    Start,
    /// Stop it
    Stop,
    /// Show whether it runs
    Status,
}

/// Options shared by commands that work across tenants.
#[derive(Debug, Clone, Args)]
pub(crate) struct FleetArgs {
    /// Only these tenants (repeatable)
    #[arg(long = "tenant", value_name = "TENANT")]
    pub(crate) tenant: Vec<String>,
    /// Tenants worked on in parallel [default: migrations.jobs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// After the first failure, start no new tenant
    #[arg(long)]
    pub(crate) fail_fast: bool,
    /// If another run holds the run lock, exit (code 3) instead of waiting
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Print a JSON document
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_forms() {
        let cli =
            Cli::try_parse_from(["tenantry", "migrate", "--tenant", "a", "--tenant", "b", "--jobs", "8", "--json"])
                .expect("parses");
        let Command::Migrate { fleet, .. } = cli.command else { panic!("migrate") };
        assert_eq!(fleet.tenant, ["a", "b"]);
        assert_eq!(fleet.jobs, Some(8));
        assert!(Cli::try_parse_from(["tenantry", "migrate", "--jobs", "0"]).is_err());
        assert!(Cli::try_parse_from(["tenantry", "migrate", "--shared-only", "--tenant", "a"]).is_err());
        assert!(Cli::try_parse_from(["tenantry", "exec"]).is_err(), "exec needs SQL or --file");
        assert!(Cli::try_parse_from(["tenantry", "rollback", "--steps", "2", "--target", "3"]).is_err());
        let cli = Cli::try_parse_from(["tenantry", "migrate", "--verify"]).expect("parses");
        assert!(matches!(cli.command, Command::Migrate { verify: true, .. }));
    }
}
