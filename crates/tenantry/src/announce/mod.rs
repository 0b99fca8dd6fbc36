//! Schema-change announcements: the migrator and tenant lifecycle tell every application
//! instance, through PostgreSQL's `NOTIFY`, which schemas changed, so that their pools drop
//! statements prepared against the old tables and their known-tenants caches forget dropped
//! tenants at once (docs/context.md, "Announcements").
//!
//! A payload is a kind and schema names, one per line: `changed\nacme\nglobex`,
//! `dropped\nacme`, `renamed\nacme\nacme-corp`. Tenant names never hold a line break (the
//! naming rules refuse control characters); a schema that did would only miss its
//! announcement, never another tenant's.

mod listen;

pub(crate) use listen::spawn_listener;

use tokio_postgres::Client;

/// The channel tenantry notifies on and its pools `LISTEN` on.
pub const CHANNEL: &str = "tenantry_schema_changes";

/// PostgreSQL refuses payloads of 8,000 bytes or more; stay well below.
const MAX_PAYLOAD: usize = 7_500;

/// What an announcement said, as [`Tenantry::schema_changes`](crate::Tenantry::schema_changes)
/// hands it on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaChange {
    /// Migrations (or `exec`) changed these schemas' objects.
    Changed {
        /// The schemas.
        schemas: Vec<String>,
    },
    /// These schemas were dropped.
    Dropped {
        /// The schemas.
        schemas: Vec<String>,
    },
    /// A schema was renamed.
    Renamed {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// The listening connection was lost and is back: announcements in between may be missed,
    /// so every cached statement and the known-tenants cache were dropped.
    Resumed,
}

impl SchemaChange {
    /// The payloads announcing this change (several when the list is long).
    pub(crate) fn payloads(&self) -> Vec<String> {
        let (kind, schemas): (&str, Vec<&str>) = match self {
            Self::Changed { schemas } => ("changed", schemas.iter().map(String::as_str).collect()),
            Self::Dropped { schemas } => ("dropped", schemas.iter().map(String::as_str).collect()),
            Self::Renamed { from, to } => return vec![format!("renamed\n{from}\n{to}")],
            Self::Resumed => return Vec::new(),
        };
        let mut payloads = Vec::new();
        let mut current = kind.to_owned();
        for schema in schemas.into_iter().filter(|schema| !schema.contains('\n')) {
            if current.len() + 1 + schema.len() > MAX_PAYLOAD && current.len() > kind.len() {
                payloads.push(std::mem::replace(&mut current, kind.to_owned()));
            }
            current.push('\n');
            current.push_str(schema);
        }
        if current.len() > kind.len() {
            payloads.push(current);
        }
        payloads
    }

    /// Reads a payload; `None` for one tenantry did not write.
    pub(crate) fn parse(payload: &str) -> Option<Self> {
        let mut lines = payload.split('\n');
        let kind = lines.next()?;
        let schemas: Vec<String> = lines.map(str::to_owned).collect();
        match (kind, schemas.as_slice()) {
            ("changed", [_, ..]) => Some(Self::Changed { schemas }),
            ("dropped", [_, ..]) => Some(Self::Dropped { schemas }),
            ("renamed", [from, to]) => Some(Self::Renamed { from: from.clone(), to: to.clone() }),
            _ => None,
        }
    }

    /// `SELECT pg_notify(…)` statements for this change, to run inside the transaction that
    /// makes it (delivered at COMMIT, never if it rolls back).
    pub(crate) fn notify_sql(&self) -> String {
        self.payloads()
            .iter()
            .map(|payload| {
                format!(
                    "SELECT pg_catalog.pg_notify({}, {})",
                    crate::sql::quote_literal(CHANNEL),
                    crate::sql::quote_literal(payload)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Announces `change` on `client` in its own (autocommit) statement. Failing to announce never
/// fails the caller's work: pools still recover from stale statements on their own (`0A000`
/// eviction), so a failure is only logged.
pub(crate) async fn announce(client: &Client, change: &SchemaChange) {
    let sql = change.notify_sql();
    if sql.is_empty() {
        return;
    }
    if let Err(err) = client.batch_execute(&sql).await {
        tracing::warn!("announcing schema changes failed (application pools re-prepare on their own): {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_split_below_the_limit() {
        let change = SchemaChange::Changed { schemas: vec!["acme".into(), "it's \"odd\"".into()] };
        let payloads = change.payloads();
        assert_eq!(payloads, vec!["changed\nacme\nit's \"odd\"".to_owned()]);
        assert_eq!(SchemaChange::parse(&payloads[0]), Some(change));
        let renamed = SchemaChange::Renamed { from: "a".into(), to: "b".into() };
        assert_eq!(SchemaChange::parse(&renamed.payloads()[0]), Some(renamed));

        let many: Vec<String> = (0..2_000).map(|i| format!("tenant-{i:05}")).collect();
        let payloads = SchemaChange::Dropped { schemas: many.clone() }.payloads();
        assert!(payloads.len() > 1 && payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let back: Vec<String> = payloads
            .iter()
            .flat_map(|p| match SchemaChange::parse(p) {
                Some(SchemaChange::Dropped { schemas }) => schemas,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(back, many);
    }

    #[test]
    fn foreign_payloads_are_ignored() {
        for payload in ["", "changed", "hello\nacme", "renamed\nonly-one"] {
            assert_eq!(SchemaChange::parse(payload), None, "{payload:?}");
        }
    }

    #[test]
    fn notify_statements_quote_their_payloads() {
        let sql = SchemaChange::Dropped { schemas: vec!["x'); DROP TABLE t; --".into()] }.notify_sql();
        assert_eq!(sql, "SELECT pg_catalog.pg_notify('tenantry_schema_changes', 'dropped\nx''); DROP TABLE t; --')");
    }
}
