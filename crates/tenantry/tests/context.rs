//! Tenant context on a real PostgreSQL: scopes, transactions, sessions, statement cache.

mod common;

use std::time::Duration;

use common::{connect, create_with_marker, raw_client, read_marker};
use tenantry::Error;
use tenantry_test_support::test_database;

#[tokio::test]
async fn scoped_transactions_see_the_tenant_then_shared_schemas() {
    let db = test_database("context_scope").await;
    let tenantry = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE SCHEMA shared; CREATE TABLE shared.plans (name text); INSERT INTO shared.plans VALUES ('pro');
         CREATE TABLE public.marker (tenant text); INSERT INTO public.marker VALUES ('DEFAULT')",
    )
    .await
    .expect("setup");
    let acme = create_with_marker(&tenantry, "acme").await;
    let globex = create_with_marker(&tenantry, "globex").await;

    let (marker, schema) = tenantry.scope(&acme, read_marker(&tenantry)).await.expect("known").expect("reads");
    assert_eq!((marker.as_str(), schema.as_str()), ("acme", "acme"));

    let nested = tenantry
        .scope(&acme, async {
            let inner = tenantry.scope(&globex, read_marker(&tenantry)).await.expect("known").expect("reads");
            let outer = read_marker(&tenantry).await.expect("reads");
            let default = tenantry.scope_default(read_marker(&tenantry)).await.expect("reads");
            (inner.0, outer.0, default.0)
        })
        .await
        .expect("known");
    assert_eq!(nested, ("globex".to_owned(), "acme".to_owned(), "DEFAULT".to_owned()));

    let (marker, _) = read_marker(&tenantry).await.expect("reads");
    assert_eq!(marker, "DEFAULT", "outside any scope: the default schema");

    let plan: String = tenantry
        .scope(&acme, async {
            let mut tx = tenantry.transaction().await?;
            let row = tx.query_one("SELECT name FROM plans", &[]).await?;
            tx.commit().await?;
            Ok::<_, Error>(row.get(0))
        })
        .await
        .expect("known")
        .expect("reads shared table");
    assert_eq!(plan, "pro");
}

#[tokio::test]
async fn unknown_tenants_are_refused_before_any_work() {
    let db = test_database("context_unknown").await;
    let tenantry = connect(&db, |_| {}).await;
    let ghost = tenantry.tenant("ghost").expect("valid");
    let mut ran = false;
    let err = tenantry.scope(&ghost, async { ran = true }).await.expect_err("unknown");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err:?}");
    assert!(!ran, "the future must not run");
}

#[tokio::test]
async fn a_schema_dropped_behind_the_cache_is_an_error_not_a_fall_through() {
    let db = test_database("context_dropped").await;
    let tenantry = connect(&db, |config| config.shared_schemas = vec!["shared".into()]).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE SCHEMA shared; CREATE TABLE shared.marker (tenant text); INSERT INTO shared.marker VALUES ('SHARED')",
    )
    .await
    .expect("setup");
    let acme = create_with_marker(&tenantry, "acme").await;
    let result = tenantry
        .scope(&acme, async {
            raw.batch_execute("DROP SCHEMA acme CASCADE").await.expect("dropped elsewhere");
            read_marker(&tenantry).await
        })
        .await
        .expect("still in the cache when scoped");
    let err = result.expect_err("must not read shared.marker as if it were acme's");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err:?}");
    assert!(!tenantry.cache().contains(&acme, || async { Ok(vec![]) }).await.expect("cached"));
}

