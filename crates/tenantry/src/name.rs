//! Tenant names: the only way a tenant reaches SQL.
//!
//! A [`TenantName`] can only be made by [`NamingRules::parse`], which checks every rule below and
//! says which one failed. The rules, checked in this order:
//!
//! | rule | why |
//! |---|---|
//! | not empty | an empty identifier is not a schema |
//! | lowercase ASCII letters, digits, `_` and `-` only | hosts are case-insensitive: `Acme` and `acme` must never be two tenants; anything else invites quoting mistakes |
//! | starts with a letter or `_` | as an unquoted PostgreSQL identifier would |
//! | does not start with `pg_` | PostgreSQL reserves `pg_` schema names for itself |
//! | prefix + name + suffix is at most 63 bytes | PostgreSQL silently truncates longer identifiers, which would make two tenants share a schema |
//! | the schema is not `public`, `information_schema`, the default schema or a shared schema | those hold everybody's data |
//!
//! The schema of a tenant is `prefix + name + suffix` (apartment's prepend/append environment):
//! with the prefix `tenant_`, the tenant `acme` lives in the schema `tenant_acme`.

use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// PostgreSQL's identifier limit (`NAMEDATALEN - 1`); longer names are silently truncated.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// A validated tenant name, together with the schema that holds the tenant.
///
/// Cheap to clone. Made only by [`NamingRules::parse`] (or [`Tenantry::tenant`](crate::Tenantry::tenant),
/// which uses the configured rules).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantName {
    name: Arc<str>,
    schema: Arc<str>,
}

impl TenantName {
    /// The tenant's name, as the application knows it (`acme`).
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The PostgreSQL schema that holds the tenant (`tenant_acme` with the prefix `tenant_`).
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.name)
    }
}

impl fmt::Debug for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == self.schema {
            write!(f, "TenantName({:?})", &*self.name)
        } else {
            write!(f, "TenantName({:?} in schema {:?})", &*self.name, &*self.schema)
        }
    }
}

impl AsRef<str> for TenantName {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// Why a tenant name was rejected: one variant per rule, each saying what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidNameReason {
    /// The name is empty or only white space.
    Empty,
    /// The name holds an uppercase ASCII letter.
    Uppercase {
        /// Byte offset of the first uppercase letter.
        position: usize,
    },
    /// The name holds a character outside `a-z`, `0-9`, `_` and `-`.
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Byte offset of the character.
        position: usize,
    },
    /// The name starts with a digit or `-`.
    InvalidStart {
        /// The first character.
        character: char,
    },
    /// The name or its schema starts with `pg_`.
    ReservedPrefix,
    /// The schema (prefix + name + suffix) is longer than 63 bytes.
    TooLong {
        /// The schema's length in bytes.
        schema_bytes: usize,
        /// How many bytes the name itself may have with the configured prefix and suffix.
        max_name_bytes: usize,
    },
    /// The schema is a system, default or shared schema.
    ReservedSchema {
        /// The schema the name maps to.
        schema: String,
        /// What the schema is (`the default schema`, `a shared schema`, …).
        role: &'static str,
    },
}

impl fmt::Display for InvalidNameReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the name is empty; give a tenant name such as `acme`"),
            Self::Uppercase { position } => write!(
                f,
                "uppercase letter at byte {position}; tenant names are lowercase because hosts \
                 are case-insensitive (lowercase the name)"
            ),
            Self::InvalidCharacter { character, position } => write!(
                f,
                "character {character:?} at byte {position} is not allowed; use only lowercase \
                 letters a-z, digits 0-9, `_` and `-`"
            ),
            Self::InvalidStart { character } => {
                write!(f, "starts with {character:?}; a tenant name must start with a letter or `_`")
            }
            Self::ReservedPrefix => {
                f.write_str("starts with `pg_`, which PostgreSQL reserves for system schemas; choose another name")
            }
            Self::TooLong { schema_bytes, max_name_bytes } => write!(
                f,
                "the schema name would be {schema_bytes} bytes, over PostgreSQL's limit of \
                 {MAX_IDENTIFIER_BYTES} (longer names are silently truncated, so two tenants \
                 could share a schema); use at most {max_name_bytes} bytes"
            ),
            Self::ReservedSchema { schema, role } => {
                write!(f, "it maps to the schema `{schema}`, which is {role}; choose another name")
            }
        }
    }
}

