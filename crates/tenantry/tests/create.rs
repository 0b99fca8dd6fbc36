//! Creating tenants at scale on a real PostgreSQL: which path each tenant takes, a template
//! judged once per version of it, and no per-create work that grows with the fleet (issue 9).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{concurrent_index_migration, raw_client, setup_migrator as setup, workload};
use tenantry::migrate::{CreateMethod, CreateOptions, CreateReport, MigrationEvent, Migrator, RunOptions};
use tenantry::schema::clone::{check_fingerprint_sql, fingerprint_sql, CloneScript};
use tenantry::{Error, TenantName, Tenantry};
use tenantry_test_support::{test_database, TestDatabase};

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

/// A test database whose template holds the first `count` workload migrations, with its
/// migrations directory, tenantry handle, migrator and a plain client. Bind every field: one
/// left to `..` is dropped at once (the database with it).
struct Migrated {
    db: TestDatabase,
    _dir: tempfile::TempDir,
    tenantry: Tenantry,
    migrator: Migrator,
    raw: tokio_postgres::Client,
}

async fn migrated(label: &str, count: usize) -> Migrated {
    let db = test_database(label).await;
    let dir = workload(count);
    let (tenantry, migrator) = setup(&db, dir.path(), |_| {}).await;
    migrator.run(&RunOptions::default()).await.expect("migrates the template");
    let raw = raw_client(&db.url()).await;
    Migrated { db, _dir: dir, tenantry, migrator, raw }
}

#[tokio::test]
async fn an_unusable_template_is_judged_once_until_it_changes() {
    let Migrated { db, _dir, tenantry, migrator, raw } = migrated("create_judged_once", 10).await;
    let events = Events::default();
    let migrator = events.watch(migrator);
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
    let Migrated { db: _db, _dir, tenantry, migrator, raw } = migrated("create_refused_kinds", 3).await;
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

/// A connection whose every statement's plan comes back as a notice (auto_explain), with
/// sequential scans planned only where no index can serve.
async fn explaining_client(url: &str) -> (tokio_postgres::Client, Arc<Mutex<Vec<String>>>) {
    use futures_util::StreamExt;
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connects");
    let plans = Arc::new(Mutex::new(Vec::new()));
    let sink = plans.clone();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                sink.lock().expect("plans").push(notice.message().to_owned());
            }
        }
    });
    client
        .batch_execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice; \
             SET auto_explain.log_nested_statements = on; \
             SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off",
        )
        .await
        .expect("auto_explain");
    (client, plans)
}

/// Catalog scans in `plan` that do not look up their index's leading column: sequential scans
/// and index scans that walk a whole index (`pg_class_relname_nsp_index` searched by
/// `relnamespace` alone). `leading` maps each catalog index to its first column.
fn unindexed_scans(plan: &str, leading: &std::collections::HashMap<String, String>) -> Vec<String> {
    let lines: Vec<&str> = plan.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if let Some(relation) = line.split("Seq Scan on ").nth(1) {
            // pg_event_trigger holds the database's event triggers, never one per tenant.
            if relation.starts_with("pg_") && !relation.starts_with("pg_event_trigger") {
                found.push(line.trim().to_owned());
            }
            continue;
        }
        let index = ["Index Scan using ", "Index Only Scan using ", "Bitmap Index Scan on "]
            .iter()
            .find_map(|node| line.split(node).nth(1))
            .and_then(|rest| rest.split_whitespace().next());
        let Some(column) = index.and_then(|index| leading.get(index)) else { continue };
        let depth = line.len() - line.trim_start().len();
        let condition = lines[at + 1..]
            .iter()
            .take_while(|next| !next.trim_start().starts_with("->") && next.len() - next.trim_start().len() > depth)
            .find_map(|next| next.trim().strip_prefix("Index Cond: "));
        let uses_leading = condition.is_some_and(|condition| {
            condition.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word == column)
        });
        if !uses_leading {
            found.push(format!("{} ({})", line.trim(), condition.unwrap_or("no index condition")));
        }
    }
    found
}

#[tokio::test]
async fn judging_the_template_looks_up_no_catalog_by_anything_but_an_index() {
    let Migrated { db, _dir, tenantry: _tenantry, migrator: _migrator, raw } =
        migrated("create_indexed_reads", 10).await;
    let leading: std::collections::HashMap<String, String> = raw
        .query(
            "SELECT c.relname::text, a.attname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE c.relnamespace = 'pg_catalog'::regnamespace",
            &[],
        )
        .await
        .expect("catalog indexes")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let (client, plans) = explaining_client(&db.url()).await;
    let script = CloneScript::read(&client, "tenantry_template", &["tenantry_migrations"]).await.expect("reads");
    assert!(script.is_ok(), "{script:?}");
    let fingerprint: String = client.query_one(&fingerprint_sql("tenantry_template"), &[]).await.expect("fp").get(0);
    client.batch_execute(&check_fingerprint_sql("tenantry_template", &fingerprint)).await.expect("checks");

    let plans = plans.lock().expect("plans");
    assert!(plans.len() > 10, "auto_explain reported {} plans", plans.len());
    let scans: Vec<String> = plans.iter().flat_map(|plan| unindexed_scans(plan, &leading)).collect();
    assert!(scans.is_empty(), "catalogs read in full, whose size grows with every tenant:\n{}", scans.join("\n"));
}
