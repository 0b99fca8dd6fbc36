//! Cross-tenant leaks through session state, on a real PostgreSQL (and PgBouncer): temporary
//! objects, a tenant dropped or renamed while its transactions run, and session settings that
//! session mode's user changed in ways no SQL sniffer sees (issue 8; docs/context.md).

mod common;

use std::time::{Duration, Instant};

use common::{connect, create_with_marker, raw_client, read_marker};
use tenantry::{Error, TenantName, Tenantry};
use tenantry_test_support::{test_database, TestDatabase};

/// `acme` and `globex` with their markers, a `shared` schema whose `marker` says `SHARED`
/// (what a fall-through would read), on a pool of one connection so that every borrow reuses it.
async fn two_tenants(db: &TestDatabase) -> (Tenantry, TenantName, TenantName) {
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE SCHEMA shared; CREATE TABLE shared.marker (tenant text); INSERT INTO shared.marker VALUES ('SHARED')",
    )
    .await
    .expect("shared schema");
    let tenantry = connect(db, |config| {
        config.shared_schemas = vec!["shared".into()];
        config.pool.max_size = 1;
    })
    .await;
    let acme = create_with_marker(&tenantry, "acme").await;
    let globex = create_with_marker(&tenantry, "globex").await;
    (tenantry, acme, globex)
}

/// Runs `sql` in a committed transaction of `tenant`.
async fn run_in(tenantry: &Tenantry, tenant: &TenantName, sql: &str) {
    let mut tx = tenantry.transaction_in(Some(tenant)).await.expect("begins");
    tx.batch_execute(sql).await.expect("runs");
    tx.commit().await.expect("commits");
}

/// A temporary table named like every tenant's own, and a temporary view no tenant has.
const TEMP_OBJECTS: &str =
    "CREATE TEMP TABLE marker (tenant text); INSERT INTO pg_temp.marker VALUES ('TEMP OF ACME'); \
     CREATE TEMP VIEW scratch AS SELECT 'TEMP VIEW OF ACME'::text AS tenant";

#[tokio::test]
async fn temporary_objects_never_reach_another_tenant_or_shadow_its_tables() {
    let db = test_database("leaks_temp").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    run_in(&tenantry, &acme, TEMP_OBJECTS).await;

    let (marker, _) = tenantry.scope(&acme, read_marker(&tenantry)).await.expect("known").expect("reads");
    assert_eq!(marker, "acme", "a temporary table must not shadow the tenant's own table");
    let (marker, _) = tenantry.scope(&globex, read_marker(&tenantry)).await.expect("known").expect("reads");
    assert_eq!(marker, "globex", "the next tenant on the connection reads its own table");
    let mut tx = tenantry.transaction_in(Some(&globex)).await.expect("begins");
    let err = tx.query("SELECT tenant FROM scratch", &[]).await.expect_err("acme's temporary view is gone");
    assert_eq!(err.sqlstate(), Some("42P01"), "{err}");
}

#[tokio::test]
async fn temporary_objects_survive_a_rolled_back_switch_for_their_own_tenant_only() {
    let db = test_database("leaks_temp_rollback").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    run_in(&tenantry, &acme, "CREATE TEMP TABLE scratch (tenant text); INSERT INTO scratch VALUES ('acme')").await;
    // globex's transaction discards acme's temporary table, then rolls back: the discard is
    // undone, so the connection holds acme's table again and the next globex must discard it too.
    let tx = tenantry.transaction_in(Some(&globex)).await.expect("begins");
    tx.rollback().await.expect("rolls back");
    let mut tx = tenantry.transaction_in(Some(&globex)).await.expect("begins");
    let err = tx.query("SELECT tenant FROM scratch", &[]).await.expect_err("not globex's");
    assert_eq!(err.sqlstate(), Some("42P01"), "{err}");
}

#[tokio::test]
async fn temporary_objects_made_in_a_session_never_reach_the_next_borrower() {
    let db = test_database("leaks_temp_session").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    let mut session = tenantry.session_in(Some(&acme)).await.expect("session");
    session.batch_execute(TEMP_OBJECTS).await.expect("temp objects");
    drop(session);
    let mut session = tenantry.session_in(Some(&globex)).await.expect("session");
    let row = session.query_one("SELECT tenant FROM marker", &[]).await.expect("reads");
    assert_eq!(row.get::<_, String>(0), "globex");
}

