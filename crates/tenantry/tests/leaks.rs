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
    shared_marker(db).await;
    let tenantry = connect(db, |config| {
        config.shared_schemas = vec!["shared".into()];
        config.pool.max_size = 1;
    })
    .await;
    let acme = create_with_marker(&tenantry, "acme").await;
    let globex = create_with_marker(&tenantry, "globex").await;
    (tenantry, acme, globex)
}

/// A `shared` schema whose `marker` says `SHARED`: what a tenant's query that fell through
/// to the shared schemas would read.
async fn shared_marker(db: &TestDatabase) {
    raw_client(&db.url())
        .await
        .batch_execute(
            "CREATE SCHEMA shared; CREATE TABLE shared.marker (tenant text); INSERT INTO shared.marker VALUES ('SHARED')",
        )
        .await
        .expect("shared schema");
}

/// Which guard a tenant's transactions get (`crates/tenantry/src/schema/statements.rs`, `Guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The tenant has tenantry's bookkeeping table, which transactions lock (what every
    /// creation by tenantry writes).
    Anchored,
    /// It has none, and is a tenant by its prefix (`u_`) alone, as schemas made outside
    /// tenantry are: transactions take the advisory existence lock.
    Unanchored,
}

impl Kind {
    /// The schema of tenant `name`.
    fn schema(self, name: &str) -> String {
        match self {
            Self::Anchored => name.to_owned(),
            Self::Unanchored => format!("u_{name}"),
        }
    }

    /// `shared` after the tenant, and the prefix that makes unanchored schemas tenants.
    fn configure(self, config: &mut tenantry::Config) {
        config.shared_schemas = vec!["shared".into()];
        if self == Self::Unanchored {
            config.schema_prefix = "u_".into();
        }
    }
}

/// The SQL that makes `name` a tenant of `kind` with a `marker` holding its name, sent on a
/// connection of its own so that the `Tenantry` under test has never seen the schema.
fn tenant_sql(name: &str, kind: Kind) -> String {
    let schema = tenantry::sql::quote_ident(&kind.schema(name));
    let mut sql = format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.marker (tenant text NOT NULL); \
         INSERT INTO {schema}.marker VALUES ({})",
        tenantry::sql::quote_literal(name)
    );
    if kind == Kind::Anchored {
        sql.push_str("; ");
        sql.push_str(&tenantry::migrate::bookkeeping::create_table_sql(&kind.schema(name)));
    }
    sql
}

/// `shared_marker`, then `acme` and `globex` of `kind` and a `Tenantry` (pool of one) with
/// `shared` after the tenant.
async fn guarded_tenants(db: &TestDatabase, kind: Kind) -> (Tenantry, TenantName, TenantName) {
    shared_marker(db).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!("{}; {}", tenant_sql("acme", kind), tenant_sql("globex", kind))).await.expect("tenants");
    let tenantry = connect(db, |config| {
        kind.configure(config);
        config.pool.max_size = 1;
    })
    .await;
    let (acme, globex) = (tenantry.tenant("acme").expect("valid"), tenantry.tenant("globex").expect("valid"));
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

