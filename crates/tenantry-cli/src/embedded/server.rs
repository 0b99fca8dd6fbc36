//! initdb and pg_ctl: creating, starting, checking and stopping the cluster.

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use super::auth;
use super::error::EmbeddedError;
use super::layout::Layout;
use super::process::{output, printed, server_command};

/// Attempts to start on a fresh port: another process may take the free port we picked
/// between our probe and the server's bind.
const START_ATTEMPTS: usize = 3;
/// Seconds `pg_ctl -w` waits for a start or a stop.
const WAIT_SECONDS: &str = "60";
/// Log lines quoted in a start error.
const LOG_LINES: usize = 20;
/// The file, included from `postgresql.conf`, that tenantry rewrites at every start.
const SETTINGS_FILE: &str = "tenantry.conf";

/// What `postmaster.pid` says about the running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PidFile {
    /// The postmaster's process id (line 1).
    pub(crate) pid: u32,
    /// The TCP port it listens on (line 4).
    pub(crate) port: u16,
}

/// Creates the cluster: initdb into `data.init-<pid>-<n>`, then a rename to `data`, so that `data`
/// exists only once complete; an interrupted initdb, or a second `tenantry` process doing the
/// same at the same moment, never leaves a half-made cluster behind.
///
/// `--auth-local/--auth-host=scram-sha-256 --pwfile`: the `postgres` role gets the generated
/// password (`password`, already written to `.tenantry/password`), and every connection must
/// give it; tenantry's own `pg_hba.conf` replaces initdb's (`auth.rs`). Never `trust`: other
/// users of the machine would connect as a superuser.
///
/// `-E UTF8 --locale=C`: the same encoding and byte-order collation whatever the developer's
/// locale, so sorting matches between machines and CI.
///
/// No `-N`: initdb syncs its files to disk. The cluster outlives this process and holds the
/// developer's data, so durability stays on (see [`settings`]).
pub(crate) fn init(layout: &Layout, bin_dir: &Path) -> Result<(), EmbeddedError> {
    auth::ensure_password(layout)?;
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let attempt = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    let staging = layout.root.join(format!("data.init-{}-{attempt}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(EmbeddedError::io("remove", &staging))?;
    }
    let initdb = bin_dir.join("initdb");
    let mut command = server_command(&initdb);
    command.arg("-D").arg(&staging).args([
        "-U",
        "postgres",
        "--auth-local=scram-sha-256",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
    ]);
    command.arg(format!("--pwfile={}", layout.password_file.display()));
    let out = output(&mut command, &initdb)?;
    if !out.status.success() {
        // initdb removes what it created on failure; this covers a directory it did not create.
        let _ = fs::remove_dir_all(&staging);
        return Err(EmbeddedError::Initdb { data_dir: layout.data.clone(), status: out.status, output: printed(&out) });
    }
    // Our settings live in their own file, rewritten at every start (the port may change);
    // postgresql.conf stays the developer's to edit.
    let conf = staging.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).map_err(EmbeddedError::io("read", &conf))?;
    text.push_str(&format!(
        "\n# Added by tenantry: the embedded cluster's port and addresses.\ninclude = '{SETTINGS_FILE}'\n"
    ));
    fs::write(&conf, text).map_err(EmbeddedError::io("write", &conf))?;
    let hba = staging.join("pg_hba.conf");
    fs::write(&hba, auth::HBA).map_err(EmbeddedError::io("write", &hba))?;
    match fs::rename(&staging, &layout.data) {
        Ok(()) => Ok(()),
        // Another process finished first: use its cluster.
        Err(_) if layout.is_initialised() => {
            let _ = fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(err) => Err(EmbeddedError::io("rename a new cluster to", &layout.data)(err)),
    }
}

/// Starts the server and returns its port: the one in the port file while it is free, else a
/// free one (recorded for next time). The server outlives this process: `pg_ctl start` puts
/// the postmaster in a session of its own, with stdin from /dev/null and stdout and stderr
/// appended to the log (`-l`), so it holds none of our terminal or pipes.
pub(crate) fn start(layout: &Layout, bin_dir: &Path) -> Result<u16, EmbeddedError> {
    let mut port = match layout.read_port().filter(|port| port_is_free(*port)) {
        Some(port) => port,
        None => free_port()?,
    };
    let pg_ctl = bin_dir.join("pg_ctl");
    for attempt in 1..=START_ATTEMPTS {
        layout.write_port(port)?;
        write_settings(layout, port)?;
        let log_start = layout.log_len();
        let mut command = server_command(&pg_ctl);
        command.args(["start", "-w", "-t", WAIT_SECONDS, "-s", "-D"]).arg(&layout.data).arg("-l").arg(&layout.log);
        // pg_ctl's own stderr is read for the error message: only pg_ctl writes to it, and it
        // exits once the server is up (the server's output goes to the log).
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let out = output(&mut command, &pg_ctl)?;
        // On failure, another `tenantry` process may have started it a moment ago: use that
        // server. Either way the port is the server's own (postmaster.pid): a concurrent start
        // may have rewritten the settings between our write and the server's read.
        if out.status.success() || is_running(layout, bin_dir)? {
            let running = read_pid_file(layout)?.port;
            if running != port {
                layout.write_port(running)?;
            }
            return Ok(running);
        }
        let log_tail = layout.log_since(log_start, LOG_LINES);
        if port_was_taken(&log_tail) && attempt < START_ATTEMPTS {
            port = free_port()?;
            continue;
        }
        return Err(EmbeddedError::Start {
            data_dir: layout.data.clone(),
            log: layout.log.clone(),
            status: out.status,
            output: printed(&out),
            log_tail,
        });
    }
    unreachable!("the last attempt returns")
}

/// Stops the server (`pg_ctl stop -m fast`: sessions are ended, their transactions rolled
/// back). Returns false when it had already stopped (e.g. another process stopped it).
pub(crate) fn stop(layout: &Layout, bin_dir: &Path) -> Result<bool, EmbeddedError> {
    let pg_ctl = bin_dir.join("pg_ctl");
    let mut command = server_command(&pg_ctl);
    command.args(["stop", "-m", "fast", "-w", "-t", WAIT_SECONDS, "-s", "-D"]).arg(&layout.data);
    let out = output(&mut command, &pg_ctl)?;
    if out.status.success() {
        layout.remove_socket_dir();
        return Ok(true);
    }
    if !is_running(layout, bin_dir)? {
        return Ok(false);
    }
    Err(EmbeddedError::Stop {
        data_dir: layout.data.clone(),
        log: layout.log.clone(),
        status: out.status,
        output: printed(&out),
    })
}

/// Whether a server runs from the data directory, by `pg_ctl status` (which checks that the
/// process in `postmaster.pid` is alive, so a pid file left by a crash reads as stopped).
pub(crate) fn is_running(layout: &Layout, bin_dir: &Path) -> Result<bool, EmbeddedError> {
    let pg_ctl = bin_dir.join("pg_ctl");
    let mut command = server_command(&pg_ctl);
    command.arg("status").arg("-D").arg(&layout.data);
    let out = output(&mut command, &pg_ctl)?;
    // Exit codes from the pg_ctl manual: 0 running, 3 not running, 4 no accessible data directory.
    match out.status.code() {
        Some(0) => Ok(true),
        Some(3) => Ok(false),
        _ => Err(EmbeddedError::Status { data_dir: layout.data.clone(), status: out.status, output: printed(&out) }),
    }
}

/// The running server's pid and port, from `postmaster.pid`.
pub(crate) fn read_pid_file(layout: &Layout) -> Result<PidFile, EmbeddedError> {
    let path = layout.pid_file();
    let text = fs::read_to_string(&path)
        .map_err(|err| EmbeddedError::PidFile { path: path.clone(), problem: err.to_string() })?;
    parse_pid_file(&text)
        .ok_or_else(|| EmbeddedError::PidFile { path, problem: "no pid on line 1 or no port on line 4".to_owned() })
}

/// Lines 1 and 4 of `postmaster.pid` (see `LOCK_FILE_LINE_*` in PostgreSQL's `miscadmin.h`).
fn parse_pid_file(text: &str) -> Option<PidFile> {
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2)?.trim().parse().ok()?;
    Some(PidFile { pid, port })
}