#[tokio::test]
async fn without_shared_schemas_a_dropped_schema_has_nothing_to_fall_through_to() {
    let db = test_database("context_dropped_alone").await;
    let tenantry = connect(&db, |_| {}).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute("CREATE TABLE public.marker (tenant text); INSERT INTO public.marker VALUES ('DEFAULT')")
        .await
        .expect("setup");
    let acme = create_with_marker(&tenantry, "acme").await;
    let result = tenantry
        .scope(&acme, async {
            raw.batch_execute("DROP SCHEMA acme CASCADE").await.expect("dropped elsewhere");
            read_marker(&tenantry).await
        })
        .await
        .expect("still in the cache when scoped");
    // The tenant is alone on its search path (no shared schemas): the default schema's marker
    // is never reached; the query fails instead (42P01), which tenantry reports as the tenant
    // being gone once it has checked that the schema is.
    let err = result.expect_err("must not read public.marker");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn dropped_and_failed_transactions_commit_nothing() {
    let db = test_database("context_rollback").await;
    let tenantry = connect(&db, |config| config.pool.max_size = 1).await;
    let acme = create_with_marker(&tenantry, "acme").await;
    tenantry
        .scope(&acme, async {
            let mut tx = tenantry.transaction().await.expect("begins");
            tx.execute("INSERT INTO marker VALUES ('dropped')", &[]).await.expect("inserts");
            drop(tx);

            let mut tx = tenantry.transaction().await.expect("begins");
            tx.execute("INSERT INTO marker VALUES ('failed')", &[]).await.expect("inserts");
            tx.execute("INSERT INTO no_such_table VALUES (1)", &[]).await.expect_err("fails");
            let err = tx.commit().await.expect_err("aborted");
            assert!(matches!(err, Error::TransactionAborted { .. }), "{err:?}");

            let mut tx = tenantry.transaction().await.expect("begins");
            let count: i64 = tx.query_one("SELECT count(*) FROM marker", &[]).await.expect("counts").get(0);
            tx.commit().await.expect("commits");
            assert_eq!(count, 1);
        })
        .await
        .expect("known");
}

#[tokio::test]
async fn statements_are_cached_per_tenant_so_different_tables_never_clash() {
    let db = test_database("context_statements").await;
    let tenantry = connect(&db, |config| config.pool.max_size = 1).await;
    let narrow = create_with_marker(&tenantry, "narrow").await;
    let wide = create_with_marker(&tenantry, "wide").await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute("ALTER TABLE wide.marker ADD COLUMN extra int DEFAULT 7").await.expect("alter");
    // One connection, the same SQL text, tenants alternating: a cache keyed by SQL alone would
    // fail with "cached plan must not change result type".
    for round in 0..20 {
        for (tenant, columns) in [(&narrow, 1), (&wide, 2)] {
            let row_len = tenantry
                .scope(tenant, async {
                    let mut tx = tenantry.transaction().await?;
                    let row = tx.query_one("SELECT * FROM marker", &[]).await?;
                    tx.commit().await?;
                    Ok::<_, Error>(row.len())
                })
                .await
                .expect("known")
                .unwrap_or_else(|err| panic!("round {round}: {err}"));
            assert_eq!(row_len, columns);
        }
    }
}

async fn path(session: &mut tenantry::TenantSession) -> String {
    let row = session.client().query_one("SHOW search_path", &[]).await.expect("shows");
    row.get(0)
}

#[tokio::test]
async fn session_mode_resets_what_the_last_borrower_changed() {
    let db = test_database("context_session").await;
    let tenantry = connect(&db, |config| config.pool.max_size = 1).await;
    let acme = create_with_marker(&tenantry, "acme").await;
    let globex = create_with_marker(&tenantry, "globex").await;
    tenantry
        .scope(&acme, async {
            let mut session = tenantry.session().await.expect("session");
            assert_eq!(path(&mut session).await, "acme, pg_temp");
            // Behind tenantry's back, through the raw client: tenantry cannot see it.
            session.client().batch_execute("SET search_path TO pg_catalog").await.expect("set");
        })
        .await
        .expect("known");
    tenantry
        .scope(&acme, async {
            let mut session = tenantry.session().await.expect("session");
            assert_eq!(path(&mut session).await, "acme, pg_temp", "same tenant: the session was reset and set again");
        })
        .await
        .expect("known");
    tenantry
        .scope(&globex, async {
            let mut session = tenantry.session().await.expect("session");
            assert_eq!(path(&mut session).await, "globex, pg_temp", "another tenant");
        })
        .await
        .expect("known");
}

#[tokio::test]
async fn session_mode_survives_rollback_errors_and_cancellation() {
    let db = test_database("context_session_robust").await;
    let tenantry = connect(&db, |config| config.pool.max_size = 1).await;
    let acme = create_with_marker(&tenantry, "acme").await;
    let globex = create_with_marker(&tenantry, "globex").await;
    let in_globex = || {
        tenantry.scope(&globex, async {
            let mut session = tenantry.session().await.expect("session");
            let row = session.query_one("SELECT tenant FROM marker", &[]).await.expect("reads");
            // VACUUM refuses to run inside a transaction block: it succeeds only if no
            // transaction was left open on this connection.
            let outside_transaction = session.batch_execute("VACUUM marker").await.is_ok();
            (row.get::<_, String>(0), outside_transaction)
        })
    };

    // A transaction opened by hand and abandoned: the next borrower must neither join it nor
    // lose its path to its ROLLBACK.
    tenantry
        .scope(&acme, async {
            let mut session = tenantry.session().await.expect("session");
            session.batch_execute("BEGIN; INSERT INTO marker VALUES ('uncommitted')").await.expect("begins");
        })
        .await
        .expect("known");
    assert_eq!(in_globex().await.expect("known"), ("globex".to_owned(), true), "fresh transaction, right tenant");

    // An error mid-statement.
    tenantry
        .scope(&acme, async {
            let mut session = tenantry.session().await.expect("session");
            session.query("SELECT * FROM no_such_table", &[]).await.expect_err("fails");
            let count: i64 = session.query_one("SELECT count(*) FROM marker", &[]).await.expect("counts").get(0);
            assert_eq!(count, 1, "the abandoned insert was rolled back");
        })
        .await
        .expect("known");

    // A query cancelled mid-flight.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(20),
        tenantry.scope(&acme, async {
            let mut session = tenantry.session().await.expect("session");
            session.query("SELECT pg_sleep(0.3)", &[]).await
        }),
    )
    .await;
    assert!(cancelled.is_err(), "the query outlives the timeout");
    assert_eq!(in_globex().await.expect("known"), ("globex".to_owned(), true));
}

#[tokio::test]
async fn session_mode_is_refused_behind_pgbouncer() {
    let db = test_database("context_session_pgbouncer").await;
    let tenantry = connect(&db, |config| config.pool.behind_pgbouncer = true).await;
    let err = tenantry.session().await.expect_err("refused");
    assert!(matches!(err, Error::SessionModeBehindPgBouncer), "{err:?}");
}
