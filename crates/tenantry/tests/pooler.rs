//! Behind PgBouncer in transaction pooling: the application goes through it, the migrator
//! takes `migrations.database_url` (a direct connection), and refuses the pooler when pointed
//! at it, before anything is run.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{applied_versions, create_tenants, raw_client, workload};
use futures_util::future::BoxFuture;
use tenantry::migrate::{lock, MigrationHooks, Migrator, PoolerEvidence, RunOptions, Selection, Subject};
use tenantry::{Config, Error, Tenantry};
use tenantry_test_support::{test_database, TestDatabase};

/// The application's configuration: through PgBouncer, as `pool.behind_pgbouncer` says.
fn through_pgbouncer(db: &TestDatabase, dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.database_url = Some(db.pgbouncer_url());
    config.pool.behind_pgbouncer = true;
    config.migrations.directory = dir.to_owned();
    config.migrations.dump = false;
    config.migrations.lock_timeout_ms = 2000;
    config.migrations.retry_backoff_ms = 20;
    config
}

/// Records, before each schema's work, which sessions hold the run lock: their
/// `application_name`, which PgBouncer does not pass on (`ignore_startup_parameters`), so
/// only the migrator's own direct connection shows tenantry's name.
struct RunLockHolders {
    direct: String,
    seen: Mutex<Vec<String>>,
}

impl MigrationHooks for RunLockHolders {
    fn before_schema<'a>(&'a self, _subject: &'a Subject) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let client = raw_client(&self.direct).await;
            let sql = format!(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {}::oid AND l.objid = 0 \
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                lock::RUN_LOCK_CLASS
            );
            let rows = client.query(&sql, &[]).await.expect("reads pg_locks");
            self.seen.lock().expect("not poisoned").extend(rows.iter().map(|row| row.get::<_, String>(0)));
        })
    }
}

#[tokio::test]
async fn the_application_goes_through_pgbouncer_while_the_migrator_migrates_over_the_direct_url() {
    let db = test_database("pooler_direct_url").await;
    let first = workload(3);
    let all = workload(10);
    let mut config = through_pgbouncer(&db, first.path());
    config.migrations.database_url = Some(db.url());
    let app = Tenantry::connect(config.clone()).await.expect("connects through PgBouncer");
    let tenants = create_tenants(&app, "t", 12).await;
    let report = Migrator::load(&app).expect("loads").run(&RunOptions::default()).await.expect("runs");
    assert!(report.is_success(), "{report}");

    // Application traffic in every tenant, through PgBouncer, for the whole second run.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let traffic = {
        let (app, tenants, stop, served) = (app.clone(), tenants.clone(), stop.clone(), served.clone());
        tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for tenant in &tenants {
                    let result = async {
                        let mut tx = app.transaction_in(Some(tenant)).await?;
                        let row = tx.query_one("SELECT count(*) FROM customer", &[]).await?;
                        tx.commit().await?;
                        Ok::<i64, Error>(row.get(0))
                    }
                    .await;
                    match result {
                        Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                        Err(err) => {
                            errors.push(format!("{tenant}: {err}"));
                            0
                        }
                    };
                }
            }
            errors
        })
    };

    config.migrations.directory = all.path().to_owned();
    let app10 = Tenantry::connect(config).await.expect("connects through PgBouncer");
    let holders = Arc::new(RunLockHolders { direct: db.url(), seen: Mutex::default() });
    let migrator = Migrator::load(&app10).expect("loads").with_hooks(holders.clone());
    let served_before = served.load(Ordering::Relaxed);
    let report = migrator.run(&RunOptions::default()).await.expect("the migrator runs over the direct URL");
    let served_during = served.load(Ordering::Relaxed) - served_before;
    stop.store(true, Ordering::Relaxed);
    let errors = traffic.await.expect("traffic task");

    assert!(report.is_success(), "{report}");
    assert_eq!(report.tenant_counts(), (12, 0, 0), "{report}");
    let raw = raw_client(&db.url()).await;
    for tenant in &tenants {
        assert_eq!(applied_versions(&raw, tenant.schema()).await, (1..=10).collect::<Vec<_>>());
    }
    assert!(errors.is_empty(), "application traffic through PgBouncer failed: {errors:?}");
    assert!(served_during > 0, "no application transaction ran during the migration");
    let seen = holders.seen.lock().expect("not poisoned").clone();
    assert!(!seen.is_empty(), "nobody held the run lock while schemas were migrated");
    assert!(
        seen.iter().all(|name| name.starts_with("tenantry")),
        "the run lock must be held by the migrator's direct session, not a PgBouncer server connection: {seen:?}"
    );

    // status and exec take the same URL.
    let status = migrator.status(&Selection::All, false).await.expect("status over the direct URL");
    assert_eq!(status.current_tenants(), 12);
    let exec = migrator.exec("SELECT 1", &RunOptions::default()).await.expect("exec over the direct URL");
    assert!(exec.is_success(), "{exec}");
}

