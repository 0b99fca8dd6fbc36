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
           coalesce((SELECT true FROM pg_catalog.pg_seclabel s \
                     WHERE s.objoid = m.objid AND s.classoid = m.classid LIMIT 1), false) \
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
               SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, k.refobjid FROM pg_catalog.pg_depend k \
               WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND k.classid = m.classid \
                 AND k.objid = m.objid AND k.refclassid = 'pg_catalog.pg_constraint'::pg_catalog.regclass \
                 AND k.deptype = 'i' \
             UNION ALL \
               SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid, d.refobjid FROM pg_catalog.pg_depend d \
               JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
               WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.classid = m.classid \
                 AND d.objid = m.objid AND d.refclassid = m.classid AND d.deptype = 'i' \
           ) r(item_class, item_oid) ON true \
         ) \
         SELECT DISTINCT a.item_class::pg_catalog.regclass::text, a.item_oid, \
                b.item_class::pg_catalog.regclass::text, b.item_oid \
         FROM item a \
         JOIN pg_catalog.pg_depend d ON d.classid = a.classid AND d.objid = a.objid \
         JOIN item b ON b.classid = d.refclassid AND b.objid = d.refobjid \
         WHERE d.deptype IN ('n', 'a', 'i') \
           AND (a.item_class, a.item_oid) <> (b.item_class, b.item_oid) \
           AND NOT (d.deptype = 'a' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_class s WHERE s.oid = d.objid AND s.relkind = 'S')) \
         ORDER BY 1, 2, 3, 4"
    )
}

/// Enabled event triggers: database-wide, they react to the migrations' DDL and to the
/// clone's DDL, which differ, so their effect cannot be vouched for.
pub(crate) const EVENT_TRIGGERS: &str =
    "SELECT evtname::text FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D' ORDER BY 1";
