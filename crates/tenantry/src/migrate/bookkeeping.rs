//! The migrations table inside each schema, and the summary that lets one catalog query tell
//! every tenant's state.
//!
//! Each schema holds `tenantry_migrations (version, description, checksum, applied_at,
//! duration_ms)`: the truth, travelling with the schema (clone, dump/restore, another server).
//! Reading 10,000 such tables would lock 10,000 relations and grow the backend's relation cache
//! by ~35 KB each (POSTGRES-NOTES.md), so tenantry also keeps a one-line summary in the table's
//! comment, updated in the same transaction as the rows:
//!
//! ```text
//! tenantry:2 count=10 max=10 digest=<sha-256 of "version:checksum-hex" lines, ascending> schema=<schema>
//! ```
//!
//! One query over `pg_description` reads every summary. A summary is trusted only when it names
//! the schema whose table carries it and matches a prefix of the local migrations: the tenant's
//! applied set is then known exactly. Otherwise (no comment, a comment of the first format,
//! which named no schema, a comment copied with a dump or a clone of another schema, edited
//! rows, checksum drift) its table is read, and the next write rewrites the comment. Before
//! applying, the same digest is recomputed from the rows inside the tenant's transaction
//! ([`check_state_sql`]), so a stale summary can cost a re-plan but never a wrong migration;
//! only a tenant it wrongly shows as current is skipped, which `verify` (reading every table)
//! rules out.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use super::migration::{hex, Checksum, Migration};
use crate::sql::{quote_ident, quote_literal};

/// The bookkeeping table's name, in every migrated schema.
pub const TABLE: &str = "tenantry_migrations";

/// The SQLSTATE raised when a tenant's rows no longer match the state it was planned from.
pub const STATE_CHANGED_SQLSTATE: &str = "TN001";

/// The migrations applied to one schema: version → checksum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied(pub BTreeMap<i64, Checksum>);

impl Applied {
    /// The digest of this set, as the summary and the in-transaction check compute it.
    pub fn digest(&self) -> String {
        digest(self.0.iter().map(|(v, c)| (*v, c)))
    }

    /// The highest applied version.
    pub fn latest(&self) -> Option<i64> {
        self.0.keys().next_back().copied()
    }

    /// The summary line for this set in `schema`.
    pub fn summary(&self, schema: &str) -> Summary {
        Summary {
            count: self.0.len(),
            max: self.latest().unwrap_or(0),
            digest: self.digest(),
            schema: schema.to_owned(),
        }
    }
}

/// What the table comment says about a schema's applied migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// How many migrations are applied.
    pub count: usize,
    /// The highest applied version (0 when none).
    pub max: i64,
    /// The digest of the applied (version, checksum) pairs.
    pub digest: String,
    /// The schema this summary describes: a comment that travelled to another schema (a dump
    /// restored under another name, a copy) describes that other schema's table, not its own.
    pub schema: String,
}

impl Summary {
    const PREFIX: &'static str = "tenantry:2 ";
    /// Written last, so the schema name may hold any character (spaces included): the rest of
    /// the comment is the name.
    const SCHEMA_FIELD: &'static str = " schema=";

    /// Parses a comment; `None` for anything tenantry did not write, and for the first format
    /// (`tenantry:1 …`, which named no schema).
    pub fn parse(comment: &str) -> Option<Self> {
        let (fields, schema) = comment.strip_prefix(Self::PREFIX)?.split_once(Self::SCHEMA_FIELD)?;
        let mut count = None;
        let mut max = None;
        let mut digest = None;
        for field in fields.split(' ') {
            match field.split_once('=')? {
                ("count", value) => count = value.parse().ok(),
                ("max", value) => max = value.parse().ok(),
                ("digest", value) => digest = Some(value.to_owned()),
                _ => return None,
            }
        }
        Some(Self { count: count?, max: max?, digest: digest?, schema: schema.to_owned() })
    }

    /// The comment text.
    pub fn to_comment(&self) -> String {
        format!(
            "{}count={} max={} digest={}{}{}",
            Self::PREFIX,
            self.count,
            self.max,
            self.digest,
            Self::SCHEMA_FIELD,
            self.schema
        )
    }
}

