//! The harness against a real cluster: tests in this binary run in parallel on one cluster.

use std::collections::HashSet;

use tenantry_test_support::{test_database, Cluster, TestDatabase};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

async fn connect(target: &str) -> Client {
    let (client, connection) =
        tokio_postgres::connect(target, NoTls).await.unwrap_or_else(|err| panic!("connect to {target}: {err}"));
    tokio::spawn(connection);
    client
}

/// The first column of the first row of a simple query.
async fn scalar(client: &Client, sql: &str) -> Option<String> {
    let messages = client.simple_query(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    messages.into_iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
        _ => None,
    })?
}

async fn database_exists(name: &str) -> bool {
    let admin = connect(&Cluster::shared().socket_conninfo("postgres")).await;
    let count: i64 = admin
        .query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("query pg_database")
        .get(0);
    count == 1
}

#[tokio::test]
async fn two_databases_are_distinct_and_usable() {
    let a = test_database("distinct a").await;
    let b = test_database("distinct b").await;
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("t_distinct_a_"), "{}", a.name());

    // One over TCP, the other over the Unix socket.
    let in_a = connect(&a.url()).await;
    let in_b = connect(&b.conninfo()).await;
    in_a.batch_execute("CREATE TABLE only_in_a (id int); INSERT INTO only_in_a VALUES (7)")
        .await
        .expect("create a table in a");
    assert_eq!(scalar(&in_a, "SELECT id FROM only_in_a").await.as_deref(), Some("7"));
    assert_eq!(scalar(&in_a, "SELECT current_database()").await.as_deref(), Some(a.name()));
    assert_eq!(scalar(&in_b, "SELECT to_regclass('public.only_in_a')").await, None);
    assert_eq!(scalar(&in_b, "SELECT current_database()").await.as_deref(), Some(b.name()));
}

#[tokio::test]
async fn database_is_dropped_with_the_value() {
    let db = test_database("dropped").await;
    let name = db.name().to_owned();
    assert!(database_exists(&name).await);
    // An open connection does not stop the drop (WITH (FORCE)).
    let open = connect(&db.url()).await;
    assert_eq!(scalar(&open, "SELECT 1").await.as_deref(), Some("1"));
    drop(db);
    assert!(!database_exists(&name).await, "{name} still exists");
}

#[tokio::test]
async fn database_is_kept_when_the_test_panics() {
    let db = test_database("kept").await;
    let name = db.name().to_owned();
    let marker =
        Cluster::shared().data_dir().parent().expect("the data directory sits in the cluster directory").join("KEEP");
    let failed = std::thread::spawn(move || {
        let _db: TestDatabase = db;
        panic!("a deliberate failure, to keep the database");
    })
    .join();
    assert!(failed.is_err());
    assert!(database_exists(&name).await, "{name} was dropped despite the panic");
    let kept = std::fs::read_to_string(&marker).expect("the KEEP marker was written");
    assert!(kept.lines().any(|line| line == name), "{kept}");

    // Undo this keep only (another test may have failed for real), so that a passing test
    // binary still cleans up after itself.
    let others: Vec<&str> = kept.lines().filter(|line| *line != name).collect();
    if others.is_empty() {
        std::fs::remove_file(&marker).expect("remove the KEEP marker");
    } else {
        std::fs::write(&marker, others.join("\n") + "\n").expect("rewrite the KEEP marker");
    }
    let admin = connect(&Cluster::shared().socket_conninfo("postgres")).await;
    admin.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await.expect("drop the kept database");
}

#[tokio::test]
async fn pgbouncer_reaches_the_test_database() {
    let db = test_database("pgbouncer").await;
    let cluster = Cluster::shared();
    let pgbouncer = cluster.pgbouncer();
    assert_ne!(pgbouncer.port(), cluster.port());
    assert_eq!(db.pgbouncer_url(), pgbouncer.url(db.name()));
    assert!(db.pgbouncer_url().contains(&format!(":{}/", pgbouncer.port())));

    // Simple protocol only: PgBouncer 1.18 in transaction mode has no prepared statements.
    let pooled = connect(&db.pgbouncer_url()).await;
    assert_eq!(scalar(&pooled, "SELECT 1").await.as_deref(), Some("1"));
    assert_eq!(scalar(&pooled, "SELECT current_database()").await.as_deref(), Some(db.name()));
    drop(pooled);
    // Dropping the database succeeds although PgBouncer may still hold a server connection.
    let name = db.name().to_owned();
    drop(db);
    assert!(!database_exists(&name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tests_share_one_cluster() {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let db = test_database(&format!("parallel_{i}")).await;
                let client = connect(&db.url()).await;
                client
                    .batch_execute(&format!("CREATE TABLE t (n int); INSERT INTO t VALUES ({i})"))
                    .await
                    .expect("write in a parallel database");
                assert_eq!(scalar(&client, "SELECT n FROM t").await, Some(i.to_string()));
                (db.name().to_owned(), db.cluster().port())
            })
        })
        .collect();
    let mut names = HashSet::new();
    for task in tasks {
        let (name, port) = task.await.expect("a parallel task");
        assert_eq!(port, Cluster::shared().port());
        assert!(names.insert(name));
    }
    assert_eq!(names.len(), 8);
    assert!(std::ptr::eq(Cluster::shared(), Cluster::shared()));
}

#[test]
fn cluster_paths_and_urls() {
    let cluster = Cluster::shared();
    assert!(cluster.bin_dir().join("psql").is_file());
    assert!(cluster.bin_dir().join("pg_dump").is_file());
    assert!(cluster.data_dir().join("PG_VERSION").is_file());
    assert!(cluster.socket_dir().join(format!(".s.PGSQL.{}", cluster.port())).exists());
    assert_eq!(cluster.url("x"), format!("postgresql://postgres@127.0.0.1:{}/x", cluster.port()));
    assert_eq!(
        cluster.socket_conninfo("x"),
        format!("host={} port={} user=postgres dbname=x", cluster.socket_dir().display(), cluster.port())
    );
}

#[tokio::test]
async fn the_durable_cluster_waits_for_the_disk() {
    let durable = Cluster::durable();
    assert!(durable.is_durable() && !Cluster::shared().is_durable());
    assert_ne!(durable.port(), Cluster::shared().port(), "a cluster of its own");
    let db = durable.database("durable").await;
    let client = connect(&db.url()).await;
    for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
        assert_eq!(scalar(&client, &format!("SHOW {setting}")).await.as_deref(), Some("on"), "{setting}");
    }
}