/// No migration in any tenant (only the empty bookkeeping table their creation wrote), no
/// template, and no run lock left behind.
async fn assert_nothing_ran(db: &TestDatabase, tenants: &[tenantry::TenantName]) {
    let raw = raw_client(&db.url()).await;
    for tenant in tenants {
        let tables: i64 = raw
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename <> 'tenantry_migrations'",
                &[&tenant.schema()],
            )
            .await
            .expect("reads catalog")
            .get(0);
        assert_eq!(tables, 0, "tenant {tenant} was touched");
        let schema = tenantry::sql::quote_ident(tenant.schema());
        let applied: i64 = raw
            .query_one(&format!("SELECT count(*) FROM {schema}.tenantry_migrations"), &[])
            .await
            .expect("reads the bookkeeping table")
            .get(0);
        assert_eq!(applied, 0, "tenant {tenant} has migrations recorded");
    }
    let template: i64 = raw
        .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenantry_template'", &[])
        .await
        .expect("reads catalog")
        .get(0);
    assert_eq!(template, 0, "the template schema was created");
    let sql = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = {}::oid \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        lock::RUN_LOCK_CLASS
    );
    let held: i64 = raw.query_one(&sql, &[]).await.expect("reads pg_locks").get(0);
    assert_eq!(held, 0, "a run lock was left on a pooled server connection");
}

#[tokio::test]
async fn the_migrator_refuses_a_transaction_pooler_and_runs_nothing() {
    let db = test_database("pooler_refused").await;
    let dir = workload(3);
    // Not told it is behind PgBouncer: the migrator must find out for itself.
    let mut config = through_pgbouncer(&db, dir.path());
    config.pool.behind_pgbouncer = false;
    let app = Tenantry::connect(config.clone()).await.expect("connects through PgBouncer");
    let tenants = create_tenants(&app, "t", 3).await;
    let migrator = Migrator::load(&app).expect("loads");

    let err = migrator.run(&RunOptions::default()).await.expect_err("a transaction pooler is refused");
    assert!(
        matches!(
            &err,
            Error::TransactionPooler {
                evidence: PoolerEvidence::BackendHandedOver { .. } | PoolerEvidence::BackendChanged { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("migrations.database_url") && message.contains("TENANTRY_MIGRATIONS_DATABASE_URL"));
    assert!(message.contains(&db.pgbouncer_url()), "the message names the URL: {message}");
    let err = migrator.exec("CREATE TABLE exec_ran (id int)", &RunOptions::default()).await.expect_err("refused");
    assert!(matches!(err, Error::TransactionPooler { .. }), "{err:?}");
    assert_nothing_ran(&db, &tenants).await;

    // Told so by `pool.behind_pgbouncer`, with no direct URL: refused without a probe.
    config.pool.behind_pgbouncer = true;
    let told = Tenantry::connect(config).await.expect("connects through PgBouncer");
    let err = Migrator::load(&told).expect("loads").run(&RunOptions::default()).await.expect_err("refused");
    assert!(matches!(err, Error::TransactionPooler { evidence: PoolerEvidence::BehindPgBouncer, .. }), "{err:?}");
    assert!(err.to_string().contains("pool.behind_pgbouncer"), "{err}");
    assert_nothing_ran(&db, &tenants).await;
}

/// Behind PgBouncer in transaction mode, a statement outside a transaction that is prepared in
/// one round trip and run in the next may be run on a server connection that never saw it
/// (PgBouncer before 1.21 keeps no prepared statements): "prepared statement \"s3\" does not
/// exist". Listing tenants and looking one up run outside a transaction, while other
/// applications' transactions take the server connections in between.
#[tokio::test]
async fn listing_and_looking_up_tenants_through_pgbouncer_survive_other_traffic() {
    let db = test_database("pooler_catalog_reads").await;
    let dir = workload(1);
    let config = through_pgbouncer(&db, dir.path());
    let app = Tenantry::connect(config.clone()).await.expect("connects through PgBouncer");
    let tenants = create_tenants(&app, "t", 4).await;
    let mut tasks = Vec::new();
    for task in 0..6 {
        // Each task an application of its own, so their connections interleave in PgBouncer.
        let app = Tenantry::connect(config.clone()).await.expect("connects through PgBouncer");
        let tenants = tenants.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for round in 0..40 {
                let result = if (task + round) % 2 == 0 {
                    app.list().await.map(|listed| listed.len() == tenants.len())
                } else {
                    app.exists(&tenants[round % tenants.len()]).await
                };
                match result {
                    Ok(true) => {}
                    Ok(false) => errors.push(format!("task {task} round {round}: a wrong answer")),
                    Err(err) => errors.push(format!("task {task} round {round}: {err}")),
                }
                // A transaction of its own in between, as an application's request would.
                let mut tx = app.transaction_in(Some(&tenants[task % tenants.len()])).await.expect("begins");
                tx.query_one("SELECT pg_sleep(0.001)", &[]).await.expect("sleeps");
                tx.commit().await.expect("commits");
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        errors.extend(task.await.expect("task"));
    }
    assert!(errors.is_empty(), "{} failures, first ones: {:?}", errors.len(), &errors[..errors.len().min(5)]);
}
