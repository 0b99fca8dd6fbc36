//! The CLI over TLS: create, migrate, status and dump (pg_dump) against the harness's TLS
//! cluster with sslmode=verify-full, the TLS settings given as libpq's environment variables.

use tenantry_test_support::Cluster;

#[tokio::test]
async fn create_migrate_status_and_dump_over_verify_full_from_pg_variables() {
    let cluster = Cluster::tls();
    let pki = cluster.client_pki().expect("the TLS cluster has a PKI");
    let db = cluster.database("cli_tls").await;
    let dir = tempfile::tempdir().expect("a project directory");
    std::fs::create_dir_all(dir.path().join("migrations/shared")).expect("shared/");
    std::fs::create_dir_all(dir.path().join("migrations/tenant")).expect("tenant/");
    std::fs::write(dir.path().join("migrations/tenant/1_orders.sql"), "CREATE TABLE orders (id bigint PRIMARY KEY);")
        .expect("a migration");
    std::fs::write(dir.path().join("tenantry.toml"), "[migrations]\ndump = false\n").expect("config");
    // The host name the certificate holds; everything TLS from the environment.
    let url = format!("postgresql://postgres@localhost:{}/{}", cluster.port(), db.name());
    let command = |rootcert: &std::path::Path, args: &[&str]| {
        let mut command = assert_cmd::Command::cargo_bin("tenantry").expect("the binary is built");
        command
            .current_dir(dir.path())
            .env("DATABASE_URL", &url)
            .env("PGSSLMODE", "verify-full")
            .env("PGSSLROOTCERT", rootcert)
            .env("NO_COLOR", "1")
            .args(args);
        command.assert()
    };
    let run = |args: &[&str]| command(&pki.ca, args);
    run(&["create", "acme"]).success();
    run(&["migrate"]).success();
    run(&["status"]).success().stdout(predicates::str::contains("1/1 tenants current"));
    let dump = dir.path().join("structure.sql");
    run(&["dump", "--output", dump.to_str().expect("a UTF-8 path")]).success();
    assert!(std::fs::read_to_string(&dump).expect("reads the dump").contains("PostgreSQL database dump"));

    // The same settings with the wrong CA: refused, saying why.
    command(&pki.other_ca, &["status"])
        .failure()
        .stderr(predicates::str::contains("not signed by the CA in sslrootcert="));
}
