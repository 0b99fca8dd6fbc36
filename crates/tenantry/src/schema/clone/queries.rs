//! The catalog queries that read a template schema, each run once per read (never once per
//! object). `$1` is always the template schema's OID.
//!
//! They run with `search_path` set to the template alone, so that `format_type`,
//! `pg_get_expr`, `pg_get_constraintdef`, `pg_get_viewdef` and the `pg_get_*def` functions print
//! the template's objects unqualified and every other schema's objects qualified ("The
//! functions ... qualify names only when needed to be visible in the current search path":
//! PostgreSQL manual, System Catalog Information Functions). Catalog tables and functions are
//! written `pg_catalog.` out of hygiene; `pg_catalog` is searched first anyway.

/// The template itself and the server version: one parameter, the schema name as an SQL
/// identifier (quoted), so that a missing schema fails with SQLSTATE `3F000`.
pub(crate) const SCHEMA: &str = "SELECT n.oid, n.nspname::text, pg_catalog.pg_get_userbyid(n.nspowner)::text, pg_catalog.current_setting('server_version_num')::int \
     FROM pg_catalog.pg_namespace n WHERE n.oid = $1::text::pg_catalog.regnamespace";

/// Every object that belongs to the template, found through `pg_depend`: whatever lives in the
/// schema depends on it (deptype `n`), and whatever is part of such an object (index,
/// constraint, trigger, rule, policy, default, row type, owned sequence, publication entry,
/// …) depends on that object with deptype `a` or `i` (PostgreSQL manual, `pg_depend`).
/// `depth` is 0 for objects directly in the schema, 1 for their parts, and so on (bounded, in
/// case internal dependencies ever loop); `member` keeps each object once, at its least depth.
const MEMBERS: &str = "WITH RECURSIVE reached(classid, objid, depth) AS ( \
       SELECT d.classid, d.objid, 0 FROM pg_catalog.pg_depend d \
       WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.refobjid = $1 \
     UNION \
       SELECT d.classid, d.objid, r.depth + 1 FROM pg_catalog.pg_depend d \
       JOIN reached r ON d.refclassid = r.classid AND d.refobjid = r.objid \
       WHERE d.deptype IN ('a', 'i') AND r.depth < 8 \
     ), \
     member(classid, objid, depth) AS (SELECT classid, objid, min(depth) FROM reached GROUP BY classid, objid)";

/// The census: every member with the facts that say whether it can be cloned (`detail`: the
/// relkind, typtype, prokind, contype, … as text), how PostgreSQL names it, and whether it
/// belongs to an extension or carries a security label. Objects of the schema come before
/// their parts, so a refusal names the domain rather than its check constraint.
pub(crate) fn census() -> String {
    format!(
        "{MEMBERS} \
         SELECT m.classid::pg_catalog.regclass::text, \
           CASE m.classid \
             WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN \
               (SELECT CASE WHEN c.relnamespace = $1 THEN c.relkind::text \
                            WHEN c.relnamespace = 'pg_toast'::pg_catalog.regnamespace THEN 'toast' \
                            ELSE 'elsewhere' END \
                FROM pg_catalog.pg_class c WHERE c.oid = m.objid) \
             WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN \
               (SELECT CASE WHEN t.typrelid <> 0 THEN 'rowtype' \
                            WHEN e.typarray = t.oid THEN 'array' \
                            ELSE t.typtype::text END \
                FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem \
                WHERE t.oid = m.objid) \
             WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN \
               (SELECT p.prokind::text FROM pg_catalog.pg_proc p WHERE p.oid = m.objid) \
             WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN \
               (SELECT CASE WHEN c.conrelid = 0 THEN 'domain' ELSE c.contype::text END \
                FROM pg_catalog.pg_constraint c WHERE c.oid = m.objid) \
             WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN \
               (SELECT CASE WHEN t.tgisinternal THEN 'internal' ELSE 'user' END \
                FROM pg_catalog.pg_trigger t WHERE t.oid = m.objid) \
             WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN \
               (SELECT CASE WHEN r.rulename = '_RETURN' AND c.relkind IN ('v', 'm') THEN 'view' ELSE 'rule' END \
                FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
                WHERE r.oid = m.objid) \
             WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN \
               (SELECT c.relkind::text FROM pg_catalog.pg_attrdef a \
                JOIN pg_catalog.pg_class c ON c.oid = a.adrelid WHERE a.oid = m.objid) \
             ELSE '' \
           END, \
           coalesce(i.type, ''), coalesce(i.identity, ''), \
           EXISTS (SELECT 1 FROM pg_catalog.pg_depend x \
                   WHERE x.classid = m.classid AND x.objid = m.objid AND x.deptype IN ('e', 'x')), \
           EXISTS (SELECT 1 FROM pg_catalog.pg_seclabel s WHERE s.classoid = m.classid AND s.objoid = m.objid) \
         FROM member m, LATERAL pg_catalog.pg_identify_object(m.classid, m.objid, 0) i \
         ORDER BY m.depth, 4, 1"
    )
}