/// The digest of (version, checksum) pairs in ascending version order. Empty set → `""`
/// (what the SQL side yields for no rows).
pub fn digest<'a>(pairs: impl IntoIterator<Item = (i64, &'a Checksum)>) -> String {
    let mut hasher = Sha256::new();
    let mut any = false;
    for (version, checksum) in pairs {
        if any {
            hasher.update(b"\n");
        }
        hasher.update(format!("{version}:{}", checksum.to_hex()).as_bytes());
        any = true;
    }
    if any {
        hex(&hasher.finalize())
    } else {
        String::new()
    }
}

/// Summaries of every prefix of the local migrations, to recognise the usual case (a tenant
/// that has applied the first N local migrations, unchanged) without reading its table.
#[derive(Debug, Default)]
pub struct PrefixIndex {
    by_max: HashMap<i64, (usize, String)>,
}

impl PrefixIndex {
    /// Indexes every prefix of `migrations` (ascending versions).
    pub fn new(migrations: &[Migration]) -> Self {
        let mut by_max = HashMap::with_capacity(migrations.len() + 1);
        by_max.insert(0, (0, String::new()));
        let mut hasher = Sha256::new();
        for (index, migration) in migrations.iter().enumerate() {
            if index > 0 {
                hasher.update(b"\n");
            }
            hasher.update(format!("{}:{}", migration.version, migration.checksum.to_hex()).as_bytes());
            by_max.insert(migration.version, (index + 1, hex(&hasher.clone().finalize())));
        }
        Self { by_max }
    }

    /// The exact applied set when `summary` describes an unchanged prefix of `migrations`.
    pub fn resolve(&self, summary: &Summary, migrations: &[Migration]) -> Option<Applied> {
        let (count, digest) = self.by_max.get(&summary.max)?;
        if *count != summary.count || *digest != summary.digest {
            return None;
        }
        Some(Applied(migrations[..*count].iter().map(|m| (m.version, m.checksum.clone())).collect()))
    }
}

/// Creates the table in `schema` if missing.
pub fn create_table_sql(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}.{TABLE} (\
         version bigint PRIMARY KEY, \
         description text NOT NULL, \
         checksum bytea NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now(), \
         duration_ms bigint NOT NULL DEFAULT 0)",
        quote_ident(schema)
    )
}

/// Marks the start of a migration, for its duration (server clock, so no round trip).
pub const MARK_START_SQL: &str = "SELECT set_config('tenantry.migration_started', clock_timestamp()::text, true)";

/// Records an applied migration, with its duration since [`MARK_START_SQL`].
pub fn insert_row_sql(schema: &str, migration: &Migration) -> String {
    format!(
        "INSERT INTO {}.{TABLE} (version, description, checksum, duration_ms) VALUES ({}, {}, '\\x{}'::bytea, \
         (extract(epoch FROM clock_timestamp() - current_setting('tenantry.migration_started')::timestamptz) * 1000)::bigint)",
        quote_ident(schema),
        migration.version,
        quote_literal(&migration.description),
        migration.checksum.to_hex()
    )
}

/// Forgets a reverted migration.
pub fn delete_row_sql(schema: &str, version: i64) -> String {
    format!("DELETE FROM {}.{TABLE} WHERE version = {version}", quote_ident(schema))
}

/// Replaces a stored checksum (accepting an edited migration file).
pub fn update_checksum_sql(schema: &str, migration: &Migration) -> String {
    format!(
        "UPDATE {}.{TABLE} SET checksum = '\\x{}'::bytea WHERE version = {}",
        quote_ident(schema),
        migration.checksum.to_hex(),
        migration.version
    )
}

/// Writes the summary comment of `applied` on `schema`'s table.
pub fn comment_sql(schema: &str, applied: &Applied) -> String {
    format!(
        "COMMENT ON TABLE {}.{TABLE} IS {}",
        quote_ident(schema),
        quote_literal(&applied.summary(schema).to_comment())
    )
}

/// Fails with SQLSTATE [`STATE_CHANGED_SQLSTATE`] unless the schema's rows still digest to
/// `expected`: the plan was made from a summary or a read that another process has since
/// overtaken.
pub fn check_state_sql(schema: &str, expected: &str) -> String {
    format!(
        "DO $tenantry$ BEGIN IF coalesce((SELECT encode(sha256(convert_to(string_agg(version::text || ':' || \
         encode(checksum, 'hex'), E'\\n' ORDER BY version), 'UTF8')), 'hex') FROM {}.{TABLE}), '') <> {} THEN \
         RAISE EXCEPTION 'tenantry: the migrations of schema % changed since they were planned', {} \
         USING ERRCODE = '{STATE_CHANGED_SQLSTATE}'; END IF; END $tenantry$",
        quote_ident(schema),
        quote_literal(expected),
        quote_literal(schema)
    )
}

