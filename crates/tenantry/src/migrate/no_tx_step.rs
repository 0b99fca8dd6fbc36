//! One no-transaction step (`-- tenantry:no-transaction`, for `CREATE INDEX CONCURRENTLY`).
//!
//! It cannot share a transaction, nor a multi-statement message (which PostgreSQL runs as one
//! implicit transaction), so it is sent alone, one round trip at a time:
//!
//! ```text
//! [the running lock, shared (as every migration transaction holds it)]
//! [search_path, timeouts, tenant lock (session), table, state check]
//! [the schema's indexes; drop an invalid one an earlier attempt of this step left]
//! [the step]
//! [the schema's indexes; drop what the step left invalid: then it failed]
//! [BEGIN; its bookkeeping row; summary; COMMIT]
//! [unlock; RESET]
//! [if the build timed out: the alone lock, then the running lock exclusively (no migration
//!  transaction nor step beside it); all of the above again; unlock]
//! ```
//!
//! A version is never recorded while the index it builds is invalid (issue 8): see
//! [`invalid_index`](super::invalid_index), and [`gate`](super::gate) for the locks.

use tokio_postgres::Client;

use super::apply::{advance, migration, settings_sql, ApplySettings, GroupResult, SchemaJob, StepError};
use super::bookkeeping::{self, Applied};
use super::invalid_index::{self, Index, Why};
use super::lock;
use super::plan::{Direction, Step};
use super::temp;
use crate::error::describe_pg;
use crate::schema::statements;

/// Applies one no-transaction step and records it: beside the other transactions and steps
/// of the database, and if its index build timed out waiting for them, once more at once alone
/// (no attempt counted; see [`gate`](super::gate)).
pub(crate) async fn apply_no_tx_step(
    client: &Client,
    job: &SchemaJob<'_>,
    settings: &ApplySettings,
    applied: &Applied,
    step: &Step,
    accept: &[i64],
) -> GroupResult {
    let this = NoTxStep { client, job, settings, applied, step, accept };
    let beside = match job.gate.beside(client).await {
        Ok(_beside) => {
            let result = this.attempt().await;
            this.cleanup(lock::NO_TX_STEP_SHARED_UNLOCK_SQL).await;
            result
        }
        Err(error) => return Err((None, error.into())),
    };
    if !this.waited_for_transactions(&beside) {
        return beside;
    }
    tracing::info!(
        schema = job.schema,
        version = step.version,
        "the index build timed out beside other transactions; running it again with none beside it"
    );
    match job.gate.alone(client).await {
        Ok(_alone) => {
            let result = this.attempt().await;
            this.cleanup(lock::NO_TX_ALONE_UNLOCK_SQL).await;
            result
        }
        Err(error) => Err((None, error.into())),
    }
}

/// The step: one message at a time, since a failed step must stop everything after it.
#[derive(Clone, Copy)]
struct NoTxStep<'a> {
    client: &'a Client,
    job: &'a SchemaJob<'a>,
    settings: &'a ApplySettings,
    applied: &'a Applied,
    step: &'a Step,
    accept: &'a [i64],
}

impl<'a> NoTxStep<'a> {
    /// One attempt, leaving the session as it was (but for the gate's locks).
    async fn attempt(self) -> GroupResult {
        let result = self.run().await;
        if result.is_err() {
            self.cleanup("ROLLBACK").await;
        }
        self.cleanup(&format!(
            "{}; RESET search_path; RESET lock_timeout; RESET statement_timeout; RESET synchronous_commit",
            lock::tenant_session_unlock_sql(self.job.schema)
        ))
        .await;
        result
    }

    /// Runs `sql` if the connection is still there; its failure changes nothing (a lost
    /// connection releases every session lock).
    async fn cleanup(self, sql: &str) {
        if !self.client.is_closed() {
            let _ = self.client.batch_execute(sql).await;
        }
    }

    /// Whether the step's index build timed out: it waited for older transactions.
    fn waited_for_transactions(self, result: &GroupResult) -> bool {
        matches!(result, Err((Some(_), StepError::Database { error, .. })) if timed_out_building(error, self.sql()).is_some())
    }

    async fn run(self) -> GroupResult {
        let sql = self.sql();
        let target = invalid_index::created_index_name(sql);
        let before = self.prepare().await?;
        let before = self.drop_earlier_attempt(before, target.as_deref()).await?;
        let outcome = self.client.batch_execute(sql).await;
        self.check_after(outcome, &before, target.as_deref()).await?;
        self.record().await.map_err(|error| self.failed(error))
    }

