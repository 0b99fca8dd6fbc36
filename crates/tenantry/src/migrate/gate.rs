//! Serialising no-transaction steps database-wide, without ever making an index build wait.
//!
//! `CREATE INDEX CONCURRENTLY` (not of a "simple" index) waits, before it finishes, for every
//! transaction of the database holding a snapshot older than its own, under the step's
//! `lock_timeout`; it also makes every other index build wait for it (PostgreSQL manual,
//! `CREATE INDEX`, "Building Indexes Concurrently"). With parallel workers, other tenants'
//! migration transactions and other builds were exactly such transactions, so builds timed out
//! (issue 9). Hence:
//!
//! - a no-transaction step runs alone: its worker holds the step lock exclusively
//!   ([`lock::NO_TX_STEP_LOCK_SQL`]), and every migration or creating transaction takes it
//!   shared first ([`lock::NO_TX_SHARED_SQL`]), so no tenantry transaction runs beside a build;
//! - nothing tenantry runs ever *waits* in PostgreSQL for a lock held by a step's worker: a
//!   session blocked in a lock wait holds a snapshot, so the build would wait for it while it
//!   waits for the build (PostgreSQL detects that deadlock and cancels one of them; measured on
//!   15.20). Transactions *try* the shared lock and, when it is taken, roll back at once and are
//!   sent again after a short sleep ([`poll_delay`]); workers *try* the queue lock. The one
//!   blocking wait is the queue lock holder's wait for the step lock, which waits only for
//!   transactions that never wait for it;
//! - inside one process, an async read-write lock does the same without polling: a step waits
//!   for the process's transactions in flight, and transactions started after it wait for it
//!   (`tokio::sync::RwLock` is fair), so the database locks only arbitrate between processes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockWriteGuard};
use tokio_postgres::Client;

use super::lock;

/// The in-process side of the no-transaction step lock, shared by a [`Migrator`] and its
/// clones.
///
/// [`Migrator`]: super::Migrator
#[derive(Debug, Default)]
pub(crate) struct NoTxGate {
    local: RwLock<()>,
}

impl NoTxGate {
    /// Runs `transaction` (which takes [`lock::NO_TX_SHARED_SQL`] first) when no
    /// no-transaction step runs: in this process, it waits for the step; when one runs in
    /// another process, the transaction fails `busy` having done nothing, and is run again
    /// after [`poll_delay`], for as long as it takes.
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
                        tracing::debug!("a no-transaction migration runs in another process; waiting for it");
                    }
                    tokio::time::sleep(poll_delay(polls)).await;
                    polls += 1;
                }
                result => return result,
            }
        }
    }

    /// Waits until no other no-transaction step and no migration transaction runs in the
    /// database, then holds the step lock for `client`'s session. The caller releases it with
    /// [`lock::NO_TX_UNLOCK_SQL`] (also after an error here), then drops the guard.
    ///
    /// Leaves `lock_timeout` and `statement_timeout` off for the session: set them again.
    pub(crate) async fn exclusive(&self, client: &Client) -> Result<RwLockWriteGuard<'_, ()>, tokio_postgres::Error> {
        let guard = self.local.write().await;
        let mut polls = 0;
        loop {
            match client.batch_execute(lock::NO_TX_STEP_LOCK_SQL).await {
                Ok(()) => return Ok(guard),
                Err(error) if is_busy(&error) => {
                    if polls == 0 {
                        tracing::info!("another process runs a no-transaction migration in this database; waiting");
                    }
                    tokio::time::sleep(poll_delay(polls)).await;
                    polls += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// Whether `error` says that a no-transaction step holds the step lock: the transaction
/// rolled back without doing anything, and should be sent again after [`poll_delay`].
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
    async fn a_step_waits_for_the_transactions_in_flight_and_blocks_later_ones() {
        let gate = std::sync::Arc::new(NoTxGate::default());
        let reader = gate.local.read().await;
        let writer = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _guard = gate.local.write().await;
            })
        };
        tokio::task::yield_now().await;
        // The step waits for the transaction in flight; a later transaction waits behind it.
        assert!(gate.local.try_read().is_err(), "a waiting step blocks new transactions");
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
