//! `exec`: arbitrary SQL in every tenant, on the migration executor.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::dispatch::{Job, Work};
use super::events::MigrationEvent;
use super::migrator::Migrator;
use super::options::{RunOptions, Selection};
use super::report::{MigrationReport, Outcome, SchemaResult, Subject};
use super::{durability, lock};
use crate::error::Error;

impl Migrator {
    /// Runs `sql` in every selected tenant (`Selection::All` means every tenant here), each in
    /// its own transaction with the tenant's search path, on the same executor as migrations:
    /// `jobs` workers, tenant locks, `lock_timeout`, failure isolation, `fail_fast`, the run
    /// lock, events and a report (each tenant `Succeeded` with nothing applied, or `Failed`).
    ///
    /// Server-reported transient errors (lock timeout, deadlock, serialization failure) are
    /// retried, since PostgreSQL rolled the transaction back; a lost connection is not, because
    /// the COMMIT may have happened and `sql` need not be idempotent.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn exec(&self, sql: &str, options: &RunOptions) -> Result<MigrationReport, Error> {
        let started = Instant::now();
        let coordinator = self.connect().await?;
        let server_started = durability::server_started(&coordinator).await?;
        self.acquire_run_lock(&coordinator, options.no_wait).await?;
        let selection = match &options.selection {
            Selection::Tenants(_) => options.selection.clone(),
            _ => Selection::TenantsOnly,
        };
        let result = async {
            let tenants = self.selected_tenants(&selection).await?;
            let sql: Arc<str> = Arc::from(sql);
            let queue: VecDeque<Job> = tenants
                .iter()
                .enumerate()
                .map(|(index, tenant)| Job {
                    index,
                    subject: Subject::Tenant(tenant.clone()),
                    search_path: self.tenantry.ddl_search_path(tenant).as_sql().to_owned(),
                    work: Work::Exec(sql.clone()),
                })
                .collect();
            self.emit(&MigrationEvent::Planned {
                tenants: queue.len(),
                pending: queue.len(),
                up_to_date: 0,
                blocked: 0,
            });
            let jobs = options.jobs.unwrap_or(self.tenantry.config().migrations.jobs).max(1);
            let mut results: Vec<Option<SchemaResult>> = vec![None; queue.len()];
            self.dispatch(&coordinator, queue, &mut results, jobs, &self.source.tenant, options).await;
            let mut report =
                MigrationReport { tenants: results.into_iter().flatten().collect(), ..MigrationReport::default() };
            // Workers committed asynchronously: confirm on disk, or say what cannot be
            // confirmed (`exec` leaves no record to read again: crates/tenantry/src/migrate/durability.rs).
            let committed = report.results().any(|r| matches!(r.outcome, Outcome::Succeeded { .. }));
            let durable = self.tenantry.config().migrations.durable_commits;
            if committed && !durable && !self.flush(&coordinator, &server_started).await? {
                durability::mark_unconfirmed(&mut report, |_, _, _| None);
            }
            Ok::<_, Error>(report)
        }
        .await;
        let _ = coordinator.batch_execute(lock::RUN_UNLOCK_SQL).await;
        let mut report = result?;
        report.duration = started.elapsed();
        self.hooks.after_run(&report).await;
        Ok(report)
    }
}
