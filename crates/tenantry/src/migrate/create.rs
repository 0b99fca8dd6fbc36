//! Creating a tenant at the latest version: its migrations (and seed) in the creating
//! transaction, so a failure leaves no schema behind.

use std::time::Instant;

use futures_util::future::{join_all, BoxFuture};

use super::bookkeeping::{self, Applied};
use super::events::MigrationEvent;
use super::judgment::{Judgment, Unusable};
use super::lock;
use super::migrator::Migrator;
use super::options::{RunOptions, Selection};
use super::report::{MigrationReport, Outcome, Subject};
use super::source::MigrationSet;
use super::temp;
use super::template::CloneNewTenant;
use crate::context::TenantTransaction;
use crate::error::{BoxError, Error};
use crate::name::TenantName;
use crate::schema::clone::check_fingerprint_sql;
use crate::CreateHook;

/// How a tenant was brought to the latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateMethod {
    /// Copied in-database from the template schema.
    Cloned,
    /// By running every tenant migration; `why_not_cloned` says why the template was not used.
    Migrated {
        /// Why the clone fast path was not taken (`None` when not asked for).
        why_not_cloned: Option<String>,
    },
}

/// How [`Migrator::create`] builds a tenant. `Default`: clone if possible, run the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// Copy the template schema when it is usable (falls back to migrations, saying why).
    pub clone: bool,
    /// Run `migrations.seed_file` in the new tenant.
    pub seed: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self { clone: true, seed: true }
    }
}

/// What [`Migrator::create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateReport {
    /// The new tenant.
    pub tenant: TenantName,
    /// Clone or migrations.
    pub method: CreateMethod,
    /// The versions the tenant starts with.
    pub versions: Vec<i64>,
    /// Whether the seed file ran.
    pub seeded: bool,
    /// No-transaction migrations that ran after the creating transaction committed.
    pub applied_after_commit: Vec<i64>,
}

/// Runs every transactional tenant migration, with bookkeeping, then the seed, inside the
/// creating transaction. No-transaction migrations (which cannot run in a transaction) are
/// left for the caller to run after commit.
pub(crate) struct MigrateNewTenant<'a> {
    pub(crate) migrations: &'a MigrationSet,
    pub(crate) seed: Option<&'a str>,
    /// A statement run first: the template's fingerprint check, when the template was found
    /// unusable at that fingerprint (`judgment.rs`).
    pub(crate) template_check: Option<String>,
}

impl MigrateNewTenant<'_> {
    /// The versions this hook applies in the transaction: every migration up to the first
    /// no-transaction one (order must be kept; the rest run after commit).
    pub(crate) fn versions(&self) -> Vec<i64> {
        self.migrations.iter().take_while(|m| !m.up_no_transaction).map(|m| m.version).collect()
    }

    pub(crate) async fn run(&self, tenant: &TenantName, tx: &mut TenantTransaction) -> Result<(), Error> {
        let schema = tenant.schema();
        let mut applied = Applied::default();
        let mut messages = vec![(
            "preparing the new tenant's bookkeeping",
            format!(
                "{}; {}; {}",
                lock::NO_TX_SHARED_SQL,
                lock::tenant_xact_lock_sql(schema),
                bookkeeping::create_table_sql(schema)
            ),
        )];
        if let Some(check) = &self.template_check {
            messages.insert(0, ("checking that the template has not changed", check.clone()));
        }
        for migration in self.migrations.iter().take_while(|m| !m.up_no_transaction) {
            messages.push((
                "running a tenant migration in the new tenant",
                format!(
                    "{};\n{}\n;\n{}",
                    bookkeeping::MARK_START_SQL,
                    migration.up,
                    bookkeeping::insert_row_sql(schema, migration)
                ),
            ));
            applied.0.insert(migration.version, migration.checksum.clone());
        }
        messages.push(("preparing the new tenant's bookkeeping", bookkeeping::comment_sql(schema, &applied)));
        if let Some(seed) = self.seed {
            messages.push((SEED, seed.to_owned()));
        }
        run_in_new_tenant(tenant, tx, messages).await
    }
}

/// What a failure of the seed file's message is reported as.
pub(super) const SEED: &str = "running the seed file in the new tenant";

