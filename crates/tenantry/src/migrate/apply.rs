//! Applying one schema's plan on one connection.
//!
//! Transactional steps are grouped (all of a schema's steps in one transaction by default, or
//! one transaction per migration) and each group is sent as pipelined simple-query messages
//! written at once, so a whole tenant costs about one round trip:
//!
//! ```text
//! [BEGIN] [DISCARD TEMP, search_path, timeouts, tenant lock, table, state check] [step 1] … [step n] [summary] [COMMIT]
//! ```
//!
//! Every search path set here ends with `pg_temp`, and every schema's work starts with
//! `DISCARD TEMP`, so no schema meets the temporary objects another schema left on the worker's
//! connection (see [`temp`](super::temp)).
//!
//! `BEGIN` is a message of its own, so even a message that fails to parse runs inside the
//! transaction. After any error PostgreSQL refuses every later message of the aborted transaction
//! (`25P02`), and the final `COMMIT` rolls back: a schema is never left half-way. The first error
//! names the failing step, hence its version.
//!
//! Every such transaction first takes the no-transaction running lock shared, without waiting
//! (see [`gate`](super::gate)); while a no-transaction step runs alone it rolls back at once,
//! and is sent again when the step is done.
//!
//! A `-- tenantry:no-transaction` migration cannot share a transaction (nor a multi-statement
//! message, which PostgreSQL runs as one implicit transaction), so it is sent on its own
//! ([`no_tx_step`](super::no_tx_step)).

use futures_util::future::join_all;
use tokio_postgres::Client;

use super::bookkeeping::{self, Applied};
use super::gate::{self, NoTxGate};
use super::lock;
use super::migration::Migration;
use super::plan::{Direction, Plan, Step};
use super::source::MigrationSet;
pub(crate) use super::step_error::{GroupResult, StepError};
use super::temp;
use crate::schema::statements;
use crate::sql::quote_literal;

/// How to apply: timeouts and transaction grouping.
#[derive(Debug, Clone)]
pub(crate) struct ApplySettings {
    /// `lock_timeout` for every statement (0: none).
    pub(crate) lock_timeout_ms: u64,
    /// `statement_timeout` for every statement (0: none).
    pub(crate) statement_timeout_ms: u64,
    /// One transaction per migration instead of per schema.
    pub(crate) transaction_per_migration: bool,
    /// Commit without waiting for the WAL flush; the run flushes once at the end.
    pub(crate) asynchronous_commit: bool,
}

/// One schema's work.
pub(crate) struct SchemaJob<'a> {
    pub(crate) schema: &'a str,
    /// The quoted search path: the schema first, then the shared schemas.
    pub(crate) search_path: &'a str,
    /// What was applied when the plan was made.
    pub(crate) applied: &'a Applied,
    pub(crate) plan: &'a Plan,
    pub(crate) migrations: &'a MigrationSet,
    /// The in-process side of the no-transaction locks.
    pub(crate) gate: &'a NoTxGate,
}

/// Steps committed so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    pub(crate) applied: Vec<i64>,
    pub(crate) reverted: Vec<i64>,
}

impl Progress {
    fn record(&mut self, steps: &[Step]) {
        for step in steps {
            match step.direction {
                Direction::Up => self.applied.push(step.version),
                Direction::Down => self.reverted.push(step.version),
            }
        }
    }
}

/// A failed apply: the step, the error, and what had committed before it.
#[derive(Debug)]
pub(crate) struct ApplyError {
    pub(crate) version: Option<i64>,
    pub(crate) error: StepError,
    pub(crate) committed: Progress,
}

/// Applies `job` on `client`, which must not be inside a transaction.
pub(crate) async fn apply(
    client: &Client,
    job: &SchemaJob<'_>,
    settings: &ApplySettings,
) -> Result<Progress, ApplyError> {
    let mut applied = job.applied.clone();
    let mut committed = Progress::default();
    let mut accept: &[i64] = &job.plan.accept_checksums;
    for group in groups(job, settings) {
        let result = match group {
            Group::Transactional(steps) => job
                .gate
                .when_no_step_runs(busy, || apply_transactional(client, job, settings, &applied, steps, accept))
                .await
                .map_err(|(version, error)| (version, error.into())),
            Group::Alone(step) => {
                super::no_tx_step::apply_no_tx_step(client, job, settings, &applied, step, accept).await
            }
        };
        let steps = group.steps();
        match result {
            Ok(()) => {
                advance(&mut applied, steps, accept, job.migrations);
                accept = &[];
                committed.record(steps);
            }
            Err((version, error)) => return Err(ApplyError { version, error, committed }),
        }
    }
    if job.plan.steps.is_empty() && !accept.is_empty() {
        job.gate
            .when_no_step_runs(busy, || apply_transactional(client, job, settings, &applied, &[], accept))
            .await
            .map_err(|(version, error)| ApplyError { version, error: error.into(), committed: committed.clone() })?;
    }
    Ok(committed)
}

