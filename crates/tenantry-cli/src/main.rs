//! `tenantry`: the command-line tool. Thin: parse, run, exit with a documented code.

// Not called yet: the CLI's commands (`database_url = "embedded"`, `tenantry embedded
// stop|status`) will use it; then remove this. `unused_imports`: its re-exports are unused too.
#[allow(dead_code, unused_imports)]
mod embedded;

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
