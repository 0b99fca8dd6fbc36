//! One migration: its version, description, SQL and checksum.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha384};

/// First-line markers that make a migration run outside a transaction (`CREATE INDEX
/// CONCURRENTLY`). sqlx-cli's spelling is accepted too, so existing sqlx files work unchanged.
pub const NO_TRANSACTION_MARKERS: [&str; 2] = ["-- tenantry:no-transaction", "-- no-transaction"];

/// A migration loaded from disk.
#[derive(Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version: the number before the first `_` in the file name.
    pub version: i64,
    /// The description: the rest of the name, underscores as spaces.
    pub description: String,
    /// The SQL that applies it.
    pub up: String,
    /// The SQL that reverts it; `None` for an irreversible (`<version>_<description>.sql`) one.
    pub down: Option<String>,
    /// SHA-384 of the up file's bytes (as sqlx computes it).
    pub checksum: Checksum,
    /// Whether the up SQL must run outside a transaction.
    pub up_no_transaction: bool,
    /// Whether the down SQL must run outside a transaction.
    pub down_no_transaction: bool,
    /// The up file, for messages.
    pub path: PathBuf,
}

impl Migration {
    /// Builds a migration from its parts; the checksum is computed from `up`.
    pub fn new(version: i64, description: impl Into<String>, up: impl Into<String>, down: Option<String>) -> Self {
        let up = up.into();
        Self {
            version,
            description: description.into(),
            checksum: Checksum::of(up.as_bytes()),
            up_no_transaction: has_no_transaction_marker(&up),
            down_no_transaction: down.as_deref().is_some_and(has_no_transaction_marker),
            up,
            down,
            path: PathBuf::new(),
        }
    }

    /// Whether the migration can be reverted.
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("version", &self.version)
            .field("description", &self.description)
            .field("reversible", &self.is_reversible())
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.version, self.description)
    }
}

/// Whether the first line of `sql` asks to run outside a transaction.
pub(crate) fn has_no_transaction_marker(sql: &str) -> bool {
    let first = sql.trim_start_matches('\u{feff}').lines().next().unwrap_or("").trim();
    NO_TRANSACTION_MARKERS.contains(&first)
}

/// A SHA-384 checksum of a migration file.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Checksum(pub Vec<u8>);

impl Checksum {
    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha384::digest(bytes).to_vec())
    }

    /// Lowercase hex, as stored in summaries and shown in messages.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The first 12 hex digits, enough to tell two versions of a file apart in a message.
    pub fn short(&self) -> String {
        self.to_hex().chars().take(12).collect()
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({})", self.short())
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_sha384_of_the_bytes() {
        // sha384("") from FIPS 180-2.
        assert!(Checksum::of(b"").to_hex().starts_with("38b060a751ac96384cd9327eb1b1e36a"));
        assert_eq!(Checksum::of(b"x").0.len(), 48);
    }

    #[test]
    fn no_transaction_marker_must_be_the_first_line() {
        assert!(has_no_transaction_marker("-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"));
        assert!(has_no_transaction_marker("-- no-transaction\r\nCREATE INDEX CONCURRENTLY i ON t (a);"));
        assert!(!has_no_transaction_marker("CREATE TABLE t ();\n-- tenantry:no-transaction"));
        assert!(!has_no_transaction_marker("-- tenantry:no-transactions"));
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
    }
}