/// The statistics columns of a summary query: the table's live rows, and how many rows were
/// ever inserted, updated or deleted, as PostgreSQL's cumulative statistics count them (shared
/// memory, no table read). [`statistics_agree`] compares them with the summary.
macro_rules! statistics_columns {
    () => {
        "pg_catalog.pg_stat_get_live_tuples(c.oid), \
         pg_catalog.pg_stat_get_tuples_inserted(c.oid) + pg_catalog.pg_stat_get_tuples_updated(c.oid) \
         + pg_catalog.pg_stat_get_tuples_deleted(c.oid)"
    };
}

/// Every bookkeeping table's schema, comment, and statistics (live rows, rows ever changed): one
/// catalog query for the whole fleet.
pub const FLEET_SUMMARIES_SQL: &str = concat!(
    "SELECT n.nspname::text, d.description, ",
    statistics_columns!(),
    " FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_catalog.pg_description d \
       ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 \
     WHERE c.relname = 'tenantry_migrations' AND c.relkind = 'r'"
);

/// The bookkeeping comments and statistics of the schemas named in `$1` (a `text[]`): one
/// index lookup on `pg_namespace` and one on `pg_class` (relname, relnamespace) per schema, so
/// the cost follows the number named, not the fleet.
pub const SUMMARIES_OF_SQL: &str = concat!(
    "SELECT n.nspname::text, d.description, ",
    statistics_columns!(),
    " FROM pg_catalog.pg_namespace n \
     JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = 'tenantry_migrations' AND c.relkind = 'r' \
     LEFT JOIN pg_catalog.pg_description d \
       ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 \
     WHERE n.nspname = ANY($1::text[])"
);

/// Whether a table's statistics leave its summary's `count` believable: the cheap consistency
/// check of a plain `migrate` (docs/migrations.md, "Bookkeeping").
///
/// Rows deleted, inserted or truncated by hand change the live-row count PostgreSQL keeps for
/// the table, while the summary still says what tenantry last wrote; a table whose live rows
/// differ from the summary's count is read. Statistics that were never kept, or were lost
/// (`track_counts = off`, `pg_stat_reset()`, a crash: every counter zero), prove nothing, and
/// the summary is trusted as before. What the statistics cannot see (a row's checksum edited
/// in place, or a row deleted and another inserted) needs `verify`; nor do they see at once
/// what another backend changed: PostgreSQL takes a backend's counts when one of its
/// transactions ends (at most once a second; otherwise once it has been idle 10 s) and when it
/// exits.
pub fn statistics_agree(count: usize, live_rows: i64, rows_changed: i64) -> bool {
    (live_rows == 0 && rows_changed == 0) || usize::try_from(live_rows).is_ok_and(|live| live == count)
}

/// Refreshes the statistics of `schemas`' tables (`ANALYZE`, exact for tables this small), so
/// that a table read because its statistics disagreed with a summary that proved right (counts
/// lost in a crash, then new rows counted) is trusted from its summary again next time. In a
/// transaction of its own, waiting at most 100 ms for each table (a migration holding one is
/// not waited for); outside any transaction only, and the caller rolls back on an error.
pub fn analyze_sql(schemas: &[&str]) -> String {
    let tables: Vec<String> = schemas.iter().map(|schema| format!("{}.{TABLE}", quote_ident(schema))).collect();
    format!("BEGIN; SET LOCAL lock_timeout = '100ms'; ANALYZE {}; COMMIT", tables.join(", "))
}

