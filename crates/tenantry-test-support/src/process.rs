//! Running the server programs, as the `postgres` OS user when this process is root.
//!
//! `initdb`, `postgres` and `pgbouncer` refuse to run as root. `sudo` is often missing from
//! containers, so we use `runuser` (util-linux), which root can run without a password.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The OS user that owns the cluster when this process runs as root.
pub(crate) const SERVER_USER: &str = "postgres";

/// Whether this process runs as root (uid 0).
pub(crate) fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| current_uid() == Some(0))
}

fn current_uid() -> Option<u32> {
    if let Some(uid) = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| uid_from_status(&status)) {
        return Some(uid);
    }
    let output = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

/// The real uid from the text of `/proc/self/status` (`Uid:\t<real>\t<effective>…`).
fn uid_from_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// A command running `program` as the server user: directly, or through `runuser` when root.
///
/// The working directory is `cwd`, which the server user can enter (the test's own working
/// directory may not be readable by `postgres`, and PostgreSQL programs complain then).
pub(crate) fn server_command(program: &Path, cwd: &Path) -> Command {
    let mut command = if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVER_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.current_dir(cwd).stdin(Stdio::null());
    command
}

/// Hands `path` (recursively) to the server user when root; does nothing otherwise.
pub(crate) fn give_to_server_user(path: &Path) {
    if !running_as_root() {
        return;
    }
    let owner = format!("{SERVER_USER}:{SERVER_USER}");
    let mut command = Command::new("chown");
    command.arg("-R").arg(&owner).arg(path);
    run(
        &mut command,
        &format!("chown -R {owner} {}", path.display()),
        "as root the cluster runs as the `postgres` OS user: create it (`apt-get install \
         postgresql` does), or run the tests as an ordinary user",
    );
}

/// Runs `command` to completion, panicking with its output and `next_step` if it fails.
pub(crate) fn run(command: &mut Command, what: &str, next_step: &str) -> Output {
    let output = command.output().unwrap_or_else(|err| {
        let hint = if running_as_root() { " (as root, programs run through `runuser`, from util-linux)" } else { "" };
        panic!("could not run {what}{hint}: {err}; {next_step}")
    });
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}\n{next_step}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_uid_from_proc_status() {
        let status = "Name:\tcargo\nUmask:\t0022\nUid:\t1000\t1001\t1000\t1000\nGid:\t0\t0\t0\t0\n";
        assert_eq!(uid_from_status(status), Some(1000));
        assert_eq!(uid_from_status("Uid:\t0\t0\t0\t0\n"), Some(0));
        assert_eq!(uid_from_status("Name:\tx\n"), None);
    }

    #[test]
    fn detects_the_current_uid() {
        assert!(current_uid().is_some());
    }
}