#[derive(Debug, Clone, Copy)]
enum Group<'a> {
    Transactional(&'a [Step]),
    Alone(&'a Step),
}

impl<'a> Group<'a> {
    fn steps(&self) -> &'a [Step] {
        match self {
            Self::Transactional(steps) => steps,
            Self::Alone(step) => std::slice::from_ref(*step),
        }
    }
}

/// Splits the steps into transactions: runs of transactional steps (each step alone with
/// `transaction_per_migration`), and no-transaction steps on their own.
fn groups<'a>(job: &'a SchemaJob<'a>, settings: &ApplySettings) -> Vec<Group<'a>> {
    let steps = &job.plan.steps;
    let mut groups = Vec::new();
    let mut start = 0;
    for (index, step) in steps.iter().enumerate() {
        if needs_no_transaction(job.migrations, step) {
            if start < index {
                groups.push(Group::Transactional(&steps[start..index]));
            }
            groups.push(Group::Alone(step));
            start = index + 1;
        } else if settings.transaction_per_migration {
            groups.push(Group::Transactional(&steps[index..=index]));
            start = index + 1;
        }
    }
    if start < steps.len() {
        groups.push(Group::Transactional(&steps[start..]));
    }
    groups
}

fn needs_no_transaction(migrations: &MigrationSet, step: &Step) -> bool {
    migrations.get(step.version).is_some_and(|m| match step.direction {
        Direction::Up => m.up_no_transaction,
        Direction::Down => m.down_no_transaction,
    })
}

/// The applied set after `steps` (and accepted checksums).
pub(crate) fn advance(applied: &mut Applied, steps: &[Step], accept: &[i64], migrations: &MigrationSet) {
    for version in accept {
        if let Some(m) = migrations.get(*version) {
            applied.0.insert(*version, m.checksum.clone());
        }
    }
    for step in steps {
        match (step.direction, migrations.get(step.version)) {
            (Direction::Up, Some(m)) => {
                applied.0.insert(step.version, m.checksum.clone());
            }
            (Direction::Down, _) => {
                applied.0.remove(&step.version);
            }
            (Direction::Up, None) => {}
        }
    }
}

pub(crate) fn migration(migrations: &MigrationSet, version: i64) -> &Migration {
    // Plans only hold versions of `migrations` (plan() checks), so this cannot miss.
    migrations.get(version).unwrap_or_else(|| unreachable!("planned version {version} is not in the set"))
}

/// `SET LOCAL`/`SET` statements for the timeouts and commit mode.
pub(crate) fn settings_sql(settings: &ApplySettings, scope: &str) -> String {
    let mut sql = format!(
        "SET {scope} lock_timeout = {}; SET {scope} statement_timeout = {}",
        quote_literal(&format!("{}ms", settings.lock_timeout_ms)),
        quote_literal(&format!("{}ms", settings.statement_timeout_ms))
    );
    if settings.asynchronous_commit {
        sql.push_str(&format!("; SET {scope} synchronous_commit = off"));
    }
    sql
}

/// The SQL of one step with its bookkeeping. Statements are joined with a newline before the
/// `;`, so a migration ending in a `--` comment cannot swallow what follows.
fn step_sql(schema: &str, migrations: &MigrationSet, step: &Step) -> String {
    let m = migration(migrations, step.version);
    match step.direction {
        Direction::Up => {
            format!("{};\n{}\n;\n{}", bookkeeping::MARK_START_SQL, m.up, bookkeeping::insert_row_sql(schema, m))
        }
        Direction::Down => format!(
            "{}\n;\n{}",
            m.down.as_deref().unwrap_or_default(),
            bookkeeping::delete_row_sql(schema, step.version)
        ),
    }
}

/// Whether a transactional group failed only because a no-transaction step runs elsewhere.
fn busy((_, error): &(Option<i64>, tokio_postgres::Error)) -> bool {
    gate::is_busy(error)
}

