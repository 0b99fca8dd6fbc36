//! Loading migrations from sqlx-cli's directory format.
//!
//! A directory holds `<version>_<description>.up.sql` with `<version>_<description>.down.sql`
//! (reversible), or `<version>_<description>.sql` (irreversible). Versions are positive 64-bit
//! integers (sqlx-cli uses timestamps such as `20261121093000`). Other files (a README) are
//! ignored; a `.sql` file whose name does not fit is an error, never skipped silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::migration::Migration;
use crate::error::Error;

/// The two sets of migrations: shared (default schema) and tenant (every tenant schema).
#[derive(Debug, Clone, Default)]
pub struct MigrationSource {
    /// Run once, in the default schema, before the tenant migrations.
    pub shared: MigrationSet,
    /// Run in every tenant schema (and the template schema).
    pub tenant: MigrationSet,
}

impl MigrationSource {
    /// Loads `<dir>/shared` and `<dir>/tenant`; a missing subdirectory is an empty set.
    ///
    /// # Errors
    /// [`Error::MigrationSource`] naming the file and the problem.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::MigrationSource {
                path: dir.to_owned(),
                problem: "the migrations directory does not exist; create it with `shared/` and `tenant/` \
                          subdirectories (or run `tenantry init`)"
                    .to_owned(),
            });
        }
        let load_optional = |sub: &str| {
            let path = dir.join(sub);
            if path.is_dir() {
                MigrationSet::load(&path)
            } else {
                Ok(MigrationSet::default())
            }
        };
        Ok(Self { shared: load_optional("shared")?, tenant: load_optional("tenant")? })
    }
}

/// An ordered set of migrations with distinct versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationSet {
    migrations: Vec<Migration>,
}

impl MigrationSet {
    /// A set from migrations in any order.
    ///
    /// # Errors
    /// [`Error::MigrationSource`] when two migrations share a version.
    pub fn new(mut migrations: Vec<Migration>) -> Result<Self, Error> {
        migrations.sort_by_key(|m| m.version);
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(Error::MigrationSource {
                    path: pair[1].path.clone(),
                    problem: format!(
                        "version {} is used twice ({} and {}); give one of them a new version",
                        pair[0].version, pair[0].description, pair[1].description
                    ),
                });
            }
        }
        Ok(Self { migrations })
    }

    /// Loads every migration in `dir`.
    ///
    /// # Errors
    /// [`Error::MigrationSource`] for an unreadable directory or file, a malformed `.sql` file
    /// name, a `.down.sql` without its `.up.sql` or the reverse, or a duplicate version.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let entries = std::fs::read_dir(dir).map_err(|err| Error::MigrationSource {
            path: dir.to_owned(),
            problem: format!("cannot read the directory: {err}"),
        })?;
        let mut files: BTreeMap<(i64, String), Files> = BTreeMap::new();
        for entry in entries {
            let path = entry
                .map_err(|err| Error::MigrationSource { path: dir.to_owned(), problem: format!("cannot read: {err}") })?
                .path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if !name.ends_with(".sql") || !path.is_file() {
                continue;
            }
            let parsed =
                parse_file_name(name).map_err(|problem| Error::MigrationSource { path: path.clone(), problem })?;
            let slot = files.entry((parsed.version, parsed.description.clone())).or_default();
            let place = match parsed.kind {
                FileKind::Simple => &mut slot.simple,
                FileKind::Up => &mut slot.up,
                FileKind::Down => &mut slot.down,
            };
            *place = Some(path);
        }
        let mut migrations = Vec::with_capacity(files.len());
        for ((version, description), files) in files {
            migrations.push(files.into_migration(version, description)?);
        }
        Self::new(migrations)
    }

    /// The migrations, by ascending version.
    pub fn iter(&self) -> std::slice::Iter<'_, Migration> {
        self.migrations.iter()
    }

    /// The migrations as a slice, by ascending version.
    pub fn as_slice(&self) -> &[Migration] {
        &self.migrations
    }

    /// The migration with `version`.
    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations.binary_search_by_key(&version, |m| m.version).ok().map(|i| &self.migrations[i])
    }

    /// How many migrations there are.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The highest version, or `None` for an empty set.
    pub fn latest(&self) -> Option<i64> {
        self.migrations.last().map(|m| m.version)
    }
}

