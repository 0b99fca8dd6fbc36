//! Finding the PostgreSQL server programs and PgBouncer.
//!
//! Order for PostgreSQL: `TENANTRY_PG_BIN`, then the first directory on `PATH` holding
//! both `initdb` and `pg_ctl`, then the newest `/usr/lib/postgresql/<version>/bin` (Debian and
//! Ubuntu put the server programs there, off `PATH`; `/usr/bin` only has wrapper scripts).

use std::env;
use std::path::{Path, PathBuf};

/// Environment variable naming a directory that holds `initdb`, `pg_ctl`, `psql`, `pg_dump`.
pub(crate) const PG_BIN_ENV: &str = "TENANTRY_PG_BIN";
/// Environment variable naming the `pgbouncer` executable.
pub(crate) const PGBOUNCER_ENV: &str = "TENANTRY_PGBOUNCER";

const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";
const DEBIAN_PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// The directory holding the PostgreSQL server programs; panics saying how to install them.
pub(crate) fn postgres_bin_dir() -> PathBuf {
    find_postgres_bin_dir(env::var_os(PG_BIN_ENV).map(PathBuf::from), &path_dirs(), Path::new(DEBIAN_PG_ROOT))
}

fn find_postgres_bin_dir(from_env: Option<PathBuf>, path: &[PathBuf], installed: &Path) -> PathBuf {
    if let Some(dir) = from_env {
        assert!(
            is_pg_bin_dir(&dir),
            "{PG_BIN_ENV}={} does not hold both `initdb` and `pg_ctl`: point it at the `bin` \
             directory of a PostgreSQL installation (e.g. /usr/lib/postgresql/15/bin; install one with \
             `apt-get install postgresql`), or unset it",
            dir.display()
        );
        return dir;
    }
    if let Some(dir) = path.iter().find(|dir| is_pg_bin_dir(dir)) {
        return installation_dir(dir);
    }
    if let Some(dir) = newest_installed_bin_dir(installed) {
        return dir;
    }
    panic!(
        "PostgreSQL server programs (`initdb`, `pg_ctl`) were found neither on PATH nor under \
         {DEBIAN_PG_ROOT}/*/bin. Install them (`apt-get install postgresql`), or set \
         {PG_BIN_ENV} to the directory holding `initdb` and `pg_ctl`."
    )
}

/// The `pgbouncer` executable; panics saying how to install it.
pub(crate) fn pgbouncer_binary() -> PathBuf {
    find_pgbouncer(env::var_os(PGBOUNCER_ENV).map(PathBuf::from), &path_dirs(), Path::new(DEBIAN_PGBOUNCER))
}

fn find_pgbouncer(from_env: Option<PathBuf>, path: &[PathBuf], installed: &Path) -> PathBuf {
    if let Some(path) = from_env {
        assert!(
            path.is_file(),
            "{PGBOUNCER_ENV}={} is not a file: point it at the `pgbouncer` executable (install it with \
             `apt-get install pgbouncer`), or unset it",
            path.display()
        );
        return path;
    }
    path.iter()
        .map(|dir| dir.join("pgbouncer"))
        .chain([installed.to_path_buf()])
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`pgbouncer` was found neither on PATH nor at {DEBIAN_PGBOUNCER}. Install it \
                 (`apt-get install pgbouncer`), or set {PGBOUNCER_ENV} to the executable."
            )
        })
}

fn is_pg_bin_dir(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// The directory `initdb` in `dir` really lives in, when `dir` only holds symlinks to it (e.g.
/// `/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb`): that one also has `psql`,
/// `pg_dump` and the other programs of the same version.
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

/// `<root>/<newest version>/bin` among the versions whose `bin` holds `initdb`.
fn newest_installed_bin_dir(root: &Path) -> Option<PathBuf> {
    let names: Vec<String> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| root.join(name).join("bin").join("initdb").is_file())
        .collect();
    newest_version(names.iter().map(String::as_str)).map(|name| root.join(name).join("bin"))
}

/// The highest of version-named directories (`9.6` < `15` < `16`); non-versions are ignored.
pub(crate) fn newest_version<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
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

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(newest_version(["9", "15", "16"]), Some("16"));
        assert_eq!(newest_version(["16", "9", "15"]), Some("16"));
        assert_eq!(newest_version(["9.6", "10", "9"]), Some("10"));
        assert_eq!(newest_version(["15", "9.6"]), Some("15"));
    }

    #[test]
    fn non_versions_are_ignored() {
        assert_eq!(newest_version(["common", "15", "lib"]), Some("15"));
        assert_eq!(newest_version(["common", "", "15beta"]), None);
        assert_eq!(newest_version([]), None);
    }

    #[test]
    #[should_panic(expected = "`apt-get install postgresql`), or set TENANTRY_PG_BIN")]
    fn missing_postgres_says_how_to_install_it() {
        let empty = tempfile::tempdir().expect("a temporary directory for the test");
        find_postgres_bin_dir(None, &[empty.path().to_path_buf()], empty.path());
    }

    #[test]
    #[should_panic(expected = "`apt-get install postgresql`")]
    fn a_wrong_pg_bin_variable_says_how_to_install_postgres() {
        let empty = tempfile::tempdir().expect("a temporary directory for the test");
        find_postgres_bin_dir(Some(empty.path().to_path_buf()), &[], empty.path());
    }

    #[test]
    #[should_panic(expected = "`apt-get install pgbouncer`), or set TENANTRY_PGBOUNCER")]
    fn missing_pgbouncer_says_how_to_install_it() {
        let empty = tempfile::tempdir().expect("a temporary directory for the test");
        find_pgbouncer(None, &[empty.path().to_path_buf()], &empty.path().join("pgbouncer"));
    }

    #[test]
    fn pgbouncer_is_found_on_path_first() {
        let dir = tempfile::tempdir().expect("a temporary directory for the test");
        std::fs::write(dir.path().join("pgbouncer"), "").expect("write a fake pgbouncer");
        let found = find_pgbouncer(None, &[dir.path().to_path_buf()], Path::new("/nonexistent"));
        assert_eq!(found, dir.path().join("pgbouncer"));
    }

    #[test]
    fn follows_symlinks_to_the_installation() {
        let root = tempfile::tempdir().expect("a temporary directory for the test");
        let real = root.path().join("real");
        let links = root.path().join("links");
        for dir in [&real, &links] {
            std::fs::create_dir(dir).expect("create a fake bin directory");
        }
        for program in ["initdb", "pg_ctl", "psql"] {
            std::fs::write(real.join(program), "").expect("write a fake program");
        }
        for program in ["initdb", "pg_ctl"] {
            std::os::unix::fs::symlink(real.join(program), links.join(program)).expect("link a fake program");
        }
        let real = std::fs::canonicalize(&real).expect("canonical path");
        assert_eq!(installation_dir(&links), real);
        assert_eq!(installation_dir(&real), real);
    }

    #[test]
    fn finds_the_newest_installed_version() {
        let root = tempfile::tempdir().expect("a temporary directory for the test");
        for version in ["9.6", "15", "16"] {
            std::fs::create_dir_all(root.path().join(version).join("bin")).expect("create a fake bin directory");
        }
        // 16 has no initdb, so it is not a usable server installation.
        for version in ["9.6", "15"] {
            std::fs::write(root.path().join(version).join("bin").join("initdb"), "").expect("write a fake initdb");
        }
        assert_eq!(newest_installed_bin_dir(root.path()), Some(root.path().join("15").join("bin")));
    }
}