/// Whether the server log of a failed start says the port was in use.
fn port_was_taken(log: &str) -> bool {
    log.contains("could not bind") || log.contains("already in use")
}

/// Whether 127.0.0.1:`port` can be bound now.
fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A port on 127.0.0.1 that was free a moment ago (the OS picks it for a bind to port 0).
fn free_port() -> Result<u16, EmbeddedError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| EmbeddedError::NoFreePort { source })
}

fn write_settings(layout: &Layout, port: u16) -> Result<(), EmbeddedError> {
    layout.write_file(&layout.data.join(SETTINGS_FILE), &settings(port, &layout.socket))
}

/// The settings tenantry owns. Everything else keeps PostgreSQL's defaults.
///
/// - `listen_addresses = '127.0.0.1'`: TCP from this machine only (the cluster trusts every
///   connection, see [`init`]).
/// - `unix_socket_directories`: a short directory of our own (the default,
///   /var/run/postgresql, may not exist or be writable, and belongs to a system cluster).
/// - Durability: `fsync` stays on, because unlike the test harness's throwaway clusters this
///   one keeps the developer's data across reboots, and a power loss with `fsync = off` can
///   corrupt the whole cluster. `synchronous_commit = off` gives most of the speed back
///   (migrations and tenant creation commit often): a crash loses at most the last fraction of
///   a second of commits but never corrupts anything (PostgreSQL manual, "Non-Durable Settings"
///   and "Asynchronous Commit").
fn settings(port: u16, socket_dir: &Path) -> String {
    let socket_dir = conf_string(&socket_dir.to_string_lossy());
    format!(
        "# Written by tenantry at every start of the embedded cluster: edits here are lost.\n\
         # Put your own settings in postgresql.conf, above its include line.\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = {socket_dir}\n\
         synchronous_commit = off\n"
    )
}

/// A postgresql.conf string literal: single-quoted, quotes doubled.
fn conf_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_port_socket_and_loopback() {
        let text = settings(5433, Path::new("/tmp/x'y"));
        assert!(text.contains("listen_addresses = '127.0.0.1'\n"));
        assert!(text.contains("port = 5433\n"));
        assert!(text.contains("unix_socket_directories = '/tmp/x''y'\n"));
        assert!(!text.contains("fsync"));
    }

    #[test]
    fn pid_file_gives_pid_and_port() {
        let text = "4242\n/p/.tenantry/data\n1700000000\n54321\n/tmp/tenantry-ab\n127.0.0.1\n  1234   5\nready   \n";
        assert_eq!(parse_pid_file(text), Some(PidFile { pid: 4242, port: 54321 }));
        assert_eq!(parse_pid_file("4242\n/p\n"), None);
        assert_eq!(parse_pid_file(""), None);
    }

    #[test]
    fn bind_failures_mean_the_port_was_taken() {
        assert!(port_was_taken("LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use"));
        assert!(!port_was_taken("FATAL:  data directory has wrong ownership"));
    }

    #[test]
    fn a_bound_port_is_not_free() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a port");
        let port = listener.local_addr().expect("its address").port();
        assert!(!port_is_free(port));
        drop(listener);
        assert!(port_is_free(port));
    }
}
