//! The fleet executor: shared migrations, then the template, then every tenant on `jobs`
//! parallel workers, one failure never stopping the others.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_postgres::{Client, NoTls};

use super::apply::{self, ApplySettings, Progress, SchemaJob};
use super::bookkeeping::Applied;
use super::create::{CreateMethod, CreateReport, MigrateNewTenant};
use super::events::{EventSink, MigrationEvent, MigrationHooks, NoHooks};
use super::lock;
use super::options::{RunOptions, Selection};
use super::plan::{plan, Goal, Plan};
use super::report::{Failure, MigrationReport, Outcome, SchemaResult, SkipReason, Subject};
use super::source::{MigrationSet, MigrationSource};
use super::state::{self, SchemaState};
use super::status::{SchemaStatus, SchemaStatusEntry, StatusReport};
use crate::error::{describe_pg, mask_password, Error};
use crate::name::TenantName;
use crate::sql::{quote_ident, quote_ident_list};
use crate::Tenantry;

/// Runs migrations across the shared schema, the template and every tenant.
///
/// ```no_run
/// use tenantry::migrate::{Migrator, RunOptions};
/// # async fn f(tenantry: tenantry::Tenantry) -> Result<(), tenantry::Error> {
/// let migrator = Migrator::load(&tenantry)?; // migrations/{shared,tenant} from the configuration
/// let report = migrator.run(&RunOptions::default()).await?;
/// println!("{report}"); // Succeeded: 998/1000 … then each failure
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Migrator {
    tenantry: Tenantry,
    source: Arc<MigrationSource>,
    events: Option<EventSink>,
    hooks: Arc<dyn MigrationHooks>,
}

/// A schema with work to do.
struct Job {
    index: usize,
    subject: Subject,
    search_path: String,
    applied: Applied,
    plan: Plan,
}

impl Migrator {
    /// A migrator for `tenantry` with migrations from `source`.
    pub fn new(tenantry: &Tenantry, source: MigrationSource) -> Self {
        Self { tenantry: tenantry.clone(), source: Arc::new(source), events: None, hooks: Arc::new(NoHooks) }
    }

    /// A migrator with the migrations in the configured directory (`migrations.directory`).
    ///
    /// # Errors
    /// [`Error::MigrationSource`] for a missing directory or a malformed file.
    pub fn load(tenantry: &Tenantry) -> Result<Self, Error> {
        let source = MigrationSource::load(&tenantry.config().migrations.directory)?;
        Ok(Self::new(tenantry, source))
    }

