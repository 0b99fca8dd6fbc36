//! Migrations across every tenant: parallel, failure-isolated, resumable (see docs/migrations.md).
//!
//! - [`MigrationSource`]: sqlx-cli's file format, in `shared/` (default schema) and `tenant/`.
//! - [`plan()`]: pure planning from applied versions to steps.
//! - [`Migrator`]: the fleet executor, returning a [`MigrationReport`] and emitting
//!   [`MigrationEvent`]s.

mod apply;
pub mod bookkeeping;
mod create;
mod dispatch;
mod dump;
mod dump_env;
mod durability;
mod events;
mod exec;
mod gate;
mod invalid_index;
mod judgment;
pub mod lock;
mod migration;
mod migrator;
mod no_tx_step;
mod options;
mod plan;
mod pooler;
mod report;
mod schema_run;
mod source;
pub mod state;
mod status;
mod step_error;
mod temp;
mod template;

pub use create::{CreateMethod, CreateOptions, CreateReport};
pub use events::{EventSink, MigrationEvent, MigrationHooks};
pub use migration::{Checksum, Migration, NO_TRANSACTION_MARKERS};
pub use migrator::Migrator;
pub use options::{RunOptions, Selection};
pub use plan::{plan, Blocked, Direction, Goal, Plan, Step};
pub use pooler::PoolerEvidence;
pub use report::{Failure, MigrationReport, Outcome, SchemaResult, SkipReason, Subject};
pub use source::{MigrationSet, MigrationSource};
pub use status::{PendingMigration, SchemaStatus, SchemaStatusEntry, StatusReport};
