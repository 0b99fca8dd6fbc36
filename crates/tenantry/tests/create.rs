//! Creating tenants at scale on a real PostgreSQL: which path each tenant takes, a template
//! judged once per version of it, and no per-create work that grows with the fleet (issue 9).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{concurrent_index_migration, raw_client, setup_migrator as setup, workload};
use tenantry::migrate::{CreateMethod, CreateOptions, CreateReport, MigrationEvent, Migrator, RunOptions};
use tenantry::{Error, TenantName, Tenantry};
use tenantry_test_support::test_database;

/// Every event a migrator sends, for assertions after the fact.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<MigrationEvent>>>);

impl Events {
    fn watch(&self, migrator: Migrator) -> Migrator {
        let events = self.0.clone();
        migrator.on_event(move |event| events.lock().expect("events").push(event.clone()))
    }

    fn reasons(&self) -> Vec<String> {
        let events = self.0.lock().expect("events");
        events
            .iter()
            .filter_map(|event| match event {
                MigrationEvent::TemplateUnusable { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    fn created(&self) -> Vec<CreateReport> {
        let events = self.0.lock().expect("events");
        events
            .iter()
            .filter_map(|event| match event {
                MigrationEvent::Created { report, .. } => Some(report.clone()),
                _ => None,
            })
            .collect()
    }
}

fn names(tenantry: &Tenantry, prefix: &str, count: usize) -> Vec<TenantName> {
    (0..count).map(|i| tenantry.tenant(&format!("{prefix}{i}")).expect("valid")).collect()
}

/// Creates `tenants` 3 at a time, each within 10 s (a creation that waits on a lock fails).
async fn create_all(migrator: &Migrator, tenants: &[TenantName]) -> Vec<CreateReport> {
    let results =
        tokio::time::timeout(Duration::from_secs(10), migrator.create_many(tenants, &CreateOptions::default(), 3))
            .await
            .expect("creating these tenants waited on a lock of the template's tables: the template was read again");
    results.into_iter().map(|result| result.expect("creates")).collect()
}

fn why_not_cloned(report: &CreateReport) -> Option<&str> {
    match &report.method {
        CreateMethod::Migrated { why_not_cloned } => why_not_cloned.as_deref(),
        _ => None,
    }
}

#[tokio::test]
async fn an_unusable_template_is_judged_once_until_it_changes() {
    let db = test_database("create_judged_once").await;
    let dir = workload(10);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    let events = Events::default();
    let migrator = events.watch(migrator);
    migrator.run(&RunOptions::default()).await.expect("migrates the template");
    let raw = raw_client(&db.url()).await;
    // Refused only after its tables were read: a row the clone would not copy.
    raw.batch_execute(
        "INSERT INTO tenantry_template.customer (name, email, created_at, is_active, phone, loyalty_points) \
         VALUES ('stray', 'a@b.c', now(), true, '', 0)",
    )
    .await
    .expect("a row in the template");

    let first = create_all(&migrator, &names(&tenantry, "first", 4)).await;
    assert!(first.iter().all(|r| why_not_cloned(r).is_some_and(|why| why.contains("rows"))), "{first:?}");
    assert_eq!(events.reasons().len(), 1, "the reason is said once, not once per tenant: {:?}", events.reasons());

    // Judging the template reads its tables. Hold one of them locked, as a long report on the
    // template would: creations that judged the template again would wait for the lock. A lock
    // (or a row) changes no catalog row, so the verdict still holds.
    let holder = raw_client(&db.url()).await;
    holder.batch_execute("BEGIN; LOCK TABLE tenantry_template.customer IN ACCESS EXCLUSIVE MODE").await.expect("locks");
    let more = create_all(&migrator, &names(&tenantry, "more", 6)).await;
    assert!(more.iter().all(|r| why_not_cloned(r).is_some_and(|why| why.contains("rows"))), "{more:?}");
    holder.batch_execute("ROLLBACK").await.expect("unlocks");
    assert_eq!(events.reasons().len(), 1, "{:?}", events.reasons());

    // A change to the template's catalog is a new version of it, judged anew: still unusable
    // (said again), then usable once the domain is gone, the very next creation cloning it.
    raw.batch_execute(
        "DELETE FROM tenantry_template.customer; CREATE DOMAIN tenantry_template.positive AS integer CHECK (VALUE > 0)",
    )
    .await
    .expect("a domain instead");
    let changed = create_all(&migrator, &names(&tenantry, "changed", 2)).await;
    assert!(changed.iter().all(|r| why_not_cloned(r).is_some_and(|why| why.contains("domain"))), "{changed:?}");
    assert_eq!(events.reasons().len(), 2, "{:?}", events.reasons());
    raw.batch_execute("DROP DOMAIN tenantry_template.positive").await.expect("drops");
    let fixed = create_all(&migrator, &names(&tenantry, "fixed", 3)).await;
    assert!(fixed.iter().all(|r| r.method == CreateMethod::Cloned), "{fixed:?}");
    assert_eq!(events.created().len(), 4 + 6 + 2 + 3, "one event per tenant");
}

#[tokio::test]
async fn refused_kinds_outside_the_fingerprinted_catalogs_are_noticed_when_dropped() {
    let db = test_database("create_refused_kinds").await;
    let dir = workload(3);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    migrator.run(&RunOptions::default()).await.expect("migrates the template");
    let raw = raw_client(&db.url()).await;
    // A collation (pg_collation) and extended statistics (pg_statistic_ext): catalogs that no
    // relation, routine or type of the template lists; only their dependencies show them.
    let kinds = [
        ("collation", "CREATE COLLATION tenantry_template.bytes FROM \"C\"", "DROP COLLATION tenantry_template.bytes"),
        (
            "statistics",
            "CREATE STATISTICS tenantry_template.customer_stats ON name, email FROM tenantry_template.customer",
            "DROP STATISTICS tenantry_template.customer_stats",
        ),
    ];
    for (index, (kind, create, drop)) in kinds.iter().enumerate() {
        raw.batch_execute(create).await.expect("creates");
        let refused = create_all(&migrator, &names(&tenantry, &format!("refused{index}-"), 1)).await;
        assert!(why_not_cloned(&refused[0]).is_some_and(|why| why.contains(kind)), "{refused:?}");
        raw.batch_execute(drop).await.expect("drops");
        let cloned = create_all(&migrator, &names(&tenantry, &format!("cloned{index}-"), 1)).await;
        assert_eq!(cloned[0].method, CreateMethod::Cloned, "the verdict outlived the {kind}: {cloned:?}");
    }
}

/// The demo's migrations (crates/tenantry-cli/demo): the workload, then its own tenant and
/// shared migrations, and its seed file.
fn demo_project() -> tempfile::TempDir {
    let dir = workload(10);
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenantry-cli/demo");
    for kind in ["tenant", "shared"] {
        for entry in std::fs::read_dir(demo.join("migrations").join(kind)).expect("demo migrations").flatten() {
            std::fs::copy(entry.path(), dir.path().join(kind).join(entry.file_name())).expect("copies");
        }
    }
    std::fs::copy(demo.join("seed.sql"), dir.path().join("seed.sql")).expect("copies the seed");
    dir
}

#[tokio::test]
async fn the_projects_own_histories_are_cloned_never_migrated() {
    for (label, dir) in [("workload", workload(10)), ("demo", demo_project())] {
        let db = test_database(&format!("create_cloned_{label}")).await;
        let seed = dir.path().join("seed.sql");
        let (tenantry, migrator) = setup(&db, dir.path(), |config| {
            config.migrations.seed_file = seed.exists().then_some(seed);
        })
        .await;
        let events = Events::default();
        let migrator = events.watch(migrator);
        let report = migrator.run(&RunOptions::default()).await.expect("migrates");
        assert!(report.is_success(), "{report}");
        let server: String =
            raw_client(&db.url()).await.query_one("SHOW server_version", &[]).await.expect("version").get(0);
        let tenants = names(&tenantry, "t", 6);
        let reports = create_all(&migrator, &tenants).await;
        for report in reports.iter().chain(&events.created()) {
            assert_eq!(
                report.method,
                CreateMethod::Cloned,
                "{label}: {} fell back to migrations on PostgreSQL {server}",
                report.tenant
            );
        }
        assert_eq!(events.created().len(), tenants.len());
        assert!(events.reasons().is_empty(), "{label}: {:?}", events.reasons());
    }
}

#[tokio::test]
async fn creating_with_no_transaction_migrations_neither_dumps_nor_lists_the_fleet() {
    let db = test_database("create_no_transaction").await;
    let dir = workload(3);
    concurrent_index_migration(dir.path(), 4);
    let dump_path = dir.path().join("db/schema.sql");
    let path = dump_path.clone();
    let (tenantry, migrator) = setup(&db, dir.path(), move |config| {
        config.migrations.dump = true;
        config.migrations.dump_path = path;
        config.migrations.template = false;
    })
    .await;
    // Tenants made behind tenantry's back: not in its known-tenants cache.
    let raw = raw_client(&db.url()).await;
    raw.batch_execute("CREATE SCHEMA elsewhere_1; CREATE SCHEMA elsewhere_2; CREATE SCHEMA elsewhere_3")
        .await
        .expect("schemas");
    tenantry.cache().invalidate();

    let tenant = tenantry.tenant("fresh").expect("valid");
    let report = migrator.create(&tenant, &CreateOptions::default()).await.expect("creates");
    assert_eq!(report.versions, [1, 2, 3, 4]);
    assert_eq!(report.applied_after_commit, [4]);
    assert!(!dump_path.exists(), "a creation wrote the schema dump: pg_dump reads the whole catalog");
    assert_eq!(tenantry.cache().len(), 1, "a creation reloaded the known-tenants cache by listing every tenant");
    let err = migrator
        .run(&RunOptions {
            selection: tenantry::migrate::Selection::Tenants(vec![tenantry.tenant("ghost").expect("valid")]),
            ..RunOptions::default()
        })
        .await
        .expect_err("a missing tenant");
    assert!(matches!(err, Error::TenantNotFound { .. }), "{err}");
}