/// Runs `messages` (what each does, and its SQL) pipelined in the new tenant's transaction: one
/// round trip. The first message discards the pooled connection's temporary objects and sets
/// the search path with `pg_temp` last; the last discards the temporary objects the messages
/// made, so none outlives the creation on the pooled connection (see [`temp`](super::temp)).
/// Inside the transaction, the first error aborts it and every later message fails too, so the
/// first error is the one reported.
pub(super) async fn run_in_new_tenant(
    tenant: &TenantName,
    tx: &mut TenantTransaction,
    messages: Vec<(&'static str, String)>,
) -> Result<(), Error> {
    let enter = temp::enter_schema_sql("LOCAL", tx.search_path().as_sql());
    let messages: Vec<(&str, String)> = std::iter::once(("preparing the new tenant's session", enter))
        .chain(messages)
        .chain(std::iter::once(("discarding the new tenant's temporary objects", temp::DISCARD_TEMP_SQL.to_owned())))
        .collect();
    let client = tx.client();
    let results = join_all(messages.iter().map(|(_, sql)| client.batch_execute(sql))).await;
    match results.into_iter().zip(&messages).find_map(|(result, (what, _))| result.err().map(|err| (*what, err))) {
        None => Ok(()),
        Some((what, err)) => Err(Error::database(what, Some(tenant.as_str()), err)),
    }
}

impl CreateHook for MigrateNewTenant<'_> {
    fn after_create<'a>(
        &'a self,
        tenant: &'a TenantName,
        tx: &'a mut TenantTransaction,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { self.run(tenant, tx).await.map_err(|e| Box::new(e) as BoxError) })
    }
}

/// How many times a creation judges the template when it keeps changing under it, before it
/// runs the migrations without looking at the template again.
const JUDGMENTS: usize = 2;

/// [`Migrator::create_many`] creates up to this many tenants per job before it runs their
/// no-transaction migrations: enough to keep every worker busy in that run, few enough that
/// the first tenants of a long list are usable soon.
const CREATE_BATCH_PER_JOB: usize = 8;

/// Whether `err` is the creating transaction's finding that the template changed since it was
/// judged (`TN001`): the creation was rolled back, and may be tried again.
fn template_changed(err: &Error) -> bool {
    err.sqlstate() == Some(bookkeeping::STATE_CHANGED_SQLSTATE)
}

impl Migrator {
    /// [`Tenantry::create_with`](crate::Tenantry::create_with), tried again for as long as a
    /// no-transaction step runs alone: the creating transaction takes the running lock shared
    /// first, and rolls back at once when it cannot (see `gate.rs`).
    async fn create_when_no_step_runs(&self, tenant: &TenantName, hook: &dyn CreateHook) -> Result<(), Error> {
        self.gate
            .when_no_step_runs(
                |err: &Error| err.sqlstate() == Some(lock::NO_TX_BUSY_SQLSTATE),
                || self.tenantry.create_with(tenant, Some(hook)),
            )
            .await
    }

    /// Creates `tenants` like [`create`](Self::create), up to `jobs` at a time, each in its own
    /// transaction: one result per tenant, in the order given. A failure never stops the others.
    /// Creation is DDL-bound (catalog inserts, index builds), so parallel workers help even when
    /// every tenant is cloned from the same template.
    ///
    /// Tenants are created in batches of 8 × `jobs`. The no-transaction
    /// migrations that creating by migrations leaves for after the commit run once per batch,
    /// in one run over the batch's tenants with `jobs` workers, as `migrate` runs them: one run
    /// per tenant would take the run lock one tenant at a time, and `--jobs 4` would be no
    /// faster than one job (docs/benchmarks.md, "No-transaction steps").
    ///
    /// Events: [`MigrationEvent::Planned`] first (every tenant pending), then those of each
    /// [`create`](Self::create); the CLI draws `migrate`'s progress view from them.
    pub async fn create_many(
        &self,
        tenants: &[TenantName],
        options: &CreateOptions,
        jobs: usize,
    ) -> Vec<Result<CreateReport, Error>> {
        use futures_util::stream::{self, StreamExt};
        let count = tenants.len();
        self.emit(&MigrationEvent::Planned { tenants: count, pending: count, up_to_date: 0, blocked: 0 });
        let jobs = jobs.max(1);
        let mut results = Vec::with_capacity(count);
        for batch in tenants.chunks(jobs * CREATE_BATCH_PER_JOB) {
            let created: Vec<(Instant, Result<CreateReport, Error>)> = stream::iter(batch.iter().map(|tenant| async {
                let started = Instant::now();
                self.emit(&MigrationEvent::Started { subject: Subject::Tenant(tenant.clone()) });
                (started, self.create_in_transaction(tenant, options).await)
            }))
            .buffered(jobs)
            .collect()
            .await;
            let unfinished: Vec<TenantName> = created
                .iter()
                .filter_map(|(_, result)| result.as_ref().ok().filter(|report| self.unfinished(report)))
                .map(|report| report.tenant.clone())
                .collect();
            let rest = self.finish_after_commit(&unfinished, jobs).await;
            for (tenant, (started, result)) in batch.iter().zip(created) {
                let result = match result {
                    Ok(report) if self.unfinished(&report) => self.finished(report, &rest),
                    other => other,
                };
                self.announce_created(tenant, &result, started);
                results.push(result);
            }
        }
        results
    }

