//! Removing the cluster after the test binary exits.
//!
//! Statics are never dropped, so the test binary cannot stop its own cluster. Instead a detached
//! shell waits for the test process to go away, then stops PgBouncer and PostgreSQL and removes
//! the temporary directory, unless a failed test left the `KEEP` marker in it.

use std::process::{Command, Stdio};

use crate::layout::Layout;
use crate::process::{running_as_root, SERVER_USER};

/// Arguments: `$1` test pid, `$2` temporary directory, `$3` pg_ctl, `$4` user to run it as
/// (empty: ourselves). Passed as arguments, not spliced into the script, so no quoting is needed.
const SCRIPT: &str = r#"
pid="$1"; dir="$2"; pg_ctl="$3"; user="$4"
while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
bouncer=""
if [ -f "$dir/pgbouncer/pgbouncer.pid" ]; then
    bouncer=$(cat "$dir/pgbouncer/pgbouncer.pid")
    kill -TERM "$bouncer" 2>/dev/null
fi
if [ -f "$dir/data/postmaster.pid" ]; then
    if [ -n "$user" ]; then
        runuser -u "$user" -- "$pg_ctl" stop -m immediate -s -D "$dir/data"
    else
        "$pg_ctl" stop -m immediate -s -D "$dir/data"
    fi
fi
if [ -n "$bouncer" ]; then
    i=0
    while kill -0 "$bouncer" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
if [ ! -e "$dir/KEEP" ]; then rm -rf "$dir"; fi
"#;

/// Starts the watchdog for this process's cluster in `layout`, whose `pg_ctl` is `pg_ctl`.
#[expect(
    clippy::zombie_processes,
    reason = "the watchdog outlives this process by design; it is reaped by init, not by us"
)]
pub(crate) fn spawn(layout: &Layout, pg_ctl: &std::path::Path) {
    use std::os::unix::process::CommandExt;

    let user = if running_as_root() { SERVER_USER } else { "" };
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("tenantry-test-watchdog")
        .arg(std::process::id().to_string())
        .arg(&layout.root)
        .arg(pg_ctl)
        .arg(user)
        // `cargo test` waits until every holder of the test's stdout/stderr pipes is gone: the
        // watchdog outlives the test binary, so it must not hold them.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        // Its own process group: Ctrl-C on the test run must not kill the clean-up.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "could not start the clean-up watchdog (`sh`): {err}; a POSIX shell is needed \
                 at `sh` on PATH"
            )
        });
}
