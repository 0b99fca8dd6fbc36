//! The per-schema runner: one schema's work with retries. Transient failures are tried again
//! after re-reading the schema's state, so a lost acknowledgement never applies anything twice.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::apply::{self, ApplySettings, Progress, SchemaJob};
use super::dispatch::{failed, missing_schema_failure, planned, Job, Work};
use super::events::MigrationEvent;
use super::migrator::Migrator;
use super::options::RunOptions;
use super::report::{Failure, Outcome, SchemaResult, Subject};
use super::source::MigrationSet;
use super::state::{self, SchemaState};
use crate::error::describe_pg;

impl Migrator {
    /// One schema, with retries for transient failures. Every retry re-reads the schema's state
    /// and re-plans, so a commit whose acknowledgement was lost is never applied twice.
    pub(super) async fn run_job(
        &self,
        client: &mut Option<Client>,
        job: Job,
        set: &MigrationSet,
        options: &RunOptions,
    ) -> SchemaResult {
        let settings = self.apply_settings();
        let max_retries = self.tenantry.config().migrations.max_retries;
        let Job { subject, search_path, work, .. } = job;
        let (mut applied, mut plan) = match work {
            Work::Migrate { applied, plan } => (applied, plan),
            Work::Exec(sql) => return self.run_exec(client, subject, &search_path, &sql, &settings, max_retries).await,
        };
        let planned_steps = planned(&plan);
        self.emit(&MigrationEvent::Started { subject: subject.clone() });
        self.hooks.before_schema(&subject).await;
        let started = Instant::now();
        let mut committed = Progress::default();
        let mut attempt: u32 = 1;
        loop {
            let result = async {
                if client.as_ref().is_none_or(Client::is_closed) {
                    *client = Some(self.connect_worker().await.map_err(|(v, e)| (v, e.into()))?);
                }
                let Some(conn) = client.as_ref() else { unreachable!("connected above") };
                if attempt > 1 {
                    match state::read_one(conn, subject.schema()).await.map_err(|e| (None, e.into()))? {
                        SchemaState::Missing => return Ok(Err(missing_schema_failure())),
                        SchemaState::Applied(now) => {
                            match super::plan::plan(set, &now, options.goal, options.accept_changed_checksums) {
                                Ok(new_plan) => {
                                    applied = now;
                                    plan = new_plan;
                                }
                                Err(problem) => {
                                    return Ok(Err(Failure {
                                        version: problem.version(),
                                        sqlstate: None,
                                        message: problem.to_string(),
                                        applied_before_failure: Vec::new(),
                                        attempts: attempt,
                                    }))
                                }
                            }
                        }
                    }
                }
                let job = SchemaJob {
                    schema: subject.schema(),
                    search_path: &search_path,
                    applied: &applied,
                    plan: &plan,
                    migrations: set,
                    gate: &self.gate,
                };
                apply::apply(conn, &job, &settings).await.map(Ok).map_err(|e| {
                    committed.applied.extend(e.committed.applied);
                    committed.reverted.extend(e.committed.reverted);
                    (e.version, e.error)
                })
            }
            .await;
            match result {
                Ok(Ok(progress)) => {
                    committed.applied.extend(progress.applied);
                    committed.reverted.extend(progress.reverted);
                    return SchemaResult {
                        subject,
                        outcome: Outcome::Succeeded {
                            applied: committed.applied,
                            reverted: committed.reverted,
                            duration: started.elapsed(),
                        },
                        planned: planned_steps,
                    };
                }
                Ok(Err(mut failure)) => {
                    failure.applied_before_failure = committed.applied;
                    return failed(subject, failure, planned_steps);
                }
                Err((version, error)) => {
                    if attempt <= max_retries && error.is_transient() {
                        self.emit(&MigrationEvent::Retrying {
                            subject: subject.clone(),
                            attempt,
                            error: error.describe(),
                        });
                        tracing::warn!(schema = subject.schema(), attempt, "retrying after: {}", error.describe());
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    let failure = Failure {
                        version,
                        sqlstate: error.sqlstate(),
                        message: error.describe(),
                        applied_before_failure: committed.applied,
                        attempts: attempt,
                    };
                    return failed(subject, failure, planned_steps);
                }
            }
        }
    }

    /// One schema's `exec`, retried only for server-reported transient errors.
    pub(super) async fn run_exec(
        &self,
        client: &mut Option<Client>,
        subject: Subject,
        search_path: &str,
        sql: &str,
        settings: &ApplySettings,
        max_retries: u32,
    ) -> SchemaResult {
        self.emit(&MigrationEvent::Started { subject: subject.clone() });
        self.hooks.before_schema(&subject).await;
        let started = Instant::now();
        let mut attempt: u32 = 1;
        loop {
            let result = async {
                if client.as_ref().is_none_or(Client::is_closed) {
                    *client = Some(self.connect_raw().await?);
                }
                let Some(conn) = client.as_ref() else { unreachable!("connected above") };
                apply::exec(conn, subject.schema(), search_path, sql, settings).await
            }
            .await;
            match result {
                Ok(()) => {
                    let outcome =
                        Outcome::Succeeded { applied: Vec::new(), reverted: Vec::new(), duration: started.elapsed() };
                    return SchemaResult { subject, outcome, planned: Vec::new() };
                }
                Err(error) if attempt <= max_retries && error.as_db_error().is_some() && is_transient(&error) => {
                    self.emit(&MigrationEvent::Retrying {
                        subject: subject.clone(),
                        attempt,
                        error: describe_pg(&error),
                    });
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => {
                    let failure = Failure {
                        version: None,
                        sqlstate: error.code().map(|c| c.code().to_owned()),
                        message: describe_pg(&error),
                        applied_before_failure: Vec::new(),
                        attempts: attempt,
                    };
                    return failed(subject, failure, Vec::new());
                }
            }
        }
    }

    /// Exponential backoff with jitter: base, 2×base, 4×base… plus up to one base.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.tenantry.config().migrations.retry_backoff_ms;
        let jitter = u64::from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()),
        ) % base.max(1);
        Duration::from_millis(base.saturating_mul(1 << attempt.saturating_sub(1).min(10)).saturating_add(jitter))
    }
}

/// Failures worth another attempt: lock timeouts, deadlocks, serialization failures, a state
/// overtaken by another process, the server shutting down or refusing connections, and lost
/// connections (errors without a SQLSTATE).
pub(super) fn is_transient(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => error.as_db_error().is_none(),
        Some(code) => {
            let code = code.code();
            matches!(
                code,
                "55P03" | "40P01" | "40001" | "57P01" | "57P02" | "57P03" | "53300" | "08000" | "08003" | "08006"
            ) || code == super::bookkeeping::STATE_CHANGED_SQLSTATE
        }
    }
}