#[tokio::test]
async fn temporary_objects_never_reach_another_tenant_behind_pgbouncer() {
    let db = test_database("leaks_temp_pgbouncer").await;
    let (setup, acme, globex) = two_tenants(&db).await;
    setup.close();
    let mut config = tenantry::Config::default();
    config.database_url = Some(db.pgbouncer_url());
    config.shared_schemas = vec!["shared".into()];
    config.pool.behind_pgbouncer = true;
    config.pool.max_size = 1;
    // Two applications through one PgBouncer: their transactions share its server connections.
    let first = Tenantry::connect(config.clone()).await.expect("connects through PgBouncer");
    let second = Tenantry::connect(config).await.expect("connects through PgBouncer");
    run_in(&first, &acme, TEMP_OBJECTS).await;
    for _ in 0..5 {
        let (marker, _) = second.scope(&globex, read_marker(&second)).await.expect("known").expect("reads");
        assert_eq!(marker, "globex");
        let (marker, _) = second.scope(&acme, read_marker(&second)).await.expect("known").expect("reads");
        assert_eq!(marker, "acme", "the temporary table must not shadow acme's own either");
    }
}

/// An sqlx pool of one connection, set up as tenantry recommends.
#[cfg(feature = "sqlx")]
async fn sqlx_pool(db: &TestDatabase) -> sqlx::PgPool {
    let options: sqlx::postgres::PgConnectOptions = db.url().parse().expect("url");
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(tenantry::sqlx::connect_options(options))
        .await
        .expect("sqlx pool")
}

#[cfg(feature = "sqlx")]
#[tokio::test]
async fn temporary_objects_never_reach_another_tenant_on_an_sqlx_pool() {
    let db = test_database("leaks_temp_sqlx").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    let pool = sqlx_pool(&db).await;
    let mut tx = tenantry.sqlx_transaction_in(&pool, Some(&acme)).await.expect("begins");
    sqlx::raw_sql(TEMP_OBJECTS).execute(&mut *tx).await.expect("temp objects");
    tx.commit().await.expect("commits");
    let mut tx = tenantry.sqlx_transaction_in(&pool, Some(&globex)).await.expect("begins");
    let (marker,): (String,) = sqlx::query_as("SELECT tenant FROM marker").fetch_one(&mut *tx).await.expect("reads");
    assert_eq!(marker, "globex");
}

