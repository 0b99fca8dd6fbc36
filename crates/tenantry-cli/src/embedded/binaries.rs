//! Finding the machine's PostgreSQL server programs.
//!
//! Order: `TENANTRY_PG_BIN`, then the first directory on `PATH` holding both `initdb` and
//! `pg_ctl`, then the newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu put the
//! server programs there, off `PATH`; `/usr/bin` only has client wrappers). Nothing is
//! downloaded: `postgresql_embedded` does that, and machines without network cannot use it.
//!
//! An existing cluster can only be run by the major version that created it: when
//! `/usr/lib/postgresql/<that version>/bin` exists, it is preferred to a `PATH` directory of
//! another or unknown version, so installing a newer PostgreSQL next to the old one (as a
//! Debian upgrade does) does not break the cluster.

use std::env;
use std::path::{Path, PathBuf};

use super::error::EmbeddedError;

/// Environment variable naming a directory that holds `initdb` and `pg_ctl`.
pub(crate) const PG_BIN_ENV: &str = "TENANTRY_PG_BIN";

const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// The directory holding the PostgreSQL server programs, for a cluster created by major
/// version `cluster_version` (its `PG_VERSION` file) if it exists.
pub(crate) fn postgres_bin_dir(cluster_version: Option<&str>) -> Result<PathBuf, EmbeddedError> {
    let from_env = env::var_os(PG_BIN_ENV).map(PathBuf::from);
    find_postgres_bin_dir(from_env, &path_dirs(), Path::new(DEBIAN_PG_ROOT), cluster_version)
}

fn find_postgres_bin_dir(
    from_env: Option<PathBuf>,
    path: &[PathBuf],
    installed: &Path,
    cluster_version: Option<&str>,
) -> Result<PathBuf, EmbeddedError> {
    if let Some(dir) = from_env.filter(|dir| !dir.as_os_str().is_empty()) {
        return if is_pg_bin_dir(&dir) { Ok(dir) } else { Err(EmbeddedError::BadBinDir { dir }) };
    }
    let on_path = path.iter().find(|dir| is_pg_bin_dir(dir)).map(|dir| installation_dir(dir));
    if let Some(version) = cluster_version {
        let same_version = installed.join(version).join("bin");
        let path_matches = on_path.as_deref().is_some_and(|dir| installed_version(dir) == Some(version));
        if !path_matches && is_pg_bin_dir(&same_version) {
            return Ok(same_version);
        }
    }
    on_path.or_else(|| newest_installed_bin_dir(installed)).ok_or(EmbeddedError::BinariesNotFound)
}

/// `15` for `/usr/lib/postgresql/15/bin` (any `<root>/<version>/bin`); `None` when the path does
/// not say.
fn installed_version(bin_dir: &Path) -> Option<&str> {
    let version = bin_dir.parent()?.file_name()?.to_str()?;
    version_key(version).map(|_| version)
}

fn is_pg_bin_dir(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// The directory `initdb` in `dir` really lives in, when `dir` only holds symlinks to it (e.g.
/// `/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb`): there `pg_ctl` finds the
/// `postgres` program of the same version next to itself.
fn installation_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .filter(|real| is_pg_bin_dir(real))
        .unwrap_or_else(|| dir.to_path_buf())
}

fn path_dirs() -> Vec<PathBuf> {
    env::var_os("PATH").map(|path| env::split_paths(&path).collect()).unwrap_or_default()
}

/// `<root>/<newest version>/bin` among the versions whose `bin` holds `initdb` and `pg_ctl`.
fn newest_installed_bin_dir(root: &Path) -> Option<PathBuf> {
    let names: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_pg_bin_dir(&root.join(name).join("bin")))
        .collect();
    newest_version(names.iter().map(String::as_str)).map(|name| root.join(name).join("bin"))
}

/// The highest of version-named directories (`9.6` < `15` < `16`); non-versions are ignored.
fn newest_version<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .filter_map(|name| version_key(name).map(|key| (key, name)))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, name)| name)
}

