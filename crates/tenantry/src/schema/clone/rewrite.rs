//! Pure text helpers over PostgreSQL's own definitions: dropping the template's name where a
//! `pg_get_*def` function always qualifies it, and finding leftover mentions of the template.
//!
//! Nothing here replaces text blindly: a name is replaced only at the one position where
//! PostgreSQL prints it (checked against the exact text PostgreSQL prints before it), and a
//! definition in any other shape is refused rather than guessed at.

use crate::sql::quote_ident;

/// Trigger type bits from PostgreSQL's `catalog/pg_trigger.h` (`TRIGGER_TYPE_*`); `ROW`
/// (bit 0) is not needed: `FOR EACH ROW` comes after the table's name.
const BEFORE: i32 = 1 << 1;
const INSERT: i32 = 1 << 2;
const DELETE: i32 = 1 << 3;
const UPDATE: i32 = 1 << 4;
const TRUNCATE: i32 = 1 << 5;
const INSTEAD: i32 = 1 << 6;

/// `definition` with `qualified` (the schema-qualified name exactly as PostgreSQL printed it)
/// replaced by the quoted bare `name`, where `definition` reads `head`, then `qualified`, then
/// something starting with `next`. `None` if the definition does not read so.
pub(crate) fn unqualify(definition: &str, head: &str, qualified: &str, next: &str, name: &str) -> Option<String> {
    let rest = definition.strip_prefix(head)?.strip_prefix(qualified)?;
    rest.starts_with(next).then(|| format!("{head}{}{rest}", quote_ident(name)))
}

/// What `pg_get_indexdef` prints before the table's name (PostgreSQL's `ruleutils.c`,
/// `pg_get_indexdef_worker`): `CREATE [UNIQUE] INDEX <name> ON `. `quoted_name` is the index
/// name as PostgreSQL's `quote_ident` prints it.
pub(crate) fn index_head(quoted_name: &str, unique: bool) -> String {
    format!("CREATE {}INDEX {quoted_name} ON ", if unique { "UNIQUE " } else { "" })
}

/// What `pg_get_functiondef` prints before the routine's qualified name.
pub(crate) fn function_head(prokind: &str) -> &'static str {
    if prokind == "p" {
        "CREATE OR REPLACE PROCEDURE "
    } else {
        "CREATE OR REPLACE FUNCTION "
    }
}

/// What `pg_get_triggerdef` prints before the table's name for a plain (not constraint)
/// trigger, rebuilt from `tgtype` and the `UPDATE OF` columns as PostgreSQL's `ruleutils.c`
/// (`pg_get_triggerdef_worker`) builds it: `CREATE TRIGGER <name> <timing> <events> ON `.
pub(crate) fn trigger_head(quoted_name: &str, tgtype: i32, update_columns: &[String]) -> String {
    let timing = if tgtype & BEFORE != 0 {
        "BEFORE"
    } else if tgtype & INSTEAD != 0 {
        "INSTEAD OF"
    } else {
        "AFTER"
    };
    let mut events = Vec::new();
    if tgtype & INSERT != 0 {
        events.push("INSERT".to_owned());
    }
    if tgtype & DELETE != 0 {
        events.push("DELETE".to_owned());
    }
    if tgtype & UPDATE != 0 {
        if update_columns.is_empty() {
            events.push("UPDATE".to_owned());
        } else {
            events.push(format!("UPDATE OF {}", update_columns.join(", ")));
        }
    }
    if tgtype & TRUNCATE != 0 {
        events.push("TRUNCATE".to_owned());
    }
    format!("CREATE TRIGGER {quoted_name} {timing} {} ON ", events.join(" OR "))
}

/// A view's query as `pg_get_viewdef` prints it, without its trailing semicolon (pg_dump
/// strips it the same way before wrapping the query in `CREATE VIEW`).
pub(crate) fn view_query(definition: &str) -> &str {
    definition.trim_end().trim_end_matches(';').trim_end()
}

