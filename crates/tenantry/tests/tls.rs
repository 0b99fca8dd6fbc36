//! TLS and libpq's sslmode against real servers: the harness's cluster with `ssl = on` and a
//! certificate chain made with rcgen (a CA, a server certificate for `localhost`, a client
//! certificate), one with a self-signed certificate, and the plain test cluster.

mod common;

use std::path::Path;

use tenantry::{Config, Tenantry};
use tenantry_test_support::{ClientPki, Cluster, TestDatabase, CERT_USER, TLS_ONLY_USER};

/// The client's files of the TLS cluster.
fn files() -> &'static ClientPki {
    Cluster::tls().client_pki().expect("the TLS cluster has a PKI")
}

/// `postgresql://{user}@{host}:{port}/{db}?{params}`.
fn url(db: &TestDatabase, user: &str, host: &str, params: &str) -> String {
    format!("postgresql://{user}@{host}:{}/{}?{params}", db.cluster().port(), db.name())
}

async fn connect(url: String) -> Result<Tenantry, tenantry::Error> {
    let mut config = Config::default();
    config.database_url = Some(url);
    Tenantry::connect(config).await
}

/// Whether the session is encrypted, and as whom, with which application_name.
async fn session(tenantry: &Tenantry) -> (bool, String, String) {
    let mut tx = tenantry.transaction().await.expect("begins");
    let row = tx
        .query_one(
            "SELECT ssl, current_user::text, current_setting('application_name') \
             FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("reads pg_stat_ssl");
    tx.commit().await.expect("commits");
    (row.get(0), row.get(1), row.get(2))
}

fn ca_param(path: &Path) -> String {
    format!("sslrootcert={}", path.display())
}

#[tokio::test]
async fn verify_full_connects_with_the_right_ca_and_host_name() {
    let db = Cluster::tls().database("verify_full").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().ca));
    let tenantry = connect(url(&db, "postgres", "localhost", &params)).await.expect("connects over verify-full");
    assert_eq!(session(&tenantry).await, (true, "postgres".to_owned(), "tenantry".to_owned()));
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let db = Cluster::tls().database("verify_ca").await;
    let params = format!("sslmode=verify-ca&{}", ca_param(&files().ca));
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", &params)).await.expect("connects over verify-ca");
    assert!(session(&tenantry).await.0);
}

#[tokio::test]
async fn a_wrong_ca_is_named_with_the_setting_to_change() {
    let db = Cluster::tls().database("wrong_ca").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().other_ca));
    let err = connect(url(&db, "postgres", "localhost", &params)).await.expect_err("the CA signed nothing");
    let message = err.to_string();
    let expected = format!("not signed by the CA in sslrootcert={}", files().other_ca.display());
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains("set sslrootcert to the CA that signed it"), "{message}");
}

#[tokio::test]
async fn a_wrong_host_name_names_both_names() {
    let db = Cluster::tls().database("wrong_host").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().ca));
    let err = connect(url(&db, "postgres", "127.0.0.1", &params)).await.expect_err("the certificate is for localhost");
    let message = err.to_string();
    assert!(message.contains("certificate is for localhost"), "{message}");
    assert!(message.contains("connected to \"127.0.0.1\""), "{message}");
    assert!(message.contains("sslmode=verify-ca"), "{message}");
}

#[tokio::test]
async fn verify_full_against_a_server_without_tls_says_so() {
    let db = Cluster::shared().database("no_tls_server").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().ca));
    let err = connect(url(&db, "postgres", "localhost", &params)).await.expect_err("the server has no TLS");
    let message = err.to_string();
    assert!(message.contains("the server does not offer TLS"), "{message}");
    assert!(message.contains("set sslmode=prefer") && message.contains("ssl = on"), "{message}");
}

#[tokio::test]
async fn require_encrypts_against_a_self_signed_server() {
    let db = Cluster::tls_self_signed().database("require").await;
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", "sslmode=require")).await.expect("require connects");
    assert!(session(&tenantry).await.0);
    // The same certificate is no CA of its own for verify-full's purposes: it is not the
    // test CA, so a check against that CA fails.
    let params = format!("sslmode=verify-full&{}", ca_param(&files().ca));
    assert!(connect(url(&db, "postgres", "localhost", &params)).await.is_err());
}

