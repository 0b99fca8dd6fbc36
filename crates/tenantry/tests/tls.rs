//! TLS and libpq's sslmode against real servers: a cluster with `ssl = on` and a certificate
//! chain made here with rcgen (a CA, a server certificate for `localhost`, a client certificate),
//! a second one with a self-signed certificate, and the plain test cluster.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tenantry::{Config, Tenantry};
use tenantry_test_support::{Cluster, ServerTls, TestDatabase};

/// The certificates of this test binary, made once, in memory.
struct Pki {
    server_cert_pem: String,
    server_key_pem: String,
    ca_pem: String,
    other_ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

/// The PEM files the client reads, in the TLS cluster's directory (removed with it).
struct Files {
    /// The CA that signed the server's and the client's certificates.
    ca: PathBuf,
    /// A CA that signed nothing.
    other_ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (ca, ca_key) = make_ca("tenantry test CA");
        let (other_ca, _) = make_ca("some other CA");
        let server_key = KeyPair::generate().expect("a key");
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &ca, &ca_key)
            .expect("signs the server's certificate");
        let client_key = KeyPair::generate().expect("a key");
        let mut client_params = CertificateParams::new(Vec::new()).expect("client params");
        // `cert` authentication maps the certificate's CN to the user.
        client_params.distinguished_name.push(DnType::CommonName, "cert_user");
        let client = client_params.signed_by(&client_key, &ca, &ca_key).expect("signs the client's certificate");
        Pki {
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
            ca_pem: ca.pem(),
            other_ca_pem: other_ca.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    })
}

fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let cluster_dir = tls_cluster().data_dir().parent().expect("the cluster's directory");
        let dir = cluster_dir.join("client-pki");
        std::fs::create_dir_all(&dir).expect("creates the client's PKI directory");
        let pki = pki();
        Files {
            ca: write(&dir, "ca.crt", &pki.ca_pem),
            other_ca: write(&dir, "other-ca.crt", &pki.other_ca_pem),
            client_cert: write(&dir, "client.crt", &pki.client_cert_pem),
            client_key: write(&dir, "client.key", &pki.client_key_pem),
        }
    })
}

fn make_ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(Vec::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).expect("self-signs the CA"), key)
}

/// Writes a PEM file readable by its owner only (libpq and tenantry refuse a key others can read).
fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, pem).expect("writes a PEM file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    path
}

/// The cluster with `ssl = on`, its certificate for `localhost` signed by the test CA; the user
/// `cert_user` must present a client certificate, `tls_only` must use TLS.
fn tls_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<&'static Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let pki = pki();
        let cluster = Cluster::start_tls(&ServerTls {
            cert_pem: pki.server_cert_pem.clone(),
            key_pem: pki.server_key_pem.clone(),
            client_ca_pem: Some(pki.ca_pem.clone()),
            hba_lines: vec![
                "hostssl all cert_user 127.0.0.1/32 cert".to_owned(),
                "hostnossl all tls_only 127.0.0.1/32 reject".to_owned(),
            ],
        });
        create_roles(cluster);
        cluster
    })
}

/// A cluster whose certificate signs itself.
fn self_signed_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<&'static Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let key = KeyPair::generate().expect("a key");
        let cert = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("self-signs");
        Cluster::start_tls(&ServerTls { cert_pem: cert.pem(), key_pem: key.serialize_pem(), ..ServerTls::default() })
    })
}

fn create_roles(cluster: &'static Cluster) {
    let conninfo = cluster.socket_conninfo("postgres");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let client = common::raw_client(&conninfo).await;
            client
                .batch_execute("CREATE ROLE cert_user LOGIN SUPERUSER; CREATE ROLE tls_only LOGIN SUPERUSER;")
                .await
                .expect("creates the roles");
        });
    })
    .join()
    .expect("the role-creating thread");
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
    let db = tls_cluster().database("verify_full").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().ca));
    let tenantry = connect(url(&db, "postgres", "localhost", &params)).await.expect("connects over verify-full");
    assert_eq!(session(&tenantry).await, (true, "postgres".to_owned(), "tenantry".to_owned()));
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let db = tls_cluster().database("verify_ca").await;
    let params = format!("sslmode=verify-ca&{}", ca_param(&files().ca));
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", &params)).await.expect("connects over verify-ca");
    assert!(session(&tenantry).await.0);
}

#[tokio::test]
async fn a_wrong_ca_is_named_with_the_setting_to_change() {
    let db = tls_cluster().database("wrong_ca").await;
    let params = format!("sslmode=verify-full&{}", ca_param(&files().other_ca));
    let err = connect(url(&db, "postgres", "localhost", &params)).await.expect_err("the CA signed nothing");
    let message = err.to_string();
    let expected = format!("not signed by the CA in sslrootcert={}", files().other_ca.display());
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains("set sslrootcert to the CA that signed it"), "{message}");
}

#[tokio::test]
async fn a_wrong_host_name_names_both_names() {
    let db = tls_cluster().database("wrong_host").await;
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
    let db = self_signed_cluster().database("require").await;
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
    let db = tls_cluster().database("client_cert").await;
    let params = format!(
        "sslmode=verify-full&{}&sslcert={}&sslkey={}",
        ca_param(&files.ca),
        files.client_cert.display(),
        files.client_key.display()
    );
    let tenantry = connect(url(&db, "cert_user", "localhost", &params)).await.expect("the certificate is accepted");
    assert_eq!(session(&tenantry).await.1, "cert_user");
    // Without the certificate the server refuses.
    let params = format!("sslmode=verify-full&{}", ca_param(&files.ca));
    let err = connect(url(&db, "cert_user", "localhost", &params)).await.expect_err("no certificate");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn prefer_connects_plain_to_a_server_without_tls() {
    let db = Cluster::shared().database("prefer_plain").await;
    // No sslmode: prefer, libpq's default.
    let tenantry = connect(db.url()).await.expect("connects plain");
    assert!(!session(&tenantry).await.0);
    let db = tls_cluster().database("prefer_tls").await;
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", "")).await.expect("connects");
    assert!(session(&tenantry).await.0, "prefer uses TLS when the server offers it");
}

#[tokio::test]
async fn allow_falls_back_to_tls_where_the_server_demands_it() {
    let db = tls_cluster().database("allow").await;
    let tenantry = connect(url(&db, "tls_only", "127.0.0.1", "sslmode=allow")).await.expect("allow connects");
    assert_eq!(&session(&tenantry).await.0, &true);
    let tenantry = connect(url(&db, "postgres", "127.0.0.1", "sslmode=allow")).await.expect("allow connects");
    assert!(!session(&tenantry).await.0, "allow tries plain first");
    assert!(connect(url(&db, "tls_only", "127.0.0.1", "sslmode=disable")).await.is_err());
}

#[cfg(feature = "sqlx")]
#[tokio::test]
async fn the_sqlx_adapter_connects_with_the_same_tls_settings() {
    let db = tls_cluster().database("sqlx_verify_full").await;
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