/// Whether `text` mentions `name` as a whole identifier, ignoring ASCII case, bare or quoted:
/// a leftover reference to the template schema (a name PostgreSQL had to qualify because
/// another object hides it, a function body or setting naming the template, …).
///
/// It is a detector, not a rewriter: a false alarm (a string literal that happens to hold the
/// name) only costs the fallback to migrations.
pub(crate) fn mentions(text: &str, name: &str) -> bool {
    let quoted = name.replace('"', "\"\"");
    [name, quoted.as_str()].iter().any(|needle| mentions_word(text, needle))
}

fn mentions_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let haystack = text.to_ascii_lowercase();
    let needle = word.to_ascii_lowercase();
    let bytes = haystack.as_bytes();
    haystack.match_indices(&needle).any(|(start, _)| {
        let end = start + needle.len();
        let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
        let after = bytes.get(end).copied();
        !before.is_some_and(is_identifier_byte) && !after.is_some_and(is_identifier_byte)
    })
}

/// Bytes that may continue an unquoted identifier (PostgreSQL manual, "Identifiers and Key
/// Words": letters, digits, `_`, `$`, and any non-ASCII character).
fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unqualify_replaces_only_the_name_at_its_position() {
        let def = "CREATE INDEX ix ON tmpl.t USING btree (a) WHERE (b = 'tmpl.t'::text)";
        let head = index_head("ix", false);
        assert_eq!(
            unqualify(def, &head, "tmpl.t", " USING ", "t").as_deref(),
            Some(r#"CREATE INDEX ix ON "t" USING btree (a) WHERE (b = 'tmpl.t'::text)"#)
        );
        // Another shape, another table, or a longer name: refused, never guessed.
        assert_eq!(unqualify(def, &index_head("ix", true), "tmpl.t", " USING ", "t"), None);
        assert_eq!(unqualify(def, &head, "tmpl.u", " USING ", "u"), None);
        assert_eq!(unqualify("CREATE INDEX ix ON tmpl.t2 USING btree (a)", &head, "tmpl.t", " USING ", "t"), None);
        assert_eq!(
            unqualify(
                r#"CREATE INDEX "Ix" ON "My Schema"."T" USING"#,
                &index_head(r#""Ix""#, false),
                r#""My Schema"."T""#,
                " USING",
                "T"
            )
            .as_deref(),
            Some(r#"CREATE INDEX "Ix" ON "T" USING"#)
        );
    }

    #[test]
    fn trigger_head_matches_what_postgres_prints() {
        // tgtype 23 = ROW | BEFORE | INSERT | UPDATE, as read from pg_trigger.
        assert_eq!(
            trigger_head("ticket_touch", 23, &["qty".into(), "price".into()]),
            "CREATE TRIGGER ticket_touch BEFORE INSERT OR UPDATE OF qty, price ON "
        );
        assert_eq!(trigger_head(r#""T""#, 1 | INSTEAD | DELETE, &[]), r#"CREATE TRIGGER "T" INSTEAD OF DELETE ON "#);
        assert_eq!(
            trigger_head("t", INSERT | DELETE | UPDATE | TRUNCATE, &[]),
            "CREATE TRIGGER t AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON "
        );
    }

    #[test]
    fn view_query_drops_the_trailing_semicolon_only() {
        assert_eq!(view_query(" SELECT ';'::text AS x;\n"), " SELECT ';'::text AS x");
    }

    #[test]
    fn mentions_finds_whole_identifiers_in_any_case() {
        assert!(mentions("SELECT tenantry_template.f()", "tenantry_template"));
        assert!(mentions(r#"SET search_path TO 'Tenantry_Template'"#, "tenantry_template"));
        assert!(mentions(r#"FROM "tenantry_template".t"#, "tenantry_template"));
        assert!(!mentions("FROM tenantry_template_log", "tenantry_template"));
        assert!(!mentions("FROM my_tenantry_template", "tenantry_template"));
        assert!(!mentions("ticket.id", "t"));
        assert!(mentions("t.id", "t"));
        assert!(mentions(r#"FROM "a""b".x"#, r#"a"b"#));
        assert!(!mentions("anything", ""));
    }
}
