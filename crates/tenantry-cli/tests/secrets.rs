//! The `tenantry` binary never prints the database password: not with every log on
//! (`-vv`, `TENANTRY_LOG=trace`, `RUST_LOG=trace`), not in `--json` documents, not in the schema
//! dump, and not on failure: a wrong password (SCRAM, real server), an unreachable port, a
//! connection string that does not parse, a `tenantry.toml` that is not valid TOML
//! (issue 10, "Secrets never printed").

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use tenantry_test_support::{test_database, Cluster, PasswordRole};

/// Breaks naive URL and key/value handling: `/ ? # @ % : ' " \`, `&`, `=`, spaces, Unicode.
const PASSWORD: &str = "s3/cr?t#p@ss%w:rd 'q\" \\x&y=z é€";

/// `tenantry -vv` in `dir`, every log on, with a clean `TENANTRY_*` environment.
fn tenantry(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("tenantry").expect("binary built");
    command.current_dir(dir).env("NO_COLOR", "1").env_remove("DATABASE_URL");
    for (key, _) in std::env::vars() {
        if key.starts_with("TENANTRY_") && key != "TENANTRY_PG_BIN" && key != "TENANTRY_PGBOUNCER" {
            command.env_remove(key);
        }
    }
    command.env("TENANTRY_LOG", "trace").env("RUST_LOG", "trace").arg("-vv");
    command
}

/// A project with two workload migrations whose migrate writes the schema dump.
fn project() -> tempfile::TempDir {
    common::project_with(2, "[migrations]\ndump = true\ndump_path = \"db/schema.sql\"\n")
}

/// The password as it may be written: raw, percent-encoded (both cases), conninfo-escaped.
fn forms() -> Vec<String> {
    let all: String = PASSWORD.bytes().map(|b| format!("%{b:02X}")).collect();
    vec![
        PASSWORD.to_owned(),
        all.clone(),
        all.to_lowercase(),
        PASSWORD.replace('\\', "\\\\").replace('\'', "\\'"),
        // Pieces a naive mask splitting at spaces or at the first `/`, `?` or `@` leaves behind.
        "cr?t#p".to_owned(),
        "ss%w:rd".to_owned(),
        "\\x&y=z".to_owned(),
    ]
}

/// Runs `command`, checks that nothing it printed holds the password, returns its output.
fn run_clean(command: &mut Command, what: &str) -> Output {
    let output = command.output().expect("runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    for form in forms() {
        assert!(!printed.contains(&form), "`{what}` printed the password ({form:?}):\n{printed}");
    }
    output
}

fn closed_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The key/value form of `role`'s login, the password single-quoted with escapes.
fn conninfo(role: &PasswordRole, port: u16, dbname: &str) -> String {
    role.conninfo(dbname).replace(&format!("port={}", Cluster::shared().port()), &format!("port={port}"))
}

#[tokio::test]
async fn no_command_prints_the_password_on_success_or_failure() {
    let cluster = Cluster::shared();
    let db = test_database("cli_secrets").await;
    let role = cluster.password_superuser("cli_secret_user", PASSWORD).await;
    let dir = project();
    let port = cluster.port();

    for url in [role.url(db.name()), conninfo(&role, port, db.name())] {
        let ok = |args: &[&str]| {
            let output = run_clean(tenantry(dir.path()).env("DATABASE_URL", &url).args(args), &args.join(" "));
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        ok(&["create", "acme", "globex", "--json"]);
        ok(&["migrate"]);
        ok(&["status", "--json"]);
        ok(&["list", "--json"]);
        ok(&["dump"]);
        ok(&["drop", "acme", "globex", "--force"]);
        let dump = std::fs::read_to_string(dir.path().join("db/schema.sql")).expect("the dump was written");
        for form in forms() {
            assert!(!dump.contains(&form), "the dump holds the password");
        }
    }

    // The demo prints the database it uses, and migrates with a schema dump.
    let demo_db = test_database("cli_secrets_demo").await;
    let demo_dir = tempfile::tempdir().expect("tempdir");
    let demo = run_clean(
        tenantry(demo_dir.path()).env("DATABASE_URL", role.url(demo_db.name())).args(["demo", "--tenants", "3"]),
        "demo",
    );
    assert!(demo.status.success(), "demo: {}", String::from_utf8_lossy(&demo.stderr));
    assert!(String::from_utf8_lossy(&demo.stdout).contains(":********@"), "the demo names the database, masked");
    let demo_dump =
        std::fs::read_to_string(demo_dir.path().join(".tenantry/demo/schema.sql")).expect("the demo's dump");
    for form in forms() {
        assert!(!demo_dump.contains(&form), "the demo's dump holds the password");
    }

    let other = cluster.password_superuser("cli_secret_other", "not-the-password").await;
    let failures = [
        ("wrong password, URL", role.url(db.name()).replacen(role.name(), other.name(), 1), 3),
        ("wrong password, key/value", conninfo(&role, port, db.name()).replacen(role.name(), other.name(), 1), 3),
        ("closed port, URL", role.url(db.name()).replace(&format!(":{port}/"), &format!(":{}/", closed_port())), 3),
        ("closed port, key/value", conninfo(&role, closed_port(), db.name()), 3),
        ("bad URL", format!("{}?connect_timeout=soon", role.url(db.name())), 2),
        ("bad key/value", format!("{} connect_timeout=soon", conninfo(&role, port, db.name())), 2),
        ("unquoted key/value", format!("host=127.0.0.1 user=u password={PASSWORD} dbname=x"), 2),
    ];
    for (what, url, code) in failures {
        let output = run_clean(tenantry(dir.path()).env("DATABASE_URL", &url).args(["status", "--json"]), what);
        assert_eq!(output.status.code(), Some(code), "{what}: {}", String::from_utf8_lossy(&output.stderr));
    }

    // `\q` is no TOML escape (nor is the password's `"` allowed in a basic string).
    std::fs::write(
        dir.path().join("tenantry.toml"),
        format!("database_url = \"{}\"\n", role.conninfo(db.name()).replace('\\', "\\q")),
    )
    .expect("config");
    let output = run_clean(tenantry(dir.path()).args(["status"]), "an invalid tenantry.toml");
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}
