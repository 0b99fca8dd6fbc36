//! What the migration benches share: the workload, a migrations directory holding it, and the
//! plain `psql` baseline.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tenantry::sql::quote_ident;
use tenantry::Config;
use tenantry_test_support::Cluster;

fn workload_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workload")
}

/// The workload's migrations: (version, description, up SQL, down SQL), ascending.
pub fn files() -> Vec<(i64, String, String, String)> {
    let dir = workload_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("workload")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".up.sql"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|up| {
            let version: i64 = up[..4].parse().expect("version");
            let description = up[5..up.len() - 7].replace('_', " ");
            let down = up.replace(".up.sql", ".down.sql");
            (
                version,
                description,
                std::fs::read_to_string(dir.join(up)).expect("up"),
                std::fs::read_to_string(dir.join(down)).expect("down"),
            )
        })
        .collect()
}

/// tenantry's migrations directory layout (`tenant/` = the workload) in a temp dir.
pub fn migrations_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = dir.path().join("tenant");
    std::fs::create_dir_all(&tenant).expect("mkdir");
    for entry in std::fs::read_dir(workload_dir()).expect("workload").filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().ends_with(".sql") {
            std::fs::copy(entry.path(), tenant.join(entry.file_name())).expect("copy");
        }
    }
    dir
}

/// tenantry's configuration for a bench database: migrations from `dir`, no schema dump, the
/// template on or off.
pub fn config(url: &str, dir: &Path, template: bool) -> Config {
    let mut config = Config::default();
    config.database_url = Some(url.to_owned());
    config.migrations.directory = dir.to_owned();
    config.migrations.dump = false;
    config.migrations.template = template;
    config
}

/// Runs `script` through one `psql` session; returns how long it took and what it printed.
pub fn psql_output(url: &str, script: &str) -> (Duration, String) {
    let path = std::env::temp_dir().join(format!("tenantry-bench-{}.sql", std::process::id()));
    std::fs::write(&path, script).expect("script");
    let started = Instant::now();
    let output = Command::new(Cluster::shared().bin_dir().join("psql"))
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(&path)
        .stderr(Stdio::piped())
        .output()
        .expect("psql runs");
    let elapsed = started.elapsed();
    assert!(output.status.success(), "psql failed: {}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_file(path);
    (elapsed, String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `script` through one `psql` session; returns how long it took.
pub fn psql(url: &str, script: &str) -> Duration {
    psql_output(url, script).0
}

/// The psql baseline for one tenant: `steps` (version, up?) of the workload, one transaction
/// per migration file with its bookkeeping row, after creating the schema and its bookkeeping
/// table when `create`.
pub fn psql_tenant(
    schema: &str,
    steps: &[(i64, bool)],
    create: bool,
    files: &[(i64, String, String, String)],
) -> String {
    let mut script = String::new();
    let q = quote_ident(schema);
    if create {
        script.push_str(&format!(
            "CREATE SCHEMA {q}; CREATE TABLE {q}.tenantry_migrations (version bigint PRIMARY KEY, description text NOT NULL, \
             checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms bigint NOT NULL DEFAULT 0);\n"
        ));
    }
    for (version, up) in steps {
        let (_, description, up_sql, down_sql) = files.iter().find(|f| f.0 == *version).expect("file");
        let (sql, record) = if *up {
            (up_sql, format!("INSERT INTO {q}.tenantry_migrations (version, description, checksum) VALUES ({version}, '{description}', '\\x00')"))
        } else {
            (down_sql, format!("DELETE FROM {q}.tenantry_migrations WHERE version = {version}"))
        };
        script.push_str(&format!("BEGIN;\nSET LOCAL search_path TO {q};\n{sql}\n;\n{record};\nCOMMIT;\n"));
    }
    script
}

/// [`psql_tenant`] for every tenant, one after the other.
pub fn psql_script(tenants: &[String], steps: &[(i64, bool)], create: bool) -> String {
    let files = files();
    tenants.iter().map(|schema| psql_tenant(schema, steps, create, &files)).collect()
}