    /// Sends progress events to `sink`.
    #[must_use]
    pub fn on_event(mut self, sink: impl Fn(&MigrationEvent) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// Runs `hooks` around each schema and after the run.
    #[must_use]
    pub fn with_hooks(mut self, hooks: impl MigrationHooks) -> Self {
        self.hooks = Arc::new(hooks);
        self
    }

    /// The migrations in use.
    pub fn source(&self) -> &MigrationSource {
        &self.source
    }

    /// The tenantry handle in use.
    pub fn tenantry(&self) -> &Tenantry {
        &self.tenantry
    }

    /// Runs `options.goal` over the selected schemas and reports on every one.
    ///
    /// A failing schema never stops the others (unless `fail_fast`); the report holds each
    /// result. The run holds the run lock throughout (see [`lock`](super::lock)).
    ///
    /// # Errors
    /// Only for problems that stop the whole run: [`Error::Connect`],
    /// [`Error::MigrationRunLocked`] under `no_wait`, [`Error::TenantNotFound`] for a selected
    /// tenant that does not exist, [`Error::Database`] while reading the fleet's state.
    pub async fn run(&self, options: &RunOptions) -> Result<MigrationReport, Error> {
        let started = Instant::now();
        let coordinator = self.connect().await?;
        self.acquire_run_lock(&coordinator, options.no_wait).await?;
        let result = self.run_locked(&coordinator, options).await;
        // Closing the coordinator would release the lock too; unlock explicitly all the same.
        let _ = coordinator.batch_execute(lock::RUN_UNLOCK_SQL).await;
        let mut report = result?;
        report.duration = started.elapsed();
        self.hooks.after_run(&report).await;
        Ok(report)
    }

    /// Creates `tenant` at the latest version: `CREATE SCHEMA`, every tenant migration and the
    /// seed file (`migrations.seed_file`, unless `seed` is false), in one transaction under the
    /// tenant's lock, so a failure leaves nothing behind. No-transaction migrations run right
    /// after the commit, through the normal executor.
    ///
    /// # Errors
    /// [`Error::TenantExists`], [`Error::Database`] naming the failing step, or
    /// [`Error::MigrationSource`] for an unreadable seed file.
    pub async fn create(&self, tenant: &TenantName, seed: bool) -> Result<CreateReport, Error> {
        let seed_sql = match (&self.tenantry.config().migrations.seed_file, seed) {
            (Some(path), true) => Some(std::fs::read_to_string(path).map_err(|err| Error::MigrationSource {
                path: path.clone(),
                problem: format!("cannot read the seed file: {err}"),
            })?),
            _ => None,
        };
        let hook = MigrateNewTenant { migrations: &self.source.tenant, seed: seed_sql.as_deref() };
        let versions = hook.versions();
        self.tenantry.create_with(tenant, Some(&hook)).await?;
        let mut report = CreateReport {
            tenant: tenant.clone(),
            method: CreateMethod::Migrated { why_not_cloned: None },
            versions,
            seeded: seed_sql.is_some(),
            applied_after_commit: Vec::new(),
        };
        if report.versions.len() < self.source.tenant.len() {
            let rest = self
                .run(&RunOptions { selection: Selection::Tenants(vec![tenant.clone()]), ..RunOptions::default() })
                .await?;
            if let Some((_, failure)) = rest.failures().next() {
                return Err(Error::MigrationSource {
                    path: self
                        .source
                        .tenant
                        .get(failure.version.unwrap_or_default())
                        .map(|m| m.path.clone())
                        .unwrap_or_default(),
                    problem: format!("the tenant was created, but a no-transaction migration failed: {failure}"),
                });
            }
            if let Some(Outcome::Succeeded { applied, .. }) = rest.tenants.first().map(|r| &r.outcome) {
                report.applied_after_commit.clone_from(applied);
                report.versions.extend(applied);
            }
        }
        Ok(report)
    }

    /// Where every selected schema stands: applied and pending migrations (named), checksum
    /// drift, missing schemas. One state read for the whole fleet (see
    /// [`state::read_states`]); takes no lock and changes nothing. With `verify`, every
    /// bookkeeping table is read instead of trusting the summaries (slower; catches rows
    /// edited by hand).
    ///
    /// # Errors
    /// [`Error::Connect`], [`Error::TenantNotFound`] for a selected tenant that does not exist,
    /// [`Error::Database`].
    pub async fn status(&self, selection: &Selection, verify: bool) -> Result<StatusReport, Error> {
        let config = self.tenantry.config();
        let client = self.connect().await?;
        let mut report = StatusReport::default();
        if matches!(selection, Selection::All | Selection::SharedOnly) {
            let schema = config.default_schema.as_str();
            let (states, stats) = state::read_states(&client, &[schema], &self.source.shared, verify).await?;
            report.read = stats;
            report.shared = states.get(schema).map(|s| SchemaStatusEntry {
                subject: Subject::Shared { schema: schema.to_owned() },
                status: SchemaStatus::of(s, &self.source.shared),
            });
        }
        if matches!(selection, Selection::SharedOnly) {
            return Ok(report);
        }
        let tenants = self.selected_tenants(selection).await?;
        let template = config.migrations.template.then_some(config.migrations.template_schema.as_str());
        let schemas: Vec<&str> = template.into_iter().chain(tenants.iter().map(TenantName::schema)).collect();
        let (states, stats) = state::read_states(&client, &schemas, &self.source.tenant, verify).await?;
        report.read.from_summary += stats.from_summary;
        report.read.from_table += stats.from_table;
        report.read.queries += stats.queries;
        let status_of = |schema: &str| {
            states.get(schema).map_or(SchemaStatus::Missing, |s| SchemaStatus::of(s, &self.source.tenant))
        };
        if matches!(selection, Selection::All | Selection::TenantsOnly) {
            report.template = template.map(|schema| SchemaStatusEntry {
                subject: Subject::Template { schema: schema.to_owned() },
                status: status_of(schema),
            });
        }
        report.tenants = tenants
            .into_iter()
            .map(|tenant| SchemaStatusEntry { status: status_of(tenant.schema()), subject: Subject::Tenant(tenant) })
            .collect();
        Ok(report)
    }

    async fn run_locked(&self, coordinator: &Client, options: &RunOptions) -> Result<MigrationReport, Error> {
        let config = self.tenantry.config();
        let mut report = MigrationReport::default();
        let latest = options.goal == Goal::Latest;
        let (with_shared, mut with_tenants) = match &options.selection {
            Selection::All => (latest, true),
            Selection::SharedOnly => (true, false),
            Selection::TenantsOnly | Selection::Tenants(_) => (false, true),
        };
        let with_template =
            config.migrations.template && matches!(options.selection, Selection::All | Selection::TenantsOnly);
        let tenants = if with_tenants { self.selected_tenants(&options.selection).await? } else { Vec::new() };

        if with_shared {
            let schema = config.default_schema.clone();
            let subject = Subject::Shared { schema: schema.clone() };
            let search_path = self.tenantry.search_path(None).as_sql().to_owned();
            let mut results = self
                .plan_and_execute(coordinator, vec![(subject, search_path)], &self.source.shared, options, 1)
                .await?;
            let shared = results.pop();
            if shared.as_ref().is_some_and(|r| r.outcome.is_failure()) {
                with_tenants = false;
                report.tenants = tenants
                    .iter()
                    .map(|t| SchemaResult {
                        subject: Subject::Tenant(t.clone()),
                        outcome: Outcome::Skipped { reason: SkipReason::SharedFailed },
                        planned: Vec::new(),
                    })
                    .collect();
            }
            report.shared = shared;
        }

        if with_tenants {
            if with_template {
                let schema = config.migrations.template_schema.clone();
                if !options.dry_run {
                    coordinator
                        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&schema)))
                        .await
                        .map_err(|err| Error::database("creating the template schema", None, err))?;
                }
                let search_path = self.template_search_path();
                let mut results = self
                    .plan_and_execute(
                        coordinator,
                        vec![(Subject::Template { schema }, search_path)],
                        &self.source.tenant,
                        options,
                        1,
                    )
                    .await?;
                report.template = results.pop();
            }
            let subjects = tenants
                .iter()
                .map(|t| (Subject::Tenant(t.clone()), self.tenantry.search_path(Some(t)).as_sql().to_owned()))
                .collect();
            let jobs = options.jobs.unwrap_or(config.migrations.jobs).max(1);
            report.tenants = self.plan_and_execute(coordinator, subjects, &self.source.tenant, options, jobs).await?;
        }

        let committed_something = report.results().any(|r| matches!(&r.outcome, Outcome::Succeeded { .. }))
            || report.failures().any(|(_, f)| !f.applied_before_failure.is_empty());
        if coordinator.is_closed() {
            // The server restarted or the network dropped during the run: the run lock went
            // with the connection. Per-schema locks and state checks kept every schema correct.
            report
                .warnings
                .push("the coordinator's connection was lost during the run, releasing the run lock early".to_owned());
        }
        if committed_something && !config.migrations.durable_commits {
            // Every tenant committed without waiting for the disk; one synchronous commit now
            // flushes all WAL written before it, so nothing reported as done can be lost.
            let fresh;
            let flusher = if coordinator.is_closed() {
                fresh = self.connect().await?;
                &fresh
            } else {
                coordinator
            };
            flusher
                .batch_execute("SET synchronous_commit = on; BEGIN; SELECT pg_current_xact_id(); COMMIT")
                .await
                .map_err(|err| Error::database("flushing the migrations to disk", None, err))?;
        }

        let dump = latest && !options.dry_run && options.dump.unwrap_or(config.migrations.dump);
        if dump && report.is_success() && committed_something {
            let mut schemas = vec![config.default_schema.as_str()];
            if config.migrations.template {
                schemas.push(config.migrations.template_schema.as_str());
            }
            let url = config.database_url.as_deref().unwrap_or_default();
            if let Err(warning) = super::dump::write_dump(url, &schemas, &config.migrations.dump_path).await {
                tracing::warn!("schema dump skipped: {warning}");
                report.warnings.push(format!("schema dump not written: {warning}"));
            }
        }
        Ok(report)
    }

    /// Plans every subject from one state read, reports the ones with nothing to do, and runs
    /// the rest on `workers` connections.
    async fn plan_and_execute(
        &self,
        coordinator: &Client,
        subjects: Vec<(Subject, String)>,
        set: &MigrationSet,
        options: &RunOptions,
        workers: usize,
    ) -> Result<Vec<SchemaResult>, Error> {
        let schemas: Vec<&str> = subjects.iter().map(|(s, _)| s.schema()).collect();
        let (states, _) = state::read_states(coordinator, &schemas, set, false).await?;
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
                Ok(plan) => queue.push_back(Job { index, subject, search_path, applied, plan }),
            }
        }
        self.emit(&MigrationEvent::Planned { tenants: results.len(), pending: queue.len(), up_to_date, blocked });
        for result in results.iter().flatten() {
            self.emit(&MigrationEvent::Finished { result: result.clone() });
        }

        let workers = workers.min(queue.len());
        let queue = Mutex::new(queue);
        let stop = AtomicBool::new(false);
        let finished = join_all((0..workers).map(|_| self.worker(&queue, &stop, set, options))).await;
        for (index, result) in finished.into_iter().flatten() {
            results[index] = Some(result);
        }
        let leftovers = queue.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        for job in leftovers {
            results[job.index] = Some(SchemaResult {
                planned: planned(&job.plan),
                subject: job.subject,
                outcome: Outcome::Skipped { reason: SkipReason::FailFast },
            });
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// One worker: its own connection, schemas taken from the queue until it is empty.
    async fn worker(
        &self,
        queue: &Mutex<VecDeque<Job>>,
        stop: &AtomicBool,
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
            self.hooks.after_schema(&result).await;
            self.emit(&MigrationEvent::Finished { result: result.clone() });
            done.push((index, result));
        }
        done
    }

    /// One schema, with retries for transient failures. Every retry re-reads the schema's state
    /// and re-plans, so a commit whose acknowledgement was lost is never applied twice.
    async fn run_job(
        &self,
        client: &mut Option<Client>,
        job: Job,
        set: &MigrationSet,
        options: &RunOptions,
    ) -> SchemaResult {
        let settings = self.apply_settings();
        let max_retries = self.tenantry.config().migrations.max_retries;
        let Job { subject, search_path, mut applied, mut plan, .. } = job;
        let planned_steps = planned(&plan);
        self.emit(&MigrationEvent::Started { subject: subject.clone() });
        self.hooks.before_schema(&subject).await;
        let started = Instant::now();
        let mut committed = Progress::default();
        let mut attempt: u32 = 1;
        loop {
            let result = async {
                if client.as_ref().is_none_or(Client::is_closed) {
                    *client = Some(self.connect_worker().await?);
                }
                let Some(conn) = client.as_ref() else { unreachable!("connected above") };
                if attempt > 1 {
                    match state::read_one(conn, subject.schema()).await.map_err(|e| (None, e))? {
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
                    if attempt <= max_retries && is_transient(&error) {
                        self.emit(&MigrationEvent::Retrying {
                            subject: subject.clone(),
                            attempt,
                            error: describe_pg(&error),
                        });
                        tracing::warn!(schema = subject.schema(), attempt, "retrying after: {}", describe_pg(&error));
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    let failure = Failure {
                        version,
                        sqlstate: error.code().map(|c| c.code().to_owned()),
                        message: describe_pg(&error),
                        applied_before_failure: committed.applied,
                        attempts: attempt,
                    };
                    return failed(subject, failure, planned_steps);
                }
            }
        }
    }

    async fn selected_tenants(&self, selection: &Selection) -> Result<Vec<TenantName>, Error> {
        let known = self.tenantry.list().await?;
        match selection {
            Selection::Tenants(wanted) => {
                for tenant in wanted {
                    if known.binary_search(tenant).is_err() {
                        return Err(crate::schema::not_found(tenant));
                    }
                }
                let mut wanted = wanted.clone();
                wanted.sort();
                wanted.dedup();
                Ok(wanted)
            }
            _ => Ok(known),
        }
    }

    async fn acquire_run_lock(&self, coordinator: &Client, no_wait: bool) -> Result<(), Error> {
        let free: bool = coordinator
            .query_one(lock::TRY_RUN_LOCK_SQL, &[])
            .await
            .map_err(|err| Error::database("taking the migration run lock", None, err))?
            .get(0);
        if !free {
            if no_wait {
                return Err(Error::MigrationRunLocked);
            }
            tracing::info!("another migration run holds the run lock; waiting for it to finish");
            self.emit(&MigrationEvent::WaitingForRunLock);
            coordinator
                .batch_execute(lock::RUN_LOCK_SQL)
                .await
                .map_err(|err| Error::database("waiting for the migration run lock", None, err))?;
        }
        self.emit(&MigrationEvent::RunLockAcquired);
        Ok(())
    }

    fn template_search_path(&self) -> String {
        let config = self.tenantry.config();
        quote_ident_list(
            std::iter::once(config.migrations.template_schema.as_str())
                .chain(config.shared_schemas.iter().map(String::as_str)),
        )
    }

    fn apply_settings(&self) -> ApplySettings {
        let migrations = &self.tenantry.config().migrations;
        ApplySettings {
            lock_timeout_ms: migrations.lock_timeout_ms,
            statement_timeout_ms: migrations.statement_timeout_ms,
            transaction_per_migration: migrations.transaction_per_migration,
            asynchronous_commit: !migrations.durable_commits,
        }
    }

    /// Exponential backoff with jitter: base, 2×base, 4×base… plus up to one base.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.tenantry.config().migrations.retry_backoff_ms;
        let jitter = u64::from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()),
        ) % base.max(1);
        Duration::from_millis(base.saturating_mul(1 << attempt.saturating_sub(1).min(10)).saturating_add(jitter))
    }

    async fn connect(&self) -> Result<Client, Error> {
        let url = self.tenantry.config().database_url.as_deref().ok_or(Error::MissingDatabaseUrl)?;
        self.connect_raw().await.map_err(|source| Error::Connect { url: mask_password(url), source })
    }

    async fn connect_worker(&self) -> Result<Client, (Option<i64>, tokio_postgres::Error)> {
        self.connect_raw().await.map_err(|e| (None, e))
    }

    /// A dedicated connection (not from the application pool: sized by `jobs`, so a worker
    /// never waits for one). Its session search path is empty, so a statement that somehow ran
    /// outside tenantry's `SET LOCAL` could not create anything in the default schema.
    async fn connect_raw(&self) -> Result<Client, tokio_postgres::Error> {
        let url = self.tenantry.config().database_url.as_deref().unwrap_or_default();
        let mut pg_config: tokio_postgres::Config = url.parse()?;
        pg_config.application_name("tenantry migrate");
        let (client, connection) = pg_config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("migration connection closed: {err}");
            }
        });
        client.batch_execute("SELECT set_config('search_path', '', false)").await?;
        Ok(client)
    }

    fn emit(&self, event: &MigrationEvent) {
        if let Some(sink) = &self.events {
            sink(event);
        }
    }
}

fn failed(subject: Subject, failure: Failure, planned: Vec<(i64, bool)>) -> SchemaResult {
    SchemaResult { subject, outcome: Outcome::Failed(failure), planned }
}

fn missing_schema_failure() -> Failure {
    Failure {
        version: None,
        sqlstate: Some("3F000".to_owned()),
        message: "the schema does not exist; create the tenant, or remove it from the tenant source".to_owned(),
        applied_before_failure: Vec::new(),
        attempts: 0,
    }
}

fn planned(plan: &Plan) -> Vec<(i64, bool)> {
    plan.steps.iter().map(|s| (s.version, s.direction == super::plan::Direction::Up)).collect()
}

/// Failures worth another attempt: lock timeouts, deadlocks, serialization failures, a state
/// overtaken by another process, the server shutting down or refusing connections, and lost
/// connections (errors without a SQLSTATE).
fn is_transient(error: &tokio_postgres::Error) -> bool {
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
