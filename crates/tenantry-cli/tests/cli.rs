//! The `tenantry` binary end to end, against a throwaway PostgreSQL: every command, human and
//! JSON output, every exit code, and bad input.

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tenantry_test_support::{test_database, TestDatabase};

/// `tenantry` in `dir` against `db`, with a clean environment.
fn tenantry(dir: &Path, url: &str) -> Command {
    let mut command = Command::cargo_bin("tenantry").expect("binary built");
    command.current_dir(dir).env("DATABASE_URL", url).env("NO_COLOR", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("TENANTRY_") && key != "TENANTRY_PG_BIN" && key != "TENANTRY_PGBOUNCER" {
            command.env_remove(key);
        }
    }
    command
}

/// A project with the first `count` workload migrations and no dump.
fn project(count: usize) -> tempfile::TempDir {
    common::project_with(count, "[migrations]\ndump = false\n")
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(output)))
}

async fn db(label: &str) -> TestDatabase {
    test_database(label).await
}

#[tokio::test]
async fn init_and_new_write_project_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = "postgresql://unused";
    tenantry(dir.path(), url).arg("init").assert().success().stdout(predicate::str::contains("wrote tenantry.toml"));
    assert!(dir.path().join("migrations/tenant").is_dir() && dir.path().join("migrations/shared").is_dir());
    let config = std::fs::read_to_string(dir.path().join("tenantry.toml")).expect("config");
    assert!(config.contains("database_url = \"embedded\""));
    assert!(std::fs::read_to_string(dir.path().join(".gitignore")).expect("gitignore").contains(".tenantry/"));
    tenantry(dir.path(), url).arg("init").assert().code(2).stderr(predicate::str::contains("--force"));
    tenantry(dir.path(), url).args(["init", "--force"]).assert().success();

    tenantry(dir.path(), url).args(["new", "Create orders"]).assert().success();
    tenantry(dir.path(), url).args(["new", "plans", "--shared", "--irreversible"]).assert().success();
    let tenant: Vec<String> = std::fs::read_dir(dir.path().join("migrations/tenant"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(tenant.len(), 2, "{tenant:?}");
    assert!(tenant
        .iter()
        .any(|n| n.ends_with("_create_orders.up.sql") && n.len() == "20261121000000_create_orders.up.sql".len()));
    let shared = std::fs::read_dir(dir.path().join("migrations/shared")).expect("dir").count();
    assert_eq!(shared, 1);
    tenantry(dir.path(), url).args(["new", "!!!"]).assert().code(2);
}

#[tokio::test]
async fn tenant_lifecycle_commands_and_their_refusals() {
    let db = db("cli_lifecycle").await;
    let dir = project(3);
    let url = db.url();
    tenantry(dir.path(), &url)
        .args(["create", "acme", "globex"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created acme"));
    tenantry(dir.path(), &url).arg("list").assert().success().stdout("acme\nglobex\n");
    let listed = tenantry(dir.path(), &url).args(["list", "--json"]).output().expect("runs");
    assert_eq!(json(&listed.stdout)["tenants"][1]["tenant"], "globex");
    tenantry(dir.path(), &url).args(["rename", "globex", "initech"]).assert().success();

    for hostile in ["Bad;Name", "x\"; DROP SCHEMA public CASCADE; --", "pg_catalog", ""] {
        tenantry(dir.path(), &url)
            .args(["create", hostile])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid tenant name"));
    }
    tenantry(dir.path(), &url)
        .args(["create", "acme"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    tenantry(dir.path(), &url).args(["drop", "acme"]).assert().code(2).stderr(predicate::str::contains("--force"));
    tenantry(dir.path(), &url)
        .args(["drop", "ghost", "--force"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
    tenantry(dir.path(), &url).args(["drop", "acme", "--force"]).assert().success();
    tenantry(dir.path(), &url).arg("list").assert().success().stdout("initech\n");
}

#[tokio::test]
async fn create_reports_each_tenant_as_it_is_made_and_why_not_cloned_once() {
    let db = db("cli_create_many").await;
    let dir = project(10);
    let url = db.url();
    tenantry(dir.path(), &url).arg("migrate").assert().success();
    tenantry(dir.path(), &url)
        .args(["create", "a", "b", "--jobs", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created a (schema a) at version 10, cloned from the template ("))
        .stdout(predicate::str::contains("created 2 of 2 tenants: 2 cloned from the template, 0 by migrations"));

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    client.batch_execute("CREATE DOMAIN tenantry_template.positive AS integer").await.expect("an unusable template");
    let output = tenantry(dir.path(), &url).args(["create", "c", "d", "e", "taken", "taken"]).output().expect("runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(2), "the second `taken` exists: {stderr}");
    assert_eq!(stderr.matches("not cloning the template: ").count(), 1, "said once: {stderr}");
    assert!(stderr.contains("domain `tenantry_template.positive`"), "{stderr}");
    assert_eq!(stdout.matches(", by migrations (").count(), 4, "one line per tenant, without the reason: {stdout}");
    assert!(!stdout.contains("domain"), "{stdout}");
    assert!(
        stdout.contains("created 4 of 5 tenants: 0 cloned from the template, 4 by migrations; 1 failed"),
        "{stdout}"
    );
    assert!(stderr.contains("taken: tenant `taken` already exists"), "{stderr}");

    let listed = tenantry(dir.path(), &url).args(["create", "f", "--json"]).output().expect("runs");
    let created = &json(&listed.stdout)["created"][0];
    assert_eq!(created["method"], "migrations");
    assert!(created["why_not_cloned"].as_str().is_some_and(|why| why.contains("domain")), "{created}");
}

#[tokio::test]
async fn migrate_reports_for_people_and_programs() {
    let db = db("cli_migrate").await;
    let dir = project(10);
    let url = db.url();
    tenantry(dir.path(), &url).args(["create", "a", "b", "c", "--no-clone"]).assert().success();
    tenantry(dir.path(), &url).args(["rollback", "--steps", "2"]).assert().success();
    tenantry(dir.path(), &url)
        .arg("migrate")
        .assert()
        .success()
        .stdout(predicate::str::contains("a: succeeded, applied 9, 10"))
        .stdout(predicate::str::contains("Succeeded: 3/3"));

    let again = tenantry(dir.path(), &url).args(["migrate", "--json"]).output().expect("runs");
    assert!(again.status.success());
    let document = json(&again.stdout);
    assert_eq!(document["status"], "succeeded");
    assert_eq!(document["summary"]["skipped"], 3);
    assert_eq!(document["tenants"][0]["status"], "skipped");
    assert_eq!(document["tenants"][0]["skip_reason"], "up to date");

    // One tenant fails: exit 1, and the JSON names version and SQLSTATE.
    tenantry(dir.path(), &url).args(["rollback", "--steps", "2", "--json"]).assert().success();
    let conflict = "ALTER TABLE customer ADD COLUMN loyalty_points text";
    tenantry(dir.path(), &url).args(["exec", conflict, "--tenant", "b"]).assert().success();
    let failed = tenantry(dir.path(), &url).args(["migrate", "--json"]).output().expect("runs");
    assert_eq!(failed.status.code(), Some(1));
    let document = json(&failed.stdout);
    assert_eq!(document["status"], "failed");
    assert_eq!(document["summary"]["failed"], 1);
    let b = &document["tenants"][1];
    assert_eq!((b["tenant"].as_str(), b["status"].as_str()), (Some("b"), Some("failed")));
    assert_eq!(b["error"]["version"], 9);
    assert_eq!(b["error"]["sqlstate"], "42701");
    tenantry(dir.path(), &url)
        .arg("migrate")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Failed: 1/3"))
        .stdout(predicate::str::contains("b: version 9: [42701]"));
}

#[tokio::test]
async fn migrate_verify_reads_the_rows_a_summary_hides() {
    let db = db("cli_migrate_verify").await;
    let dir = project(10);
    let url = db.url();
    tenantry(dir.path(), &url).args(["create", "a", "b", "--no-clone"]).assert().success();
    // By hand: migration 10 undone in b and its bookkeeping row deleted; the summary still says 10.
    let down = std::fs::read_to_string(dir.path().join("migrations/tenant/0010_order_columns_and_index.down.sql"))
        .expect("reads");
    let undo = dir.path().join("undo.sql");
    std::fs::write(&undo, format!("{down}\n;\nDELETE FROM tenantry_migrations WHERE version = 10")).expect("writes");
    tenantry(dir.path(), &url).args(["exec", "--tenant", "b", "--file"]).arg(&undo).assert().success();
    // A plain run compares each summary with PostgreSQL's statistics of its table, which would
    // show the deleted row: take them away (as a crash does) once they have counted it, so that
    // only `--verify` can tell.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    let started = std::time::Instant::now();
    while client
        .query_one("SELECT pg_stat_get_live_tuples('b.tenantry_migrations'::regclass)", &[])
        .await
        .expect("reads statistics")
        .get::<_, i64>(0)
        != 9
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the deletion was never counted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    client.batch_execute("SELECT pg_stat_reset()").await.expect("resets the statistics");

    let plain = tenantry(dir.path(), &url).args(["migrate", "--json"]).output().expect("runs");
    assert!(plain.status.success());
    let b = &json(&plain.stdout)["tenants"][1];
    assert_eq!((b["tenant"].as_str(), b["skip_reason"].as_str()), (Some("b"), Some("up to date")));

    let verified = tenantry(dir.path(), &url).args(["migrate", "--verify", "--json"]).output().expect("runs");
    assert!(verified.status.success());
    let document = json(&verified.stdout);
    let (a, b) = (&document["tenants"][0], &document["tenants"][1]);
    assert_eq!((b["tenant"].as_str(), b["status"].as_str()), (Some("b"), Some("succeeded")));
    assert_eq!(b["applied"], serde_json::json!([10]));
    assert_eq!((a["tenant"].as_str(), a["skip_reason"].as_str()), (Some("a"), Some("up to date")));
}

#[tokio::test]
async fn status_rollback_redo_up_down_exec_seed_and_dump() {
    let db = db("cli_operations").await;
    let dir = project(10);
    let url = db.url();
    std::fs::write(dir.path().join("seed.sql"), "CREATE TABLE seeded (id int)").expect("seed");
    std::fs::write(dir.path().join("tenantry.toml"), "[migrations]\ndump = false\nseed_file = \"seed.sql\"\n")
        .expect("config");
    tenantry(dir.path(), &url).args(["create", "a", "b", "--no-seed"]).assert().success();

    let status = tenantry(dir.path(), &url).args(["status", "--json"]).output().expect("runs");
    let document = json(&status.stdout);
    assert_eq!(document["summary"]["current"], 2);
    assert_eq!(document["tenants"][0]["applied"].as_array().map(Vec::len), Some(10));

    tenantry(dir.path(), &url).args(["rollback", "--steps", "2", "--tenant", "a"]).assert().success();
    tenantry(dir.path(), &url)
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("a: at 8; pending: 9 customer product columns, 10 order columns and index"))
        .stdout(predicate::str::contains("1/2 tenants current, 2 migrations pending"));
    let pending = tenantry(dir.path(), &url).args(["status", "--pending-only", "--json"]).output().expect("runs");
    assert_eq!(json(&pending.stdout)["tenants"].as_array().map(Vec::len), Some(1));
    tenantry(dir.path(), &url)
        .args(["up", "9", "--tenant", "a"])
        .assert()
        .success()
        .stdout(predicate::str::contains("applied 9"));
    tenantry(dir.path(), &url)
        .args(["down", "9", "--tenant", "a"])
        .assert()
        .success()
        .stdout(predicate::str::contains("reverted 9"));
    tenantry(dir.path(), &url).args(["migrate", "--target", "10"]).assert().success();
    tenantry(dir.path(), &url)
        .args(["redo", "--tenant", "b"])
        .assert()
        .success()
        .stdout(predicate::str::contains("reverted 10, applied 10"));

    tenantry(dir.path(), &url).arg("seed").assert().success();
    let sql = dir.path().join("count.sql");
    std::fs::write(&sql, "INSERT INTO seeded VALUES (1)").expect("sql");
    tenantry(dir.path(), &url)
        .args(["exec", "--file"])
        .arg(&sql)
        .assert()
        .success()
        .stdout(predicate::str::contains("Succeeded: 2/2"));

    let dump = dir.path().join("structure.sql");
    tenantry(dir.path(), &url).args(["dump", "--output"]).arg(&dump).assert().success();
    assert!(std::fs::read_to_string(&dump).expect("dump").contains("tenantry_template"));
}

#[tokio::test]
async fn exit_codes_for_unreachable_locked_and_misconfigured() {
    let db = db("cli_exit_codes").await;
    let dir = project(2);
    tenantry(dir.path(), "postgresql://postgres@127.0.0.1:1/nowhere")
        .arg("migrate")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/nowhere"));
    tenantry(dir.path(), "postgresql://app:s3cret@127.0.0.1:1/nowhere")
        .arg("list")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("********").and(predicate::str::contains("s3cret").not()));

    let (holder, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    holder.batch_execute(tenantry::migrate::lock::RUN_LOCK_SQL).await.expect("holds the run lock");
    tenantry(dir.path(), &db.url())
        .args(["migrate", "--no-wait"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("another migration run"));
    drop(holder);

    std::fs::write(dir.path().join("migrations/tenant/oops.sql"), "SELECT 1").expect("write");
    tenantry(dir.path(), &db.url()).arg("migrate").assert().code(2).stderr(predicate::str::contains("oops.sql"));
    tenantry(dir.path(), &db.url())
        .args(["--config", "missing.toml", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.toml"));
    std::fs::write(dir.path().join("tenantry.toml"), "jobz = 3\n").expect("write");
    tenantry(dir.path(), &db.url()).arg("list").assert().code(2).stderr(predicate::str::contains("jobz"));
    tenantry(dir.path(), &db.url()).args(["migrate", "--frobnicate"]).assert().code(2);
    tenantry(dir.path(), "")
        .env_remove("DATABASE_URL")
        .current_dir(tempfile::tempdir().expect("tempdir").path())
        .arg("list")
        .assert()
        .code(2);
}

#[tokio::test]
async fn demo_is_idempotent_and_embedded_status_reports() {
    let db = db("cli_demo").await;
    let dir = tempfile::tempdir().expect("tempdir");
    tenantry(dir.path(), &db.url())
        .args(["demo", "--tenants", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created 3 by cloning the template"))
        .stdout(predicate::str::contains("3/3 tenants current"));
    tenantry(dir.path(), &db.url())
        .args(["demo", "--tenants", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("creating 0 of 3 demo tenants (3 exist already)"));
    let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    let name: String = client.query_one("SELECT name FROM globex.tenant_info", &[]).await.expect("seeded").get(0);
    assert_eq!(name, "globex", "each tenant's own row says which schema it is");

    let empty = tempfile::tempdir().expect("tempdir");
    tenantry(empty.path(), "embedded")
        .args(["embedded", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not initialised"));
}

#[tokio::test]
async fn demo_serve_routes_each_subdomain_to_its_own_schema() {
    use std::io::{Read, Write};

    let db = db("cli_demo_serve").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let mut server = std::process::Command::new(assert_cmd::cargo::cargo_bin("tenantry"))
        .current_dir(dir.path())
        .env("DATABASE_URL", db.url())
        .args(["demo", "--tenants", "3", "--serve", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let get = |host: &str| -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(stream, "GET /whoami HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let acme = loop {
        if let Some(response) = get("acme.localhost") {
            break response;
        }
        assert!(std::time::Instant::now() < deadline, "the demo never served");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let globex = get("globex.localhost").unwrap_or_default();
    let unknown = get("nobody.localhost").unwrap_or_default();
    let _ = server.kill();
    let _ = server.wait();
    assert!(acme.starts_with("HTTP/1.1 200") && acme.contains(r#"{"tenant":"acme"}"#), "{acme}");
    assert!(globex.contains(r#"{"tenant":"globex"}"#), "{globex}");
    assert!(unknown.starts_with("HTTP/1.1 404") && unknown.contains("tenant_not_found"), "{unknown}");
}

#[tokio::test]
async fn foreign_schemas_are_left_alone_and_refused_by_name() {
    let db = db("cli_foreign").await;
    tenantry_test_support::create_supabase_like(&db).await;
    let dir = project(2);
    std::fs::write(dir.path().join("seed.sql"), "CREATE TABLE seeded ()").expect("seed");
    std::fs::write(dir.path().join("tenantry.toml"), "[migrations]\ndump = false\nseed_file = \"seed.sql\"\n")
        .expect("config");
    let url = db.url();
    tenantry(dir.path(), &url).arg("migrate").assert().success();
    let names: Vec<String> = (0..50).map(|i| format!("shop-{i:02}")).collect();
    tenantry(dir.path(), &url).arg("create").args(&names).assert().success();
    let foreign: Vec<&str> = tenantry_test_support::SUPABASE_SCHEMAS.iter().copied().chain(["public"]).collect();
    let before = tenantry_test_support::snapshot_schemas(&db, &foreign).await;
    let listed = tenantry(dir.path(), &url).arg("list").output().expect("runs");
    assert_eq!(String::from_utf8_lossy(&listed.stdout), names.iter().map(|n| format!("{n}\n")).collect::<String>());

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenantry/tests/fixtures/workload");
    for file in ["0003_orders.up.sql", "0003_orders.down.sql"] {
        std::fs::copy(fixtures.join(file), dir.path().join("migrations/tenant").join(file)).expect("copies");
    }
    let migrated = tenantry(dir.path(), &url).args(["migrate", "--json"]).output().expect("runs");
    assert_eq!(migrated.status.code(), Some(0), "{}", String::from_utf8_lossy(&migrated.stderr));
    let status = tenantry(dir.path(), &url).args(["status", "--json"]).output().expect("runs");
    assert_eq!(json(&status.stdout)["tenants"].as_array().map(Vec::len), Some(50));
    tenantry(dir.path(), &url).args(["exec", "CREATE TABLE IF NOT EXISTS exec_marker ()"]).assert().success();
    assert_eq!(tenantry_test_support::snapshot_schemas(&db, &foreign).await, before, "migrate, status or exec");

    for args in [
        &["drop", "auth", "--force"][..],
        &["drop", "shop-00", "storage", "--force"],
        &["rename", "realtime", "elsewhere"],
        &["migrate", "--tenant", "auth"],
        &["exec", "--tenant", "graphql_public", "DROP FUNCTION graphql(text, jsonb)"],
        &["seed", "--tenant", "storage"],
        &["status", "--tenant", "realtime"],
    ] {
        tenantry(dir.path(), &url)
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not a tenant, so tenantry did nothing to it"))
            .stderr(predicate::str::contains("without tenantry's bookkeeping table"));
    }
    tenantry(dir.path(), &url)
        .args(["drop", "extensions", "--force"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("extension's schema (it holds pgcrypto, uuid-ossp)"));
    tenantry(dir.path(), &url)
        .args(["drop", "public", "--force"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the default schema"));
    assert_eq!(tenantry_test_support::snapshot_schemas(&db, &foreign).await, before, "a refused command");
    tenantry(dir.path(), &url).args(["list", "--json"]).assert().success().stdout(predicate::str::contains("shop-00"));
}

#[tokio::test]
async fn the_migrator_takes_the_direct_url_and_refuses_a_transaction_pooler() {
    let db = db("cli_pooler").await;
    let dir = project(3);
    let bouncer = db.pgbouncer_url();
    tenantry(dir.path(), &bouncer).args(["create", "acme", "--no-clone"]).assert().success();
    tenantry(dir.path(), &bouncer)
        .arg("migrate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("transaction pooler"))
        .stderr(predicate::str::contains("migrations.database_url"));
    tenantry(dir.path(), &bouncer)
        .env("TENANTRY_MIGRATIONS_DATABASE_URL", db.url())
        .arg("migrate")
        .assert()
        .success()
        .stdout(predicate::str::contains("tenantry_template): succeeded, applied 1, 2, 3"));
    std::fs::write(
        dir.path().join("tenantry.toml"),
        format!("[pool]\nbehind_pgbouncer = true\n[migrations]\ndump = false\ndatabase_url = \"{}\"\n", db.url()),
    )
    .expect("config");
    tenantry(dir.path(), &bouncer).args(["create", "globex"]).assert().success();
    tenantry(dir.path(), &bouncer).arg("list").assert().success().stdout("acme\nglobex\n");
    tenantry(dir.path(), &bouncer)
        .args(["status", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"current\": 2"));
    tenantry(dir.path(), &bouncer).args(["exec", "SELECT 1"]).assert().success();
}

/// Spawns `tenantry args…` in `dir` against `url` with stdout a pipe.
fn spawn_piped(dir: &Path, url: &str, args: &[&str]) -> std::process::Child {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("tenantry"));
    command.current_dir(dir).env("DATABASE_URL", url).env("NO_COLOR", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("TENANTRY_") && key != "TENANTRY_PG_BIN" && key != "TENANTRY_PGBOUNCER" {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts")
}

/// Waits for `child` and checks that it ended as ripgrep does on a closed pipe: status 0 and
/// nothing on stderr about it.
fn assert_quiet_success(child: std::process::Child, what: &str) {
    let output = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{what}: {}; stderr: {stderr}", output.status);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{what}: {stderr}");
}

#[tokio::test]
async fn closed_pipes_end_quietly_with_status_zero() {
    use std::io::BufRead;

    let db = db("cli_closed_pipe").await;
    let dir = project(1);
    std::fs::write(dir.path().join("tenantry.toml"), "schema_prefix = \"tenant_\"\n[migrations]\ndump = false\n")
        .expect("config");
    let url = db.url();
    // More names than a pipe holds (64 KiB), so `list` is still writing when the reader goes.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    for batch in 0..6 {
        client
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {} .. {} LOOP \
                 EXECUTE format('CREATE SCHEMA %I', 'tenant_a_customer_with_a_rather_long_name_' || lpad(i::text, 5, '0')); \
                 END LOOP; END $$",
                batch * 500,
                batch * 500 + 499
            ))
            .await
            .expect("creates schemas");
    }

    for args in [&["list"][..], &["list", "--json"][..]] {
        let mut child = spawn_piped(dir.path(), &url, args);
        let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        reader.read_line(&mut first).expect("reads a line");
        assert!(!first.is_empty(), "{args:?} printed nothing");
        drop(reader); // `| head -1`
        assert_quiet_success(child, &format!("{args:?} after one line"));
    }

    // The reader gone before the first write: every command that prints.
    for args in [&["list"][..], &["status"][..], &["status", "--json"][..], &["migrate"][..], &["--help"][..]] {
        let mut child = spawn_piped(dir.path(), &url, args);
        drop(child.stdout.take());
        assert_quiet_success(child, &format!("{args:?} with stdout closed"));
    }
}

#[tokio::test]
async fn status_check_gates_a_deploy_on_behind_drifted_and_missing_tenants() {
    let db = db("cli_status_check").await;
    let dir = project(3);
    std::fs::write(dir.path().join("tenantry.toml"), "[tenants]\nsource = \"registry\"\n[migrations]\ndump = false\n")
        .expect("config");
    let url = db.url();
    tenantry(dir.path(), &url).args(["create", "a", "b"]).assert().success();
    tenantry(dir.path(), &url).args(["status", "--check"]).assert().success();

    tenantry(dir.path(), &url).args(["rollback", "--steps", "1", "--tenant", "a"]).assert().success();
    tenantry(dir.path(), &url)
        .args(["status", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("a: at 2; pending: 3"))
        .stderr(predicate::str::contains("1 behind, 0 drifted, 0 missing"));
    tenantry(dir.path(), &url).arg("status").assert().success();
    tenantry(dir.path(), &url).args(["status", "--check", "--tenant", "b"]).assert().success();
    tenantry(dir.path(), &url).args(["status", "--check", "--json"]).assert().code(1);
    tenantry(dir.path(), &url).arg("migrate").assert().success();
    tenantry(dir.path(), &url).args(["status", "--check"]).assert().success();

    let file = std::fs::read_dir(dir.path().join("migrations/tenant"))
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy().ends_with(".up.sql")
                && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("0003"))
        })
        .expect("migration 3");
    let original = std::fs::read_to_string(&file).expect("reads");
    std::fs::write(&file, format!("{original}\n-- edited after it was applied\n")).expect("edits");
    tenantry(dir.path(), &url)
        .args(["status", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("0 behind, 2 drifted, 0 missing"));
    std::fs::write(&file, original).expect("restores");
    tenantry(dir.path(), &url).args(["status", "--check"]).assert().success();

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connects");
    tokio::spawn(connection);
    client.batch_execute("INSERT INTO public.tenantry_tenants (name) VALUES ('ghost')").await.expect("registers");
    tenantry(dir.path(), &url)
        .args(["status", "--check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ghost"))
        .stderr(predicate::str::contains("0 behind, 0 drifted, 1 missing"));
}

/// Stops the embedded cluster of a test project, also when the test fails.
struct StopEmbedded<'a>(&'a Path);

impl Drop for StopEmbedded<'_> {
    fn drop(&mut self) {
        let _ = tenantry(self.0, "embedded").args(["embedded", "stop"]).output();
    }
}

#[tokio::test]
async fn the_embedded_cluster_works_end_to_end_and_lets_no_one_in_without_its_password() {
    use std::os::unix::fs::PermissionsExt;

    let dir = project(3);
    // As root the cluster runs as `postgres`, who must enter the project (tempdirs are 0700).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("open the project");
    std::fs::write(dir.path().join("tenantry.toml"), "database_url = \"embedded\"\n[migrations]\ndump = false\n")
        .expect("config");
    let _stop = StopEmbedded(dir.path());
    let run = |args: &[&str]| {
        let output = tenantry(dir.path(), "embedded").env_remove("DATABASE_URL").args(args).output().expect("runs");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    };
    let mut printed = run(&["create", "acme", "globex"]);
    for args in [
        &["migrate"][..],
        &["status", "--check"][..],
        &["exec", "SELECT 1"][..],
        &["dump", "--output", "structure.sql"][..],
        &["embedded", "start"][..],
        &["embedded", "status"][..],
        &["-vv", "list"][..],
    ] {
        printed.push_str(&run(args));
    }
    assert!(printed.contains("acme\nglobex\n"), "{printed}");
    assert!(std::fs::read_to_string(dir.path().join("structure.sql")).expect("dump").contains("tenantry_template"));

    let root = dir.path().join(".tenantry");
    let port: u16 = std::fs::read_to_string(root.join("port")).expect("port file").trim().parse().expect("a port");
    let without = format!("host=127.0.0.1 port={port} user=postgres dbname=tenantry connect_timeout=5");
    let refused = tokio_postgres::connect(&without, tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "a TCP connection without a password was accepted");
    let password = std::fs::read_to_string(root.join("password")).expect("the password file");
    let password = password.trim();
    assert!(password.len() >= 32, "a generated password");
    assert!(!printed.contains(password), "the password was printed:\n{printed}");
    assert!(printed.contains("postgres:********@127.0.0.1"), "{printed}");
    let with = format!("{without} password={password}");
    let (client, connection) = tokio_postgres::connect(&with, tokio_postgres::NoTls).await.expect("the password works");
    tokio::spawn(connection);
    let tenants: i64 = client
        .query_one("SELECT count(*) FROM pg_namespace WHERE nspname IN ('acme', 'globex')", &[])
        .await
        .expect("reads")
        .get(0);
    assert_eq!(tenants, 2);
    let mode = |path: &Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("password")), 0o600);
}
