//! `status`: where every schema stands, from one state read for the whole fleet.

use std::collections::BTreeSet;
use std::fmt;

use super::bookkeeping::Applied;
use super::migrator::Migrator;
use super::options::Selection;
use super::report::Subject;
use super::source::MigrationSet;
use super::state::{self, ReadStats, SchemaState};
use crate::error::Error;
use crate::name::TenantName;

/// A migration not yet applied to a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMigration {
    /// Its version.
    pub version: i64,
    /// Its description.
    pub description: String,
}

/// Where one schema stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaStatus {
    /// The schema does not exist (a tenant listed by the source without its schema).
    Missing,
    /// The schema exists.
    Present {
        /// Applied versions, ascending.
        applied: Vec<i64>,
        /// Local migrations not applied, ascending.
        pending: Vec<PendingMigration>,
        /// Applied versions whose file changed since.
        checksum_mismatch: Vec<i64>,
        /// Applied versions with no local file.
        unknown_applied: Vec<i64>,
    },
}

impl SchemaStatus {
    /// The status of a schema in `state` against the `local` migrations.
    pub fn of(state: &SchemaState, local: &MigrationSet) -> Self {
        let SchemaState::Applied(Applied(applied)) = state else { return Self::Missing };
        Self::Present {
            applied: applied.keys().copied().collect(),
            pending: local
                .iter()
                .filter(|m| !applied.contains_key(&m.version))
                .map(|m| PendingMigration { version: m.version, description: m.description.clone() })
                .collect(),
            checksum_mismatch: applied
                .iter()
                .filter(|(v, c)| local.get(**v).is_some_and(|m| &m.checksum != *c))
                .map(|(v, _)| *v)
                .collect(),
            unknown_applied: applied.keys().filter(|v| local.get(**v).is_none()).copied().collect(),
        }
    }

    /// Whether the schema has every local migration, unchanged.
    pub fn is_current(&self) -> bool {
        matches!(self, Self::Present { pending, checksum_mismatch, .. } if pending.is_empty() && checksum_mismatch.is_empty())
    }
}

/// One schema and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatusEntry {
    /// Which schema.
    pub subject: Subject,
    /// Where it stands.
    pub status: SchemaStatus,
}

/// Where every schema stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    /// The default schema against the shared migrations.
    pub shared: Option<SchemaStatusEntry>,
    /// The template schema.
    pub template: Option<SchemaStatusEntry>,
    /// Every selected tenant, in order.
    pub tenants: Vec<SchemaStatusEntry>,
    /// How the states were read (summaries vs tables, queries sent).
    pub read: ReadStats,
}

impl StatusReport {
    /// Tenants with every migration applied and no drift.
    pub fn current_tenants(&self) -> usize {
        self.tenants.iter().filter(|t| t.status.is_current()).count()
    }

    /// Distinct migrations pending in at least one tenant.
    pub fn pending_migrations(&self) -> BTreeSet<i64> {
        self.tenants
            .iter()
            .flat_map(|t| match &t.status {
                SchemaStatus::Present { pending, .. } => pending.iter().map(|p| p.version).collect(),
                SchemaStatus::Missing => Vec::new(),
            })
            .collect()
    }

    /// Whether everything (shared, template, tenants) is current.
    pub fn is_current(&self) -> bool {
        self.shared.iter().chain(self.template.iter()).chain(self.tenants.iter()).all(|e| e.status.is_current())
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in self.shared.iter().chain(self.template.iter()).chain(self.tenants.iter()) {
            match &entry.status {
                SchemaStatus::Missing => writeln!(f, "{}: schema missing", entry.subject)?,
                status @ SchemaStatus::Present { applied, pending, checksum_mismatch, unknown_applied } => {
                    if status.is_current() && unknown_applied.is_empty() {
                        continue;
                    }
                    write!(
                        f,
                        "{}: at {}",
                        entry.subject,
                        applied.last().map_or("nothing".to_owned(), ToString::to_string)
                    )?;
                    if !pending.is_empty() {
                        let names: Vec<String> =
                            pending.iter().map(|p| format!("{} {}", p.version, p.description)).collect();
                        write!(f, "; pending: {}", names.join(", "))?;
                    }
                    if !checksum_mismatch.is_empty() {
                        write!(f, "; changed on disk: {checksum_mismatch:?}")?;
                    }
                    if !unknown_applied.is_empty() {
                        write!(f, "; applied without a local file: {unknown_applied:?}")?;
                    }
                    writeln!(f)?;
                }
            }
        }
        let missing = self.tenants.iter().filter(|t| t.status == SchemaStatus::Missing).count();
        write!(
            f,
            "{}/{} tenants current, {} migrations pending",
            self.current_tenants(),
            self.tenants.len(),
            self.pending_migrations().len()
        )?;
        if missing > 0 {
            write!(f, ", {missing} schemas missing")?;
        }
        Ok(())
    }
}

impl Migrator {
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
            let schema = config.shared_migrations_schema();
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
        report.read.doubted += stats.doubted;
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
}