/// `"9.6"` → `[9, 6]`: compared numerically, not as text (where `"9" > "15"`).
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bin_dir(dir: &Path) {
        std::fs::create_dir_all(dir).expect("create a fake bin directory");
        for program in ["initdb", "pg_ctl"] {
            std::fs::write(dir.join(program), "").expect("write a fake program");
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(newest_version(["9", "15", "16"]), Some("16"));
        assert_eq!(newest_version(["9.6", "10", "9"]), Some("10"));
        assert_eq!(newest_version(["common", "", "15beta"]), None);
    }

    #[test]
    fn missing_binaries_are_an_error_naming_the_fix() {
        let empty = tempfile::tempdir().expect("a temporary directory for the test");
        let error = find_postgres_bin_dir(None, &[empty.path().to_path_buf()], empty.path(), None)
            .expect_err("no binaries in an empty directory");
        assert!(matches!(error, EmbeddedError::BinariesNotFound), "{error:?}");
    }

    #[test]
    fn the_variable_wins_and_is_checked() {
        let dir = tempfile::tempdir().expect("a temporary directory for the test");
        let error = find_postgres_bin_dir(Some(dir.path().to_path_buf()), &[], dir.path(), None)
            .expect_err("an empty directory is not a bin directory");
        assert!(error.to_string().contains("TENANTRY_PG_BIN="), "{error}");
        fake_bin_dir(dir.path());
        let found = find_postgres_bin_dir(Some(dir.path().to_path_buf()), &[], Path::new("/nonexistent"), Some("15"))
            .expect("the variable's directory");
        assert_eq!(found, dir.path());
    }

    #[test]
    fn follows_symlinks_on_path_to_the_installation() {
        let root = tempfile::tempdir().expect("a temporary directory for the test");
        let real = root.path().join("real");
        let links = root.path().join("links");
        fake_bin_dir(&real);
        std::fs::create_dir(&links).expect("create a fake /usr/local/bin");
        for program in ["initdb", "pg_ctl"] {
            std::os::unix::fs::symlink(real.join(program), links.join(program)).expect("link a fake program");
        }
        let found = find_postgres_bin_dir(None, &[links], Path::new("/nonexistent"), None).expect("found on PATH");
        assert_eq!(found, std::fs::canonicalize(&real).expect("canonical path"));
    }

    #[test]
    fn finds_the_newest_installed_version() {
        let root = tempfile::tempdir().expect("a temporary directory for the test");
        for version in ["9.6", "15"] {
            fake_bin_dir(&root.path().join(version).join("bin"));
        }
        // 16 has no initdb, so it is not a usable server installation (e.g. only the client).
        std::fs::create_dir_all(root.path().join("16").join("bin")).expect("create a fake bin directory");
        assert_eq!(newest_installed_bin_dir(root.path()), Some(root.path().join("15").join("bin")));
    }

    #[test]
    fn an_existing_cluster_gets_its_own_major_version() {
        let root = tempfile::tempdir().expect("a temporary directory for the test");
        let installed = root.path().join("lib");
        for version in ["15", "16"] {
            fake_bin_dir(&installed.join(version).join("bin"));
        }
        let elsewhere = root.path().join("elsewhere").join("bin");
        fake_bin_dir(&elsewhere);
        let find = |path: &[PathBuf], version| {
            find_postgres_bin_dir(None, path, &installed, version).expect("a bin directory")
        };
        let on_path = std::slice::from_ref(&elsewhere);
        // A new cluster: PATH first, then the newest installed version.
        assert_eq!(find(on_path, None), elsewhere);
        assert_eq!(find(&[], None), installed.join("16").join("bin"));
        // A cluster of 15: its own version, unless PATH already points at it.
        assert_eq!(find(on_path, Some("15")), installed.join("15").join("bin"));
        assert_eq!(find(&[installed.join("15").join("bin")], Some("15")), installed.join("15").join("bin"));
        assert_eq!(find(&[], Some("15")), installed.join("15").join("bin"));
        // A version that is not installed there: the usual order (starting will say what is wrong).
        assert_eq!(find(on_path, Some("14")), elsewhere);
    }
}
