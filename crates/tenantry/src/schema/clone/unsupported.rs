//! What the clone cannot reproduce, found before any DDL is built.
//!
//! The rule is "refuse what is not known": the census lists every object that belongs to the
//! template (through `pg_depend`), and anything not on the short list of kinds the script
//! recreates is [`Unsupported`], as is every property of a supported object that the script
//! would not carry over (storage parameters, privileges, row-level security, …).

use std::fmt;

use super::facts::{Catalog, Member, Schema};

/// The PostgreSQL majors whose catalogs the queries are written for (`server_version_num`):
/// 14 added `attcompression`; 18 stores `NOT NULL` as constraints, which the script would
/// recreate twice. Outside this range the catalog may hold facts the script does not know.
const SERVER_VERSIONS: std::ops::Range<i32> = 140_000..180_000;

/// An object tenantry cannot clone: what kind, and which object.
///
/// Returned by [`CloneScript::read`](super::CloneScript::read) instead of a script that would
/// silently build a different schema; tenantry then creates the tenant by running the
/// migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The kind of object or property (`materialized view`, `row-level security`, …).
    pub kind: String,
    /// Which object, as PostgreSQL's `pg_identify_object` names it
    /// (`tenantry_template.daily_totals`).
    pub object: String,
}

impl Unsupported {
    pub(crate) fn new(kind: impl Into<String>, object: impl Into<String>) -> Self {
        Self { kind: kind.into(), object: object.into() }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot clone the template schema: {} `{}` is not supported by the in-database clone; \
             tenantry falls back to running the migrations",
            self.kind, self.object
        )
    }
}

impl std::error::Error for Unsupported {}

/// Refuses servers whose catalogs the queries were not written for.
pub(crate) fn check_server(schema: &Schema) -> Result<(), Unsupported> {
    if SERVER_VERSIONS.contains(&schema.server_version) {
        Ok(())
    } else {
        Err(Unsupported::new("PostgreSQL server version", schema.server_version.to_string()))
    }
}

/// Refuses every member of the template whose kind the script does not recreate.
pub(crate) fn check_members(members: &[Member]) -> Result<(), Unsupported> {
    for member in members {
        if member.in_extension {
            return Err(Unsupported::new("extension member", &member.identity));
        }
        if member.labelled {
            return Err(Unsupported::new("security label", &member.identity));
        }
        if let Some(kind) = unsupported_kind(member) {
            return Err(Unsupported::new(kind, &member.identity));
        }
    }
    Ok(())
}

/// `None` for the kinds the script recreates, otherwise a name for the kind.
fn unsupported_kind(member: &Member) -> Option<String> {
    let detail = member.detail.as_str();
    let kind = match member.catalog.as_str() {
        "pg_class" => match detail {
            // Tables, sequences, views, indexes, and the TOAST table and index of a table.
            "r" | "S" | "v" | "i" | "toast" => return None,
            "m" => "materialized view",
            "p" => "partitioned table",
            "I" => "partitioned index",
            "f" => "foreign table",
            "c" => "composite type",
            "elsewhere" => "object outside the template schema attached to it",
            _ => "relation",
        },
        "pg_type" => match detail {
            // Enums; row types and array types come with their relation or element type.
            "e" | "rowtype" | "array" => return None,
            "d" => "domain",
            "r" => "range type",
            "m" => "multirange type",
            "c" => "composite type",
            "p" => "shell type",
            _ => "base type",
        },
        "pg_proc" => match detail {
            "f" | "p" => return None,
            "a" => "aggregate",
            "w" => "window function",
            _ => "routine",
        },
        "pg_constraint" => match detail {
            "p" | "u" | "c" | "f" | "x" => return None,
            "t" => "constraint trigger",
            "domain" => "domain constraint",
            _ => "constraint",
        },
        // Internal triggers are those of foreign keys, recreated with their constraint.
        "pg_trigger" => return None,
        "pg_rewrite" if detail == "view" => return None,
        "pg_rewrite" => "rule",
        "pg_attrdef" if detail == "r" => return None,
        "pg_attrdef" => "default on a view column",
        "pg_policy" => "row-level security policy",
        "pg_statistic_ext" => "extended statistics",
        "pg_publication_rel" | "pg_publication_namespace" => "publication",
        "pg_default_acl" => "default privileges",
        _ if member.kind.is_empty() => member.catalog.as_str(),
        _ => member.kind.as_str(),
    };
    Some(kind.to_owned())
}