/// Reads the rows of several schemas' tables in one statement.
pub fn read_rows_sql(schemas: &[&str]) -> String {
    schemas
        .iter()
        .map(|schema| {
            format!(
                "SELECT {}::text AS schema, version, checksum FROM {}.{TABLE}",
                quote_literal(schema),
                quote_ident(schema)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// How many tables one [`read_rows_sql`] statement reads: bounded, because a statement locks
/// every table it reads until its transaction ends (`max_locks_per_transaction`).
pub const READ_ROWS_CHUNK: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn migrations(n: i64) -> Vec<Migration> {
        (1..=n).map(|v| Migration::new(v, format!("m{v}"), format!("CREATE TABLE t{v} ();"), None)).collect()
    }

    #[test]
    fn summary_round_trips_and_rejects_foreign_comments() {
        let summary = Summary { count: 3, max: 20, digest: "ab".into(), schema: "acme".into() };
        assert_eq!(summary.to_comment(), "tenantry:2 count=3 max=20 digest=ab schema=acme");
        assert_eq!(Summary::parse(&summary.to_comment()), Some(summary));
        assert_eq!(Summary::parse("my own comment"), None);
        assert_eq!(Summary::parse("tenantry:2 count=x max=1 digest=a schema=s"), None);
        assert_eq!(Summary::parse("tenantry:2 count=1 max=1 digest=a extra=1 schema=s"), None);
        assert_eq!(Summary::parse("tenantry:2 count=1 max=1 digest=a"), None, "no schema");
    }

    #[test]
    fn statistics_disagree_only_when_they_exist_and_differ() {
        assert!(statistics_agree(10, 10, 12), "live rows match the summary");
        assert!(statistics_agree(10, 0, 0), "no statistics: nothing to compare");
        assert!(!statistics_agree(10, 9, 11), "a row deleted by hand");
        assert!(!statistics_agree(10, 11, 11), "a row inserted by hand");
        assert!(!statistics_agree(10, 0, 10), "truncated by hand");
        assert!(!statistics_agree(0, -1, 1), "never negative, but never trusted if so");
        assert_eq!(
            analyze_sql(&["a", "b\"c"]),
            r#"BEGIN; SET LOCAL lock_timeout = '100ms'; ANALYZE "a".tenantry_migrations, "b""c".tenantry_migrations; COMMIT"#
        );
    }

    #[test]
    fn the_first_format_is_not_trusted() {
        assert_eq!(Summary::parse("tenantry:1 count=1 max=1 digest=a"), None);
    }

    #[test]
    fn any_schema_name_round_trips() {
        let empty = Applied::default();
        for schema in ["a b", "x schema=y", "it's", "tenant=1", ""] {
            let summary = empty.summary(schema);
            assert_eq!(Summary::parse(&summary.to_comment()).map(|s| s.schema), Some(schema.to_owned()));
        }
        assert!(comment_sql("it's", &empty).ends_with("digest= schema=it''s'"));
    }

    #[test]
    fn a_summary_of_an_unchanged_prefix_resolves_exactly() {
        let local = migrations(5);
        let index = PrefixIndex::new(&local);
        let applied = Applied(local[..3].iter().map(|m| (m.version, m.checksum.clone())).collect());
        assert_eq!(index.resolve(&applied.summary("s"), &local), Some(applied));
        let empty = Applied::default();
        assert_eq!(index.resolve(&empty.summary("s"), &local), Some(empty));
    }

    #[test]
    fn drift_gaps_and_unknown_versions_do_not_resolve() {
        let local = migrations(5);
        let index = PrefixIndex::new(&local);
        let mut edited = Applied(local[..3].iter().map(|m| (m.version, m.checksum.clone())).collect());
        edited.0.insert(2, Checksum::of(b"edited"));
        assert_eq!(index.resolve(&edited.summary("s"), &local), None, "checksum drift");
        let gap = Applied([(1, local[0].checksum.clone()), (3, local[2].checksum.clone())].into());
        assert_eq!(index.resolve(&gap.summary("s"), &local), None, "version 2 missing below 3");
        let unknown = Applied([(99, Checksum::of(b"x"))].into());
        assert_eq!(index.resolve(&unknown.summary("s"), &local), None, "applied but not local");
    }

    #[test]
    fn statements_quote_the_schema() {
        assert!(create_table_sql("a-b").starts_with("CREATE TABLE IF NOT EXISTS \"a-b\".tenantry_migrations"));
        assert_eq!(delete_row_sql("s", 7), "DELETE FROM \"s\".tenantry_migrations WHERE version = 7");
        let migration = Migration::new(1, "it's", "SELECT 1", None);
        assert!(insert_row_sql("s", &migration).contains("'it''s'"));
        assert!(check_state_sql("s", "abc").contains("<> 'abc'"));
        assert_eq!(
            read_rows_sql(&["a", "b"]),
            "SELECT 'a'::text AS schema, version, checksum FROM \"a\".tenantry_migrations UNION ALL \
             SELECT 'b'::text AS schema, version, checksum FROM \"b\".tenantry_migrations"
        );
    }
}
