//! Results as values: what happened to every schema in a run.

use std::fmt;
use std::time::Duration;

use crate::name::TenantName;

/// The schema a result is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The shared migrations, in the default schema.
    Shared {
        /// The default schema.
        schema: String,
    },
    /// The template schema that new tenants are cloned from.
    Template {
        /// The template schema.
        schema: String,
    },
    /// A tenant.
    Tenant(TenantName),
}

impl Subject {
    /// The schema.
    pub fn schema(&self) -> &str {
        match self {
            Self::Shared { schema } | Self::Template { schema } => schema,
            Self::Tenant(tenant) => tenant.schema(),
        }
    }

    /// The tenant, for tenant subjects.
    pub fn tenant(&self) -> Option<&TenantName> {
        match self {
            Self::Tenant(tenant) => Some(tenant),
            _ => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shared { schema } => write!(f, "shared ({schema})"),
            Self::Template { schema } => write!(f, "template ({schema})"),
            Self::Tenant(tenant) => write!(f, "{tenant}"),
        }
    }
}

/// What happened to one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every planned step committed.
    Succeeded {
        /// Versions applied, in order.
        applied: Vec<i64>,
        /// Versions reverted, in order.
        reverted: Vec<i64>,
        /// Wall time spent on this schema, retries included.
        duration: Duration,
    },
    /// A step failed; see [`Failure`].
    Failed(Failure),
    /// Nothing was done.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

impl Outcome {
    /// Whether this is a failure.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

/// A failed schema: which version, PostgreSQL's SQLSTATE and message, and what had committed
/// before the failure (nothing, when the schema's steps share one transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The version whose SQL failed; `None` when the failure was outside any one migration
    /// (connection, lock, COMMIT).
    pub version: Option<i64>,
    /// PostgreSQL's SQLSTATE, when the server reported one.
    pub sqlstate: Option<String>,
    /// What went wrong, with PostgreSQL's detail and hint.
    pub message: String,
    /// Versions committed before the failure (per-migration transactions, no-transaction
    /// migrations, or an earlier attempt).
    pub applied_before_failure: Vec<i64>,
    /// How many attempts were made (transient failures are retried).
    pub attempts: u32,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(version) = self.version {
            write!(f, "version {version}: ")?;
        }
        if let Some(sqlstate) = &self.sqlstate {
            write!(f, "[{sqlstate}] ")?;
        }
        f.write_str(&self.message)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// Why a schema was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Already at the goal: not touched at all.
    UpToDate,
    /// `fail_fast` stopped dispatching after another schema failed.
    FailFast,
    /// The shared migrations failed, so tenants were not migrated.
    SharedFailed,
    /// A dry run: the plan is in [`SchemaResult::planned`].
    DryRun,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UpToDate => "up to date",
            Self::FailFast => "not started: an earlier failure stopped the run (--fail-fast)",
            Self::SharedFailed => "not started: the shared migrations failed",
            Self::DryRun => "dry run",
        })
    }
}

/// The result for one schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaResult {
    /// Which schema.
    pub subject: Subject,
    /// What happened.
    pub outcome: Outcome,
    /// The planned steps as (version, up?) pairs, for dry runs and reports.
    pub planned: Vec<(i64, bool)>,
}

/// Everything a run did: the report the CLI renders and tests assert on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// The shared migrations' result, when they were part of the run.
    pub shared: Option<SchemaResult>,
    /// The template schema's result, when it was part of the run.
    pub template: Option<SchemaResult>,
    /// One result per selected tenant, in tenant order.
    pub tenants: Vec<SchemaResult>,
    /// Warnings that did not fail the run (a schema dump that could not be written).
    pub warnings: Vec<String>,
    /// The run's wall time.
    pub duration: Duration,
}

impl MigrationReport {
    /// Every result: shared, template, then tenants.
    pub fn results(&self) -> impl Iterator<Item = &SchemaResult> {
        self.shared.iter().chain(self.template.iter()).chain(self.tenants.iter())
    }

    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        !self.results().any(|r| r.outcome.is_failure())
    }

    /// The failed schemas.
    pub fn failures(&self) -> impl Iterator<Item = (&Subject, &Failure)> {
        self.results().filter_map(|r| match &r.outcome {
            Outcome::Failed(failure) => Some((&r.subject, failure)),
            _ => None,
        })
    }

    /// Tenant counts: (succeeded, failed, skipped).
    pub fn tenant_counts(&self) -> (usize, usize, usize) {
        self.tenants.iter().fold((0, 0, 0), |(s, f, k), r| match r.outcome {
            Outcome::Succeeded { .. } => (s + 1, f, k),
            Outcome::Failed(_) => (s, f + 1, k),
            Outcome::Skipped { .. } => (s, f, k + 1),
        })
    }
}

impl fmt::Display for MigrationReport {
    /// A summary like apartment's: `Succeeded: 998/1000`, then each failure.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.tenants.len();
        let (succeeded, failed, skipped) = self.tenant_counts();
        let up_to_date = self
            .tenants
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped { reason: SkipReason::UpToDate }))
            .count();
        writeln!(f, "Succeeded: {succeeded}/{total}")?;
        writeln!(f, "Up to date: {up_to_date}/{total}")?;
        if skipped > up_to_date {
            writeln!(f, "Skipped: {}/{total}", skipped - up_to_date)?;
        }
        writeln!(f, "Failed: {failed}/{total}")?;
        for (subject, failure) in self.failures() {
            writeln!(f, "  {subject}: {failure}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        write!(f, "Finished in {:.2?}", self.duration)
    }
}