/// The rules that turn a tenant name into a schema: prefix, suffix and protected schemas.
///
/// ```
/// use tenantry::NamingRules;
///
/// let rules = NamingRules::new("public", ["shared"]).with_prefix("tenant_");
/// let acme = rules.parse("acme").unwrap();
/// assert_eq!(acme.schema(), "tenant_acme");
/// assert!(rules.parse("Acme").is_err());
/// assert!(rules.parse("pg_catalog").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingRules {
    prefix: String,
    suffix: String,
    default_schema: String,
    shared_schemas: Vec<String>,
    shared_first: bool,
    reserved: Vec<(String, &'static str)>,
}

impl Default for NamingRules {
    /// No prefix or suffix, `public` as the default schema and no shared schemas.
    fn default() -> Self {
        Self::new("public", Vec::<String>::new())
    }
}

impl NamingRules {
    /// Rules with no prefix or suffix, protecting `default_schema` and `shared_schemas`.
    pub fn new<S: Into<String>>(
        default_schema: impl Into<String>,
        shared_schemas: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            prefix: String::new(),
            suffix: String::new(),
            default_schema: default_schema.into(),
            shared_schemas: shared_schemas.into_iter().map(Into::into).collect(),
            shared_first: false,
            reserved: Vec::new(),
        }
    }

    /// Puts the shared schemas before the tenant's on its search path (`true`), instead of
    /// after it (`false`, the default). See [`SearchPath`](crate::SearchPath).
    #[must_use]
    pub fn with_shared_schemas_first(mut self, first: bool) -> Self {
        self.shared_first = first;
        self
    }

    /// Whether the shared schemas come before the tenant's on its search path.
    pub fn shared_schemas_first(&self) -> bool {
        self.shared_first
    }

    /// Protects one more schema from ever being a tenant's (tenantry reserves its migration
    /// template schema this way); `role` says what it is in messages.
    #[must_use]
    pub fn with_reserved(mut self, schema: impl Into<String>, role: &'static str) -> Self {
        self.reserved.push((schema.into(), role));
        self
    }

    /// Puts `prefix` before every tenant's schema name (`tenant_` → `tenant_acme`).
    ///
    /// The prefix must follow the same character rules as a name; the configuration loader
    /// checks it ([`Config::validate`](crate::Config::validate)).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Puts `suffix` after every tenant's schema name (`_t` → `acme_t`).
    #[must_use]
    pub fn with_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = suffix.into();
        self
    }

    /// The schema prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The schema suffix.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// The default schema: where work outside any tenant runs.
    pub fn default_schema(&self) -> &str {
        &self.default_schema
    }

    /// The shared schemas, on every tenant's search path (after the tenant's schema, or before
    /// it with [`with_shared_schemas_first`](Self::with_shared_schemas_first)).
    pub fn shared_schemas(&self) -> &[String] {
        &self.shared_schemas
    }

    /// Validates `name` and maps it to its schema.
    ///
    /// # Errors
    /// [`Error::InvalidTenantName`] naming the first rule that failed.
    pub fn parse(&self, name: &str) -> Result<TenantName, Error> {
        self.check(name).map_err(|reason| Error::InvalidTenantName { name: name.to_owned(), reason })
    }

    /// The tenant whose schema is `schema`, if the schema carries the prefix and suffix and the
    /// rest is a valid name. Used to read tenants back from the catalog.
    ///
    /// # Errors
    /// `None` when the schema is not a tenant's: no prefix/suffix match. A matching schema
    /// whose name breaks a rule gives the rule.
    pub fn from_schema(&self, schema: &str) -> Option<Result<TenantName, Error>> {
        let name = schema.strip_prefix(self.prefix.as_str())?.strip_suffix(self.suffix.as_str())?;
        Some(self.parse(name))
    }

    /// Whether `schema` is one no tenant may have: the default, a shared, a reserved or a
    /// system schema.
    pub fn protects(&self, schema: &str) -> bool {
        self.role_of(schema).is_some() || schema.starts_with("pg_")
    }

    /// The schema `name` maps to, without validation.
    fn schema_of(&self, name: &str) -> String {
        format!("{}{name}{}", self.prefix, self.suffix)
    }

    fn check(&self, name: &str) -> Result<TenantName, InvalidNameReason> {
        if name.trim().is_empty() {
            return Err(InvalidNameReason::Empty);
        }
        check_characters(name)?;
        let schema = self.schema_of(name);
        if name.starts_with("pg_") || schema.starts_with("pg_") {
            return Err(InvalidNameReason::ReservedPrefix);
        }
        if schema.len() > MAX_IDENTIFIER_BYTES {
            return Err(InvalidNameReason::TooLong {
                schema_bytes: schema.len(),
                max_name_bytes: MAX_IDENTIFIER_BYTES.saturating_sub(self.prefix.len() + self.suffix.len()),
            });
        }
        if let Some(role) = self.role_of(&schema) {
            return Err(InvalidNameReason::ReservedSchema { schema, role });
        }
        Ok(TenantName { name: name.into(), schema: schema.into() })
    }

    /// What a protected schema is for, or `None` for a schema a tenant may use.
    fn role_of(&self, schema: &str) -> Option<&'static str> {
        if schema == self.default_schema {
            Some("the default schema")
        } else if self.shared_schemas.iter().any(|shared| shared == schema) {
            Some("a shared schema")
        } else if schema == "public" {
            Some("PostgreSQL's public schema")
        } else if schema == "information_schema" {
            Some("PostgreSQL's information schema")
        } else {
            self.reserved.iter().find(|(reserved, _)| reserved == schema).map(|(_, role)| *role)
        }
    }
}