impl<'a> IntoIterator for &'a MigrationSet {
    type Item = &'a Migration;
    type IntoIter = std::slice::Iter<'a, Migration>;

    fn into_iter(self) -> Self::IntoIter {
        self.migrations.iter()
    }
}

#[derive(Debug, Default)]
struct Files {
    simple: Option<PathBuf>,
    up: Option<PathBuf>,
    down: Option<PathBuf>,
}

impl Files {
    fn into_migration(self, version: i64, description: String) -> Result<Migration, Error> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|err| Error::MigrationSource {
                path: path.to_owned(),
                problem: format!("cannot read the file: {err}"),
            })
        };
        let text = |path: &Path, bytes: Vec<u8>| {
            String::from_utf8(bytes).map_err(|_| Error::MigrationSource {
                path: path.to_owned(),
                problem: "the file is not valid UTF-8; save it as UTF-8".to_owned(),
            })
        };
        let (up_path, down_path) = match (self.simple, self.up, self.down) {
            (Some(simple), None, None) => (simple, None),
            (None, Some(up), Some(down)) => (up, Some(down)),
            (Some(simple), _, _) => {
                return Err(Error::MigrationSource {
                    path: simple,
                    problem: format!("version {version} has both a plain .sql file and .up/.down files; keep one form"),
                })
            }
            (None, Some(up), None) => {
                return Err(Error::MigrationSource {
                    path: up,
                    problem: "has no matching .down.sql; add one, or rename it to <version>_<description>.sql \
                              for an irreversible migration"
                        .to_owned(),
                })
            }
            (None, None, Some(down)) => {
                return Err(Error::MigrationSource {
                    path: down,
                    problem: "has no matching .up.sql; add the .up.sql or remove this file".to_owned(),
                })
            }
            (None, None, None) => unreachable!("a slot exists only for a file"),
        };
        let up_bytes = read(&up_path)?;
        let mut migration =
            Migration::new(version, description.replace('_', " "), text(&up_path, up_bytes.clone())?, None);
        migration.checksum = super::migration::Checksum::of(&up_bytes);
        if let Some(down_path) = down_path {
            let down = text(&down_path, read(&down_path)?)?;
            migration.down_no_transaction = super::migration::has_no_transaction_marker(&down);
            migration.down = Some(down);
        }
        migration.path = up_path;
        Ok(migration)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum FileKind {
    Simple,
    Up,
    Down,
}

#[derive(Debug, PartialEq, Eq)]
struct FileName {
    version: i64,
    description: String,
    kind: FileKind,
}

