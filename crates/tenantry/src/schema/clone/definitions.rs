//! The queries that read the definitions of a template's objects, each run once per read.
//! `$1` is always the template schema's OID; the search path is the template alone (see
//! [`queries`](super::queries)).
//!
//! Each starts from the template's objects as found through indexes, never from a filter on
//! `pg_class.relnamespace`, `pg_type.typnamespace`, `pg_proc.pronamespace` or
//! `pg_constraint.connamespace`: no index leads with those columns (the `…_nsp_index`es lead with
//! the name), so such a filter reads the whole catalog, which grows with every tenant: a template
//! read took 0.9 s of server time with 600 tenants and about 2.2 s with 3,100 that way
//! (docs/benchmarks.md). Objects directly in the schema come from `pg_depend`'s index on
//! (refclassid, refobjid); their indexes from `pg_index`'s on `indrelid`; the relation of a
//! composite type from its `pg_type` row. Every other catalog is then reached by its own index on
//! the owning oid (`tests/create.rs` checks that every catalog access of a read is such an index
//! lookup). "Is there a row" is asked as a scalar subquery with `LIMIT 1`, not `EXISTS`, which the
//! planner may answer by hashing the whole catalog. No query names the namespace column as well:
//! the planner could then search the `…_nsp_index` by its second column, which is a walk through
//! the whole index, and what depends on the schema is in it by construction (an index lives in its
//! table's schema, a composite type's relation in its type's).

/// Prefixes `$query` with the template's relations (`rel`), routines and types (`in_schema`).
macro_rules! in_template {
    ($query:literal) => {
        concat!(
            "WITH in_schema AS MATERIALIZED (SELECT d.classid, d.objid FROM pg_catalog.pg_depend d \
               WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.refobjid = $1), \
             rel(oid) AS MATERIALIZED ( \
               SELECT s.objid FROM in_schema s WHERE s.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
               UNION SELECT i.indexrelid FROM in_schema s JOIN pg_catalog.pg_index i ON i.indrelid = s.objid \
                 WHERE s.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
               UNION SELECT t.typrelid FROM in_schema s JOIN pg_catalog.pg_type t ON t.oid = s.objid \
                 WHERE s.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.typrelid <> 0) ",
            $query
        )
    };
}

/// Relations of the template, with every property the script does not reproduce.
pub(crate) const RELATIONS: &str = in_template!(
    "SELECT c.oid, c.relname::text, c.relkind::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0)).identity, \
       c.relpersistence::text, c.reltablespace <> 0, c.reloptions IS NOT NULL, \
       c.relrowsecurity OR c.relforcerowsecurity, c.relreplident::text, \
       c.relispartition OR c.reloftype <> 0, \
       coalesce((SELECT am.amname::text FROM pg_catalog.pg_am am WHERE am.oid = c.relam), ''), \
       coalesce((SELECT t.reloptions IS NOT NULL FROM pg_catalog.pg_class t WHERE t.oid = c.reltoastrelid), false), \
       coalesce((SELECT true FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid LIMIT 1), false) \
         OR coalesce((SELECT true FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid LIMIT 1), false), \
       pg_catalog.pg_get_userbyid(c.relowner)::text, \
       c.relacl IS NULL OR c.relacl = pg_catalog.acldefault( \
         CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner) \
     FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid \
     ORDER BY c.relname"
);

/// Columns of the template's tables, views, materialized views and indexes, in `attnum` order,
/// without dropped columns. The collation is named only when it is not the type's default, as
/// pg_dump does, and so are the statistics target (`-1`: the default), the storage (empty: the
/// type's) and compression (empty: the default). The options leave out `pg_attver=<n>`, which
/// PostgreSQL 15.20 (Debian's `15.20-0+deb12u1`) stores on every column it creates: a
/// server-internal stamp that pg_dump 15.20 filters out the same way (its column query keeps
/// `attoptions` whose first characters are not `pg_attver=`; see docs/migrations.md).
/// The last column says whether the type (or its element type) is one of the template's.
pub(crate) const COLUMNS: &str = in_template!(
    "SELECT a.attrelid, a.attnum::int, a.attname::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, a.attrelid, a.attnum)).identity, \
       pg_catalog.format_type(a.atttypid, a.atttypmod), \
       CASE WHEN a.attcollation <> t.typcollation THEN \
         (SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(co.collname) \
          FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace \
          WHERE co.oid = a.attcollation) END, \
       a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text, a.attgenerated::text, \
       coalesce(a.attstattarget::int, -1), \
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text ELSE '' END, a.attcompression::text, \
       ARRAY(SELECT o FROM pg_catalog.unnest(a.attoptions) o WHERE pg_catalog.substr(o, 1, 10) <> 'pg_attver='), \
       coalesce(pg_catalog.cardinality(a.attacl), 0) > 0, \
       t.typnamespace = $1 OR coalesce(e.typnamespace = $1, false) \
     FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid \
     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND e.typarray = t.oid \
     LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
     WHERE c.relkind IN ('r', 'v', 'm', 'i') AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attrelid, a.attnum"
);