/// Checks the character rules shared by names, prefixes and suffixes.
pub(crate) fn check_characters(text: &str) -> Result<(), InvalidNameReason> {
    for (position, character) in text.char_indices() {
        match character {
            'a'..='z' | '0'..='9' | '_' | '-' => {}
            'A'..='Z' => return Err(InvalidNameReason::Uppercase { position }),
            _ => return Err(InvalidNameReason::InvalidCharacter { character, position }),
        }
    }
    match text.chars().next() {
        Some(character @ ('0'..='9' | '-')) => Err(InvalidNameReason::InvalidStart { character }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(rules: &NamingRules, name: &str) -> InvalidNameReason {
        match rules.parse(name) {
            Err(Error::InvalidTenantName { reason, .. }) => reason,
            other => panic!("{name:?} should be rejected, got {other:?}"),
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        let rules = NamingRules::default();
        for name in ["acme", "a", "_private", "acme-corp", "acme_2", "x9-y_z"] {
            let tenant = rules.parse(name).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(tenant.as_str(), name);
            assert_eq!(tenant.schema(), name);
        }
    }

    #[test]
    fn each_rule_names_itself() {
        let rules = NamingRules::new("app", ["shared"]);
        assert_eq!(reason(&rules, ""), InvalidNameReason::Empty);
        assert_eq!(reason(&rules, "   "), InvalidNameReason::Empty);
        assert_eq!(reason(&rules, "Acme"), InvalidNameReason::Uppercase { position: 0 });
        assert_eq!(reason(&rules, "ac me"), InvalidNameReason::InvalidCharacter { character: ' ', position: 2 });
        assert_eq!(reason(&rules, "a\"b"), InvalidNameReason::InvalidCharacter { character: '"', position: 1 });
        assert_eq!(reason(&rules, "café"), InvalidNameReason::InvalidCharacter { character: 'é', position: 3 });
        assert_eq!(reason(&rules, "1acme"), InvalidNameReason::InvalidStart { character: '1' });
        assert_eq!(reason(&rules, "-acme"), InvalidNameReason::InvalidStart { character: '-' });
        assert_eq!(reason(&rules, "pg_temp"), InvalidNameReason::ReservedPrefix);
        assert!(matches!(reason(&rules, &"a".repeat(64)), InvalidNameReason::TooLong { .. }));
        for (name, role) in [
            ("app", "the default schema"),
            ("shared", "a shared schema"),
            ("public", "PostgreSQL's public schema"),
            ("information_schema", "PostgreSQL's information schema"),
        ] {
            assert_eq!(reason(&rules, name), InvalidNameReason::ReservedSchema { schema: name.into(), role });
        }
    }

    #[test]
    fn reserved_schemas_are_never_tenants() {
        let rules = NamingRules::default().with_reserved("tenantry_template", "the migration template schema");
        assert_eq!(
            reason(&rules, "tenantry_template"),
            InvalidNameReason::ReservedSchema {
                schema: "tenantry_template".into(),
                role: "the migration template schema"
            }
        );
    }

    #[test]
    fn length_counts_prefix_and_suffix() {
        let rules = NamingRules::default().with_prefix("tenant_").with_suffix("_x");
        let longest = "a".repeat(MAX_IDENTIFIER_BYTES - "tenant_".len() - "_x".len());
        assert_eq!(rules.parse(&longest).map(|t| t.schema().len()).ok(), Some(63));
        let reason = reason(&rules, &format!("{longest}a"));
        assert_eq!(reason, InvalidNameReason::TooLong { schema_bytes: 64, max_name_bytes: 54 });
        assert!(reason.to_string().contains("at most 54 bytes"));
    }

    #[test]
    fn prefix_maps_names_to_schemas_and_back() {
        let rules = NamingRules::new("public", ["shared"]).with_prefix("tenant_");
        let acme = rules.parse("acme").expect("valid");
        assert_eq!(acme.schema(), "tenant_acme");
        assert_eq!(acme.to_string(), "acme");
        assert_eq!(format!("[{acme:<6}]"), "[acme  ]", "Display honours width");
        assert_eq!(rules.from_schema("tenant_acme").and_then(Result::ok), Some(acme));
        assert!(rules.from_schema("other").is_none());
        assert!(matches!(rules.from_schema("tenant_Bad"), Some(Err(_))));
    }

    #[test]
    fn a_prefix_can_make_a_protected_name_safe_or_unsafe() {
        let prefixed = NamingRules::default().with_prefix("t_");
        assert_eq!(prefixed.parse("public").map(|t| t.schema().to_owned()).ok(), Some("t_public".into()));
        let into_pg = NamingRules::default().with_prefix("pg_");
        assert_eq!(reason(&into_pg, "acme"), InvalidNameReason::ReservedPrefix);
    }

    #[test]
    fn error_message_names_the_input_and_rule() {
        let err = NamingRules::default().parse("Acme").expect_err("uppercase");
        let message = err.to_string();
        assert!(message.contains("\"Acme\""), "{message}");
        assert!(message.contains("lowercase"), "{message}");
    }

    proptest! {
        #[test]
        fn accepted_names_are_safe_identifiers(name in "\\PC{0,80}") {
            let rules = NamingRules::new("public", ["shared"]).with_prefix("t_");
            if let Ok(tenant) = rules.parse(&name) {
                let schema = tenant.schema();
                prop_assert!(schema.len() <= MAX_IDENTIFIER_BYTES);
                prop_assert!(schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
                prop_assert!(!schema.starts_with("pg_"));
                prop_assert!(!["public", "shared", "information_schema"].contains(&schema));
            }
        }

        #[test]
        fn names_built_from_the_alphabet_are_accepted(name in "[a-z_][a-z0-9_-]{0,50}") {
            prop_assume!(!name.starts_with("pg_") && name != "public" && name != "information_schema");
            prop_assert!(NamingRules::default().parse(&name).is_ok());
        }
    }
}
