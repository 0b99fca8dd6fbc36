//! No-transaction steps beside the rest of a run, and alone when they must be.
//!
//! `CREATE INDEX CONCURRENTLY` of an index that is not "simple" waits, before it finishes, for
//! every transaction of the database holding a snapshot older than its own, under the step's
//! `lock_timeout`, and every other build waits for it in turn (PostgreSQL manual, `CREATE
//! INDEX`, "Building Indexes Concurrently"). In parallel runs, other workers' migration
//! transactions and builds are such transactions, and when one outlasted `lock_timeout` the
//! build failed (issue 9). Hence, measured in docs/benchmarks.md:
//!
//! - a step runs first *beside* the others (holding the running lock shared, like every
//!   migration and creating transaction): its build waits for them in PostgreSQL, which usually
//!   takes less than `lock_timeout` and lets every worker go on. Running every step alone made
//!   `--jobs 4` no faster than `--jobs 1`: each build then waits for the transactions in
//!   flight, and nothing runs meanwhile;
//! - a step whose build timed out runs again at once *alone*, no attempt counted: it takes the
//!   alone lock (no new transaction or step starts), waits for those in flight to end, and
//!   holds the running lock exclusively while it runs. Then only transactions from outside
//!   tenantry can make its build wait;
//! - nothing tenantry runs ever *waits* in PostgreSQL for these locks: a session blocked in a
//!   lock wait holds a snapshot, so a running build would wait for it while it waits for the
//!   build (PostgreSQL detects that deadlock and cancels one of them; measured on 15.20). Every
//!   lock is tried, and retried after [`poll_delay`] when taken;
//! - inside one process, an async read-write lock does the same without polling (fair: a step
//!   waiting to run alone holds back what starts after it), so the database locks only
//!   arbitrate between processes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio_postgres::Client;

use super::lock;

/// The in-process side of the no-transaction locks, shared by a [`Migrator`] and its clones.
///
/// [`Migrator`]: super::Migrator
#[derive(Debug, Default)]
pub(crate) struct NoTxGate {
    /// Transactions and steps running beside each other (read) against a step alone (write).
    local: RwLock<()>,
}

impl NoTxGate {
    /// Runs `transaction` (which takes [`lock::NO_TX_SHARED_SQL`] first) when no step runs
    /// alone: in this process, it waits for the step; when one runs in another process, the
    /// transaction fails `busy` having done nothing, and is run again after [`poll_delay`], for
    /// as long as it takes.
    pub(crate) async fn when_no_step_runs<T, E, F>(
        &self,
        busy: impl Fn(&E) -> bool,
        mut transaction: impl FnMut() -> F,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut polls = 0;
        loop {
            let result = {
                let _running = self.local.read().await;
                transaction().await
            };
            match result {
                Err(error) if busy(&error) => {
                    if polls == 0 {
                        tracing::debug!("a no-transaction migration runs alone in another process; waiting for it");
                    }
                    tokio::time::sleep(poll_delay(polls)).await;
                    polls += 1;
                }
                result => return result,
            }
        }
    }

    /// Holds the running lock shared for `client`'s session, for a step beside the others,
    /// once no step runs alone. The caller releases it with
    /// [`lock::NO_TX_STEP_SHARED_UNLOCK_SQL`], then drops the guard.
    pub(crate) async fn beside(&self, client: &Client) -> Result<RwLockReadGuard<'_, ()>, tokio_postgres::Error> {
        let mut polls = 0;
        loop {
            let guard = self.local.read().await;
            match client.batch_execute(lock::NO_TX_STEP_SHARED_SQL).await {
                Ok(()) => return Ok(guard),
                Err(error) if is_busy(&error) => {
                    drop(guard);
                    tokio::time::sleep(poll_delay(polls)).await;
                    polls += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Holds the running lock exclusively for `client`'s session, for a step alone: takes the
    /// alone lock, so that nothing new starts, then waits for what runs to end. The caller
    /// releases both with [`lock::NO_TX_ALONE_UNLOCK_SQL`], then drops the guard; on an error,
    /// nothing is held.
    pub(crate) async fn alone(&self, client: &Client) -> Result<RwLockWriteGuard<'_, ()>, tokio_postgres::Error> {
        let guard = self.local.write().await;
        poll(client, lock::NO_TX_ALONE_INTENT_SQL).await?;
        if let Err(error) = poll(client, lock::NO_TX_ALONE_SQL).await {
            if !client.is_closed() {
                let _ = client.batch_execute(lock::NO_TX_ALONE_INTENT_UNLOCK_SQL).await;
            }
            return Err(error);
        }
        Ok(guard)
    }
}

/// Sends `sql` until it does not fail [`is_busy`].
async fn poll(client: &Client, sql: &str) -> Result<(), tokio_postgres::Error> {
    let mut polls = 0;
    loop {
        match client.batch_execute(sql).await {
            Err(error) if is_busy(&error) => {
                tokio::time::sleep(poll_delay(polls)).await;
                polls += 1;
            }
            result => return result,
        }
    }
}

/// Whether `error` says that a no-transaction lock is taken: nothing was done, and the same
/// should be sent again after [`poll_delay`].
pub(crate) fn is_busy(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| code.code() == lock::NO_TX_BUSY_SQLSTATE)
}

/// How long to sleep before trying a lock again, after `polls` failed tries: 5 ms doubling up
/// to 160 ms, plus up to 5 ms of jitter so that waiters do not try in lockstep.
pub(crate) fn poll_delay(polls: u32) -> Duration {
    let jitter =
        u64::from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
            % 5;
    Duration::from_millis((5u64 << polls.min(5)) + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_delay_grows_and_is_capped() {
        assert!(poll_delay(0) < Duration::from_millis(10));
        assert!(poll_delay(3) >= Duration::from_millis(40));
        assert!(poll_delay(30) < Duration::from_millis(170));
        assert!(poll_delay(u32::MAX) >= Duration::from_millis(160));
    }

    #[tokio::test]
    async fn a_step_alone_waits_for_what_runs_and_holds_back_what_starts_later() {
        let gate = std::sync::Arc::new(NoTxGate::default());
        let reader = gate.local.read().await;
        let writer = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _guard = gate.local.write().await;
            })
        };
        tokio::task::yield_now().await;
        assert!(gate.local.try_read().is_err(), "a step waiting to run alone holds back new transactions");
        drop(reader);
        writer.await.expect("the step runs");
        assert!(gate.local.try_read().is_ok());
    }

    #[tokio::test]
    async fn a_busy_transaction_runs_again_and_other_errors_return() {
        let gate = NoTxGate::default();
        let mut tries = 0;
        let result: Result<u32, &str> = gate
            .when_no_step_runs(
                |e: &&str| *e == "busy",
                || {
                    tries += 1;
                    let outcome = if tries < 3 { Err("busy") } else { Ok(tries) };
                    async move { outcome }
                },
            )
            .await;
        assert_eq!(result, Ok(3));
        let failed: Result<(), &str> = gate.when_no_step_runs(|e: &&str| *e == "busy", || async { Err("other") }).await;
        assert_eq!(failed, Err("other"));
    }
}