    /// Creates `tenant` at the latest version, with the seed file (`migrations.seed_file`).
    ///
    /// Fast path: when the template schema is at the latest version and holds only objects
    /// tenantry can copy, it is cloned in-database (one message), its bookkeeping rows with it.
    /// Otherwise every tenant migration runs; [`CreateMethod::Migrated`] says why the template
    /// was not used. The template is judged once per version of it, not once per tenant (see
    /// docs/migrations.md, "How the template is judged"): the reason is logged and sent as
    /// [`MigrationEvent::TemplateUnusable`] once, and a fallback costs what `clone: false`
    /// costs plus one check of the template's fingerprint. Either way it all happens in one transaction under the tenant's lock, so a
    /// failure leaves nothing behind. No-transaction migrations (migrations path only) run
    /// right after the commit, through the normal executor.
    ///
    /// Events: [`MigrationEvent::Started`], then [`MigrationEvent::Created`] or
    /// [`MigrationEvent::CreateFailed`].
    ///
    /// # Errors
    /// [`Error::TenantExists`], [`Error::Database`] naming the failing step, or
    /// [`Error::MigrationSource`] for an unreadable seed file.
    pub async fn create(&self, tenant: &TenantName, options: &CreateOptions) -> Result<CreateReport, Error> {
        let started = Instant::now();
        self.emit(&MigrationEvent::Started { subject: Subject::Tenant(tenant.clone()) });
        let result = match self.create_in_transaction(tenant, options).await {
            Ok(report) if self.unfinished(&report) => {
                let rest = self.finish_after_commit(std::slice::from_ref(tenant), 1).await;
                self.finished(report, &rest)
            }
            other => other,
        };
        self.announce_created(tenant, &result, started);
        result
    }

    /// Sends [`MigrationEvent::Created`] or [`MigrationEvent::CreateFailed`] for `result`.
    fn announce_created(&self, tenant: &TenantName, result: &Result<CreateReport, Error>, started: Instant) {
        self.emit(&match result {
            Ok(report) => MigrationEvent::Created { report: report.clone(), duration: started.elapsed() },
            Err(error) => MigrationEvent::CreateFailed { tenant: tenant.clone(), error: error.to_string() },
        });
    }

    /// Creates `tenant` in its creating transaction (clone, or the migrations up to the first
    /// no-transaction one): the report of what that transaction did; [`unfinished`](Self::unfinished)
    /// says whether migrations remain for after the commit.
    async fn create_in_transaction(&self, tenant: &TenantName, options: &CreateOptions) -> Result<CreateReport, Error> {
        let seed_sql = match (&self.tenantry.config().migrations.seed_file, options.seed) {
            (Some(path), true) => Some(std::fs::read_to_string(path).map_err(|err| Error::MigrationSource {
                path: path.clone(),
                problem: format!("cannot read the seed file: {err}"),
            })?),
            _ => None,
        };
        let seed = seed_sql.as_deref();
        let template_schema = self.tenantry.config().migrations.template_schema.as_str();
        let mut why_not_cloned = None;
        if options.clone {
            // The remembered verdict first; after a TN001 (the template changed), judge again.
            let mut stale: Option<String> = None;
            for _ in 0..JUDGMENTS {
                match self.template(stale.as_deref()).await? {
                    Judgment::Usable(template) => {
                        let hook = CloneNewTenant { template: &template, template_schema, seed };
                        match self.create_when_no_step_runs(tenant, &hook).await {
                            Ok(()) => {
                                return Ok(CreateReport {
                                    tenant: tenant.clone(),
                                    method: CreateMethod::Cloned,
                                    versions: template.applied.0.keys().copied().collect(),
                                    seeded: seed.is_some(),
                                    applied_after_commit: Vec::new(),
                                })
                            }
                            Err(err) if template_changed(&err) => stale = Some(template.fingerprint.clone()),
                            Err(err) => return Err(err),
                        }
                    }
                    Judgment::Unusable(Unusable { reason, fingerprint }) => {
                        let check = fingerprint.as_deref().map(|f| check_fingerprint_sql(template_schema, f));
                        match self.migrate_new_tenant(tenant, seed, check).await {
                            Err(err) if template_changed(&err) => stale = fingerprint,
                            result => return Ok(Self::migrated(tenant, result?, Some(reason), seed.is_some())),
                        }
                    }
                }
            }
            let reason = "the template kept changing while new tenants were created from it";
            tracing::warn!(tenant = %tenant, "not cloning the template: {reason}; running migrations instead");
            why_not_cloned = Some(reason.to_owned());
        }
        let versions = self.migrate_new_tenant(tenant, seed, None).await?;
        Ok(Self::migrated(tenant, versions, why_not_cloned, seed.is_some()))
    }

