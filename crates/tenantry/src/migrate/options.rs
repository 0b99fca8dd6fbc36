//! What a run should do, and to which schemas.

use super::plan::Goal;
use crate::name::TenantName;

/// Which schemas a run touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// For `Goal::Latest`: the shared migrations, then the template, then every tenant. For
    /// other goals (whose versions name tenant migrations): the template and every tenant.
    #[default]
    All,
    /// The shared migrations only (default schema).
    SharedOnly,
    /// The template and every tenant, no shared migrations.
    TenantsOnly,
    /// These tenants only (each must exist); neither shared migrations nor the template.
    Tenants(Vec<TenantName>),
}

/// Options of one run. `Default` is a plain `migrate`: every pending migration, everywhere.
/// Fields are public so struct-update syntax works: `RunOptions { fail_fast: true,
/// ..RunOptions::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// What every selected schema should reach.
    pub goal: Goal,
    /// Which schemas.
    pub selection: Selection,
    /// Parallel workers; `None`: `migrations.jobs`.
    pub jobs: Option<usize>,
    /// After the first failure, start no new schema (those in flight finish).
    pub fail_fast: bool,
    /// If another run holds the run lock, fail at once instead of waiting.
    pub no_wait: bool,
    /// Plan only: report what would be done, change nothing.
    pub dry_run: bool,
    /// Accept edited migration files: record their new checksums instead of blocking.
    pub accept_changed_checksums: bool,
    /// Read every selected schema's bookkeeping table instead of trusting the summary comments
    /// (as `status` does with `verify`): catches rows deleted or edited by hand behind an
    /// intact summary, which a plain run would take as current and skip. Costs one query per
    /// 100 schemas, and a lock and some relation cache per table read (docs/migrations.md).
    pub verify: bool,
    /// Write the schema dump after a fully successful run; `None`: `migrations.dump` (only
    /// `Goal::Latest` runs dump).
    pub dump: Option<bool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            goal: Goal::Latest,
            selection: Selection::All,
            jobs: None,
            fail_fast: false,
            no_wait: false,
            dry_run: false,
            accept_changed_checksums: false,
            verify: false,
            dump: None,
        }
    }
}

impl RunOptions {
    /// Options for `goal`, everything else default.
    pub fn goal(goal: Goal) -> Self {
        Self { goal, ..Self::default() }
    }
}
