//! Invalid indexes around a no-transaction step: a `CREATE INDEX CONCURRENTLY` that fails or is
//! cancelled (a `lock_timeout`, a killed process) leaves its index behind, INVALID; a retry
//! with `IF NOT EXISTS` then skips it, and the version was recorded with a useless index
//! (issue 8). So the indexes of the schema are read before and after each step:
//!
//! - before: an invalid index with the name the step creates is an earlier attempt's, and is
//!   dropped first ([`earlier_attempt`]);
//! - after: an index the step left invalid means it did not complete, and is dropped; an
//!   invalid index from before whose definition equals one the step just built is an earlier
//!   attempt's of an unnamed build, and is dropped too ([`left_by_step`]).
//!
//! Other invalid indexes are not tenantry's to judge (an application's own build may be in
//! progress): they are left alone, and logged.

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::sql::{quote_ident, quote_literal};

/// One index of a table in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    pub(crate) oid: u32,
    pub(crate) name: String,
    pub(crate) valid: bool,
    /// What the index is, without its name: table, method, columns, operator classes,
    /// collations, options, expressions, predicate, uniqueness.
    pub(crate) shape: String,
}

/// Why an index counts as left by the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Invalid after the step, and new or valid before it.
    LeftInvalid,
    /// The index the step creates, still invalid.
    StillInvalid,
    /// Invalid from before, with the definition of an index the step just built.
    Superseded,
}

/// The indexes of every table in `schema`, as the last statement of a message. The tables are
/// found through `pg_depend`'s reference index (every relation depends on its namespace), not a
/// scan of `pg_class`, whose size grows with the fleet (docs/benchmarks.md, the clone's
/// fingerprint). Partitioned indexes are left out: `CREATE INDEX … ON ONLY` makes them invalid
/// on purpose, until every partition's index is attached (PostgreSQL manual, "Partition
/// Maintenance").
pub(crate) fn list_sql(schema: &str) -> String {
    format!(
        "SELECT ic.oid, ic.relname, i.indisvalid, concat_ws('|', i.indrelid::text, ic.relam::text, \
         i.indisunique::text, i.indkey::text, i.indclass::text, i.indcollation::text, i.indoption::text, \
         coalesce(pg_catalog.pg_get_expr(i.indexprs, i.indrelid), ''), \
         coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid), '')) \
         FROM pg_catalog.pg_namespace n \
         JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass \
          AND d.refobjid = n.oid AND d.refobjsubid = 0 AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
         JOIN pg_catalog.pg_index i ON i.indrelid = d.objid \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid AND ic.relnamespace = n.oid AND ic.relkind = 'i' \
         WHERE n.nspname = {}",
        quote_literal(schema)
    )
}

/// Sends `preceding` (statements whose rows, if any, are ignored) and
/// [`list_sql`] as one simple-query message: one round trip. Returns the indexes.
pub(crate) async fn list(client: &Client, preceding: &str, schema: &str) -> Result<Vec<Index>, tokio_postgres::Error> {
    let messages = client.simple_query(&format!("{preceding}{}", list_sql(schema))).await?;
    // The rows of the last statement: those after the last-but-one command completion.
    let completions = messages.iter().filter(|m| matches!(m, SimpleQueryMessage::CommandComplete(_))).count();
    let mut seen = 0;
    let mut indexes = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::CommandComplete(_) => seen += 1,
            SimpleQueryMessage::Row(row) if seen + 1 == completions => indexes.push(Index {
                oid: row.get(0).and_then(|oid| oid.parse().ok()).unwrap_or_default(),
                name: row.get(1).unwrap_or_default().to_owned(),
                valid: row.get(2) == Some("t"),
                shape: row.get(3).unwrap_or_default().to_owned(),
            }),
            _ => {}
        }
    }
    Ok(indexes)
}