/// Ordering edges between the objects the script creates: each row `(catalog, oid, ref catalog,
/// ref oid)` says that the first object depends on the second, so must be created after it.
///
/// Parts are folded into the statement that creates them: a column default or a row type into
/// its table, a view's `_RETURN` rule into the view, an array type into its element type, an
/// identity sequence into its table, an index that backs a constraint into the constraint.
/// A sequence's `OWNED BY` link (deptype `a`) is dropped: the script creates the sequence
/// before the table whose default uses it and sets `OWNED BY` afterwards, as pg_dump does.
pub(crate) fn dependencies() -> String {
    format!(
        "{MEMBERS}, \
         item(classid, objid, item_class, item_oid) AS ( \
           SELECT m.classid, m.objid, coalesce(r.item_class, m.classid), coalesce(r.item_oid, m.objid) \
           FROM member m LEFT JOIN LATERAL ( \
               SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, a.adrelid FROM pg_catalog.pg_attrdef a \
               WHERE m.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND a.oid = m.objid \
             UNION ALL \
               SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, r.ev_class FROM pg_catalog.pg_rewrite r \
               WHERE m.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = m.objid \
             UNION ALL \
               SELECT CASE WHEN b.typrelid <> 0 THEN 'pg_catalog.pg_class'::pg_catalog.regclass::oid \
                           ELSE 'pg_catalog.pg_type'::pg_catalog.regclass::oid END, \
                      CASE WHEN b.typrelid <> 0 THEN b.typrelid ELSE b.oid END \
               FROM pg_catalog.pg_type t \
               LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND e.typarray = t.oid \
               JOIN pg_catalog.pg_type b ON b.oid = coalesce(e.oid, t.oid) \
               WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.oid = m.objid \
             UNION ALL \
               SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, c.oid FROM pg_catalog.pg_constraint c \
               WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.conindid = m.objid \
                 AND c.contype IN ('p', 'u', 'x') \
             UNION ALL \
               SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, d.refobjid FROM pg_catalog.pg_depend d \
               JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
               WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.classid = m.classid \
                 AND d.objid = m.objid AND d.refclassid = m.classid AND d.deptype = 'i' \
           ) r(item_class, item_oid) ON true \
         ) \
         SELECT DISTINCT a.item_class::pg_catalog.regclass::text, a.item_oid, \
                b.item_class::pg_catalog.regclass::text, b.item_oid \
         FROM pg_catalog.pg_depend d \
         JOIN item a ON a.classid = d.classid AND a.objid = d.objid \
         JOIN item b ON b.classid = d.refclassid AND b.objid = d.refobjid \
         WHERE d.deptype IN ('n', 'a', 'i') \
           AND (a.item_class, a.item_oid) <> (b.item_class, b.item_oid) \
           AND NOT (d.deptype = 'a' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_class s WHERE s.oid = d.objid AND s.relkind = 'S')) \
         ORDER BY 1, 2, 3, 4"
    )
}

