//! `tenantry`: the command-line tool. Thin: parse, run, exit with a documented code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
