//! Progress events and hooks: how the CLI (or your code) watches a run.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::create::CreateReport;
use super::report::{MigrationReport, SchemaResult, Subject};
use crate::name::TenantName;

/// Something that happened during a run, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MigrationEvent {
    /// Another run holds the run lock; this one waits for it.
    WaitingForRunLock,
    /// The run lock is held; work starts.
    RunLockAcquired,
    /// Every selected tenant is planned.
    Planned {
        /// Tenants selected.
        tenants: usize,
        /// Tenants with work to do.
        pending: usize,
        /// Tenants already at the goal.
        up_to_date: usize,
        /// Tenants that cannot be planned (checksum drift, missing schema…).
        blocked: usize,
    },
    /// Work on a schema started.
    Started {
        /// The schema.
        subject: Subject,
    },
    /// A transient failure; the schema will be tried again.
    Retrying {
        /// The schema.
        subject: Subject,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// What went wrong.
        error: String,
    },
    /// A schema is done (succeeded, failed or skipped).
    Finished {
        /// Its result.
        result: SchemaResult,
    },
    /// The template was judged unusable: new tenants are created by migrations until it
    /// changes. Sent once per judgment (once per version of the template), not once per tenant.
    TemplateUnusable {
        /// Why it cannot be cloned, and what to do about it.
        reason: String,
    },
    /// A tenant was created ([`Migrator::create`](super::Migrator::create)).
    Created {
        /// How, and at which versions.
        report: CreateReport,
        /// Wall time of its creation.
        duration: Duration,
    },
    /// Creating a tenant failed; nothing of it was left behind.
    CreateFailed {
        /// The tenant.
        tenant: TenantName,
        /// What went wrong.
        error: String,
    },
}

/// Receives events; called from the run's task, so keep it quick.
pub type EventSink = Arc<dyn Fn(&MigrationEvent) + Send + Sync>;

/// Code run around each schema and after the run. Every method defaults to doing nothing.
pub trait MigrationHooks: Send + Sync + 'static {
    /// Before a schema's work starts.
    fn before_schema<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, ()> {
        let _ = subject;
        Box::pin(async {})
    }

    /// After a schema's work ends, with its result.
    fn after_schema<'a>(&'a self, result: &'a SchemaResult) -> BoxFuture<'a, ()> {
        let _ = result;
        Box::pin(async {})
    }

    /// After the whole run, with its report.
    fn after_run<'a>(&'a self, report: &'a MigrationReport) -> BoxFuture<'a, ()> {
        let _ = report;
        Box::pin(async {})
    }
}

/// Shared hooks: keep an `Arc` to read what they recorded after the run.
impl<T: MigrationHooks> MigrationHooks for Arc<T> {
    fn before_schema<'a>(&'a self, subject: &'a Subject) -> BoxFuture<'a, ()> {
        (**self).before_schema(subject)
    }

    fn after_schema<'a>(&'a self, result: &'a SchemaResult) -> BoxFuture<'a, ()> {
        (**self).after_schema(result)
    }

    fn after_run<'a>(&'a self, report: &'a MigrationReport) -> BoxFuture<'a, ()> {
        (**self).after_run(report)
    }
}

/// The hooks used when none are given.
pub(crate) struct NoHooks;

impl MigrationHooks for NoHooks {}