    fn sql(self) -> &'a str {
        let m = migration(self.job.migrations, self.step.version);
        match self.step.direction {
            Direction::Up => m.up.as_str(),
            Direction::Down => m.down.as_deref().unwrap_or_default(),
        }
    }

    fn failed(self, error: tokio_postgres::Error) -> (Option<i64>, StepError) {
        (Some(self.step.version), StepError::from(error))
    }

    /// The session's search path and timeouts, the tenant lock, the table, the state check;
    /// returns the schema's indexes (one message).
    async fn prepare(self) -> Result<Vec<Index>, (Option<i64>, StepError)> {
        let schema = self.job.schema;
        let prepare = format!(
            "{}; {}; {}; {}; {}; {}; ",
            temp::enter_schema_sql("SESSION", self.job.search_path),
            settings_sql(self.settings, "SESSION"),
            lock::tenant_session_lock_sql(schema),
            // Until the message ends: see `apply_transactional` in `apply.rs`.
            statements::existence_lock_shared_xact(schema),
            bookkeeping::create_table_sql(schema),
            bookkeeping::check_state_sql(schema, &self.applied.digest()),
        );
        invalid_index::list(self.client, &prepare, schema).await.map_err(|e| (None, e.into()))
    }

    /// Drops the invalid index an earlier attempt of this step left; returns the schema's
    /// indexes without it.
    async fn drop_earlier_attempt(
        self,
        mut before: Vec<Index>,
        target: Option<&str>,
    ) -> Result<Vec<Index>, (Option<i64>, StepError)> {
        let schema = self.job.schema;
        for index in invalid_index::earlier_attempt(&before, target) {
            let drop = invalid_index::drop_sql(schema, &index.name);
            self.client.batch_execute(&drop).await.map_err(|error| {
                let note = format!(
                    "an earlier attempt of this step left the invalid index {}, which could not be dropped: drop it \
                     (`{drop}`) or run again",
                    invalid_index::qualified(schema, &index.name),
                );
                (Some(self.step.version), StepError::Database { error, note: Some(note) })
            })?;
            tracing::info!(schema, index = %index.name, version = self.step.version, "dropped the invalid index an earlier attempt left");
        }
        before.retain(|index| index.valid || Some(index.name.as_str()) != target);
        Ok(before)
    }

    /// Drops what the step left invalid; the step failed if it left any (or failed itself).
    async fn check_after(
        self,
        outcome: Result<(), tokio_postgres::Error>,
        before: &[Index],
        target: Option<&str>,
    ) -> GroupResult {
        let schema = self.job.schema;
        let after = match invalid_index::list(self.client, "", schema).await {
            Ok(after) => after,
            // The connection is gone (or the catalog unreadable): the next attempt repairs.
            Err(error) => return Err(self.failed(outcome.err().unwrap_or(error))),
        };
        let left = invalid_index::left_by_step(before, &after, target);
        let note = drop_left(self.client, schema, &left).await;
        for (index, _) in left.iter().filter(|(_, why)| *why == Why::Superseded) {
            tracing::info!(schema, index = %index.name, version = self.step.version, "dropped the invalid index an earlier attempt left");
        }
        if let Some(stray) = after.iter().find(|a| !a.valid && !left.iter().any(|(l, _)| l.oid == a.oid)) {
            tracing::warn!(schema, index = %stray.name, "an invalid index not built by tenantry's migrations is left alone");
        }
        let incomplete: Vec<String> = left
            .iter()
            .filter(|(_, why)| *why != Why::Superseded)
            .map(|(index, _)| invalid_index::qualified(schema, &index.name))
            .collect();
        match outcome {
            Err(error) => {
                let note = match (note, timed_out_building(&error, self.sql())) {
                    (Some(note), Some(hint)) => Some(format!("{note}; {hint}")),
                    (note, hint) => note.or(hint),
                };
                Err((Some(self.step.version), StepError::Database { error, note }))
            }
            Ok(()) if !incomplete.is_empty() => {
                let message = format!(
                    "the step finished but left the invalid index {}, so it is not recorded; {}",
                    incomplete.join(", "),
                    note.unwrap_or_default()
                );
                Err((Some(self.step.version), StepError::LeftInvalidIndexes(message)))
            }
            Ok(()) => Ok(()),
        }
    }

    /// The bookkeeping row (and accepted checksums, and the summary), in a transaction.
    async fn record(self) -> Result<(), tokio_postgres::Error> {
        let Self { job, applied, step, accept, .. } = self;
        let schema = job.schema;
        let mut after = applied.clone();
        advance(&mut after, std::slice::from_ref(step), accept, job.migrations);
        let record = match step.direction {
            Direction::Up => bookkeeping::insert_row_sql(schema, migration(job.migrations, step.version)),
            Direction::Down => bookkeeping::delete_row_sql(schema, step.version),
        };
        let mut accept_sql = String::new();
        for version in accept {
            let m = migration(job.migrations, *version);
            accept_sql.push_str(&format!("{}; ", bookkeeping::update_checksum_sql(schema, m)));
        }
        let finish = format!(
            "BEGIN; {}; {}; {accept_sql}{record}; {}; COMMIT",
            temp::set_search_path_sql("LOCAL", job.search_path),
            bookkeeping::MARK_START_SQL,
            bookkeeping::comment_sql(schema, &after)
        );
        self.client.batch_execute(&finish).await
    }
}

/// Drops the indexes the step `left`; says what happened, for the failure report.
async fn drop_left(client: &Client, schema: &str, left: &[(&Index, Why)]) -> Option<String> {
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for (index, _) in left {
        let name = invalid_index::qualified(schema, &index.name);
        match client.batch_execute(&invalid_index::drop_sql(schema, &index.name)).await {
            Ok(()) => dropped.push(name),
            Err(error) => kept.push(format!("{name} ({})", describe_pg(&error))),
        }
    }
    let mut notes = Vec::new();
    if !dropped.is_empty() {
        notes.push(format!("it left the invalid index {}, dropped so that it is built again", dropped.join(", ")));
    }
    if !kept.is_empty() {
        notes.push(format!(
            "it left the invalid index {}, which could not be dropped: the next attempt drops it, or drop it \
             with DROP INDEX CONCURRENTLY",
            kept.join(", ")
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// What to do after a concurrent index build's `lock_timeout`: it waits for every older
/// transaction of the database, not only those touching its table (PostgreSQL manual,
/// `CREATE INDEX`, "Building Indexes Concurrently").
fn timed_out_building(error: &tokio_postgres::Error, sql: &str) -> Option<String> {
    let lock_timeout = error.code().is_some_and(|code| code.code() == "55P03");
    (lock_timeout && sql.to_ascii_uppercase().contains("CONCURRENTLY")).then(|| {
        "a concurrent index build waits for every older transaction in the database (see pg_stat_activity's \
         xact_start): end them, or raise migrations.lock_timeout_ms, then run migrate again"
            .to_owned()
    })
}
