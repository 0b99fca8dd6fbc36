//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use tenantry::{Config, TenantName, Tenantry};
use tenantry_test_support::TestDatabase;

/// A `Tenantry` on `db`, with `edit` applied to the default configuration.
pub async fn connect(db: &TestDatabase, edit: impl FnOnce(&mut Config)) -> Tenantry {
    let mut config = Config::default();
    config.database_url = Some(db.url());
    edit(&mut config);
    Tenantry::connect(config).await.expect("tenantry connects to the test database")
}

/// A `Tenantry` on `db` with migrations from `dir` (no dump, a 2 s `lock_timeout`, 20 ms retry
/// backoff), `edit` applied last, and its `Migrator`.
pub async fn setup_migrator(
    db: &TestDatabase,
    dir: &std::path::Path,
    edit: impl FnOnce(&mut Config),
) -> (Tenantry, tenantry::migrate::Migrator) {
    let dir = dir.to_owned();
    let tenantry = connect(db, |config| {
        config.migrations.directory = dir;
        config.migrations.dump = false;
        config.migrations.lock_timeout_ms = 2000;
        config.migrations.retry_backoff_ms = 20;
        edit(config);
    })
    .await;
    let migrator = tenantry::migrate::Migrator::load(&tenantry).expect("loads migrations");
    (tenantry, migrator)
}

/// A `Tenantry` migrating from `dir` whose workers retry long enough to outlast a restart of
/// the test cluster (`tests/migrate_restart.rs`, `tests/exec_restart.rs`).
pub async fn connect_through_restarts(db: &TestDatabase, dir: &std::path::Path) -> Tenantry {
    let path = dir.to_owned();
    connect(db, move |config| {
        config.migrations.directory = path;
        config.migrations.dump = false;
        config.migrations.max_retries = 8;
        config.migrations.retry_backoff_ms = 100;
    })
    .await
}

/// A plain tokio-postgres client on `url`, for setting up and inspecting behind tenantry's back.
pub async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("raw connection");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Creates `name` and gives it a `marker` table holding its own name.
pub async fn create_with_marker(tenantry: &Tenantry, name: &str) -> TenantName {
    let tenant = tenantry.tenant(name).expect("valid name");
    tenantry.create(&tenant).await.expect("creates tenant");
    let mut tx = tenantry.transaction_in(Some(&tenant)).await.expect("begins");
    tx.batch_execute("CREATE TABLE marker (tenant text NOT NULL)").await.expect("creates marker table");
    tx.execute("INSERT INTO marker VALUES ($1)", &[&tenant.as_str()]).await.expect("inserts marker");
    tx.commit().await.expect("commits");
    tenant
}

/// The marker the current scope's transaction sees, with the current schema.
pub async fn read_marker(tenantry: &Tenantry) -> Result<(String, String), tenantry::Error> {
    let mut tx = tenantry.transaction().await?;
    let row = tx.query_one("SELECT tenant, current_schema()::text FROM marker", &[]).await?;
    tx.commit().await?;
    Ok((row.get(0), row.get(1)))
}

/// A migrations directory with the first `count` workload migrations in `tenant/` (and an
/// empty `shared/`).
pub fn workload(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = dir.path().join("tenant");
    std::fs::create_dir_all(&tenant).expect("tenant dir");
    std::fs::create_dir_all(dir.path().join("shared")).expect("shared dir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workload");
    let mut names: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    for name in names {
        let version: usize = name[..4].parse().expect("numbered fixture");
        if version <= count {
            std::fs::copy(fixtures.join(&name), tenant.join(&name)).expect("copy fixture");
        }
    }
    dir
}

/// Creates tenants `prefix-000`… (no migrations run: bare schemas).
pub async fn create_tenants(tenantry: &Tenantry, prefix: &str, count: usize) -> Vec<TenantName> {
    let mut tenants = Vec::with_capacity(count);
    for index in 0..count {
        let tenant = tenantry.tenant(&format!("{prefix}-{index:03}")).expect("valid name");
        tenantry.create(&tenant).await.expect("creates tenant");
        tenants.push(tenant);
    }
    tenants
}

/// The versions recorded in `schema`'s bookkeeping table.
pub async fn applied_versions(client: &tokio_postgres::Client, schema: &str) -> Vec<i64> {
    let sql =
        format!("SELECT version FROM {}.tenantry_migrations ORDER BY version", tenantry::sql::quote_ident(schema));
    client.query(&sql, &[]).await.expect("reads bookkeeping").iter().map(|row| row.get(0)).collect()
}

/// The columns of `schema.table`, in order.
pub async fn columns(client: &tokio_postgres::Client, schema: &str, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&schema, &table],
        )
        .await
        .expect("reads columns")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Adds migration `version` to `dir` (a [`workload`] directory): a no-transaction
/// `CREATE INDEX CONCURRENTLY` on `customer (created_at)`, and its no-transaction down.
pub fn concurrent_index_migration(dir: &std::path::Path, version: u32) {
    std::fs::write(
        dir.join(format!("tenant/{version:04}_concurrent_index.up.sql")),
        "-- tenantry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS customer_created_idx ON customer (created_at)",
    )
    .expect("writes");
    std::fs::write(
        dir.join(format!("tenant/{version:04}_concurrent_index.down.sql")),
        "-- tenantry:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS customer_created_idx",
    )
    .expect("writes");
}

/// `pg_dump --schema-only -n <schema>`, with the schema's name replaced by `SCHEMA` where it
/// names the schema, and only there.
pub async fn dump(db: &TestDatabase, schema: &str) -> String {
    let pg_dump = tenantry_test_support::Cluster::shared().bin_dir().join("pg_dump");
    let help = tokio::process::Command::new(&pg_dump).arg("--help").output().await.expect("runs pg_dump --help");
    let restrict_key = String::from_utf8_lossy(&help.stdout).contains("--restrict-key");
    let mut command = tokio::process::Command::new(&pg_dump);
    command.args(["--schema-only", "-n", schema, "-d", &db.url()]);
    if restrict_key {
        // Since 15.14 pg_dump writes a random `\restrict` key unless given one.
        command.arg("--restrict-key=tenantry");
    }
    let output = command.output().await.expect("runs pg_dump");
    assert!(output.status.success(), "pg_dump fails: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("UTF-8 dump");
    text.lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .map(|line| normalise(line, schema))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces `schema` where a dump line uses it as the schema's name: `schema.` at the start of
/// a word (a qualified name), `SCHEMA schema` and the `Name:`/`Schema:` of header comments.
pub fn normalise(line: &str, schema: &str) -> String {
    let mut line = line.to_owned();
    for (from, to) in [
        (format!("SCHEMA {schema};"), "SCHEMA SCHEMA;".to_owned()),
        (format!("SCHEMA {schema} "), "SCHEMA SCHEMA ".to_owned()),
        (format!("Name: {schema};"), "Name: SCHEMA;".to_owned()),
        (format!("Schema: {schema};"), "Schema: SCHEMA;".to_owned()),
    ] {
        line = line.replace(&from, &to);
    }
    let qualified = format!("{schema}.");
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(at) = rest.find(&qualified) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&rest[..at]);
        out.push_str(if word_start { "SCHEMA." } else { qualified.as_str() });
        rest = &rest[at + qualified.len()..];
    }
    out.push_str(rest);
    out
}
