//! Running the server programs, as the `postgres` OS user when this process is root.
//!
//! `initdb`, `pg_ctl` and `postgres` refuse to run as root. `sudo` is often missing from
//! containers, so we use `runuser` (util-linux), which root runs without a password.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::error::EmbeddedError;

/// The OS user that owns and runs the cluster when this process is root.
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
    let output = Command::new("id").arg("-u").stdin(Stdio::null()).output().ok()?;
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
/// Its working directory is `/`: every path we pass is absolute, and the caller's own working
/// directory may be closed to `postgres`. Stdin is null: nothing here is interactive.
pub(crate) fn server_command(program: &Path) -> Command {
    let mut command = if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVER_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.current_dir("/").stdin(Stdio::null());
    command
}

/// Runs `command` (built for `program`) to completion and returns its output, whatever its
/// exit status; only a failure to start it at all is an error.
pub(crate) fn output(command: &mut Command, program: &Path) -> Result<Output, EmbeddedError> {
    command.output().map_err(|source| EmbeddedError::Spawn {
        program: program.to_path_buf(),
        as_root: running_as_root(),
        source,
    })
}

/// What a finished program printed, stdout then stderr, trimmed, for error messages.
pub(crate) fn printed(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    [stdout.trim(), stderr.trim()].into_iter().filter(|text| !text.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Hands `path` (recursively) to the server user when root; does nothing otherwise.
pub(crate) fn give_to_server_user(path: &Path) -> Result<(), EmbeddedError> {
    if !running_as_root() {
        return Ok(());
    }
    let chown = Path::new("chown");
    let mut command = Command::new(chown);
    command.arg("-R").arg(format!("{SERVER_USER}:{SERVER_USER}")).arg(path).stdin(Stdio::null());
    let output = output(&mut command, chown)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(EmbeddedError::ServerUser { path: path.to_path_buf(), detail: printed(&output) })
    }
}

/// As root, checks that the server user can enter `dir` (and so every directory above it).
///
/// initdb would fail too, but with "could not change directory": this names the directory
/// that blocks and how to open it. Asking the OS (`test -x` as that user) is exact where mode
/// bits are not (groups, ACLs).
pub(crate) fn check_server_user_reaches(dir: &Path) -> Result<(), EmbeddedError> {
    if !running_as_root() {
        return Ok(());
    }
    let test = Path::new("test");
    let mut command = server_command(test);
    command.arg("-x").arg(dir).stdout(Stdio::null()).stderr(Stdio::null());
    let status = command.status().map_err(|source| EmbeddedError::Spawn {
        program: test.to_path_buf(),
        as_root: true,
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(EmbeddedError::ServerUserCannotReach { dir: dir.to_path_buf(), blocker: first_closed_ancestor(dir) })
    }
}

/// The outermost directory above `dir` that other users cannot enter (no `o+x`), if any.
fn first_closed_ancestor(dir: &Path) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = dir.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .find(|ancestor| std::fs::metadata(ancestor).is_ok_and(|meta| meta.permissions().mode() & 0o001 == 0))
        .map(Path::to_path_buf)
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

    #[test]
    fn finds_the_outermost_closed_directory() {
        let root = tempfile::tempdir().expect("a temporary directory for the test");
        let closed = root.path().join("closed");
        let inner = closed.join("inner");
        std::fs::create_dir_all(&inner).expect("create directories");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("open the root");
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).expect("close a directory");
        assert_eq!(first_closed_ancestor(&inner.join(".tenantry")), Some(closed));
        assert_eq!(first_closed_ancestor(Path::new("/")), None);
    }
}
