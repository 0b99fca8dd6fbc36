//! Creating a tenant at the latest version: its migrations (and seed) in the creating
//! transaction, so a failure leaves no schema behind.

use futures_util::future::{join_all, BoxFuture};

use super::bookkeeping::{self, Applied};
use super::lock;
use super::migrator::Migrator;
use super::options::{RunOptions, Selection};
use super::report::Outcome;
use super::source::MigrationSet;
use super::template::CloneNewTenant;
use crate::context::TenantTransaction;
use crate::error::{BoxError, Error};
use crate::name::TenantName;
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
        let mut messages = vec![format!(
            "{}; {}; {}",
            lock::NO_TX_SHARED_SQL,
            lock::tenant_xact_lock_sql(schema),
            bookkeeping::create_table_sql(schema)
        )];
        for migration in self.migrations.iter().take_while(|m| !m.up_no_transaction) {
            messages.push(format!(
                "{};\n{}\n;\n{}",
                bookkeeping::MARK_START_SQL,
                migration.up,
                bookkeeping::insert_row_sql(schema, migration)
            ));
            applied.0.insert(migration.version, migration.checksum.clone());
        }
        messages.push(bookkeeping::comment_sql(schema, &applied.summary()));
        if let Some(seed) = self.seed {
            messages.push(seed.to_owned());
        }
        // Pipelined: one round trip. Inside the creating transaction, the first error aborts
        // it and every later message fails too.
        let client = tx.client();
        let results = join_all(messages.iter().map(|sql| client.batch_execute(sql))).await;
        let versions = self.versions();
        for (index, result) in results.into_iter().enumerate() {
            if let Err(err) = result {
                let what = match index.checked_sub(1).and_then(|i| versions.get(i)) {
                    Some(_) => "running a tenant migration in the new tenant",
                    None if self.seed.is_some() && index == messages.len() - 1 => {
                        "running the seed file in the new tenant"
                    }
                    None => "preparing the new tenant's bookkeeping",
                };
                return Err(Error::database(what, Some(tenant.as_str()), err));
            }
        }
        Ok(())
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
    pub async fn create_many(
        &self,
        tenants: &[TenantName],
        options: &CreateOptions,
        jobs: usize,
    ) -> Vec<Result<CreateReport, Error>> {
        use futures_util::stream::{self, StreamExt};
        stream::iter(tenants.iter().map(|tenant| self.create(tenant, options))).buffered(jobs.max(1)).collect().await
    }

    /// Creates `tenant` at the latest version, with the seed file (`migrations.seed_file`).
    ///
    /// Fast path: when the template schema is at the latest version and holds only objects
    /// tenantry can copy, it is cloned in-database (one message), its bookkeeping rows with it.
    /// Otherwise every tenant migration runs; [`CreateMethod::Migrated`] says why the template
    /// was not used (also logged). Either way it all happens in one transaction under the
    /// tenant's lock, so a failure leaves nothing behind. No-transaction migrations (migrations
    /// path only) run right after the commit, through the normal executor.
    ///
    /// # Errors
    /// [`Error::TenantExists`], [`Error::Database`] naming the failing step, or
    /// [`Error::MigrationSource`] for an unreadable seed file.
    pub async fn create(&self, tenant: &TenantName, options: &CreateOptions) -> Result<CreateReport, Error> {
        let seed_sql = match (&self.tenantry.config().migrations.seed_file, options.seed) {
            (Some(path), true) => Some(std::fs::read_to_string(path).map_err(|err| Error::MigrationSource {
                path: path.clone(),
                problem: format!("cannot read the seed file: {err}"),
            })?),
            _ => None,
        };
        let mut why_not_cloned = None;
        if options.clone {
            // A cached script first; after a TN001 (the template changed), read it again once.
            for refresh in [false, true] {
                let template = match self.template(refresh).await? {
                    Ok(template) => template,
                    Err(reason) => {
                        why_not_cloned = Some(reason);
                        break;
                    }
                };
                let hook = CloneNewTenant {
                    template: &template,
                    template_schema: &self.tenantry.config().migrations.template_schema,
                    seed: seed_sql.as_deref(),
                };
                match self.create_when_no_step_runs(tenant, &hook).await {
                    Ok(()) => {
                        return Ok(CreateReport {
                            tenant: tenant.clone(),
                            method: CreateMethod::Cloned,
                            versions: template.applied.0.keys().copied().collect(),
                            seeded: seed_sql.is_some(),
                            applied_after_commit: Vec::new(),
                        })
                    }
                    Err(err) if err.sqlstate() == Some(bookkeeping::STATE_CHANGED_SQLSTATE) => {
                        why_not_cloned = Some("the template kept changing while it was being cloned".to_owned());
                    }
                    Err(err) => return Err(err),
                }
            }
            if let Some(reason) = &why_not_cloned {
                tracing::warn!(tenant = %tenant, "not cloning the template: {reason}; running migrations instead");
            }
        }
        let hook = MigrateNewTenant { migrations: &self.source.tenant, seed: seed_sql.as_deref() };
        let versions = hook.versions();
        self.create_when_no_step_runs(tenant, &hook).await?;
        let mut report = CreateReport {
            tenant: tenant.clone(),
            method: CreateMethod::Migrated { why_not_cloned },
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
}
