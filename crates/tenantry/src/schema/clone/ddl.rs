//! The statements of the script, built from catalog facts. Every name goes through
//! [`quote_ident`] and every string through [`quote_literal`]; names are left unqualified so
//! that they land in, and resolve to, the first schema on the search path: the new one.

use super::facts::{Column, Sequence};
use crate::sql::{quote_ident, quote_literal};

/// `CREATE TYPE "name" AS ENUM ('a', 'b')`, labels in sort order.
pub(crate) fn create_enum(name: &str, labels: &[String]) -> String {
    let labels: Vec<String> = labels.iter().map(|label| quote_literal(label)).collect();
    format!("CREATE TYPE {} AS ENUM ({})", quote_ident(name), labels.join(", "))
}

/// A sequence's options, every one spelled out so that none depends on a default (PostgreSQL
/// manual, `CREATE SEQUENCE`). `AS` is left out for identity sequences, whose type PostgreSQL
/// takes from the column and refuses to be told again ("conflicting or redundant options").
fn sequence_options(sequence: &Sequence, with_type: bool) -> String {
    let mut options = String::new();
    if with_type {
        options.push_str(&format!("AS {} ", sequence.type_sql));
    }
    options.push_str(&format!(
        "START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {} {}",
        sequence.start,
        sequence.increment,
        sequence.min,
        sequence.max,
        sequence.cache,
        if sequence.cycle { "CYCLE" } else { "NO CYCLE" }
    ));
    options
}

/// `CREATE SEQUENCE "name" AS … START WITH …`.
pub(crate) fn create_sequence(sequence: &Sequence) -> String {
    format!("CREATE SEQUENCE {} {}", quote_ident(&sequence.name), sequence_options(sequence, true))
}

/// One column of `CREATE TABLE`: name, type, collation, default or generation expression,
/// `NOT NULL`, and identity with its sequence's exact name and options.
pub(crate) fn column_definition(column: &Column, identity: Option<&Sequence>) -> String {
    let mut sql = format!("{} {}", quote_ident(&column.name), column.type_sql);
    if let Some(collation) = &column.collation {
        sql.push_str(&format!(" COLLATE {collation}"));
    }
    if let Some(expression) = &column.default {
        if column.generated == "s" {
            sql.push_str(&format!(" GENERATED ALWAYS AS ({expression}) STORED"));
        } else {
            sql.push_str(&format!(" DEFAULT {expression}"));
        }
    }
    if column.not_null {
        sql.push_str(" NOT NULL");
    }
    if let Some(sequence) = identity {
        let kind = if column.identity_kind == "a" { "ALWAYS" } else { "BY DEFAULT" };
        // An unqualified SEQUENCE NAME goes to the table's schema (PostgreSQL's
        // `parse_utilcmd.c`, `generateSerialExtraStmts`).
        sql.push_str(&format!(
            " GENERATED {kind} AS IDENTITY (SEQUENCE NAME {} {})",
            quote_ident(&sequence.name),
            sequence_options(sequence, false)
        ));
    }
    sql
}

/// What pg_dump emits after `CREATE TABLE` (or `CREATE MATERIALIZED VIEW`) for a column whose
/// statistics target, storage, compression or options are not the defaults: one
/// `ALTER <keyword> "relation" ALTER COLUMN "column" …` each. An option's value is passed as a
/// string literal, which PostgreSQL parses as it parses the bare value (the stored text is the
/// same, so pg_dump prints the same).
pub(crate) fn column_properties(keyword: &str, relation: &str, column: &Column) -> Vec<String> {
    let alter = format!("ALTER {keyword} {} ALTER COLUMN {}", quote_ident(relation), quote_ident(&column.name));
    let mut statements = Vec::new();
    if column.statistics != -1 {
        statements.push(format!("{alter} SET STATISTICS {}", column.statistics));
    }
    let storage = match column.storage.as_str() {
        "p" => Some("PLAIN"),
        "e" => Some("EXTERNAL"),
        "m" => Some("MAIN"),
        "x" => Some("EXTENDED"),
        _ => None,
    };
    if let Some(storage) = storage {
        statements.push(format!("{alter} SET STORAGE {storage}"));
    }
    let compression = match column.compression.as_str() {
        "p" => Some("pglz"),
        "l" => Some("lz4"),
        _ => None,
    };
    if let Some(compression) = compression {
        statements.push(format!("{alter} SET COMPRESSION {compression}"));
    }
    if !column.options.is_empty() {
        let options: Vec<String> = column
            .options
            .iter()
            .map(|option| {
                let (name, value) = option.split_once('=').unwrap_or((option.as_str(), ""));
                format!("{} = {}", quote_ident(name), quote_literal(value))
            })
            .collect();
        statements.push(format!("{alter} SET ({})", options.join(", ")));
    }
    statements
}

/// `CREATE TABLE "name" (<column definitions>)`.
pub(crate) fn create_table(name: &str, columns: &[String]) -> String {
    format!("CREATE TABLE {} ({})", quote_ident(name), columns.join(", "))
}