    /// Creates `tenant` by its transactional migrations (and `seed`), after `template_check`
    /// when given; returns the versions applied in the creating transaction.
    async fn migrate_new_tenant(
        &self,
        tenant: &TenantName,
        seed: Option<&str>,
        template_check: Option<String>,
    ) -> Result<Vec<i64>, Error> {
        let hook = MigrateNewTenant { migrations: &self.source.tenant, seed, template_check };
        self.create_when_no_step_runs(tenant, &hook).await?;
        Ok(hook.versions())
    }

    /// The report of a creation by migrations, before what is left for after the commit.
    fn migrated(tenant: &TenantName, versions: Vec<i64>, why_not_cloned: Option<String>, seeded: bool) -> CreateReport {
        CreateReport {
            tenant: tenant.clone(),
            method: CreateMethod::Migrated { why_not_cloned },
            versions,
            seeded,
            applied_after_commit: Vec::new(),
        }
    }

    /// Whether the creating transaction left migrations (no-transaction ones, and those after
    /// the first of them) for after its commit.
    fn unfinished(&self, report: &CreateReport) -> bool {
        matches!(report.method, CreateMethod::Migrated { .. }) && report.versions.len() < self.source.tenant.len()
    }

    /// Runs the migrations the creating transactions of `tenants` left, with `jobs` workers:
    /// one run, as `migrate` would. It selects those tenants only: it reads their states
    /// alone, writes no schema dump (which would `pg_dump` a catalog that grows with every
    /// tenant) and sends no events of its own (the creations' are sent by the callers). A run
    /// that fails as a whole gives its message to every tenant.
    async fn finish_after_commit(&self, tenants: &[TenantName], jobs: usize) -> Result<MigrationReport, String> {
        if tenants.is_empty() {
            return Ok(MigrationReport::default());
        }
        let silent = Migrator { events: None, ..self.clone() };
        let options = RunOptions {
            selection: Selection::Tenants(tenants.to_vec()),
            jobs: Some(jobs),
            dump: Some(false),
            ..RunOptions::default()
        };
        silent.run(&options).await.map_err(|err| err.to_string())
    }

    /// `report` completed with what [`finish_after_commit`](Self::finish_after_commit) did for
    /// its tenant.
    fn finished(
        &self,
        mut report: CreateReport,
        rest: &Result<MigrationReport, String>,
    ) -> Result<CreateReport, Error> {
        let created_but =
            |problem: String, version: Option<i64>, sqlstate: Option<String>| Error::TenantCreatedIncomplete {
                tenant: report.tenant.as_str().to_owned(),
                version,
                path: version.and_then(|v| self.source.tenant.get(v)).map(|m| m.path.clone()),
                sqlstate,
                problem,
            };
        let rest = rest
            .as_ref()
            .map_err(|err| created_but(format!("running its no-transaction migrations failed: {err}"), None, None))?;
        let outcome = rest.tenants.iter().find(|r| r.subject.tenant() == Some(&report.tenant)).map(|r| &r.outcome);
        match outcome {
            Some(Outcome::Succeeded { applied, .. }) => {
                report.applied_after_commit.clone_from(applied);
                report.versions.extend(applied);
                Ok(report)
            }
            Some(Outcome::Failed(failure)) => Err(created_but(
                format!("a no-transaction migration failed: {failure}"),
                failure.version,
                failure.sqlstate.clone(),
            )),
            Some(Outcome::Skipped { .. }) | None => Ok(report),
        }
    }
}
