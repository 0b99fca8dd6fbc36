//! Refusing a transaction pooler on the migrator's connection.
//!
//! The migrator holds the run lock, and a no-transaction step its locks, on a session of its
//! own (`crates/tenantry/src/migrate/lock.rs`). Behind a transaction pooler (PgBouncer's
//! `pool_mode = transaction`, and poolers that work the same way) that session does not exist:
//! each transaction may run on another server connection, so a session advisory lock is taken
//! on a backend the migrator leaves right away, stays there for whichever client gets that
//! backend next, and keeps no other run out. PgBouncer does not say which mode it pools in (its
//! `SHOW` commands exist only on its admin console), so the migrator watches what a transaction
//! pooler does instead: it hands a server connection that one client has finished a
//! transaction on to the next client that needs one.
//!
//! The check, before the run lock is taken: the coordinator reads `pg_backend_pid()`; a second
//! connection opens a transaction and reads its own; the coordinator reads its pid again. On a
//! session of its own (a direct connection, or a pooler in session mode) the coordinator's pid
//! never changes and no other session can run on its backend, so the check cannot refuse a good
//! connection. Behind a transaction pooler that reuses the last released server connection
//! first (PgBouncer's default, `server_round_robin = 0`), the second connection's transaction
//! lands on the coordinator's backend. A pooler that gives it another one is caught only if the
//! coordinator then moves; hence `pool.behind_pgbouncer` is also taken at its word.

use std::fmt;
use std::sync::atomic::Ordering;

use tokio_postgres::{Client, SimpleQueryMessage};

use super::migrator::Migrator;
use crate::error::{mask_password, Error};

/// How the migrator found out that its URL goes through a transaction pooler
/// ([`Error::TransactionPooler`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolerEvidence {
    /// `pool.behind_pgbouncer = true` says `database_url` goes through PgBouncer in transaction
    /// mode, and no `migrations.database_url` is set, so the migrator would use it too.
    BehindPgBouncer,
    /// Another connection's transaction ran on the server backend (this pid) that the
    /// migrator's connection had just run a statement on.
    BackendHandedOver {
        /// The backend both ran on.
        pid: i32,
    },
    /// Two statements of the migrator's connection ran on different server backends.
    BackendChanged {
        /// The first statement's backend.
        before: i32,
        /// The next one's.
        after: i32,
    },
}

impl fmt::Display for PoolerEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BehindPgBouncer => {
                f.write_str("`pool.behind_pgbouncer = true` and no `migrations.database_url` of its own")
            }
            Self::BackendHandedOver { pid } => write!(
                f,
                "another connection's transaction ran on server process {pid}, which the migrator's \
                 connection had just used"
            ),
            Self::BackendChanged { before, after } => {
                write!(f, "the migrator's connection ran on server process {before}, then on {after}")
            }
        }
    }
}

/// The verdict on three readings of `pg_backend_pid()`: the coordinator's, then a second
/// connection's inside an open transaction, then the coordinator's again. `None`: a session.
pub(super) fn judge(coordinator_before: i32, other: i32, coordinator_after: i32) -> Option<PoolerEvidence> {
    if other == coordinator_before {
        Some(PoolerEvidence::BackendHandedOver { pid: other })
    } else if coordinator_after != coordinator_before {
        Some(PoolerEvidence::BackendChanged { before: coordinator_before, after: coordinator_after })
    } else {
        None
    }
}

/// `pg_backend_pid()` through the simple query protocol: a prepared statement would be
/// prepared on one server connection and run on another behind a transaction pooler.
async fn backend_pid(client: &Client, sql: &str) -> Result<i32, tokio_postgres::Error> {
    let messages = client.simple_query(sql).await?;
    let pid = messages.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => row.get(0).and_then(|pid| pid.parse().ok()),
        _ => None,
    });
    // A server that answers without a pid is no PostgreSQL we can check: 0 matches no backend.
    Ok(pid.unwrap_or(0))
}

impl Migrator {
    /// Refuses ([`Error::TransactionPooler`]) when the migrator's URL goes through a
    /// transaction pooler; see the module's documentation for how it is found out. Once a
    /// migrator has found a session, it does not check again.
    pub(super) async fn refuse_transaction_pooler(&self, coordinator: &Client) -> Result<(), Error> {
        if self.session_checked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let config = self.tenantry.config();
        let url = config.migrations_database_url().unwrap_or_default();
        let refuse = |evidence| Error::TransactionPooler { url: mask_password(url), evidence };
        if config.pool.behind_pgbouncer && config.migrations.database_url.is_none() {
            return Err(refuse(PoolerEvidence::BehindPgBouncer));
        }
        let checking = |source| Error::database("checking that the migrator has a session of its own", None, source);
        let before = backend_pid(coordinator, "SELECT pg_backend_pid()").await.map_err(checking)?;
        let other = self.connect().await?;
        let inside = backend_pid(&other, "BEGIN; SELECT pg_backend_pid()").await.map_err(checking)?;
        let after = backend_pid(coordinator, "SELECT pg_backend_pid()").await.map_err(checking)?;
        let _ = other.batch_execute("ROLLBACK").await;
        drop(other);
        match judge(before, inside, after) {
            Some(evidence) => Err(refuse(evidence)),
            None => {
                self.session_checked.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_keeps_its_backend_and_shares_it_with_no_one() {
        assert_eq!(judge(100, 200, 100), None);
    }

    #[test]
    fn a_transaction_pooler_hands_the_backend_over_or_moves_the_session() {
        assert_eq!(judge(100, 100, 100), Some(PoolerEvidence::BackendHandedOver { pid: 100 }));
        assert_eq!(judge(100, 100, 300), Some(PoolerEvidence::BackendHandedOver { pid: 100 }));
        assert_eq!(judge(100, 200, 300), Some(PoolerEvidence::BackendChanged { before: 100, after: 300 }));
    }

    #[test]
    fn the_evidence_says_what_was_seen() {
        assert!(PoolerEvidence::BehindPgBouncer.to_string().contains("pool.behind_pgbouncer"));
        assert!(PoolerEvidence::BackendHandedOver { pid: 7 }.to_string().contains("server process 7"));
        assert!(PoolerEvidence::BackendChanged { before: 7, after: 8 }.to_string().contains("7, then on 8"));
    }
}
