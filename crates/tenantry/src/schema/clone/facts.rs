//! The facts read from a template schema's catalog: plain data, one struct per kind of
//! object, filled by [`catalog`](super::catalog) and turned into statements by
//! [`plan`](super::plan).

/// The system catalogs whose objects the script creates; anything else is [`Self::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CatalogKind {
    /// `pg_class`: tables, sequences, views, indexes.
    Class,
    /// `pg_type`.
    Type,
    /// `pg_proc`.
    Proc,
    /// `pg_constraint`.
    Constraint,
    /// `pg_trigger`.
    Trigger,
    /// Any other catalog.
    Other,
}

impl CatalogKind {
    /// From a catalog's name, as `regclass` prints it.
    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "pg_class" => Self::Class,
            "pg_type" => Self::Type,
            "pg_proc" => Self::Proc,
            "pg_constraint" => Self::Constraint,
            "pg_trigger" => Self::Trigger,
            _ => Self::Other,
        }
    }
}

/// An object: its catalog and OID.
pub(crate) type ObjectKey = (CatalogKind, u32);

/// The template schema itself.
#[derive(Debug)]
pub(crate) struct Schema {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) server_version: i32,
}

/// One object belonging to the template, as the census sees it.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) catalog: String,
    /// relkind, typtype, prokind, contype, … as text (see `queries::census`).
    pub(crate) detail: String,
    /// `pg_identify_object`'s type (`table`, `policy`, `operator`, …).
    pub(crate) kind: String,
    /// `pg_identify_object`'s identity (`tenantry_template.customer`).
    pub(crate) identity: String,
    pub(crate) in_extension: bool,
    pub(crate) labelled: bool,
}

/// A relation (table, sequence, view, index, …) of the template.
#[derive(Debug)]
pub(crate) struct Relation {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) relkind: String,
    pub(crate) identity: String,
    pub(crate) persistence: String,
    pub(crate) tablespace: bool,
    pub(crate) options: bool,
    pub(crate) row_security: bool,
    pub(crate) replica_identity: String,
    pub(crate) typed_or_partition: bool,
    pub(crate) access_method: String,
    pub(crate) toast_options: bool,
    pub(crate) inherits: bool,
    pub(crate) owner: String,
    pub(crate) default_acl: bool,
    /// For tables, after [`Catalog::read_state`]: whether the table holds rows.
    pub(crate) has_rows: bool,
}

/// A column of a table, view or index.
#[derive(Debug)]
pub(crate) struct Column {
    pub(crate) relation: u32,
    pub(crate) number: i32,
    pub(crate) name: String,
    pub(crate) identity: String,
    pub(crate) type_sql: String,
    /// The collation, qualified and quoted, when it is not the type's default.
    pub(crate) collation: Option<String>,
    pub(crate) not_null: bool,
    pub(crate) default: Option<String>,
    /// `attidentity`: empty, `a` (ALWAYS) or `d` (BY DEFAULT).
    pub(crate) identity_kind: String,
    /// `attgenerated`: empty or `s` (STORED).
    pub(crate) generated: String,
    /// `attstattarget`; `-1` for the default.
    pub(crate) statistics: i32,
    /// `attstorage` when it is not the type's own (`p`, `e`, `m`, `x`), else empty.
    pub(crate) storage: String,
    /// `attcompression`: empty (the default), `p` (pglz) or `l` (lz4).
    pub(crate) compression: String,
    /// `attoptions` (`n_distinct=5`, …), without the server's own `pg_attver=<n>`.
    pub(crate) options: Vec<String>,
    pub(crate) acl: bool,
    /// Whether the type, or its element type, is one of the template's (an enum, a row type).
    pub(crate) template_type: bool,
}

/// A sequence and its options.
#[derive(Debug)]
pub(crate) struct Sequence {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) type_sql: String,
    pub(crate) start: i64,
    pub(crate) increment: i64,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) cache: i64,
    pub(crate) cycle: bool,
    pub(crate) owner_table: Option<u32>,
    /// `a` (`OWNED BY`), `i` (identity) or empty.
    pub(crate) owner_kind: String,
    pub(crate) owner_column: Option<String>,
    /// After [`Catalog::read_state`]: `last_value` and `is_called`.
    pub(crate) state: Option<(i64, bool)>,
}

/// A table constraint.
#[derive(Debug)]
pub(crate) struct Constraint {
    pub(crate) oid: u32,
    pub(crate) table: u32,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) definition: String,
    pub(crate) index_name: Option<String>,
}

/// An index.
#[derive(Debug)]
pub(crate) struct Index {
    pub(crate) oid: u32,
    pub(crate) table: u32,
    pub(crate) name: String,
    pub(crate) definition: String,
    pub(crate) quoted_name: String,
    pub(crate) qualified_table: String,
    pub(crate) unique: bool,
    pub(crate) clustered: bool,
    pub(crate) valid: bool,
    pub(crate) of_constraint: bool,
}

/// An enum type.
#[derive(Debug)]
pub(crate) struct EnumType {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) identity: String,
    pub(crate) owner: String,
    pub(crate) default_acl: bool,
    pub(crate) labels: Vec<String>,
}

/// A function, procedure or other routine.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) identity: String,
    pub(crate) arguments: String,
    pub(crate) definition: String,
    pub(crate) qualified: String,
    pub(crate) owner: String,
    pub(crate) default_acl: bool,
}

/// A view or materialized view.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) definition: String,
    pub(crate) materialized: bool,
    /// For a materialized view: whether it holds data (it was created or refreshed with data).
    pub(crate) populated: bool,
}

/// A user trigger.
#[derive(Debug)]
pub(crate) struct Trigger {
    pub(crate) oid: u32,
    pub(crate) table: u32,
    pub(crate) name: String,
    pub(crate) identity: String,
    pub(crate) definition: String,
    pub(crate) tgtype: i32,
    pub(crate) enabled: String,
    pub(crate) constraint: bool,
    pub(crate) quoted_name: String,
    pub(crate) qualified_table: String,
    /// `UPDATE OF` columns, as PostgreSQL quotes them.
    pub(crate) columns: Vec<String>,
}

/// A comment (`pg_description`).
#[derive(Debug)]
pub(crate) struct Comment {
    pub(crate) catalog: CatalogKind,
    pub(crate) oid: u32,
    pub(crate) sub_id: i32,
    pub(crate) text: String,
    pub(crate) identity: String,
}

/// "`from` depends on `to`".
#[derive(Debug)]
pub(crate) struct Dependency {
    pub(crate) from: ObjectKey,
    pub(crate) to: ObjectKey,
}

/// Everything read from the template, apart from the census.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub(crate) relations: Vec<Relation>,
    pub(crate) columns: Vec<Column>,
    pub(crate) sequences: Vec<Sequence>,
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) indexes: Vec<Index>,
    pub(crate) enums: Vec<EnumType>,
    pub(crate) functions: Vec<Function>,
    pub(crate) views: Vec<View>,
    pub(crate) triggers: Vec<Trigger>,
    pub(crate) comments: Vec<Comment>,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) event_triggers: Vec<String>,
}