/// Relations of the template, with every property the script does not reproduce.
pub(crate) const RELATIONS: &str = "SELECT c.oid, c.relname::text, c.relkind::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0)).identity, \
       c.relpersistence::text, c.reltablespace <> 0, c.reloptions IS NOT NULL, \
       c.relrowsecurity OR c.relforcerowsecurity, c.relreplident::text, \
       c.relispartition OR c.reloftype <> 0, coalesce(am.amname::text, ''), \
       coalesce((SELECT t.reloptions IS NOT NULL FROM pg_catalog.pg_class t WHERE t.oid = c.reltoastrelid), false), \
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE c.oid IN (i.inhrelid, i.inhparent)), \
       pg_catalog.pg_get_userbyid(c.relowner)::text, \
       c.relacl IS NULL OR c.relacl = pg_catalog.acldefault( \
         CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner) \
     FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam \
     WHERE c.relnamespace = $1 ORDER BY c.relname";

/// Columns of the template's tables, views, materialized views and indexes, in `attnum` order,
/// without dropped columns. The collation is named only when it is not the type's default, as
/// pg_dump does, and so are the statistics target (`-1`: the default), the storage (empty: the
/// type's) and compression (empty: the default). The options leave out `pg_attver=<n>`, which
/// PostgreSQL 15.20 (Debian's `15.20-0+deb12u1`) stores on every column it creates: a
/// server-internal stamp that pg_dump 15.20 filters out the same way (its column query keeps
/// `attoptions` whose first characters are not `pg_attver=`; see docs/migrations.md).
/// The last column says whether the type (or its element type) is one of the template's.
pub(crate) const COLUMNS: &str = "SELECT a.attrelid, a.attnum::int, a.attname::text, \
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
     FROM pg_catalog.pg_attribute a \
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND e.typarray = t.oid \
     LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
     WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'v', 'm', 'i') AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attrelid, a.attnum";

/// Sequences with their options and the column that owns them (`a`: `OWNED BY`, `i`: identity).
pub(crate) const SEQUENCES: &str = "SELECT s.seqrelid, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL), \
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
       d.refobjid, coalesce(d.deptype::text, ''), \
       (SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = d.refobjid AND a.attnum = d.refobjsubid) \
     FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
     LEFT JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
       AND d.objid = s.seqrelid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
       AND d.deptype IN ('a', 'i') \
     WHERE c.relnamespace = $1 ORDER BY c.relname";

/// Table constraints, with the name of the index behind a primary key, unique or exclusion
/// constraint.
pub(crate) const CONSTRAINTS: &str = "SELECT c.oid, c.conrelid, c.conname::text, c.contype::text, \
       pg_catalog.pg_get_constraintdef(c.oid), \
       (SELECT i.relname::text FROM pg_catalog.pg_class i \
        WHERE i.oid = c.conindid AND c.contype IN ('p', 'u', 'x')) \
     FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.conrelid \
     WHERE r.relnamespace = $1 ORDER BY r.relname, c.conname";

/// Indexes, with their definition and the exact text PostgreSQL qualifies their table with:
/// `pg_get_indexdef` always schema-qualifies the table (PostgreSQL's `ruleutils.c`,
/// `pg_get_indexdef_worker`, when not pretty-printing), and `quote_ident` is the quoting it
/// uses.
pub(crate) const INDEXES: &str =
    "SELECT i.indexrelid, i.indrelid, c.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), \
       pg_catalog.quote_ident(c.relname), \
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname), \
       i.indisunique, i.indisclustered, i.indisvalid AND i.indisready AND i.indislive, \
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
               WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')) \
     FROM pg_catalog.pg_index i \
     JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
     JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
     WHERE c.relnamespace = $1 ORDER BY c.relname";

/// Enum types, with their labels in sort order.
pub(crate) const ENUMS: &str = "SELECT t.oid, t.typname::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0)).identity, \
       pg_catalog.pg_get_userbyid(t.typowner)::text, \
       t.typacl IS NULL OR t.typacl = pg_catalog.acldefault('T', t.typowner), \
       ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) \
     FROM pg_catalog.pg_type t WHERE t.typnamespace = $1 AND t.typtype = 'e' ORDER BY t.typname";

