//! `tenantry status --check`: whether a deploy may go on (exit 0) or not (exit 1).

use std::fmt;

use tenantry::migrate::{SchemaStatus, SchemaStatusEntry, StatusReport};

/// What keeps the fleet from being ready: schemas behind (migrations pending), drifted (an
/// applied file changed, or applied without a local file) and missing. The shared schema and
/// every selected tenant count; the template does not (the next `migrate` or `create` brings it
/// up to date, and it serves no one).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) behind: usize,
    pub(crate) drifted: usize,
    pub(crate) missing: usize,
}

impl Verdict {
    /// The verdict on `report`.
    pub(crate) fn of(report: &StatusReport) -> Self {
        let mut verdict = Self::default();
        for entry in report.shared.iter().chain(&report.tenants) {
            verdict.count(entry);
        }
        verdict
    }

    fn count(&mut self, entry: &SchemaStatusEntry) {
        match &entry.status {
            SchemaStatus::Present { pending, checksum_mismatch, unknown_applied, .. } => {
                self.behind += usize::from(!pending.is_empty());
                self.drifted += usize::from(!checksum_mismatch.is_empty() || !unknown_applied.is_empty());
            }
            _ => self.missing += 1,
        }
    }

    /// Whether everything counted is ready.
    pub(crate) fn is_ready(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status --check: not ready: {} behind, {} drifted, {} missing; run `tenantry migrate` \
             (a drifted schema needs its migration files restored, or `migrate --accept-changed-checksums`)",
            self.behind, self.drifted, self.missing
        )
    }
}

#[cfg(test)]
mod tests {
    use tenantry::migrate::{PendingMigration, Subject};

    use super::*;

    fn present(pending: &[i64], changed: &[i64], unknown: &[i64]) -> SchemaStatus {
        SchemaStatus::Present {
            applied: vec![1],
            pending: pending.iter().map(|&version| PendingMigration { version, description: "x".into() }).collect(),
            checksum_mismatch: changed.to_vec(),
            unknown_applied: unknown.to_vec(),
        }
    }

    fn tenant(name: &str, status: SchemaStatus) -> SchemaStatusEntry {
        let tenant = tenantry::NamingRules::default().parse(name).expect("valid");
        SchemaStatusEntry { subject: Subject::Tenant(tenant), status }
    }

    #[test]
    fn each_kind_of_lag_is_counted_and_the_template_is_not() {
        let report = StatusReport {
            shared: Some(SchemaStatusEntry {
                subject: Subject::Shared { schema: "public".into() },
                status: present(&[2], &[], &[]),
            }),
            template: Some(SchemaStatusEntry {
                subject: Subject::Template { schema: "tenantry_template".into() },
                status: SchemaStatus::Missing,
            }),
            tenants: vec![
                tenant("a", present(&[], &[], &[])),
                tenant("b", present(&[3], &[1], &[])),
                tenant("c", present(&[], &[], &[9])),
                tenant("d", SchemaStatus::Missing),
            ],
            ..StatusReport::default()
        };
        let verdict = Verdict::of(&report);
        assert_eq!(verdict, Verdict { behind: 2, drifted: 2, missing: 1 });
        assert!(!verdict.is_ready());
        assert!(verdict.to_string().contains("2 behind, 2 drifted, 1 missing"), "{verdict}");
    }

    #[test]
    fn a_current_fleet_is_ready() {
        let report = StatusReport { tenants: vec![tenant("a", present(&[], &[], &[]))], ..StatusReport::default() };
        assert!(Verdict::of(&report).is_ready());
        assert!(Verdict::of(&StatusReport::default()).is_ready());
    }
}
