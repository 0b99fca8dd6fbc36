//! [`Migrator`]: runs, locks and connections.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use tokio_postgres::Client;

use super::apply::ApplySettings;
use super::events::{EventSink, MigrationEvent, MigrationHooks, NoHooks};
use super::gate::{self, NoTxGate};
use super::judgment::TemplateCache;
use super::options::{RunOptions, Selection};
use super::plan::Goal;
use super::report::{MigrationReport, Outcome, SchemaResult, SkipReason, Subject};
use super::source::MigrationSource;
use super::{durability, lock, state};
use crate::error::{mask_password, Error};
use crate::name::TenantName;
use crate::sql::{quote_ident, quote_ident_list};
use crate::Tenantry;

/// The `application_name` of the migrator's coordinator and workers, unless the user chose one.
pub(crate) const MIGRATE_APPLICATION_NAME: &str = "tenantry-migrate";

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
    pub(super) tenantry: Tenantry,
    pub(super) source: Arc<MigrationSource>,
    pub(super) events: Option<EventSink>,
    pub(super) hooks: Arc<dyn MigrationHooks>,
    pub(super) template_cache: Arc<TemplateCache>,
    /// Serialises no-transaction steps with this process's transactions (see `gate.rs`).
    pub(super) gate: Arc<NoTxGate>,
    /// Set once the migrator's URL was found to give it a session of its own (`pooler.rs`).
    pub(super) session_checked: Arc<AtomicBool>,
}

/// How many times a run lists the tenants again to migrate those created meanwhile.
const CATCH_UP_ROUNDS: usize = 3;