/// Functions and procedures. `pg_get_functiondef` always schema-qualifies the routine's own
/// name (PostgreSQL's `ruleutils.c`, `pg_get_functiondef`), hence the qualified text beside it.
pub(crate) const FUNCTIONS: &str = "SELECT p.oid, p.proname::text, p.prokind::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0)).identity, \
       pg_catalog.pg_get_function_identity_arguments(p.oid), \
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) ELSE '' END, \
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname), \
       pg_catalog.pg_get_userbyid(p.proowner)::text, \
       p.proacl IS NULL OR p.proacl = pg_catalog.acldefault('f', p.proowner) \
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE p.pronamespace = $1 ORDER BY p.proname, p.oid";

/// Views and materialized views, their defining queries, and whether a materialized view holds
/// data (`relispopulated`: false after `WITH NO DATA`, until a `REFRESH`).
pub(crate) const VIEWS: &str = "SELECT c.oid, c.relname::text, pg_catalog.pg_get_viewdef(c.oid), \
       c.relkind = 'm', c.relispopulated \
     FROM pg_catalog.pg_class c WHERE c.relnamespace = $1 AND c.relkind IN ('v', 'm') ORDER BY c.relname";

/// User triggers (not the internal ones behind foreign keys), with what `pg_get_triggerdef`
/// prints before the table name, which it always schema-qualifies when not pretty-printing.
pub(crate) const TRIGGERS: &str = "SELECT t.oid, t.tgrelid, t.tgname::text, \
       (pg_catalog.pg_identify_object('pg_catalog.pg_trigger'::pg_catalog.regclass, t.oid, 0)).identity, \
       pg_catalog.pg_get_triggerdef(t.oid), t.tgtype::int, t.tgenabled::text, t.tgconstraint <> 0, \
       pg_catalog.quote_ident(t.tgname), \
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), \
       ARRAY(SELECT pg_catalog.quote_ident(a.attname) \
             FROM pg_catalog.unnest(t.tgattr) WITH ORDINALITY u(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = u.attnum \
             ORDER BY u.ord) \
     FROM pg_catalog.pg_trigger t \
     JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relnamespace = $1 AND NOT t.tgisinternal ORDER BY c.relname, t.tgname";

/// Comments on the template's relations, columns, constraints, routines, types and triggers.
/// Comments on anything else belong to objects the census already refuses.
pub(crate) const COMMENTS: &str = "SELECT d.classoid::pg_catalog.regclass::text, d.objoid, d.objsubid, d.description, \
       coalesce((pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid)).identity, '') \
     FROM pg_catalog.pg_description d \
     WHERE (d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass \
            AND d.objoid IN (SELECT oid FROM pg_catalog.pg_class WHERE relnamespace = $1)) \
        OR (d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass \
            AND d.objoid IN (SELECT oid FROM pg_catalog.pg_constraint WHERE connamespace = $1)) \
        OR (d.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
            AND d.objoid IN (SELECT oid FROM pg_catalog.pg_proc WHERE pronamespace = $1)) \
        OR (d.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass \
            AND d.objoid IN (SELECT oid FROM pg_catalog.pg_type WHERE typnamespace = $1)) \
        OR (d.classoid = 'pg_catalog.pg_trigger'::pg_catalog.regclass \
            AND d.objoid IN (SELECT t.oid FROM pg_catalog.pg_trigger t \
                             JOIN pg_catalog.pg_class r ON r.oid = t.tgrelid WHERE r.relnamespace = $1)) \
     ORDER BY 1, 2, 3";

/// Enabled event triggers: database-wide, they react to the migrations' DDL and to the
/// clone's DDL, which differ, so their effect cannot be vouched for.
pub(crate) const EVENT_TRIGGERS: &str =
    "SELECT evtname::text FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D' ORDER BY 1";
