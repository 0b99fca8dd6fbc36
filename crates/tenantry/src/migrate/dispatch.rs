//! Planning every schema from one state read, then dispatching the schemas with work to
//! `jobs` workers; one failure never stops the others.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use tokio_postgres::Client;

use super::bookkeeping::Applied;
use super::events::MigrationEvent;
use super::migrator::Migrator;
use super::options::RunOptions;
use super::plan::{plan, Plan};
use super::report::{Failure, Outcome, SchemaResult, SkipReason, Subject};
use super::source::MigrationSet;
use super::state::{self, SchemaState};
use crate::announce::{self, SchemaChange};
use crate::error::Error;

/// A schema with work to do.
pub(super) struct Job {
    pub(super) index: usize,
    pub(super) subject: Subject,
    pub(super) search_path: String,
    pub(super) work: Work,
}

/// What a job does.
pub(super) enum Work {
    /// Apply a plan made from `applied`.
    Migrate { applied: Applied, plan: Plan },
    /// Run arbitrary SQL (`exec`).
    Exec(Arc<str>),
}

impl Migrator {
    /// Plans every subject from one state read, reports the ones with nothing to do, and runs
    /// the rest on `workers` connections.
    pub(super) async fn plan_and_execute(
        &self,
        coordinator: &Client,
        subjects: Vec<(Subject, String)>,
        set: &MigrationSet,
        options: &RunOptions,
        workers: usize,
    ) -> Result<Vec<SchemaResult>, Error> {
        let schemas: Vec<&str> = subjects.iter().map(|(s, _)| s.schema()).collect();
        let (states, _) = state::read_states(coordinator, &schemas, set, options.verify).await?;
        let mut results: Vec<Option<SchemaResult>> = vec![None; subjects.len()];
        let mut queue = VecDeque::new();
        let (mut up_to_date, mut blocked) = (0, 0);
        for (index, (subject, search_path)) in subjects.into_iter().enumerate() {
            let applied = match states.get(subject.schema()) {
                Some(SchemaState::Applied(applied)) => applied.clone(),
                Some(SchemaState::Missing) | None => {
                    blocked += 1;
                    results[index] = Some(failed(subject, missing_schema_failure(), Vec::new()));
                    continue;
                }
            };
            match plan(set, &applied, options.goal, options.accept_changed_checksums) {
                Err(problem) => {
                    blocked += 1;
                    let failure = Failure {
                        version: problem.version(),
                        sqlstate: None,
                        message: problem.to_string(),
                        applied_before_failure: Vec::new(),
                        attempts: 0,
                    };
                    results[index] = Some(failed(subject, failure, Vec::new()));
                }
                Ok(plan) if plan.is_empty() => {
                    up_to_date += 1;
                    results[index] = Some(SchemaResult {
                        subject,
                        outcome: Outcome::Skipped { reason: SkipReason::UpToDate },
                        planned: Vec::new(),
                    });
                }
                Ok(plan) if options.dry_run => {
                    results[index] = Some(SchemaResult {
                        subject,
                        outcome: Outcome::Skipped { reason: SkipReason::DryRun },
                        planned: planned(&plan),
                    });
                }
                Ok(plan) => queue.push_back(Job { index, subject, search_path, work: Work::Migrate { applied, plan } }),
            }
        }
        self.emit(&MigrationEvent::Planned { tenants: results.len(), pending: queue.len(), up_to_date, blocked });
        for result in results.iter().flatten() {
            self.emit(&MigrationEvent::Finished { result: result.clone() });
        }

        self.dispatch(coordinator, queue, &mut results, workers, set, options).await;
        Ok(results.into_iter().flatten().collect())
    }