/// Refuses every property of a supported object that the script would not reproduce, and a
/// template whose state the script would not reproduce (rows in tables it clones empty).
pub(crate) fn check_catalog(schema: &Schema, catalog: &Catalog, copy_data_of: &[&str]) -> Result<(), Unsupported> {
    let fail = |kind: &str, object: &str| Err(Unsupported::new(kind, object));
    if let Some(name) = catalog.event_triggers.first() {
        return fail("event trigger (it may react differently to the clone's DDL)", name);
    }
    for relation in &catalog.relations {
        let object = relation.identity.as_str();
        let table = relation.relkind == "r";
        // The census refused these already; a second fence on the relations actually read.
        if !matches!(relation.relkind.as_str(), "r" | "S" | "v" | "i") {
            return fail("relation kind", object);
        }
        if relation.owner != schema.owner {
            return fail("owner other than the template schema's owner", object);
        }
        if !relation.default_acl {
            return fail("privileges (GRANT/REVOKE)", object);
        }
        if relation.persistence != "p" {
            return fail("unlogged or temporary relation", object);
        }
        if relation.tablespace {
            return fail("tablespace", object);
        }
        // `pg_get_indexdef` prints an index's storage parameters, but `pg_get_constraintdef`
        // leaves out those of a primary key's or unique constraint's index (pg_dump adds
        // them itself), so only standalone indexes may have them.
        let standalone_index = relation.relkind == "i"
            && catalog.indexes.iter().any(|index| index.oid == relation.oid && !index.of_constraint);
        if relation.options && !standalone_index {
            return fail("storage parameters or view options (WITH ...)", object);
        }
        if relation.toast_options {
            return fail("TOAST storage parameters", object);
        }
        if relation.row_security {
            return fail("row-level security", object);
        }
        if relation.typed_or_partition || relation.inherits {
            return fail("table inheritance, partition or typed table", object);
        }
        if table && relation.replica_identity != "d" {
            return fail("replica identity", object);
        }
        if table && relation.access_method != "heap" {
            return fail("table access method", object);
        }
        if table && relation.has_rows && !copy_data_of.contains(&relation.name.as_str()) {
            return fail("rows in a table that is cloned empty", object);
        }
    }
    for column in &catalog.columns {
        let object = column.identity.as_str();
        let problem = [
            (column.statistics, "column statistics target"),
            (column.storage, "column storage"),
            (column.compression, "column compression"),
            (column.options, "column options"),
            (column.acl, "column privileges"),
            (!matches!(column.identity_kind.as_str(), "" | "a" | "d"), "identity kind"),
            (!matches!(column.generated.as_str(), "" | "s"), "generated column kind"),
        ];
        if let Some((_, kind)) = problem.iter().find(|(found, _)| *found) {
            return fail(kind, object);
        }
    }
    for index in &catalog.indexes {
        if index.clustered {
            return fail("CLUSTER index mark", &index.name);
        }
        if !index.valid {
            return fail("invalid index", &index.name);
        }
    }
    for trigger in &catalog.triggers {
        if trigger.enabled != "O" {
            return fail("disabled or replica-only trigger", &trigger.identity);
        }
        if trigger.constraint {
            return fail("constraint trigger", &trigger.identity);
        }
    }
    for function in &catalog.functions {
        if !matches!(function.kind.as_str(), "f" | "p") {
            return fail("routine kind", &function.identity);
        }
        if function.owner != schema.owner {
            return fail("owner other than the template schema's owner", &function.identity);
        }
        if !function.default_acl {
            return fail("privileges (GRANT/REVOKE)", &function.identity);
        }
    }
    for enum_type in &catalog.enums {
        if enum_type.owner != schema.owner {
            return fail("owner other than the template schema's owner", &enum_type.identity);
        }
        if !enum_type.default_acl {
            return fail("privileges (GRANT/REVOKE)", &enum_type.identity);
        }
    }
    for sequence in &catalog.sequences {
        let owned_here = sequence.owner_table.is_none_or(|table| catalog.relations.iter().any(|r| r.oid == table));
        if !owned_here {
            return fail("sequence owned by a table outside the template schema", &sequence.name);
        }
    }
    Ok(())
}
