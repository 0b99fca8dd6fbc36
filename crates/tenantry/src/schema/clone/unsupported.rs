//! What the clone cannot reproduce, found before any DDL is built.
//!
//! The rule is "refuse what is not known": the census lists every object that belongs to the
//! template (through `pg_depend`), and anything not on the short list of kinds the script
//! recreates is [`Unsupported`], as is every property of a supported object that the script
//! would not carry over (storage parameters, privileges, row-level security, …).

use std::fmt;

use super::facts::{Catalog, Member, Relation, Schema};

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
            // Tables, sequences, views, materialized views, indexes, and the TOAST table and
            // index of a table or materialized view.
            "r" | "S" | "v" | "m" | "i" | "toast" => return None,
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
    if let Some(name) = catalog.event_triggers.first() {
        return Err(Unsupported::new("event trigger (it may react differently to the clone's DDL)", name));
    }
    for relation in &catalog.relations {
        check_relation(schema, catalog, relation, copy_data_of)
            .map_err(|kind| Unsupported::new(kind, &relation.identity))?;
    }
    for column in &catalog.columns {
        // A table's or materialized view's column properties are copied (`ALTER … ALTER COLUMN`,
        // as pg_dump emits them); an index's or a view's are not.
        let copied = catalog
            .relations
            .iter()
            .any(|relation| relation.oid == column.relation && matches!(relation.relkind.as_str(), "r" | "m"));
        let problems = [
            (!copied && column.statistics != -1, "column statistics target"),
            (!copied && !column.storage.is_empty(), "column storage"),
            (!copied && !column.compression.is_empty(), "column compression"),
            (!copied && !column.options.is_empty(), "column options"),
            (!matches!(column.storage.as_str(), "" | "p" | "e" | "m" | "x"), "column storage"),
            (!matches!(column.compression.as_str(), "" | "p" | "l"), "column compression"),
            (column.acl, "column privileges"),
            (!matches!(column.identity_kind.as_str(), "" | "a" | "d"), "identity kind"),
            (!matches!(column.generated.as_str(), "" | "s"), "generated column kind"),
        ];
        if let Some((_, kind)) = problems.iter().find(|(found, _)| *found) {
            return Err(Unsupported::new(*kind, &column.identity));
        }
    }
    for index in &catalog.indexes {
        let identity = catalog.relations.iter().find(|r| r.oid == index.oid).map_or(&index.name, |r| &r.identity);
        if index.clustered {
            return Err(Unsupported::new("CLUSTER index mark", identity));
        }
        if !index.valid {
            return Err(Unsupported::new("invalid index", identity));
        }
    }
    for trigger in &catalog.triggers {
        if trigger.enabled != "O" {
            return Err(Unsupported::new("disabled or replica-only trigger", &trigger.identity));
        }
        if trigger.constraint {
            return Err(Unsupported::new("constraint trigger", &trigger.identity));
        }
    }
    for function in &catalog.functions {
        if !matches!(function.kind.as_str(), "f" | "p") {
            return Err(Unsupported::new("routine kind", &function.identity));
        }
        check_owner(schema, &function.owner, function.default_acl)
            .map_err(|kind| Unsupported::new(kind, &function.identity))?;
    }
    for enum_type in &catalog.enums {
        check_owner(schema, &enum_type.owner, enum_type.default_acl)
            .map_err(|kind| Unsupported::new(kind, &enum_type.identity))?;
    }
    Ok(())
}

/// Objects the script creates belong to whoever runs it, with default privileges.
fn check_owner(schema: &Schema, owner: &str, default_acl: bool) -> Result<(), &'static str> {
    if owner != schema.owner {
        Err("owner other than the template schema's owner")
    } else if !default_acl {
        Err("privileges (GRANT/REVOKE)")
    } else {
        Ok(())
    }
}

/// What the script would lose of `relation`, if anything.
fn check_relation(
    schema: &Schema,
    catalog: &Catalog,
    relation: &Relation,
    copy_data_of: &[&str],
) -> Result<(), &'static str> {
    let table = relation.relkind == "r";
    // The census refused these already; a second fence on the relations actually read.
    if !matches!(relation.relkind.as_str(), "r" | "S" | "v" | "m" | "i") {
        return Err("relation kind");
    }
    check_owner(schema, &relation.owner, relation.default_acl)?;
    // `pg_get_indexdef` prints an index's storage parameters, but `pg_get_constraintdef`
    // leaves out those of a primary key's or unique constraint's index (pg_dump adds them
    // itself), so only standalone indexes may have them.
    let standalone_index = relation.relkind == "i"
        && catalog.indexes.iter().any(|index| index.oid == relation.oid && !index.of_constraint);
    let owned_elsewhere = catalog.sequences.iter().any(|sequence| {
        sequence.oid == relation.oid
            && sequence.owner_table.is_some_and(|table| !catalog.relations.iter().any(|r| r.oid == table))
    });
    let problems = [
        (relation.persistence != "p", "unlogged or temporary relation"),
        (relation.tablespace, "tablespace"),
        (relation.options && !standalone_index, "storage parameters or view options (WITH ...)"),
        (relation.toast_options, "TOAST storage parameters"),
        (relation.row_security, "row-level security"),
        (relation.typed_or_partition || relation.inherits, "table inheritance, partition or typed table"),
        (table && relation.replica_identity != "d", "replica identity"),
        (matches!(relation.relkind.as_str(), "r" | "m") && relation.access_method != "heap", "table access method"),
        (
            table && relation.has_rows && !copy_data_of.contains(&relation.name.as_str()),
            "rows in a table that is cloned empty",
        ),
        (owned_elsewhere, "sequence owned by a table outside the template schema"),
    ];
    problems.iter().find(|(found, _)| *found).map_or(Ok(()), |(_, kind)| Err(*kind))
}