async fn apply_transactional(
    client: &Client,
    job: &SchemaJob<'_>,
    settings: &ApplySettings,
    applied: &Applied,
    steps: &[Step],
    accept: &[i64],
) -> Result<(), (Option<i64>, tokio_postgres::Error)> {
    let schema = job.schema;
    let mut after = applied.clone();
    advance(&mut after, steps, accept, job.migrations);
    let mut setup = format!(
        "{}; {}; {}; {}; {}; {}; {}",
        lock::NO_TX_SHARED_SQL,
        temp::enter_schema_sql("LOCAL", job.search_path),
        settings_sql(settings, "LOCAL"),
        lock::tenant_xact_lock_sql(schema),
        // The table is the tenant's anchor (`crates/tenantry/src/schema/statements.rs`, `Guard`):
        // never created while a drop or rename holds the existence lock and has found none.
        statements::existence_lock_shared_xact(schema),
        bookkeeping::create_table_sql(schema),
        bookkeeping::check_state_sql(schema, &applied.digest()),
    );
    for version in accept {
        setup.push_str(&format!("; {}", bookkeeping::update_checksum_sql(schema, migration(job.migrations, *version))));
    }
    let mut messages = Vec::with_capacity(steps.len() + 4);
    messages.push("BEGIN".to_owned());
    messages.push(setup);
    messages.extend(steps.iter().map(|step| step_sql(schema, job.migrations, step)));
    messages.push(bookkeeping::comment_sql(schema, &after));
    messages.push("COMMIT".to_owned());

    // All messages are queued before any response is awaited: one network round trip.
    let results = join_all(messages.iter().map(|sql| client.batch_execute(sql))).await;
    let first_error = results.into_iter().enumerate().find_map(|(index, result)| result.err().map(|e| (index, e)));
    match first_error {
        None => Ok(()),
        Some((index, error)) => {
            // Messages: 0 BEGIN, 1 setup, 2.. steps, then summary and COMMIT.
            let version = index.checked_sub(2).and_then(|step| steps.get(step)).map(|s| s.version);
            // A failure in BEGIN/setup/COMMIT leaves the transaction open only if COMMIT itself
            // never arrived; make sure nothing stays open on this connection.
            if !client.is_closed() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            Err((version, error))
        }
    }
}

/// Runs `sql` in one schema's transaction, with the same setup as a migration (`DISCARD TEMP`,
/// search path, timeouts, tenant lock), pipelined: `[BEGIN] [setup] [sql] [COMMIT]`.
pub(crate) async fn exec(
    client: &Client,
    schema: &str,
    search_path: &str,
    sql: &str,
    settings: &ApplySettings,
) -> Result<(), tokio_postgres::Error> {
    let setup = format!(
        "{}; {}; {}",
        temp::enter_schema_sql("LOCAL", search_path),
        settings_sql(settings, "LOCAL"),
        lock::tenant_xact_lock_sql(schema)
    );
    let messages = ["BEGIN", setup.as_str(), sql, "COMMIT"];
    let results = join_all(messages.iter().map(|m| client.batch_execute(m))).await;
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some(error) => {
            if !client.is_closed() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::plan::{plan, Goal};

    fn set() -> MigrationSet {
        MigrationSet::new(vec![
            Migration::new(1, "a", "CREATE TABLE a ()", Some("DROP TABLE a".into())),
            Migration::new(
                2,
                "b",
                "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY i ON a ((1))",
                Some("DROP INDEX i".into()),
            ),
            Migration::new(3, "c", "CREATE TABLE c ()", Some("DROP TABLE c".into())),
            Migration::new(4, "d", "CREATE TABLE d ()", Some("DROP TABLE d".into())),
        ])
        .expect("valid")
    }

    fn shape(groups: &[Group<'_>]) -> Vec<Vec<i64>> {
        groups.iter().map(|g| g.steps().iter().map(|s| s.version).collect()).collect()
    }

    #[test]
    fn groups_split_around_no_transaction_steps() {
        let set = set();
        let applied = Applied::default();
        let plan = plan(&set, &applied, Goal::Latest, false).expect("plans");
        let gate = NoTxGate::default();
        let job = SchemaJob {
            schema: "t",
            search_path: "\"t\", pg_temp",
            applied: &applied,
            plan: &plan,
            migrations: &set,
            gate: &gate,
        };
        let per_tenant = ApplySettings {
            lock_timeout_ms: 1,
            statement_timeout_ms: 0,
            transaction_per_migration: false,
            asynchronous_commit: false,
        };
        assert_eq!(shape(&groups(&job, &per_tenant)), [vec![1], vec![2], vec![3, 4]]);
        let per_migration = ApplySettings { transaction_per_migration: true, ..per_tenant };
        assert_eq!(shape(&groups(&job, &per_migration)), [vec![1], vec![2], vec![3], vec![4]]);
    }

    #[test]
    fn step_sql_keeps_a_trailing_comment_from_swallowing_the_bookkeeping() {
        let set = MigrationSet::new(vec![Migration::new(1, "a", "CREATE TABLE a () -- trailing comment", None)])
            .expect("valid");
        let sql = step_sql("t", &set, &Step { version: 1, direction: Direction::Up });
        assert!(sql.contains("-- trailing comment\n;\nINSERT INTO"), "{sql}");
    }
}