/// Runs a scenario for tenants of each kind, in a database of its own.
macro_rules! for_each_kind {
    ($scenario:ident: $anchored:ident, $unanchored:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $anchored() {
            $scenario(stringify!($anchored), Kind::Anchored).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $unanchored() {
            $scenario(stringify!($unanchored), Kind::Unanchored).await;
        }
    };
}

for_each_kind!(drop_waits: a_drop_waits_for_the_tenants_open_transaction, a_drop_waits_for_an_unanchored_tenants_open_transaction);
for_each_kind!(rename_waits: a_rename_waits_for_the_tenants_open_transaction, a_rename_waits_for_an_unanchored_tenants_open_transaction);
for_each_kind!(
    late_transaction_finds_tenant_gone: a_transaction_that_waited_for_a_drop_finds_the_tenant_gone,
    a_transaction_that_waited_for_a_drop_finds_an_unanchored_tenant_gone
);
for_each_kind!(
    drops_and_renames_under_load: drops_and_renames_under_load_never_serve_shared_rows_as_the_tenants,
    drops_and_renames_under_load_never_serve_shared_rows_as_unanchored_tenants
);

async fn drop_waits(name: &str, kind: Kind) {
    let db = test_database(name).await;
    let (tenantry, acme, _) = guarded_tenants(&db, kind).await;
    let dropper = connect(&db, |config| kind.configure(config)).await;
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

async fn rename_waits(name: &str, kind: Kind) {
    let db = test_database(name).await;
    let (tenantry, acme, _) = guarded_tenants(&db, kind).await;
    let renamer = connect(&db, |config| kind.configure(config)).await;
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

async fn late_transaction_finds_tenant_gone(name: &str, kind: Kind) {
    let db = test_database(name).await;
    let (tenantry, acme, _) = guarded_tenants(&db, kind).await;
    let other = connect(&db, |config| kind.configure(config)).await;
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

async fn drops_and_renames_under_load(name: &str, kind: Kind) {
    let db = test_database(name).await;
    shared_marker(&db).await;
    let raw = raw_client(&db.url()).await;
    let tenants: Vec<String> = (0..6).map(|index| format!("t{index}")).collect();
    for tenant in &tenants {
        raw.batch_execute(&tenant_sql(tenant, kind)).await.expect("creates");
    }
    let tenantry = connect(&db, |config| {
        kind.configure(config);
        config.pool.max_size = 8;
        config.migrations.lock_timeout_ms = 0;
    })
    .await;
    let tenants: Vec<TenantName> = tenants.iter().map(|tenant| tenantry.tenant(tenant).expect("valid")).collect();
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
        async move {
            let mut changes = 0_u32;
            while Instant::now() < deadline {
                for tenant in &tenants {
                    let renamed = tenantry.tenant(&format!("{tenant}-moved")).expect("valid");
                    tenantry.rename(tenant, &renamed).await.expect("renames");
                    tenantry.rename(&renamed, tenant).await.expect("renames back");
                    tenantry.drop(tenant).await.expect("drops");
                    raw.batch_execute(&tenant_sql(tenant.as_str(), kind)).await.expect("recreates");
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
for_each_kind!(
    sqlx_transaction_after_a_drop: an_sqlx_transaction_that_waited_for_a_drop_never_falls_through,
    an_sqlx_transaction_that_waited_for_a_drop_of_an_unanchored_tenant_never_falls_through
);

#[cfg(feature = "sqlx")]
async fn sqlx_transaction_after_a_drop(name: &str, kind: Kind) {
    let db = test_database(name).await;
    let (tenantry, acme, _) = guarded_tenants(&db, kind).await;
    let other = connect(&db, |config| kind.configure(config)).await;
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

/// The locks the backend `pid` holds on `schema`'s bookkeeping table, and its advisory locks
/// of the existence lock class (`crates/tenantry/src/schema/statements.rs`).
async fn guard_locks(raw: &tokio_postgres::Client, pid: i32, schema: &str) -> (Vec<String>, i64) {
    let table = format!("{}.tenantry_migrations", tenantry::sql::quote_ident(schema));
    let relation: Vec<String> = raw
        .query(
            "SELECT mode FROM pg_locks WHERE pid = $1 AND granted AND relation = pg_catalog.to_regclass($2)",
            &[&pid, &table],
        )
        .await
        .expect("relation locks")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let advisory: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE pid = $1 AND granted AND locktype = 'advisory' AND classid::bigint = $2",
            &[&pid, &i64::from(tenantry::schema::statements::EXISTENCE_LOCK_CLASS)],
        )
        .await
        .expect("advisory locks")
        .get(0);
    (relation, advisory)
}

/// The backend of a transaction, from inside it.
async fn backend(tx: &mut tenantry::TenantTransaction) -> i32 {
    tx.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get(0)
}

#[tokio::test]
async fn a_tenant_transaction_locks_its_anchor_and_falls_back_to_the_advisory_lock_without_one() {
    let db = test_database("leaks_guard_kinds").await;
    shared_marker(&db).await;
    let raw = raw_client(&db.url()).await;
    // Both tenants by the `u_` prefix; only acme has a bookkeeping table.
    let kind = Kind::Unanchored;
    raw.batch_execute(&format!(
        "{}; {}; {}",
        tenant_sql("acme", kind),
        tenantry::migrate::bookkeeping::create_table_sql("u_acme"),
        tenant_sql("globex", kind)
    ))
    .await
    .expect("tenants");
    let tenantry = connect(&db, |config| kind.configure(config)).await;
    let (acme, globex) = (tenantry.tenant("acme").expect("valid"), tenantry.tenant("globex").expect("valid"));
    for _ in 0..2 {
        let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
        let pid = backend(&mut tx).await;
        assert_eq!(guard_locks(&raw, pid, "u_acme").await, (vec!["AccessShareLock".to_owned()], 0), "the anchor only");
        let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
        assert_eq!(marker, "acme");
        tx.commit().await.expect("commits");

        let mut tx = tenantry.transaction_in(Some(&globex)).await.expect("an unanchored tenant begins too");
        let pid = backend(&mut tx).await;
        assert_eq!(guard_locks(&raw, pid, "u_globex").await, (vec![], 1), "the advisory existence lock");
        let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
        assert_eq!(marker, "globex");
        tx.commit().await.expect("commits");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_typed_by_hand_waits_for_an_anchored_tenants_transaction() {
    let db = test_database("leaks_hand_drop").await;
    let (tenantry, acme, _) = guarded_tenants(&db, Kind::Anchored).await;
    let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
    tx.query("SELECT 1", &[]).await.expect("touches nothing of acme's yet");
    let raw = raw_client(&db.url()).await;
    let dropping = tokio::spawn(async move { raw.batch_execute(r#"DROP SCHEMA "acme" CASCADE"#).await });
    tokio::time::sleep(SETTLE).await;
    assert!(!dropping.is_finished(), "DROP SCHEMA must lock the anchor, which the transaction holds");
    // DROP SCHEMA locked `marker` before it reached the anchor, so reading it now is a
    // deadlock, which PostgreSQL breaks by cancelling one of the two. Either way the
    // transaction never reads another schema's rows. (tenantry's own drop locks the anchor
    // first: `crates/tenantry/src/schema/lifecycle.rs`.)
    match tx.query_one("SELECT tenant FROM marker", &[]).await {
        Ok(row) => {
            assert_eq!(row.get::<_, String>(0), "acme", "never the shared table's rows");
            tx.commit().await.expect("commits");
            match dropping.await.expect("joins") {
                Ok(()) => {}
                Err(err) => assert_eq!(err.code(), Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED)),
            }
        }
        Err(err) => {
            assert_eq!(err.sqlstate(), Some("40P01"), "the transaction was the deadlock's victim: {err}");
            drop(tx);
            dropping.await.expect("joins").expect("drops once the transaction rolled back");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_not_read_the_anchor_is_guarded_by_the_advisory_lock() {
    let db = test_database("leaks_unreadable_anchor").await;
    shared_marker(&db).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&format!(
        "{}; CREATE ROLE leaks_app_role LOGIN; GRANT USAGE ON SCHEMA acme, shared TO leaks_app_role; \
         GRANT SELECT ON acme.marker, shared.marker TO leaks_app_role",
        tenant_sql("acme", Kind::Anchored)
    ))
    .await
    .expect("tenant and a role that may not read tenantry_migrations");
    let url = db.url().replacen("postgres@", "leaks_app_role@", 1);
    assert_ne!(url, db.url(), "the URL names its user");
    let mut config = tenantry::Config::default();
    config.database_url = Some(url);
    config.shared_schemas = vec!["shared".into()];
    config.pool.max_size = 1;
    let app = Tenantry::connect(config).await.expect("connects as the application role");
    let acme = app.tenant("acme").expect("valid");
    let mut tx = app.transaction_in(Some(&acme)).await.expect("begins without reading the anchor");
    let pid = backend(&mut tx).await;
    assert_eq!(guard_locks(&raw, pid, "acme").await, (vec![], 1), "the advisory existence lock instead");
    let dropper = connect(&db, |config| {
        config.shared_schemas = vec!["shared".into()];
        config.migrations.lock_timeout_ms = 300;
    })
    .await;
    let err = dropper.drop(&acme).await.expect_err("the transaction holds acme");
    assert!(matches!(err, Error::TenantBusy { .. }), "{err:?}");
    let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
    assert_eq!(marker, "acme");
    tx.commit().await.expect("commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_gains_its_anchor_in_a_migration_is_anchored_from_the_announcement_on() {
    use tenantry::announce::SchemaChange;

    let db = test_database("leaks_anchor_after_migration").await;
    shared_marker(&db).await;
    let dir = common::workload(1);
    let kind = Kind::Unanchored;
    let (admin, _) = common::setup_migrator(&db, dir.path(), |config| kind.configure(config)).await;
    let app = connect(&db, |config| {
        kind.configure(config);
        config.pool.max_size = 1;
    })
    .await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(&tenant_sql("acme", kind)).await.expect("a tenant without a bookkeeping table");
    let acme = app.tenant("acme").expect("valid");
    let mut tx = app.transaction_in(Some(&acme)).await.expect("begins");
    let pid = backend(&mut tx).await;
    assert_eq!(guard_locks(&raw, pid, "u_acme").await, (vec![], 1), "unanchored before the migration");
    tx.commit().await.expect("commits");

    let mut changes = app.schema_changes();
    tenantry::migrate::Migrator::load(&admin)
        .expect("loads")
        .run(&tenantry::migrate::RunOptions::default())
        .await
        .expect("migrates, creating acme's bookkeeping table");
    let wait = async {
        loop {
            match changes.recv().await {
                Ok(SchemaChange::Changed { schemas }) if schemas.iter().any(|s| s == "u_acme") => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(err) => panic!("the listener stopped: {err}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("announced within 10 s");
    let mut tx = app.transaction_in(Some(&acme)).await.expect("begins");
    let pid = backend(&mut tx).await;
    assert_eq!(guard_locks(&raw, pid, "u_acme").await, (vec!["AccessShareLock".to_owned()], 0), "anchored now");
    tx.commit().await.expect("commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenants_own_enum_type_is_read_behind_pgbouncer() {
    let db = test_database("leaks_enum_pgbouncer").await;
    let raw = raw_client(&db.url()).await;
    let tenants = ["acme", "globex", "initech"];
    for tenant in tenants {
        raw.batch_execute(&format!(
            "CREATE SCHEMA {tenant}; CREATE TYPE {tenant}.plan AS ENUM ('free', 'paid'); \
             CREATE TABLE {tenant}.account (plan {tenant}.plan NOT NULL); INSERT INTO {tenant}.account VALUES ('paid')"
        ))
        .await
        .expect("a tenant with its own enum type");
    }
    let mut config = tenantry::Config::default();
    config.database_url = Some(db.pgbouncer_url());
    config.pool.behind_pgbouncer = true;
    config.pool.max_size = 1;
    // Two applications through one PgBouncer: their transactions share its server connections.
    let first = Tenantry::connect(config.clone()).await.expect("connects through PgBouncer");
    let second = Tenantry::connect(config).await.expect("connects through PgBouncer");
    for round in 0..2 {
        for (index, tenant) in tenants.iter().enumerate() {
            let tenantry = if (index + round) % 2 == 0 { &first } else { &second };
            let tenant = tenantry.tenant(tenant).expect("valid");
            let mut tx = tenantry.transaction_in(Some(&tenant)).await.expect("begins");
            // A column of a type the driver has not seen: it looks the type up with a statement
            // of its own, which must exist on whichever server connection PgBouncer lent.
            let rows = tx.query("SELECT plan FROM account", &[]).await;
            let rows = rows.unwrap_or_else(|err| panic!("round {round}, {tenant}: {err}"));
            assert_eq!(rows.len(), 1);
            tx.commit().await.expect("commits");
        }
    }
    // A type first met after another statement of the transaction cannot be retried: the
    // transaction may fail, but its connection is retired, and the next transaction works.
    raw.batch_execute(
        "CREATE SCHEMA hooli; CREATE TYPE hooli.plan AS ENUM ('free', 'paid');          CREATE TABLE hooli.account (plan hooli.plan NOT NULL); INSERT INTO hooli.account VALUES ('free')",
    )
    .await
    .expect("another tenant");
    let hooli = first.tenant("hooli").expect("valid");
    let mut tx = first.transaction_in(Some(&hooli)).await.expect("begins");
    tx.query("SELECT 1", &[]).await.expect("runs");
    if let Err(err) = tx.query("SELECT plan FROM account", &[]).await {
        assert_eq!(err.sqlstate(), Some("26000"), "{err}");
    }
    drop(tx);
    let mut tx = first.transaction_in(Some(&hooli)).await.expect("begins");
    let rows = tx.query("SELECT plan FROM account", &[]).await.expect("a fresh connection reads the type");
    assert_eq!(rows.len(), 1);
    tx.commit().await.expect("commits");
}

#[tokio::test]
async fn a_role_set_for_the_session_in_a_transaction_never_reaches_the_next_transaction() {
    let db = test_database("leaks_transaction_role").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    let raw = raw_client(&db.url()).await;
    raw.batch_execute(
        "CREATE ROLE leaks_acme_role; GRANT USAGE ON SCHEMA acme, shared TO leaks_acme_role; \
         GRANT SELECT ON acme.marker, shared.marker TO leaks_acme_role",
    )
    .await
    .expect("a role of acme's (as an application using row-level security would have)");
    let login: String = raw.query_one("SELECT current_user::text", &[]).await.expect("user").get(0);
    for (sql, ends) in [
        ("SET ROLE leaks_acme_role", "COMMIT"),
        ("SELECT set_config('role', 'leaks_acme_role', false)", "COMMIT"),
        ("SET ROLE leaks_acme_role", "ROLLBACK"),
    ] {
        let mut tx = tenantry.transaction_in(Some(&acme)).await.expect("begins");
        tx.batch_execute(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
        let user: String = tx.query_one("SELECT current_user::text", &[]).await.expect("reads").get(0);
        assert_eq!(user, "leaks_acme_role", "{sql} took effect");
        match ends {
            "COMMIT" => tx.commit().await.expect("commits"),
            _ => tx.rollback().await.expect("rolls back"),
        }
        // The pool has one connection: the next transaction, another tenant's, gets it.
        let mut tx = tenantry.transaction_in(Some(&globex)).await.expect("begins");
        let user: String = tx.query_one("SELECT current_user::text", &[]).await.expect("reads").get(0);
        assert_eq!(user, login, "after {sql:?} and {ends}, globex's transaction runs as the login user");
        tx.commit().await.expect("commits");
    }
}

#[cfg(feature = "sqlx")]
#[tokio::test]
async fn a_role_set_in_an_sqlx_transaction_never_reaches_the_next_one() {
    let db = test_database("leaks_sqlx_role").await;
    let (tenantry, acme, globex) = two_tenants(&db).await;
    raw_client(&db.url())
        .await
        .batch_execute("CREATE ROLE leaks_sqlx_role; GRANT USAGE ON SCHEMA acme TO leaks_sqlx_role")
        .await
        .expect("role");
    let pool = sqlx_pool(&db).await;
    let mut tx = tenantry.sqlx_transaction_in(&pool, Some(&acme)).await.expect("begins");
    sqlx::query("SET ROLE leaks_sqlx_role").execute(&mut *tx).await.expect("sets the role for the session");
    tx.commit().await.expect("commits");
    let mut tx = tenantry.sqlx_transaction_in(&pool, Some(&globex)).await.expect("begins");
    let (user,): (String,) = sqlx::query_as("SELECT current_user::text").fetch_one(&mut *tx).await.expect("reads");
    assert_eq!(user, "postgres", "the next transaction runs as the login user");
    tx.commit().await.expect("commits");
}