/// Parses `<version>_<description>[.up|.down].sql`.
fn parse_file_name(name: &str) -> Result<FileName, String> {
    let expected =
        "expected <version>_<description>.sql, or .up.sql/.down.sql (e.g. 20261121093000_create_orders.up.sql)";
    let stem = name.strip_suffix(".sql").ok_or_else(|| expected.to_owned())?;
    let (stem, kind) = if let Some(stem) = stem.strip_suffix(".up") {
        (stem, FileKind::Up)
    } else if let Some(stem) = stem.strip_suffix(".down") {
        (stem, FileKind::Down)
    } else {
        (stem, FileKind::Simple)
    };
    let (version, description) = stem.split_once('_').ok_or_else(|| format!("no `_` after the version; {expected}"))?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the version {version:?} is not a number; {expected}"));
    }
    let version: i64 = version.parse().map_err(|_| format!("the version {version} does not fit in 64 bits"))?;
    if version <= 0 {
        return Err(format!("the version must be positive; {expected}"));
    }
    if description.trim().is_empty() || description.contains('.') {
        return Err(format!("the description {description:?} is empty or holds a `.`; {expected}"));
    }
    Ok(FileName { version, description: description.to_owned(), kind })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_sqlx_file_names() {
        assert_eq!(
            parse_file_name("0001_customers.up.sql"),
            Ok(FileName { version: 1, description: "customers".into(), kind: FileKind::Up })
        );
        assert_eq!(
            parse_file_name("20261121093000_add_orders.down.sql"),
            Ok(FileName { version: 20_261_121_093_000, description: "add_orders".into(), kind: FileKind::Down })
        );
        assert_eq!(
            parse_file_name("7_seed.sql"),
            Ok(FileName { version: 7, description: "seed".into(), kind: FileKind::Simple })
        );
    }

    #[test]
    fn rejects_malformed_names_with_the_reason() {
        for (name, hint) in [
            ("customers.sql", "no `_`"),
            ("v1_customers.sql", "not a number"),
            ("0_customers.sql", "positive"),
            ("99999999999999999999_x.sql", "64 bits"),
            ("1_.sql", "empty"),
            ("1_a.b.sql", "holds a `.`"),
        ] {
            let err = parse_file_name(name).expect_err(name);
            assert!(err.contains(hint), "{name}: {err}");
        }
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write fixture");
    }

    #[test]
    fn loads_a_directory_and_pairs_up_and_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "2_orders.up.sql", "CREATE TABLE orders ();");
        write(dir.path(), "2_orders.down.sql", "DROP TABLE orders;");
        write(dir.path(), "1_customers.sql", "CREATE TABLE customers ();");
        write(dir.path(), "3_index.up.sql", "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY i ON orders ((1));");
        write(dir.path(), "3_index.down.sql", "-- no-transaction\nDROP INDEX CONCURRENTLY i;");
        write(dir.path(), "README.md", "not a migration");
        let set = MigrationSet::load(dir.path()).expect("loads");
        let versions: Vec<i64> = set.iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2, 3]);
        assert!(!set.get(1).expect("1").is_reversible());
        assert_eq!(set.get(2).expect("2").down.as_deref(), Some("DROP TABLE orders;"));
        let index = set.get(3).expect("3");
        assert!(index.up_no_transaction && index.down_no_transaction);
        assert_eq!(set.get(2).expect("2").checksum, super::super::migration::Checksum::of(b"CREATE TABLE orders ();"));
    }

    #[test]
    fn unpaired_and_duplicate_files_are_errors() {
        for (files, hint) in [
            (vec!["1_a.up.sql"], "no matching .down.sql"),
            (vec!["1_a.down.sql"], "no matching .up.sql"),
            (vec!["1_a.sql", "1_a.up.sql", "1_a.down.sql"], "keep one form"),
            (vec!["1_a.sql", "1_b.sql"], "used twice"),
            (vec!["x_a.sql"], "not a number"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            for file in &files {
                write(dir.path(), file, "SELECT 1;");
            }
            let message = MigrationSet::load(dir.path()).expect_err(hint).to_string();
            assert!(message.contains(hint), "{files:?}: {message}");
        }
    }

    proptest! {
        #[test]
        fn file_name_parser_never_panics_and_round_trips(version in 1_i64..i64::MAX, description in "[a-z][a-z0-9_]{0,30}") {
            for (suffix, kind) in [(".sql", FileKind::Simple), (".up.sql", FileKind::Up), (".down.sql", FileKind::Down)] {
                let parsed = parse_file_name(&format!("{version}_{description}{suffix}"));
                prop_assert_eq!(parsed, Ok(FileName { version, description: description.clone(), kind }));
            }
        }

        #[test]
        fn arbitrary_names_are_parsed_or_explained(name in "\\PC{0,40}") {
            if let Err(reason) = parse_file_name(&name) {
                prop_assert!(reason.contains("expected") || reason.contains("64 bits"));
            }
        }
    }
}
