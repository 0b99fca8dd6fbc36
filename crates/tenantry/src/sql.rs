//! The one place where SQL text is built from names.
//!
//! Every identifier that reaches SQL goes through [`quote_ident`]; every string literal through
//! [`quote_literal`]. Tenant names are validated by [`TenantName`](crate::TenantName) before they
//! get here, so quoting is a second fence, not the only one.

/// Quotes an SQL identifier: wraps it in double quotes and doubles any double quote inside.
///
/// Quoting keeps the identifier's case and makes reserved words and characters such as `-`
/// legal, exactly as PostgreSQL's `quote_ident()` does for names that need it.
///
/// ```
/// assert_eq!(tenantry::sql::quote_ident("acme"), r#""acme""#);
/// assert_eq!(tenantry::sql::quote_ident(r#"a"b"#), r#""a""b""#);
/// ```
pub fn quote_ident(ident: &str) -> String {
    quote_with(ident, '"')
}

/// Quotes an SQL string literal: wraps it in single quotes and doubles any single quote inside.
///
/// Assumes `standard_conforming_strings = on` (PostgreSQL's default since 9.1), under which a
/// backslash in a literal is an ordinary character.
///
/// ```
/// assert_eq!(tenantry::sql::quote_literal("it's"), "'it''s'");
/// ```
pub fn quote_literal(value: &str) -> String {
    quote_with(value, '\'')
}

/// Wraps `text` in `quote`, doubling every `quote` inside: SQL's one escaping rule for both
/// identifiers and standard-conforming string literals.
fn quote_with(text: &str, quote: char) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push(quote);
    for ch in text.chars() {
        if ch == quote {
            quoted.push(quote);
        }
        quoted.push(ch);
    }
    quoted.push(quote);
    quoted
}

/// A comma-separated list of quoted identifiers, as `SET search_path TO` takes it.
///
/// ```
/// assert_eq!(tenantry::sql::quote_ident_list(["acme", "shared"]), r#""acme", "shared""#);
/// ```
pub fn quote_ident_list<'a>(idents: impl IntoIterator<Item = &'a str>) -> String {
    idents.into_iter().map(quote_ident).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_doubles_quotes_and_keeps_everything_else() {
        assert_eq!(quote_ident(""), r#""""#);
        assert_eq!(quote_ident("Acme Corp"), r#""Acme Corp""#);
        assert_eq!(quote_ident(r#"x"; DROP SCHEMA public; --"#), r#""x""; DROP SCHEMA public; --""#);
        assert_eq!(quote_ident("a'b"), r#""a'b""#);
    }

    #[test]
    fn quote_literal_doubles_single_quotes_only() {
        assert_eq!(quote_literal(""), "''");
        assert_eq!(quote_literal(r"a\b"), r"'a\b'");
        assert_eq!(quote_literal(r#""acme""#), r#"'"acme"'"#);
        assert_eq!(quote_literal("'; DROP TABLE x; --"), "'''; DROP TABLE x; --'");
    }

    #[test]
    fn quote_ident_list_joins_in_order() {
        assert_eq!(quote_ident_list([]), "");
        assert_eq!(quote_ident_list(["b", "a"]), r#""b", "a""#);
    }
}