/// `DROP INDEX CONCURRENTLY IF EXISTS` of `schema.name`, outside a transaction.
pub(crate) fn drop_sql(schema: &str, name: &str) -> String {
    format!("DROP INDEX CONCURRENTLY IF EXISTS {}.{}", quote_ident(schema), quote_ident(name))
}

/// `schema.name`, quoted, for messages.
pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// The invalid indexes in `before` that an earlier attempt of the step left: those with the
/// name the step creates.
pub(crate) fn earlier_attempt<'a>(before: &'a [Index], target: Option<&str>) -> Vec<&'a Index> {
    before.iter().filter(|index| !index.valid && Some(index.name.as_str()) == target).collect()
}

/// The invalid indexes in `after` that the step left, with why; `before` is what the schema had
/// when the step started (after [`earlier_attempt`]'s were dropped).
pub(crate) fn left_by_step<'a>(before: &[Index], after: &'a [Index], target: Option<&str>) -> Vec<(&'a Index, Why)> {
    let old = |index: &Index| before.iter().find(|b| b.oid == index.oid);
    let built: Vec<&Index> = after.iter().filter(|a| a.valid && old(a).is_none()).collect();
    after
        .iter()
        .filter(|index| !index.valid)
        .filter_map(|index| {
            let why = match old(index) {
                None => Why::LeftInvalid,
                Some(was) if was.valid => Why::LeftInvalid,
                Some(_) if Some(index.name.as_str()) == target => Why::StillInvalid,
                Some(_) if built.iter().any(|b| b.shape == index.shape) => Why::Superseded,
                Some(_) => return None,
            };
            Some((index, why))
        })
        .collect()
}

/// The name of the index `sql` creates when it is one `CREATE [UNIQUE] INDEX CONCURRENTLY [IF
/// NOT EXISTS] <name> ON …` statement (after comments); `None` for anything else, or an unnamed
/// index. The name is folded and truncated as PostgreSQL does (lowercase unless quoted, 63
/// bytes).
pub(crate) fn created_index_name(sql: &str) -> Option<String> {
    let mut words = Words { rest: sql };
    let mut word = words.next()?;
    for keyword in ["create", "unique", "index", "concurrently"] {
        match word {
            Word::Bare(w) if w.eq_ignore_ascii_case(keyword) => word = words.next()?,
            _ if keyword == "unique" => {}
            _ => return None,
        }
    }
    if matches!(word, Word::Bare(w) if w.eq_ignore_ascii_case("if")) {
        for keyword in ["not", "exists"] {
            if !matches!(words.next()?, Word::Bare(w) if w.eq_ignore_ascii_case(keyword)) {
                return None;
            }
        }
        word = words.next()?;
    }
    let name = match word {
        Word::Bare(w) if w.eq_ignore_ascii_case("on") => return None,
        // Unquoted identifiers fold ASCII letters only (PostgreSQL's downcase_identifier).
        Word::Bare(w) => w.to_ascii_lowercase(),
        Word::Quoted(w) => w,
    };
    matches!(words.next()?, Word::Bare(w) if w.eq_ignore_ascii_case("on")).then(|| truncate_identifier(name))
}

/// PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1), on a character
/// boundary.
fn truncate_identifier(mut name: String) -> String {
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

enum Word<'a> {
    Bare(&'a str),
    Quoted(String),
}

/// Words of a statement's head: bare words, `"quoted"` identifiers; comments skipped.
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<Word<'a>> {
        loop {
            self.rest = self.rest.trim_start();
            if let Some(line) = self.rest.strip_prefix("--") {
                self.rest = line.split_once('\n').map_or("", |(_, after)| after);
            } else if let Some(block) = self.rest.strip_prefix("/*") {
                self.rest = block.split_once("*/")?.1;
            } else {
                break;
            }
        }
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            while let Some((at, c)) = chars.next() {
                if c == '"' {
                    if quoted[at + 1..].starts_with('"') {
                        name.push('"');
                        chars.next();
                    } else {
                        self.rest = &quoted[at + 1..];
                        return Some(Word::Quoted(name));
                    }
                } else {
                    name.push(c);
                }
            }
            return None;
        }
        let end = self.rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(Word::Bare(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(oid: u32, name: &str, valid: bool, shape: &str) -> Index {
        Index { oid, name: name.to_owned(), valid, shape: shape.to_owned() }
    }

    fn left<'a>(before: &[Index], after: &'a [Index], target: &str) -> Vec<(&'a str, Why)> {
        left_by_step(before, after, Some(target)).into_iter().map(|(i, why)| (i.name.as_str(), why)).collect()
    }

    #[test]
    fn the_created_index_name_is_read_from_a_concurrent_build_only() {
        let name = |sql: &str| created_index_name(sql);
        assert_eq!(
            name("-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS Customer_Email ON customer (lower(email))"),
            Some("customer_email".to_owned())
        );
        assert_eq!(
            name("/* why */ create unique index concurrently \"Odd \"\"name\"\"\" on t (a)"),
            Some("Odd \"name\"".to_owned())
        );
        assert_eq!(name("CREATE INDEX CONCURRENTLY i ON ONLY t (a)"), Some("i".to_owned()));
        assert_eq!(name(&format!("CREATE INDEX CONCURRENTLY {} ON t (a)", "x".repeat(70))), Some("x".repeat(63)));
        assert_eq!(name("CREATE INDEX CONCURRENTLY ON t (a)"), None, "unnamed");
        assert_eq!(name("CREATE INDEX i ON t (a)"), None, "not concurrent");
        assert_eq!(name("DROP INDEX CONCURRENTLY i"), None);
        assert_eq!(name("REINDEX INDEX CONCURRENTLY i"), None);
        assert_eq!(name("CREATE INDEX CONCURRENTLY IF EXISTS i ON t (a)"), None);
        assert_eq!(name("CREATE INDEX CONCURRENTLY \"unterminated ON t (a)"), None);
        assert_eq!(name("/* unterminated"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn the_step_left_what_is_invalid_and_new_or_was_valid() {
        let before = [index(1, "a", true, "A"), index(2, "stale", false, "S"), index(3, "dropping", true, "D")];
        let after = [
            index(1, "a", true, "A"),
            index(2, "stale", false, "S"),
            index(3, "dropping", false, "D"),
            index(4, "new", false, "N"),
        ];
        assert_eq!(
            left(&before, &after, "new"),
            [("dropping", Why::LeftInvalid), ("new", Why::LeftInvalid)],
            "an unrelated invalid index stays"
        );
    }

    #[test]
    fn the_target_still_invalid_and_superseded_copies_count_as_left() {
        let before =
            [index(1, "target", false, "T"), index(2, "t_expr_idx", false, "E"), index(5, "other", false, "O")];
        let after = [
            index(1, "target", false, "T"),
            index(2, "t_expr_idx", false, "E"),
            index(3, "t_expr_idx1", true, "E"),
            index(5, "other", false, "O"),
        ];
        assert_eq!(left(&before, &after, "target"), [("target", Why::StillInvalid), ("t_expr_idx", Why::Superseded)]);
        assert_eq!(earlier_attempt(&before, Some("target")).len(), 1);
        assert!(earlier_attempt(&before, None).is_empty());
        assert!(earlier_attempt(&after[2..3], Some("t_expr_idx1")).is_empty(), "a valid index is never dropped");
    }

    #[test]
    fn list_sql_quotes_the_schema_and_skips_partitioned_indexes() {
        let sql = list_sql("it's");
        assert!(sql.ends_with("WHERE n.nspname = 'it''s'"), "{sql}");
        assert!(sql.contains("ic.relkind = 'i'"), "{sql}");
    }

    #[test]
    fn drop_sql_quotes_both_names() {
        assert_eq!(drop_sql("t-1", "a\"b"), "DROP INDEX CONCURRENTLY IF EXISTS \"t-1\".\"a\"\"b\"");
    }
}
