//! `tenantry`: the command-line tool. `main` only parses, runs and exits with a documented code
//! (see `exit.rs`); the work is the library's.

mod cli;
mod commands;
mod connect;
mod demo;
mod embedded;
mod exit;
mod output;
mod settings;
mod write;

use std::process::ExitCode;

use clap::Parser;
use write::errln;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            errln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::Exit::TenantFailed.code());
        }
    };
    match runtime.block_on(commands::run(&cli)) {
        Ok(exit) => exit.into(),
        Err(error) => {
            errln!("error: {error:#}");
            exit::classify(&error).into()
        }
    }
}

/// Logs to stderr: warnings by default, debug with `-v`, everything with `-vv`;
/// `TENANTRY_LOG` (a tracing filter) wins.
fn init_tracing(cli: &cli::Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,tenantry=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TENANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