#[tokio::test]
async fn a_client_certificate_is_accepted_where_pg_hba_demands_cert() {
    let files = files();
    let db = Cluster::tls().database("client_cert").await;
    let params = format!(
        "sslmode=verify-full&{}&sslcert={}&sslkey={}",
        ca_param(&files.ca),
        files.client_cert.display(),
        files.client_key.display()
    );
    let tenantry = connect(url(&db, CERT_USER, "localhost", &params)).await.expect("the certificate is accepted");
    assert_eq!(session(&tenantry).await.1, CERT_USER);
    // Without the certificate the server refuses.
    let params = format!("sslmode=verify-full&{}", ca_param(&files.ca));
    let err = connect(url(&db, CERT_USER, "localhost", &params)).await.expect_err("no certificate");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn prefer_connects_plain_to_a_server_without_tls() {
    let db = Cluster::shared().database("prefer_plain").await;
    // No sslmode: prefer, libpq's default.
    let tenantry = connect(db.url()).await.expect("connects plain");
    assert!(!session(&tenantry).await.0);
    let db = Cluster::tls().database("prefer_tls").await;
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", "")).await.expect("connects");
    assert!(session(&tenantry).await.0, "prefer uses TLS when the server offers it");
}

#[tokio::test]
async fn allow_falls_back_to_tls_where_the_server_demands_it() {
    let db = Cluster::tls().database("allow").await;
    let tenantry = connect(url(&db, TLS_ONLY_USER, "127.0.0.1", "sslmode=allow")).await.expect("allow connects");
    assert_eq!(&session(&tenantry).await.0, &true);
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", "sslmode=allow")).await.expect("allow connects");
    assert!(!session(&tenantry).await.0, "allow tries plain first");
    assert!(connect(url(&db, TLS_ONLY_USER, "127.0.0.1", "sslmode=disable")).await.is_err());
}

#[cfg(feature = "sqlx")]
#[tokio::test]
async fn the_sqlx_adapter_connects_with_the_same_tls_settings() {
    let db = Cluster::tls().database("sqlx_verify_full").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().ca));
    let tenantry = connect(url(&db, "postgres", "localhost", &params)).await.expect("connects");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(tenantry.sqlx_connect_options())
        .await
        .expect("sqlx connects over verify-full");
    let (ssl, name): (bool, String) =
        sqlx::query_as("SELECT ssl, current_setting('application_name') FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("reads pg_stat_ssl");
    assert_eq!((ssl, name.as_str()), (true, "tenantry"));
    // The wrong CA fails in sqlx too: the settings were carried over, not sqlx's defaults.
    let params = format!("sslmode=verify-full&{}", ca_param(&files().other_ca));
    let settings =
        tenantry::connect::ConnectionSettings::from_url(&url(&db, "postgres", "localhost", &params)).expect("resolves");
    let refused = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(tenantry::sqlx::pg_connect_options(&settings))
        .await;
    assert!(refused.is_err(), "sqlx must check the CA");
}

/// A migrations directory whose one tenant migration records the session it ran in.
fn recording_migrations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("shared")).expect("shared/");
    std::fs::create_dir_all(dir.path().join("tenant")).expect("tenant/");
    std::fs::write(
        dir.path().join("tenant/1_seen.sql"),
        "CREATE TABLE seen AS SELECT current_setting('application_name') AS name, ssl \
         FROM pg_stat_ssl WHERE pid = pg_backend_pid();\n",
    )
    .expect("writes the migration");
    dir
}

/// The migrator's coordinator and workers, status and `pg_dump`, over verify-full.
async fn migrate_over_verify_full(label: &str, extra: &str) -> (bool, String) {
    let db = Cluster::tls().database(label).await;
    let migrations = recording_migrations();
    let params = format!("sslmode=verify-full&{}{extra}", ca_param(&files().ca));
    let mut config = Config::default();
    config.database_url = Some(url(&db, "postgres", "localhost", &params));
    config.migrations.directory = migrations.path().to_owned();
    config.migrations.dump = true;
    config.migrations.dump_path = migrations.path().join("schema.sql");
    let tenantry = Tenantry::connect(config).await.expect("connects over verify-full");
    let acme = tenantry.tenant("acme").expect("a valid name");
    tenantry.create(&acme).await.expect("creates a tenant");
    let migrator = tenantry::migrate::Migrator::load(&tenantry).expect("loads the migrations");
    let report = migrator.run(&tenantry::migrate::RunOptions::default()).await.expect("migrates");
    assert!(report.is_success(), "{report:?}");
    assert!(report.warnings.is_empty(), "the dump over TLS failed: {:?}", report.warnings);
    let status = migrator.status(&tenantry::migrate::Selection::All, true).await.expect("status");
    assert!(status.is_current(), "{status:?}");
    let dump = migrator.dump(Some(&migrations.path().join("again.sql"))).await.expect("pg_dump over verify-full");
    assert!(std::fs::read_to_string(dump).expect("reads the dump").contains("PostgreSQL database dump"));
    let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    let row = tx.query_one("SELECT ssl, name FROM seen", &[]).await.expect("reads what the migration saw");
    tx.commit().await.expect("commits");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn the_migrator_status_and_dump_run_over_verify_full_as_tenantry_migrate() {
    let seen = migrate_over_verify_full("migrate_tls", "").await;
    assert_eq!(seen, (true, "tenantry-migrate".to_owned()));
}

#[tokio::test]
async fn an_application_name_the_user_chose_wins() {
    let seen = migrate_over_verify_full("migrate_app_name", "&application_name=billing").await;
    assert_eq!(seen, (true, "billing".to_owned()));
}

#[tokio::test]
async fn a_unix_socket_connects_without_tls_whatever_sslmode_says() {
    // libpq ignores sslmode on Unix-domain sockets; the TLS cluster listens on one too.
    for cluster in [Cluster::shared(), Cluster::tls()] {
        let db = cluster.database("unix_socket").await;
        for sslmode in ["", " sslmode=prefer", " sslmode=require"] {
            let conninfo = format!("{}{sslmode}", db.conninfo());
            let tenantry = connect(conninfo.clone())
                .await
                .unwrap_or_else(|err| panic!("{conninfo}: connects over the socket: {err}"));
            let mut tx = tenantry.transaction().await.expect("begins");
            let ssl: Option<bool> = tx
                .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
                .await
                .expect("reads")
                .get(0);
            tx.commit().await.expect("commits");
            assert_eq!(ssl, Some(false), "{conninfo}");
        }
    }
}