/// Copies a table's rows from the template: `columns` are the column names, each with its
/// type when that type is one of the template's. Such a value is of the template's type, not
/// the new schema's (`column "mood" is of type mood but expression is of type
/// tmpl.mood`), so it goes through its text form, which enums and row types read back exactly.
/// Generated columns are left out (PostgreSQL computes them); `OVERRIDING SYSTEM VALUE` keeps
/// the template's values in identity columns (PostgreSQL manual, `INSERT`).
pub(crate) fn copy_rows(template: &str, table: &str, columns: &[(&str, Option<&str>)]) -> String {
    let names: Vec<String> = columns.iter().map(|(name, _)| quote_ident(name)).collect();
    let values: Vec<String> = columns
        .iter()
        .map(|(name, template_type)| match template_type {
            Some(type_sql) => format!("{}::text::{type_sql}", quote_ident(name)),
            None => quote_ident(name),
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {template}.{table}",
        names.join(", "),
        values.join(", "),
        table = quote_ident(table),
        template = quote_ident(template),
    )
}

/// `ALTER TABLE "table" ADD CONSTRAINT "name" <definition>`, the definition as
/// `pg_get_constraintdef` prints it (deferrability, `NOT VALID`, index options included).
pub(crate) fn add_constraint(table: &str, name: &str, definition: &str) -> String {
    format!("ALTER TABLE {} ADD CONSTRAINT {} {definition}", quote_ident(table), quote_ident(name))
}

/// `ALTER SEQUENCE "sequence" OWNED BY "table"."column"`.
pub(crate) fn owned_by(sequence: &str, table: &str, column: &str) -> String {
    format!("ALTER SEQUENCE {} OWNED BY {}.{}", quote_ident(sequence), quote_ident(table), quote_ident(column))
}

/// Puts a sequence where the template's stands, as pg_dump restores it.
pub(crate) fn set_sequence(sequence: &str, last_value: i64, is_called: bool) -> String {
    format!("SELECT pg_catalog.setval({}, {last_value}, {is_called})", quote_literal(&quote_ident(sequence)))
}

/// `CREATE VIEW "name" AS <query>`.
pub(crate) fn create_view(name: &str, query: &str) -> String {
    format!("CREATE VIEW {} AS{}{query}", quote_ident(name), if query.starts_with(' ') { "" } else { " " })
}

/// `CREATE MATERIALIZED VIEW "name" AS <query> WITH NO DATA`, as pg_dump creates one; the
/// script refreshes it at its end when the template's holds data.
pub(crate) fn create_materialized_view(name: &str, query: &str) -> String {
    format!(
        "CREATE MATERIALIZED VIEW {} AS{}{query} WITH NO DATA",
        quote_ident(name),
        if query.starts_with(' ') { "" } else { " " }
    )
}

/// `REFRESH MATERIALIZED VIEW "name"`.
pub(crate) fn refresh_materialized_view(name: &str) -> String {
    format!("REFRESH MATERIALIZED VIEW {}", quote_ident(name))
}

/// `COMMENT ON <target> IS '<text>'`.
pub(crate) fn comment(target: &str, text: &str) -> String {
    format!("COMMENT ON {target} IS {}", quote_literal(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(name: &str) -> Sequence {
        Sequence {
            oid: 1,
            name: name.into(),
            type_sql: "integer".into(),
            start: 5,
            increment: -1,
            min: -9_223_372_036_854_775_808,
            max: 10,
            cache: 1,
            cycle: true,
            owner_table: None,
            owner_kind: String::new(),
            owner_column: None,
            state: None,
        }
    }

    #[test]
    fn statements_quote_names_and_spell_out_options() {
        assert_eq!(create_enum("mood", &["ok".into(), "it's".into()]), r#"CREATE TYPE "mood" AS ENUM ('ok', 'it''s')"#);
        assert_eq!(
            create_sequence(&sequence("Seq")),
            r#"CREATE SEQUENCE "Seq" AS integer START WITH 5 INCREMENT BY -1 MINVALUE -9223372036854775808 MAXVALUE 10 CACHE 1 CYCLE"#
        );
        assert_eq!(
            copy_rows("tmpl", "t", &[("a", None), ("b", Some(r#""Mood"[]"#))]),
            r#"INSERT INTO "t" ("a", "b") OVERRIDING SYSTEM VALUE SELECT "a", "b"::text::"Mood"[] FROM "tmpl"."t""#
        );
        assert_eq!(set_sequence(r#"s"q"#, 7, true), r#"SELECT pg_catalog.setval('"s""q"', 7, true)"#);
        assert_eq!(create_view("v", " SELECT 1"), r#"CREATE VIEW "v" AS SELECT 1"#);
        assert_eq!(comment(r#"TABLE "t""#, "it's"), r#"COMMENT ON TABLE "t" IS 'it''s'"#);
    }

    #[test]
    fn identity_columns_name_their_sequence() {
        let column = Column {
            relation: 1,
            number: 1,
            name: "id".into(),
            identity: String::new(),
            type_sql: "integer".into(),
            collation: None,
            not_null: true,
            default: None,
            identity_kind: "a".into(),
            generated: String::new(),
            statistics: -1,
            storage: String::new(),
            compression: String::new(),
            options: Vec::new(),
            acl: false,
            template_type: false,
        };
        assert_eq!(
            column_definition(&column, Some(&sequence("t_id_seq"))),
            r#""id" integer NOT NULL GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME "t_id_seq" START WITH 5 INCREMENT BY -1 MINVALUE -9223372036854775808 MAXVALUE 10 CACHE 1 CYCLE)"#
        );
    }
}
