//! Nothing reported done that a crash can lose.
//!
//! Workers commit asynchronously (`synchronous_commit = off`) unless
//! `migrations.durable_commits` is set: a commit returns before its WAL reaches the disk. At the
//! end of a run (`migrate`, `exec`, `seed`), one synchronous commit flushes all WAL written before
//! it, whichever connection it runs on, so every earlier commit is on disk once it returns.
//! That holds only if the server did not restart in between: a crash loses the unflushed
//! commits, and a flush on the restarted server proves nothing about them. So the server's start
//! time (`pg_postmaster_start_time()`) is read when the run starts and again by the flush; if it
//! changed, every schema reported done is unconfirmed:
//! - migrations are checked by reading the bookkeeping again: a schema whose recorded versions
//!   lack what the run applied is reported failed ("lost in the restart");
//! - `exec` leaves no record to read, so its schemas are reported failed as unconfirmed.

use tokio_postgres::Client;

use super::report::{Failure, MigrationReport, Outcome};
use crate::error::Error;

/// The server's start time, as text (compared, never parsed).
pub(super) const START_TIME_SQL: &str = "SELECT pg_catalog.pg_postmaster_start_time()::text";

/// Flushes the WAL with one synchronous commit: every commit before it is then on disk.
const FLUSH_SQL: &str = "SET synchronous_commit = on; BEGIN; SELECT pg_current_xact_id(); COMMIT";

/// The server's start time on `client`.
pub(super) async fn server_started(client: &Client) -> Result<String, Error> {
    let row = client
        .query_one(START_TIME_SQL, &[])
        .await
        .map_err(|err| Error::database("reading the server's start time", None, err))?;
    row.try_get(0).map_err(|err| Error::database("reading the server's start time", None, err))
}

/// Flushes on `client` and says whether the server is still the one that started at
/// `started`: `false` means commits made before a restart may be lost.
pub(super) async fn flush(client: &Client, started: &str) -> Result<bool, Error> {
    client
        .batch_execute(FLUSH_SQL)
        .await
        .map_err(|err| Error::database("flushing the run's commits to disk", None, err))?;
    Ok(server_started(client).await? == started)
}

/// Marks every schema the report has as done as failed: the server restarted before their
/// commits were confirmed on disk. `lost(schema, applied, reverted)` decides, per schema,
/// whether the loss is known (`Some(true)`: its bookkeeping lacks what was applied, or still has
/// what was reverted), ruled out (`Some(false)`), or only possible (`None`: nothing to re-read).
pub(super) fn mark_unconfirmed(report: &mut MigrationReport, lost: impl Fn(&str, &[i64], &[i64]) -> Option<bool>) {
    let mut marked = 0;
    for result in report.shared.iter_mut().chain(report.template.iter_mut()).chain(report.tenants.iter_mut()) {
        let Outcome::Succeeded { applied, reverted, .. } = &result.outcome else { continue };
        let message = match lost(result.subject.schema(), applied, reverted) {
            Some(false) => continue, // re-read: every applied version is recorded
            Some(true) => "lost in a server restart before it reached the disk; run `migrate` again",
            None => "unconfirmed: the server restarted before the run's commits were flushed to disk; check the tenant and run it again if needed",
        };
        result.outcome = Outcome::Failed(Failure {
            version: applied.first().copied(),
            sqlstate: None,
            message: message.to_owned(),
            applied_before_failure: Vec::new(),
            attempts: 0,
        });
        marked += 1;
    }
    if marked > 0 {
        report.warnings.push(format!(
            "the server restarted during the run: {marked} schema(s) reported done were not confirmed on disk and are reported as failed"
        ));
    }
}