/// Sequences with their options and the column that owns them (`a`: `OWNED BY`, `i`: identity).
pub(crate) const SEQUENCES: &str = in_template!("SELECT s.seqrelid, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL), \
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
       d.refobjid, coalesce(d.deptype::text, ''), \
       (SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid) \
     FROM rel JOIN pg_catalog.pg_sequence s ON s.seqrelid = rel.oid JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
     LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
       AND d.objid = s.seqrelid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
       AND d.deptype IN ('a', 'i') \
     ORDER BY c.relname");

/// Table constraints, with the name of the index behind a primary key, unique or exclusion
/// constraint.
pub(crate) const CONSTRAINTS: &str = in_template!(
    "SELECT c.oid, c.conrelid, c.conname::text, c.contype::text, \
       pg_catalog.pg_get_constraintdef(c.oid), \
       (SELECT i.relname::text FROM pg_catalog.pg_class i \
        WHERE i.oid = c.conindid AND c.contype IN ('p', 'u', 'x')) \
     FROM rel JOIN pg_catalog.pg_class r ON r.oid = rel.oid JOIN pg_catalog.pg_constraint c ON c.conrelid = r.oid \
     ORDER BY r.relname, c.conname"
);

/// Indexes, with their definition and the exact text PostgreSQL qualifies their table with:
/// `pg_get_indexdef` always schema-qualifies the table (PostgreSQL's `ruleutils.c`,
/// `pg_get_indexdef_worker`, when not pretty-printing), and `quote_ident` is the quoting it
/// uses.
pub(crate) const INDEXES: &str = in_template!(
    "SELECT i.indexrelid, i.indrelid, c.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), \
       pg_catalog.quote_ident(c.relname), \
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname), \
       i.indisunique, i.indisclustered, i.indisvalid AND i.indisready AND i.indislive, \
       EXISTS (SELECT 1 FROM pg_catalog.pg_depend k \
               WHERE k.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND k.objid = i.indexrelid \
                 AND k.refclassid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND k.deptype = 'i') \
     FROM rel JOIN pg_catalog.pg_index i ON i.indexrelid = rel.oid \
     JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
     JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
     ORDER BY c.relname"
);

/// Enum types, with their labels in sort order.
pub(crate) const ENUMS: &str = in_template!(
    "SELECT t.oid, t.typname::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0)).identity, \
       pg_catalog.pg_get_userbyid(t.typowner)::text, \
       t.typacl IS NULL OR t.typacl = pg_catalog.acldefault('T', t.typowner), \
       ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) \
     FROM in_schema s JOIN pg_catalog.pg_type t ON t.oid = s.objid \
     WHERE s.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.typtype = 'e' \
     ORDER BY t.typname"
);

/// Functions and procedures. `pg_get_functiondef` always schema-qualifies the routine's own
/// name (PostgreSQL's `ruleutils.c`, `pg_get_functiondef`), hence the qualified text beside it.
pub(crate) const FUNCTIONS: &str = in_template!(
    "SELECT p.oid, p.proname::text, p.prokind::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0)).identity, \
       pg_catalog.pg_get_function_identity_arguments(p.oid), \
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) ELSE '' END, \
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname), \
       pg_catalog.pg_get_userbyid(p.proowner)::text, \
       p.proacl IS NULL OR p.proacl = pg_catalog.acldefault('f', p.proowner) \
     FROM in_schema s JOIN pg_catalog.pg_proc p ON p.oid = s.objid \
     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE s.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass ORDER BY p.proname, p.oid"
);

/// Views and materialized views, their defining queries, and whether a materialized view holds
/// data (`relispopulated`: false after `WITH NO DATA`, until a `REFRESH`).
pub(crate) const VIEWS: &str = in_template!(
    "SELECT c.oid, c.relname::text, pg_catalog.pg_get_viewdef(c.oid), \
       c.relkind = 'm', c.relispopulated \
     FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid \
     WHERE c.relkind IN ('v', 'm') ORDER BY c.relname"
);

/// User triggers (not the internal ones behind foreign keys), with what `pg_get_triggerdef`
/// prints before the table name, which it always schema-qualifies when not pretty-printing.
pub(crate) const TRIGGERS: &str = in_template!(
    "SELECT t.oid, t.tgrelid, t.tgname::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, 0)).identity, \
       pg_catalog.pg_get_triggerdef(t.oid), t.tgtype::int, t.tgenabled::text, t.tgconstraint <> 0, \
       pg_catalog.quote_ident(t.tgname), \
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), \
       ARRAY(SELECT pg_catalog.quote_ident(a.attname) \
             FROM pg_catalog.unnest(t.tgattr) WITH ORDINALITY u(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = u.attnum \
             ORDER BY u.ord) \
     FROM rel JOIN pg_catalog.pg_class c ON c.oid = rel.oid \
     JOIN pg_catalog.pg_trigger t ON t.tgrelid = c.oid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE NOT t.tgisinternal ORDER BY c.relname, t.tgname"
);

/// Comments on the template's relations, columns, constraints, routines, types and triggers.
/// Comments on anything else belong to objects the census already refuses.
pub(crate) const COMMENTS: &str = in_template!(
    ", \
     commented(classoid, objoid) AS ( \
       SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, oid FROM rel \
       UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid \
         FROM rel JOIN pg_catalog.pg_constraint k ON k.conrelid = rel.oid \
       UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, g.oid \
         FROM rel JOIN pg_catalog.pg_trigger g ON g.tgrelid = rel.oid \
       UNION ALL SELECT s.classid, s.objid FROM in_schema s \
         WHERE s.classid IN ('pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_type'::pg_catalog.regclass)) \
     SELECT d.classoid::pg_catalog.regclass::text, d.objoid, d.objsubid, d.description, \
       coalesce((pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid)).identity, '') \
     FROM commented o JOIN pg_catalog.pg_description d ON d.objoid = o.objoid AND d.classoid = o.classoid \
     ORDER BY 1, 2, 3"
);
