//! Creating and starting the PostgreSQL server of one test binary.

use std::path::Path;
use std::time::Duration;

use crate::address::{free_port, socket_conninfo};
use crate::layout::{log_tail, Layout};
use crate::process::{run, server_command};
use crate::sql::execute_blocking;

/// Attempts to start on a fresh port: another process may take the free port we picked
/// between our probe and the server's bind.
const START_ATTEMPTS: usize = 3;
const READY_ATTEMPTS: usize = 20;
const READY_PAUSE: Duration = Duration::from_millis(100);

/// Creates the cluster in `layout.data` with the programs of `bin_dir`.
pub(crate) fn init(layout: &Layout, bin_dir: &Path) {
    let mut initdb = server_command(&bin_dir.join("initdb"), &layout.root);
    initdb
        .arg("-D")
        .arg(&layout.data)
        // No fsync: the data lives only as long as the test binary.
        .args(["-N", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]);
    run(&mut initdb, "initdb", "check that the PostgreSQL installation works and the disk has room");
    // The settings live in their own file so that each start attempt can rewrite the port.
    let conf = layout.data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf)
        .unwrap_or_else(|err| panic!("could not read {}: {err}; initdb failed?", conf.display()));
    text.push_str("\ninclude = 'tenantry.conf'\n");
    std::fs::write(&conf, text)
        .unwrap_or_else(|err| panic!("could not write {}: {err}; check the disk", conf.display()));
}

/// Whether the server waits for the disk: tests run without, benchmarks measure both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: a crash loses only test data.
    Off,
    /// PostgreSQL's defaults, as in production: every commit waits for its WAL to reach the disk.
    On,
}

/// Starts the server and waits until it accepts connections; returns its port.
pub(crate) fn start(layout: &Layout, bin_dir: &Path, durability: Durability) -> u16 {
    for attempt in 1..=START_ATTEMPTS {
        let port = free_port();
        write_settings(layout, port, durability);
        let mut pg_ctl = server_command(&bin_dir.join("pg_ctl"), &layout.root);
        pg_ctl
            .args(["start", "-w", "-t", "60", "-s", "-D"])
            .arg(&layout.data)
            // The server writes to the log file, never to the test's stdout/stderr pipes.
            .arg("-l")
            .arg(&layout.log);
        let output = pg_ctl
            .output()
            .unwrap_or_else(|err| panic!("could not run pg_ctl: {err}; check the PostgreSQL installation"));
        if output.status.success() {
            wait_until_ready(layout, port);
            return port;
        }
        let log = log_tail(&layout.log, 20);
        let port_taken = log.contains("could not bind") || log.contains("already in use");
        assert!(
            port_taken && attempt < START_ATTEMPTS,
            "pg_ctl start failed ({}):\n{}{}\nlast lines of {}:\n{log}\n\
             Fix what the log says (memory, disk, permissions) and re-run the tests.",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            layout.log.display(),
        );
    }
    unreachable!("the last failed attempt panics above")
}

/// Restarts the server in place (same port and socket): `pg_ctl restart -m fast`, which
/// terminates every session, as a deploy or a failover would. Waits until it accepts
/// connections again.
pub(crate) fn restart(layout: &Layout, bin_dir: &Path, port: u16) {
    let mut pg_ctl = server_command(&bin_dir.join("pg_ctl"), &layout.root);
    pg_ctl.args(["restart", "-m", "fast", "-w", "-t", "60", "-s", "-D"]).arg(&layout.data).arg("-l").arg(&layout.log);
    run(&mut pg_ctl, "pg_ctl restart", "see the server log in the test cluster's directory");
    wait_until_ready(layout, port);
}

fn write_settings(layout: &Layout, port: u16, durability: Durability) {
    let path = layout.data.join("tenantry.conf");
    std::fs::write(&path, settings(port, &layout.socket, durability))
        .unwrap_or_else(|err| panic!("could not write {}: {err}; check the disk", path.display()));
}

/// Settings for a disposable server, with `durability` (off by default: a crash loses only
/// test data).
fn settings(port: u16, socket_dir: &Path, durability: Durability) -> String {
    let socket_dir = conf_string(&socket_dir.to_string_lossy());
    let durable = match durability {
        Durability::Off => "off",
        Durability::On => "on",
    };
    format!(
        "# Written by tenantry-test-support.\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = {socket_dir}\n\
         fsync = {durable}\n\
         synchronous_commit = {durable}\n\
         full_page_writes = {durable}\n\
         # Parallel tests, each with a pool, plus PgBouncer's server connections.\n\
         max_connections = 300\n\
         shared_buffers = 32MB\n"
    )
}

/// A postgresql.conf string literal: single-quoted, quotes doubled.
fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `pg_ctl -w` already waits for the server; also make sure a real connection succeeds.
fn wait_until_ready(layout: &Layout, port: u16) {
    let conninfo = socket_conninfo(&layout.socket, port, "postgres");
    let mut last_error = String::new();
    for _ in 0..READY_ATTEMPTS {
        match execute_blocking(conninfo.clone(), "SELECT 1".to_owned()) {
            Ok(()) => return,
            Err(err) => last_error = err,
        }
        std::thread::sleep(READY_PAUSE);
    }
    panic!(
        "the test cluster started but refuses connections ({conninfo}): {last_error}\n\
         last lines of {}:\n{}\nFix what the log says and re-run the tests.",
        layout.log.display(),
        log_tail(&layout.log, 20)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_port_and_socket() {
        let text = settings(5433, Path::new("/tmp/x'y/socket"), Durability::Off);
        assert!(text.contains("port = 5433\n"));
        assert!(text.contains("unix_socket_directories = '/tmp/x''y/socket'\n"));
        assert!(text.contains("fsync = off\n"));
        assert!(text.contains("max_connections = 300\n"));
    }

    #[test]
    fn durable_settings_wait_for_the_disk() {
        let text = settings(5433, Path::new("/tmp/socket"), Durability::On);
        for setting in ["fsync = on\n", "synchronous_commit = on\n", "full_page_writes = on\n"] {
            assert!(text.contains(setting), "{setting} missing from:\n{text}");
        }
    }
}