/// How long a concurrent drop or rename is given to finish before the test looks.
const SETTLE: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_waits_for_the_tenants_open_transaction() {
    let db = test_database("leaks_drop_waits").await;
    let (tenantry, acme, _) = two_tenants(&db).await;
    let dropper = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    tx.query("SELECT 1", &[]).await.expect("touches nothing of acme's yet");
    let drop = tokio::spawn({
        let acme = acme.clone();
        async move { dropper.drop(&acme).await }
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!drop.is_finished(), "the drop must wait for acme's open transaction");
    let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
    assert_eq!(marker, "acme", "never the shared table's rows");
    tx.commit().await.expect("commits");
    drop.await.expect("joins").expect("drops once the transaction ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_waits_for_the_tenants_open_transaction() {
    let db = test_database("leaks_rename_waits").await;
    let (tenantry, acme, _) = two_tenants(&db).await;
    let renamer = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    tx.query("SELECT 1", &[]).await.expect("touches nothing of acme's yet");
    let rename = tokio::spawn({
        let (acme, renamed) = (acme.clone(), renamer.tenant("acme-renamed").expect("valid"));
        async move { renamer.rename(&acme, &renamed).await }
    });
    tokio::time::sleep(SETTLE).await;
    assert!(!rename.is_finished(), "the rename must wait for acme's open transaction");
    let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
    assert_eq!(marker, "acme");
    tx.commit().await.expect("commits");
    rename.await.expect("joins").expect("renames once the transaction ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_waited_for_a_drop_finds_the_tenant_gone() {
    let db = test_database("leaks_waited_for_drop").await;
    let (tenantry, acme, _) = two_tenants(&db).await;
    let other = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let holder = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    let drop = tokio::spawn({
        let (other, acme) = (other.clone(), acme.clone());
        async move { other.drop(&acme).await }
    });
    tokio::time::sleep(SETTLE).await;
    // Begins while the drop waits: it queues behind the drop's lock, then finds no schema.
    let late = tokio::spawn({
        let acme = acme.clone();
        async move {
            let mut tx = other.transaction_in(Some(&acme)).await?;
            let row = tx.query_one("SELECT tenant FROM marker", &[]).await?;
            Ok::<String, Error>(row.get(0))
        }
    });
    tokio::time::sleep(SETTLE).await;
    holder.commit().await.expect("commits");
    drop.await.expect("joins").expect("drops");
    match late.await.expect("joins") {
        Err(Error::TenantNotFound { .. }) => {}
        other => panic!("a transaction that waited for the drop must find the tenant gone, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_and_renames_under_load_never_serve_shared_rows_as_the_tenants() {
    let db = test_database("leaks_drop_load").await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE SCHEMA shared; CREATE TABLE shared.marker (tenant text); INSERT INTO shared.marker VALUES ('SHARED')",
    )
    .await
    .expect("shared schema");
    let tenantry = connect(&db, |config| {
        config.shared_schemas = vec!["shared".into()];
        config.pool.max_size = 8;
        config.migrations.lock_timeout_ms = 0;
    })
    .await;
    let mut tenants = Vec::new();
    for index in 0..6 {
        tenants.push(create_with_marker(&tenantry, &format!("t{index}")).await);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut readers = Vec::new();
    for worker in 0..12 {
        let (tenantry, tenants) = (tenantry.clone(), tenants.clone());
        readers.push(tokio::spawn(async move {
            let (mut served, mut fell_through) = (0_u32, Vec::new());
            let mut round = worker;
            while Instant::now() < deadline {
                round += 1;
                let tenant = &tenants[round % tenants.len()];
                let Ok(mut tx) = tenantry.transaction_in(Some(tenant)).await else { continue };
                // Work that does not touch the tenant's tables first, so that on its own
                // nothing but the existence lock keeps a drop from committing under us.
                if tx.query("SELECT pg_sleep(0.002)", &[]).await.is_err() {
                    continue;
                }
                if let Ok(row) = tx.query_one("SELECT tenant FROM marker", &[]).await {
                    let marker: String = row.get(0);
                    if marker == "SHARED" {
                        fell_through.push(tenant.to_string());
                    }
                    served += 1;
                }
                let _ = tx.commit().await;
            }
            (served, fell_through)
        }));
    }
    let churn = tokio::spawn({
        let (tenantry, tenants) = (tenantry.clone(), tenants.clone());
        // Recreated with its marker in one transaction: a tenant without a marker table reads
        // the shared one by design.
        let raw = raw_client(&db.url()).await;
        async move {
            let mut changes = 0_u32;
            while Instant::now() < deadline {
                for tenant in &tenants {
                    let renamed = tenantry.tenant(&format!("{tenant}-moved")).expect("valid");
                    tenantry.rename(tenant, &renamed).await.expect("renames");
                    tenantry.rename(&renamed, tenant).await.expect("renames back");
                    tenantry.drop(tenant).await.expect("drops");
                    let schema = tenantry::sql::quote_ident(tenant.schema());
                    let literal = tenantry::sql::quote_literal(tenant.as_str());
                    // With tenantry's bookkeeping table, as every creation writes it: that is what
                    // makes the schema a tenant (docs/tenants.md).
                    let bookkeeping = tenantry::migrate::bookkeeping::create_table_sql(tenant.schema());
                    raw.batch_execute(&format!(
                        "CREATE SCHEMA {schema}; {bookkeeping}; CREATE TABLE {schema}.marker (tenant text NOT NULL); \
                         INSERT INTO {schema}.marker VALUES ({literal})"
                    ))
                    .await
                    .expect("recreates");
                    changes += 4;
                }
            }
            changes
        }
    });
    let mut served = 0;
    for reader in readers {
        let (count, fell_through) = reader.await.expect("joins");
        assert!(fell_through.is_empty(), "shared rows served as the tenant's: {fell_through:?}");
        served += count;
    }
    let changes = churn.await.expect("joins");
    assert!(served > 0 && changes > 0, "the load ran: {served} reads, {changes} drops and renames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_waits_for_a_session_and_says_the_tenant_is_busy() {
    let db = test_database("leaks_drop_session").await;
    let (tenantry, acme, _) = two_tenants(&db).await;
    let dropper = connect(&db, |config| {
        config.shared_schemas = vec!["shared".into()];
        config.migrations.lock_timeout_ms = 300;
    })
    .await;
    let mut session = tenantry.session_in(Some(&acme)).await.expect("session");
    let err = dropper.drop(&acme).await.expect_err("the session holds acme");
    assert!(matches!(err, Error::TenantBusy { waited_ms: 300, .. }), "{err:?}");
    assert!(err.to_string().contains("migrations.lock_timeout_ms"), "says what to change: {err}");
    let marker: String = session.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
    assert_eq!(marker, "acme");
    drop(session);
    // Releasing the session resets it (in a spawned task): the drop then goes through.
    let started = Instant::now();
    loop {
        match dropper.drop(&acme).await {
            Ok(()) => break,
            Err(Error::TenantBusy { .. }) if started.elapsed() < Duration::from_secs(5) => continue,
            Err(err) => panic!("the drop must go through once the session is released: {err}"),
        }
    }
}

/// Statements that change a session's state in ways a look at the SQL text does not reveal.
const SNEAKY: [&str; 6] = [
    "DO $$ BEGIN EXECUTE 'SET search_path TO shared'; END $$",
    "/* a leading comment */ SET search_path TO shared",
    "SELECT shared.sneak()",
    "SET ROLE visitor",
    "SET SESSION AUTHORIZATION visitor",
    "BEGIN; SET LOCAL search_path TO shared",
];

#[tokio::test]
async fn whatever_a_session_changed_never_reaches_the_next_borrower() {
    let db = test_database("leaks_session_state").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE ROLE visitor; GRANT USAGE ON SCHEMA shared TO visitor; GRANT SELECT ON shared.marker TO visitor;
         CREATE FUNCTION shared.sneak() RETURNS text LANGUAGE sql
           AS $$ SELECT pg_catalog.set_config('search_path', 'shared', false) $$",
    )
    .await
    .expect("role and function");
    let login: String = raw.query_one("SELECT current_user::text", &[]).await.expect("user").get(0);
    for sql in SNEAKY {
        let mut session = tenantry.session_in(Some(&acme)).await.expect("session");
        session.batch_execute(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        drop(session);
        for tenant in [&acme, &globex] {
            let mut session = tenantry.session_in(Some(tenant)).await.expect("session");
            let row = session.query_one("SELECT tenant, current_user::text FROM marker", &[]).await;
            let row = row.unwrap_or_else(|err| panic!("after {sql:?}, {tenant} cannot read its marker: {err}"));
            assert_eq!(row.get::<_, String>(0), tenant.as_str(), "after {sql:?}");
            assert_eq!(row.get::<_, String>(1), login, "after {sql:?}");
            drop(session);
            let mut tx = tenantry.transaction_in(Some(tenant)).await.expect("begins");
            let user: String = tx.query_one("SELECT current_user::text", &[]).await.expect("reads").get(0);
            assert_eq!(user, login, "after {sql:?}, a transaction runs as the login user");
            tx.commit().await.expect("commits");
        }
    }
}

#[cfg(feature = "sqlx")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlx_transaction_that_waited_for_a_drop_never_falls_through() {
    let db = test_database("leaks_sqlx_waited_for_drop").await;
    let (tenantry, acme, _) = two_tenants(&db).await;
    let other = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let pool = sqlx_pool(&db).await;
    let holder = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    let drop = tokio::spawn({
        let acme = acme.clone();
        async move { other.drop(&acme).await }
    });
    tokio::time::sleep(SETTLE).await;
    let late = tokio::spawn({
        let (tenantry, acme) = (tenantry.clone(), acme.clone());
        async move {
            let mut tx = tenantry.sqlx_transaction_in(&pool, Some(&acme)).await?;
            let read: Result<(String,), sqlx::Error> =
                sqlx::query_as("SELECT tenant FROM marker").fetch_one(&mut *tx).await;
            Ok::<_, Error>(read.map(|(marker,)| marker))
        }
    });
    tokio::time::sleep(SETTLE).await;
    holder.commit().await.expect("commits");
    drop.await.expect("joins").expect("drops");
    match late.await.expect("joins") {
        Err(Error::TenantNotFound { .. }) => {}
        Ok(Err(err)) => {
            let code = err.as_database_error().and_then(|e| e.code().map(|c| c.into_owned()));
            assert_eq!(code.as_deref(), Some("42P01"), "a path that resolves nothing: {err}");
        }
        Ok(Ok(marker)) => panic!("read {marker:?} from a dropped tenant"),
        Err(err) => panic!("{err}"),
    }
}
