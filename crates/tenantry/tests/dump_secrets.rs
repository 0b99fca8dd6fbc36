//! `pg_dump` never gets the password in its argument list, which every user of the machine
//! can read (`ps`), and the dump it writes holds none (issue 10, "Secrets never printed").
//!
//! A wrapper named `pg_dump` is put first on `PATH` (tenantry looks there first:
//! src/migrate/dump.rs `find_pg_dump`); it records its arguments and environment, then runs
//! the real `pg_dump`. `PATH` is process-wide, so this file holds one test only.

use std::path::{Path, PathBuf};

use tenantry::{Config, Tenantry};
use tenantry_test_support::{test_database, Cluster};

/// Passwords that break naive URL and conninfo handling; the last one cannot go in a
/// password file (one entry per line) and takes the `PGPASSWORD` path.
const PASSWORDS: &[&str] = &["p/a?s#s@w%o:r\\d 'q\" é€&=+", "plain-looking-secret-42", "two\nlines:\\"];

/// Writes the recording `pg_dump` wrapper into `dir`.
fn install_wrapper(dir: &Path, real: &Path) {
    let script = format!(
        "#!/bin/sh\n\
         log=\"$(dirname \"$0\")/run.$$\"\n\
         {{ for arg in \"$@\"; do printf 'ARG %s\\n' \"$arg\"; done; env | sed 's/^/ENV /'; \
            if [ -n \"$PGPASSFILE\" ]; then printf 'MODE %s\\n' \"$(stat -c %a \"$PGPASSFILE\")\"; fi; }} > \"$log\"\n\
         exec '{}' \"$@\"\n",
        real.display()
    );
    let path = dir.join("pg_dump");
    std::fs::write(&path, script).expect("writes the wrapper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("makes it executable");
    }
}

/// What the wrapper recorded since the last call: one text per run (the records are removed).
fn take_runs(dir: &Path) -> Vec<String> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("reads the wrapper dir")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("run.")))
        .collect();
    runs.sort();
    runs.iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("reads a run");
            std::fs::remove_file(path).expect("removes the record");
            text
        })
        .collect()
}

/// The forms a password can take in text that came from a URL.
fn forms(password: &str) -> Vec<String> {
    let encoded: String = password
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect();
    vec![password.to_owned(), encoded]
}

#[tokio::test(flavor = "current_thread")]
async fn pg_dump_gets_no_password_in_argv_and_writes_none() {
    let wrapper = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::shared();
    install_wrapper(wrapper.path(), &cluster.bin_dir().join("pg_dump"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![wrapper.path().to_owned()];
    dirs.extend(std::env::split_paths(&path));
    // The only test of this binary, before anything else runs: no other thread reads PATH.
    std::env::set_var("PATH", std::env::join_paths(dirs).expect("a valid PATH"));

    let db = test_database("dump_secrets").await;
    for password in PASSWORDS {
        let role = cluster.password_superuser("dump_secret_user", password).await;
        let out = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.database_url = Some(role.url(db.name()));
        config.migrations.directory = out.path().join("migrations");
        std::fs::create_dir_all(config.migrations.directory.join("tenant")).expect("migrations dir");
        let tenantry = Tenantry::connect(config).await.expect("connects with the password");
        let migrator = tenantry::migrate::Migrator::load(&tenantry).expect("loads migrations");
        let dump_path = out.path().join("schema.sql");
        migrator.dump(Some(&dump_path)).await.expect("pg_dump succeeds with the password it was given");

        let runs = take_runs(wrapper.path());
        assert_eq!(runs.len(), 1, "one pg_dump run per dump");
        let run = &runs[0];
        let argv: Vec<&str> = run.lines().filter_map(|line| line.strip_prefix("ARG ")).collect();
        assert!(!argv.is_empty(), "the wrapper recorded pg_dump's arguments:\n{run}");
        let dump = std::fs::read_to_string(&dump_path).expect("the dump was written");
        assert!(dump.contains("PostgreSQL database dump"), "a real dump:\n{dump}");
        for form in forms(password) {
            for arg in &argv {
                assert!(!arg.contains(&form), "pg_dump's argument list holds the password ({form:?}): {argv:?}");
            }
            assert!(!dump.contains(&form), "the dump file holds the password");
        }
        if !password.contains('\n') {
            assert!(!run.contains("ENV PGPASSWORD="), "the password went through PGPASSWORD, not a file");
            for form in forms(password) {
                assert!(!run.contains(&form), "pg_dump's environment holds the password ({form:?})");
            }
            assert!(run.contains("MODE 600\n"), "the password file is private (mode 0600):\n{run}");
            let file = run.lines().find_map(|line| line.strip_prefix("ENV PGPASSFILE=")).expect("PGPASSFILE is set");
            assert!(!Path::new(file).exists(), "the password file {file} outlived pg_dump");
        }

        // pg_dump failing (the role's password changed since tenantry connected) reports its
        // error without the password, and still removes the password file.
        cluster.password_superuser("dump_secret_user", "changed-since").await;
        let error = migrator.dump(Some(&dump_path)).await.expect_err("pg_dump's login fails");
        let printed = format!("{error}\n{error:?}");
        assert!(printed.contains("password authentication failed"), "{printed}");
        for form in forms(password) {
            assert!(!printed.contains(&form), "the dump error shows the password ({form:?}): {printed}");
        }
        let runs = take_runs(wrapper.path());
        assert_eq!(runs.len(), 1, "one pg_dump run per dump");
        if let Some(file) = runs[0].lines().find_map(|line| line.strip_prefix("ENV PGPASSFILE=")) {
            assert!(!Path::new(file).exists(), "the password file {file} outlived a failed pg_dump");
        }
    }
}