    /// Runs the queued jobs on up to `workers` workers, filling `results` by job index; jobs
    /// left when `fail_fast` stopped the run are reported as skipped. Schemas whose objects
    /// changed are announced on `coordinator` as they finish, in batches
    /// ([`announce_changes`](Self::announce_changes)).
    pub(super) async fn dispatch(
        &self,
        coordinator: &Client,
        queue: VecDeque<Job>,
        results: &mut [Option<SchemaResult>],
        workers: usize,
        set: &MigrationSet,
        options: &RunOptions,
    ) {
        let workers = workers.min(queue.len());
        let queue = Mutex::new(queue);
        let stop = AtomicBool::new(false);
        let changed = Mutex::new(Vec::new());
        let work = join_all((0..workers).map(|_| self.worker(&queue, &stop, &changed, set, options)));
        let finished = self.announce_changes(coordinator, &changed, work).await;
        for (index, result) in finished.into_iter().flatten() {
            results[index] = Some(result);
        }
        for job in queue.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            let planned = match &job.work {
                Work::Migrate { plan, .. } => planned(plan),
                Work::Exec(_) => Vec::new(),
            };
            results[job.index] = Some(SchemaResult {
                planned,
                subject: job.subject,
                outcome: Outcome::Skipped { reason: SkipReason::FailFast },
            });
        }
    }

    /// Announces the schemas workers put in `changed` while `work` runs: every
    /// [`ANNOUNCE_EVERY`] (one `NOTIFY` per batch, not per schema: every notifying commit takes
    /// a database-wide lock), then once more when `work` is done.
    async fn announce_changes<T>(
        &self,
        coordinator: &Client,
        changed: &Mutex<Vec<String>>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let take = || std::mem::take(&mut *changed.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let flush = |schemas: Vec<String>| async move {
            if !schemas.is_empty() {
                announce::announce(coordinator, &SchemaChange::Changed { schemas }).await;
            }
        };
        tokio::pin!(work);
        let output = loop {
            tokio::select! {
                output = &mut work => break output,
                () = tokio::time::sleep(ANNOUNCE_EVERY) => flush(take()).await,
            }
        };
        flush(take()).await;
        output
    }

    /// One worker: its own connection, schemas taken from the queue until it is empty.
    pub(super) async fn worker(
        &self,
        queue: &Mutex<VecDeque<Job>>,
        stop: &AtomicBool,
        changed: &Mutex<Vec<String>>,
        set: &MigrationSet,
        options: &RunOptions,
    ) -> Vec<(usize, SchemaResult)> {
        let mut client: Option<Client> = None;
        let mut done = Vec::new();
        loop {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
            let Some(job) = job else { break };
            let index = job.index;
            let result = self.run_job(&mut client, job, set, options).await;
            if options.fail_fast && result.outcome.is_failure() {
                stop.store(true, Ordering::SeqCst);
            }
            if changed_objects(&result) {
                let schema = result.subject.schema().to_owned();
                changed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(schema);
            }
            self.hooks.after_schema(&result).await;
            self.emit(&MigrationEvent::Finished { result: result.clone() });
            done.push((index, result));
        }
        done
    }
}

/// How often a run announces the schemas it changed.
const ANNOUNCE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether the run committed something in the schema: its objects may differ from what
/// application pools prepared statements against. The template is never on an application's
/// path.
fn changed_objects(result: &SchemaResult) -> bool {
    let committed = match &result.outcome {
        Outcome::Succeeded { .. } => true,
        Outcome::Failed(failure) => !failure.applied_before_failure.is_empty(),
        Outcome::Skipped { .. } => false,
    };
    committed && !matches!(result.subject, Subject::Template { .. })
}

pub(super) fn failed(subject: Subject, failure: Failure, planned: Vec<(i64, bool)>) -> SchemaResult {
    SchemaResult { subject, outcome: Outcome::Failed(failure), planned }
}

pub(super) fn missing_schema_failure() -> Failure {
    Failure {
        version: None,
        sqlstate: Some("3F000".to_owned()),
        message: "the schema does not exist; create the tenant, or remove it from the tenant source".to_owned(),
        applied_before_failure: Vec::new(),
        attempts: 0,
    }
}

pub(super) fn planned(plan: &Plan) -> Vec<(i64, bool)> {
    plan.steps.iter().map(|s| (s.version, s.direction == super::plan::Direction::Up)).collect()
}
