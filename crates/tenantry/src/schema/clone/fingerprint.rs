//! A fingerprint of a template's catalog, so a cached [`CloneScript`](super::CloneScript) is
//! only replayed while the template is exactly what the script was read from.
//!
//! Keying the cache by the template's migration digest alone is not enough: an object added to
//! the template by hand (a materialized view, a policy, a changed comment) would be missed, and
//! the clone would silently differ. Every DDL statement inserts, updates or deletes catalog rows,
//! and an updated row gets a new `xmin`. So an md5 over (oid, xmin) of every catalog row that
//! belongs to the template changes with any DDL on it, however small. PostgreSQL keeps `xmin`
//! readable when it freezes a row (since 9.4), so vacuum does not change it.

use crate::sql::{quote_ident, quote_literal};

/// One row: `md5` of the template's catalog rows (`NULL` if the schema does not exist).
pub fn fingerprint_sql(schema: &str) -> String {
    let n = format!("{}::regnamespace", quote_literal(&quote_ident(schema)));
    format!(
        "SELECT md5(string_agg(k, ',' ORDER BY k)) FROM (\
         SELECT 'ns' || oid || ':' || xmin FROM pg_catalog.pg_namespace WHERE oid = {n} \
         UNION ALL SELECT 'c' || oid || ':' || xmin FROM pg_catalog.pg_class WHERE relnamespace = {n} \
         UNION ALL SELECT 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin FROM pg_catalog.pg_attribute a \
           JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = {n} \
         UNION ALL SELECT 'd' || d.oid || ':' || d.xmin FROM pg_catalog.pg_attrdef d \
           JOIN pg_catalog.pg_class c ON c.oid = d.adrelid WHERE c.relnamespace = {n} \
         UNION ALL SELECT 'k' || oid || ':' || xmin FROM pg_catalog.pg_constraint WHERE connamespace = {n} \
         UNION ALL SELECT 'i' || i.indexrelid || ':' || i.xmin FROM pg_catalog.pg_index i \
           JOIN pg_catalog.pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = {n} \
         UNION ALL SELECT 'r' || r.oid || ':' || r.xmin FROM pg_catalog.pg_rewrite r \
           JOIN pg_catalog.pg_class c ON c.oid = r.ev_class WHERE c.relnamespace = {n} \
         UNION ALL SELECT 'g' || t.oid || ':' || t.xmin FROM pg_catalog.pg_trigger t \
           JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = {n} \
         UNION ALL SELECT 's' || s.seqrelid || ':' || s.xmin FROM pg_catalog.pg_sequence s \
           JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = {n} \
         UNION ALL SELECT 'po' || p.oid || ':' || p.xmin FROM pg_catalog.pg_policy p \
           JOIN pg_catalog.pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = {n} \
         UNION ALL SELECT 'p' || oid || ':' || xmin FROM pg_catalog.pg_proc WHERE pronamespace = {n} \
         UNION ALL SELECT 't' || oid || ':' || xmin FROM pg_catalog.pg_type WHERE typnamespace = {n} \
         UNION ALL SELECT 'e' || e.oid || ':' || e.xmin FROM pg_catalog.pg_enum e \
           JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = {n} \
         UNION ALL SELECT 'm' || d.objoid || '.' || d.classoid || '.' || d.objsubid || ':' || d.xmin \
           FROM pg_catalog.pg_description d WHERE d.objoid IN (\
             SELECT oid FROM pg_catalog.pg_class WHERE relnamespace = {n} \
             UNION ALL SELECT oid FROM pg_catalog.pg_constraint WHERE connamespace = {n} \
             UNION ALL SELECT oid FROM pg_catalog.pg_proc WHERE pronamespace = {n} \
             UNION ALL SELECT oid FROM pg_catalog.pg_type WHERE typnamespace = {n} \
             UNION ALL SELECT t.oid FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
               WHERE c.relnamespace = {n})\
         ) AS rows(k)"
    )
}

/// Fails with SQLSTATE `TN001` unless the template's fingerprint is still `expected`: run
/// inside the new tenant's transaction, right before the script.
pub fn check_fingerprint_sql(schema: &str, expected: &str) -> String {
    format!(
        "DO $tenantry$ BEGIN IF coalesce(({}), '') <> {} THEN \
         RAISE EXCEPTION 'tenantry: the template schema % changed since its clone script was read', {} \
         USING ERRCODE = 'TN001'; END IF; END $tenantry$",
        fingerprint_sql(schema),
        quote_literal(expected),
        quote_literal(schema)
    )
}