impl Migrator {
    /// A migrator for `tenantry` with migrations from `source`.
    pub fn new(tenantry: &Tenantry, source: MigrationSource) -> Self {
        Self {
            tenantry: tenantry.clone(),
            source: Arc::new(source),
            events: None,
            hooks: Arc::new(NoHooks),
            template_cache: Arc::default(),
            gate: Arc::default(),
            session_checked: Arc::default(),
        }
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
    /// [`Error::TransactionPooler`] when the migrator's URL (`migrations.database_url`, else
    /// `database_url`) goes through a transaction pooler, [`Error::MigrationRunLocked`] under
    /// `no_wait`, [`Error::TenantNotFound`] for a selected tenant that does not exist,
    /// [`Error::NotATenant`] for one that is not a tenant,
    /// [`Error::Database`] while reading the fleet's state.
    pub async fn run(&self, options: &RunOptions) -> Result<MigrationReport, Error> {
        let started = Instant::now();
        let coordinator = self.connect().await?;
        self.refuse_transaction_pooler(&coordinator).await?;
        let server_started = durability::server_started(&coordinator).await?;
        self.acquire_run_lock(&coordinator, options.no_wait).await?;
        let result = self.run_locked(&coordinator, &server_started, options).await;
        // Closing the coordinator would release the lock too; unlock explicitly all the same.
        let _ = coordinator.batch_execute(lock::RUN_UNLOCK_SQL).await;
        let mut report = result?;
        report.duration = started.elapsed();
        self.hooks.after_run(&report).await;
        Ok(report)
    }

    async fn run_locked(
        &self,
        coordinator: &Client,
        server_started: &str,
        options: &RunOptions,
    ) -> Result<MigrationReport, Error> {
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
            let schema = config.shared_migrations_schema().to_owned();
            if schema != config.default_schema && !options.dry_run {
                coordinator
                    .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&schema)))
                    .await
                    .map_err(|err| Error::database("creating the shared migrations' schema", None, err))?;
            }
            let subject = Subject::Shared { schema: schema.clone() };
            let search_path = self.shared_search_path();
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
                let template_changed = report.template.as_ref().is_some_and(|r| match &r.outcome {
                    Outcome::Succeeded { applied, reverted, .. } => !applied.is_empty() || !reverted.is_empty(),
                    Outcome::Failed(failure) => !failure.applied_before_failure.is_empty(),
                    _ => false,
                });
                if template_changed {
                    // Judged again at the next creation, instead of one creation finding out.
                    self.template_cache.forget().await;
                }
            }
            let subjects = tenants
                .iter()
                .map(|t| (Subject::Tenant(t.clone()), self.tenantry.ddl_search_path(t).as_sql().to_owned()))
                .collect();
            let jobs = options.jobs.unwrap_or(config.migrations.jobs).max(1);
            report.tenants = self.plan_and_execute(coordinator, subjects, &self.source.tenant, options, jobs).await?;
            if !matches!(options.selection, Selection::Tenants(_)) {
                self.catch_up_new_tenants(coordinator, &tenants, &mut report, options, jobs).await?;
            }
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
        if committed_something && !config.migrations.durable_commits && !self.flush(coordinator, server_started).await?
        {
            self.recheck_after_restart(&mut report).await?;
        }

        let dump = latest && !options.dry_run && options.dump.unwrap_or(config.migrations.dump);
        if dump && report.is_success() && committed_something {
            let settings = self.tenantry.migrations_connection_settings();
            let schemas = super::dump::dumped_schemas(config);
            if let Err(warning) = super::dump::write_dump(settings, &schemas, &config.migrations.dump_path).await {
                tracing::warn!("schema dump skipped: {warning}");
                report.warnings.push(format!("schema dump not written: {warning}"));
            }
        }
        Ok(report)
    }

    /// The selected tenants, sorted. A selection by name looks up only those tenants; every
    /// other selection lists the fleet (and refreshes the known-tenants cache).
    pub(super) async fn selected_tenants(&self, selection: &Selection) -> Result<Vec<TenantName>, Error> {
        match selection {
            Selection::Tenants(wanted) => {
                self.tenantry.check_tenants(wanted).await?;
                let mut wanted = wanted.clone();
                wanted.sort();
                wanted.dedup();
                Ok(wanted)
            }
            _ => self.tenantry.list().await,
        }
    }

    /// Takes the run lock, trying again until it is free (unless `no_wait`). Never a blocking
    /// wait: a session blocked on a lock holds a snapshot, and the running run's
    /// `CREATE INDEX CONCURRENTLY` would wait for it until its `lock_timeout` (issue 9, where
    /// parallel `create`s queued here made every index build of the others time out).
    pub(super) async fn acquire_run_lock(&self, coordinator: &Client, no_wait: bool) -> Result<(), Error> {
        let mut polls = 0;
        loop {
            let free: bool = coordinator
                .query_one(lock::TRY_RUN_LOCK_SQL, &[])
                .await
                .map_err(|err| Error::database("taking the migration run lock", None, err))?
                .get(0);
            if free {
                break;
            }
            if no_wait {
                return Err(Error::MigrationRunLocked);
            }
            if polls == 0 {
                tracing::info!("another migration run holds the run lock; waiting for it to finish");
                self.emit(&MigrationEvent::WaitingForRunLock);
            }
            tokio::time::sleep(gate::poll_delay(polls)).await;
            polls += 1;
        }
        self.emit(&MigrationEvent::RunLockAcquired);
        Ok(())
    }

    /// The template's path, like a tenant's ([`SearchPath`](crate::SearchPath)): `pg_temp` last.
    /// Tenants created while the run worked (by an application whose migrations are older than
    /// the run's) would be left behind while the run reports success: list the tenants again
    /// and migrate the new ones, up to [`CATCH_UP_ROUNDS`] times; any still arriving after that
    /// are named in a warning.
    async fn catch_up_new_tenants(
        &self,
        coordinator: &Client,
        planned: &[TenantName],
        report: &mut MigrationReport,
        options: &RunOptions,
        jobs: usize,
    ) -> Result<(), Error> {
        let mut seen: std::collections::BTreeSet<TenantName> = planned.iter().cloned().collect();
        for round in 0..=CATCH_UP_ROUNDS {
            let new: Vec<TenantName> =
                self.selected_tenants(&options.selection).await?.into_iter().filter(|t| !seen.contains(t)).collect();
            if new.is_empty() {
                return Ok(());
            }
            if round == CATCH_UP_ROUNDS {
                let names: Vec<&str> = new.iter().map(TenantName::as_str).collect();
                report.warnings.push(format!(
                    "{} tenant(s) created during the run were not migrated (run `migrate` again): {}",
                    new.len(),
                    names.join(", ")
                ));
                return Ok(());
            }
            let subjects = new
                .iter()
                .map(|t| (Subject::Tenant(t.clone()), self.tenantry.ddl_search_path(t).as_sql().to_owned()))
                .collect();
            let results = self.plan_and_execute(coordinator, subjects, &self.source.tenant, options, jobs).await?;
            report.tenants.extend(results);
            seen.extend(new);
        }
        Ok(())
    }

    /// Flushes the run's asynchronous commits ([`durability`]) on the coordinator, or on a fresh
    /// connection when the coordinator's is gone; `false` if the server restarted since it
    /// started at `server_started`.
    pub(super) async fn flush(&self, coordinator: &Client, server_started: &str) -> Result<bool, Error> {
        if !coordinator.is_closed() {
            if let Ok(same) = durability::flush(coordinator, server_started).await {
                return Ok(same);
            }
        }
        durability::flush(&self.connect().await?, server_started).await
    }

    /// After a restart, reads every schema's bookkeeping again and reports the schemas whose
    /// recorded versions do not show what the run did as failed.
    async fn recheck_after_restart(&self, report: &mut MigrationReport) -> Result<(), Error> {
        let client = self.connect().await?;
        let tenant_schemas: Vec<&str> =
            report.template.iter().chain(&report.tenants).map(|r| r.subject.schema()).collect();
        let (mut states, _) = state::read_states(&client, &tenant_schemas, &self.source.tenant, true).await?;
        if let Some(shared) = &report.shared {
            let (shared_states, _) =
                state::read_states(&client, &[shared.subject.schema()], &self.source.shared, true).await?;
            states.extend(shared_states);
        }
        durability::mark_unconfirmed(report, |schema, applied, reverted| {
            Some(match states.get(schema) {
                Some(state::SchemaState::Applied(recorded)) => {
                    !applied.iter().all(|v| recorded.0.contains_key(v))
                        || reverted.iter().any(|v| recorded.0.contains_key(v))
                }
                _ => true,
            })
        });
        Ok(())
    }

    /// The shared migrations' path: their schema first (where objects they create without a
    /// schema land), then the default schema and the shared schemas.
    pub(super) fn shared_search_path(&self) -> String {
        let config = self.tenantry.config();
        let mut schemas = vec![config.shared_migrations_schema(), config.default_schema.as_str()];
        for shared in &config.shared_schemas {
            if !schemas.contains(&shared.as_str()) {
                schemas.push(shared);
            }
        }
        schemas.dedup();
        format!("{}, pg_temp", quote_ident_list(schemas))
    }

    pub(super) fn template_search_path(&self) -> String {
        let config = self.tenantry.config();
        let schemas = quote_ident_list(
            std::iter::once(config.migrations.template_schema.as_str())
                .chain(config.shared_schemas.iter().map(String::as_str)),
        );
        format!("{schemas}, pg_temp")
    }

    pub(super) fn apply_settings(&self) -> ApplySettings {
        let migrations = &self.tenantry.config().migrations;
        ApplySettings {
            lock_timeout_ms: migrations.lock_timeout_ms,
            statement_timeout_ms: migrations.statement_timeout_ms,
            transaction_per_migration: migrations.transaction_per_migration,
            asynchronous_commit: !migrations.durable_commits,
        }
    }

    /// A connection to the migrator's URL: `migrations.database_url`, else `database_url`.
    pub(super) async fn connect(&self) -> Result<Client, Error> {
        let url = self.tenantry.config().migrations_database_url().ok_or(Error::MissingDatabaseUrl)?;
        self.connect_raw().await.map_err(|source| Error::Connect { url: mask_password(url), source })
    }

    pub(super) async fn connect_worker(&self) -> Result<Client, (Option<i64>, tokio_postgres::Error)> {
        self.connect_raw().await.map_err(|e| (None, e))
    }

    /// A dedicated connection (not from the application pool: sized by `jobs`, so a worker
    /// never waits for one). Its session search path is empty, so a statement that somehow ran
    /// outside tenantry's `SET LOCAL` could not create anything in the default schema.
    pub(super) async fn connect_raw(&self) -> Result<Client, tokio_postgres::Error> {
        // Its own application_name, so operators can tell the migrator apart in pg_stat_activity.
        let settings = self
            .tenantry
            .migrations_connection_settings()
            .clone()
            .with_default_application_name(MIGRATE_APPLICATION_NAME);
        let (client, connection) = settings.connect().await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("migration connection closed: {err}");
            }
        });
        client.batch_execute("SELECT set_config('search_path', '', false)").await?;
        Ok(client)
    }

    pub(super) fn emit(&self, event: &MigrationEvent) {
        if let Some(sink) = &self.events {
            sink(event);
        }
    }
}
