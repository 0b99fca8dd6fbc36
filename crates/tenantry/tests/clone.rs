//! Cloning a template schema in the database: the clone's `pg_dump --schema-only` must equal
//! that of a schema built by running the migrations, and templates holding anything the clone
//! cannot reproduce must be refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{dump, raw_client};
use tenantry::schema::clone::{CloneScript, Unsupported};
use tenantry::sql::{quote_ident, quote_literal};
use tenantry_test_support::{test_database, TestDatabase};
use tokio_postgres::Client;

const TEMPLATE: &str = "tenantry_template";
const BOOKKEEPING: &str = "CREATE TABLE tenantry_migrations (version bigint PRIMARY KEY, description text NOT NULL, \
     checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms bigint NOT NULL)";

/// The workload's up migrations, in version order: (version, description, SQL).
fn workload() -> Vec<(i64, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workload");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reads the workload folder")
        .map(|entry| entry.expect("reads a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".up.sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path.file_name().and_then(|name| name.to_str()).expect("UTF-8 file name");
            let stem = name.trim_end_matches(".up.sql");
            let (version, description) = stem.split_once('_').expect("NNNN_name.up.sql");
            let sql = std::fs::read_to_string(path).expect("reads a migration");
            (version.parse().expect("numeric version"), description.to_owned(), sql)
        })
        .collect()
}

/// Creates `schema` and runs each migration in its own transaction with the schema alone on the
/// search path, recording it in the bookkeeping table, as tenantry's migrator does.
async fn migrate(client: &Client, schema: &str, migrations: &[(i64, String, String)]) -> Duration {
    let started = Instant::now();
    let schema = quote_ident(schema);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("creates the schema");
    client
        .batch_execute(&format!("BEGIN; SET LOCAL search_path TO {schema}; {BOOKKEEPING}; COMMIT"))
        .await
        .expect("creates the bookkeeping table");
    for (version, description, sql) in migrations {
        let record = format!(
            "INSERT INTO tenantry_migrations (version, description, checksum, duration_ms) \
             VALUES ({version}, {}, sha384({}::bytea), 1)",
            quote_literal(description),
            quote_literal(sql)
        );
        if sql.starts_with("-- no-transaction") {
            // One statement alone (CREATE INDEX CONCURRENTLY cannot run in a transaction block,
            // and a multi-statement message is one), as tenantry runs such a migration.
            client.batch_execute(&format!("SET search_path TO {schema}")).await.expect("sets the search path");
            client.batch_execute(sql).await.unwrap_or_else(|err| panic!("migration {version} fails: {err:?}"));
            client.batch_execute(&format!("{record}; RESET search_path")).await.expect("records it");
            continue;
        }
        client
            .batch_execute(&format!("BEGIN; SET LOCAL search_path TO {schema};\n{sql};\n{record}; COMMIT"))
            .await
            .unwrap_or_else(|err| panic!("migration {version} fails in {schema}: {err:?}"));
    }
    started.elapsed()
}

/// Migrations from SQL texts: versions 1, 2, … and descriptions `<prefix>_0`, `<prefix>_1`, ….
fn numbered(texts: &[&str], prefix: &str) -> Vec<(i64, String, String)> {
    (1..).zip(texts).map(|(version, sql)| (version, format!("{prefix}_{}", version - 1), (*sql).to_owned())).collect()
}

/// Creates `schema` and replays `script` in one transaction, in one message.
async fn clone_into(client: &Client, schema: &str, shared: &[&str], script: &CloneScript) -> Duration {
    let mut path = vec![quote_ident(schema)];
    path.extend(shared.iter().map(|name| quote_ident(name)));
    let sql = format!(
        "BEGIN; CREATE SCHEMA {}; SET LOCAL search_path TO {};\n{};\nCOMMIT",
        quote_ident(schema),
        path.join(", "),
        script.to_sql()
    );
    let started = Instant::now();
    client.batch_execute(&sql).await.unwrap_or_else(|err| panic!("the script fails: {err:?}\n{script}"));
    started.elapsed()
}

async fn read(client: &Client, template: &str, copy_data_of: &[&str]) -> Result<CloneScript, Unsupported> {
    CloneScript::read(client, template, copy_data_of).await.expect("reads the catalog")
}

/// A line diff (longest common subsequence) with three lines of context, for failures.
fn diff(left: &str, right: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
    let mut lcs = vec![vec![0_usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            lines.push(('+', b[j]));
            j += 1;
        } else {
            lines.push(('-', a[i]));
            i += 1;
        }
    }
    let near_change = |k: usize| lines[k.saturating_sub(3)..(k + 4).min(lines.len())].iter().any(|(m, _)| *m != ' ');
    (0..lines.len()).filter(|&k| near_change(k)).map(|k| format!("{}{}\n", lines[k].0, lines[k].1)).collect()
}

fn assert_same_dump(migrated: &str, cloned: &str) {
    assert!(migrated.contains("CREATE TABLE"), "the dump is not empty:\n{migrated}");
    assert!(
        migrated == cloned,
        "the clone differs from the migrated schema (- migrated, + cloned):\n{}",
        diff(migrated, cloned)
    );
}
/// Migrates `template` and a `migrated` schema with `migrations`, clones the template into
/// `cloned` (with `shared` after it on the path), and asserts that `cloned` dumps exactly like
/// `migrated`. Returns the script, for assertions on what it contains.
async fn clone_like_migrated(
    db: &TestDatabase,
    client: &Client,
    template: &str,
    migrations: &[(i64, String, String)],
    copy_data_of: &[&str],
    shared: &[&str],
) -> CloneScript {
    migrate(client, template, migrations).await;
    migrate(client, "migrated", migrations).await;
    let script = read(client, template, copy_data_of)
        .await
        .unwrap_or_else(|unsupported| panic!("the template should be clonable: {unsupported}"));
    clone_into(client, "cloned", shared, &script).await;
    assert_same_dump(&dump(db, "migrated").await, &dump(db, "cloned").await);
    script
}

async fn bookkeeping(client: &Client, schema: &str) -> Vec<(i64, String, Vec<u8>, String, i64)> {
    let sql = format!(
        "SELECT version, description, checksum, applied_at::text, duration_ms FROM {}.tenantry_migrations ORDER BY version",
        quote_ident(schema)
    );
    let rows = client.query(&sql, &[]).await.expect("reads the bookkeeping rows");
    rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))).collect()
}

#[tokio::test]
async fn clone_of_the_workload_dumps_like_the_migrated_schema() {
    let db = test_database("clone_workload").await;
    let client = raw_client(&db.url()).await;
    let migrations = workload();
    assert_eq!(migrations.len(), 10);
    migrate(&client, TEMPLATE, &migrations).await;
    let migrating = migrate(&client, "migrated", &migrations).await;

    let started = Instant::now();
    let script = read(&client, TEMPLATE, &["tenantry_migrations"]).await.expect("the workload is clonable");
    let reading = started.elapsed();
    assert_eq!(script.template(), TEMPLATE);
    assert_eq!(script.owner(), "postgres");
    assert!(script.statements().iter().all(|s| !s.contains(TEMPLATE) || s.starts_with("INSERT INTO")), "{script}");
    let replaying = clone_into(&client, "cloned", &[], &script).await;
    eprintln!(
        "read {reading:?} ({} statements, {} bytes); replay {replaying:?}; 10 migrations {migrating:?}",
        script.statements().len(),
        script.to_sql().len()
    );

    assert_same_dump(&dump(&db, "migrated").await, &dump(&db, "cloned").await);
    let template_rows = bookkeeping(&client, TEMPLATE).await;
    assert_eq!(template_rows.len(), 10);
    assert_eq!(bookkeeping(&client, "cloned").await, template_rows);

    // The script is reusable: a second tenant from the same script, in its own schema.
    clone_into(&client, "cloned_again", &[], &script).await;
    assert_same_dump(&dump(&db, "migrated").await, &dump(&db, "cloned_again").await);
}

/// Object kinds the workload lacks, in two migrations; `shared` holds a table the tenants'
/// foreign key points at, and a table named like a tenant table that must not catch the
/// clone's unqualified names.
const EXTRA: [&str; 2] = [
    r#"
CREATE TYPE status AS ENUM ('new', 'active', 'closed');
CREATE SEQUENCE ticket_number_seq START 1000 INCREMENT 10;
CREATE FUNCTION default_quantity() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 1';
CREATE TABLE ticket (
    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 7 CACHE 5) PRIMARY KEY,
    number bigint NOT NULL DEFAULT nextval('ticket_number_seq'),
    status status NOT NULL DEFAULT 'new',
    region_id integer REFERENCES shared.region (id) ON DELETE SET NULL,
    quantity integer NOT NULL DEFAULT default_quantity() CONSTRAINT ticket_quantity_positive CHECK (quantity > 0),
    unit_price numeric(10, 2) NOT NULL,
    total numeric(12, 2) GENERATED ALWAYS AS (quantity * unit_price) STORED,
    email text COLLATE "C",
    legacy text,
    updated_at timestamptz
);
CREATE UNIQUE INDEX ticket_active_email ON ticket (lower(email)) WHERE status = 'active';
CREATE TABLE note (
    id serial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES ticket ON DELETE CASCADE DEFERRABLE,
    body text NOT NULL CHECK (body <> '')
);
CREATE VIEW open_ticket AS SELECT id, number, status FROM ticket WHERE status <> 'closed';
CREATE VIEW open_ticket_number AS SELECT number FROM open_ticket;
CREATE FUNCTION touch_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER ticket_touch BEFORE INSERT OR UPDATE OF quantity, unit_price ON ticket
    FOR EACH ROW WHEN (NEW.quantity IS NOT NULL) EXECUTE FUNCTION touch_ticket();
"#,
    r#"
ALTER TABLE ticket DROP COLUMN legacy;
ALTER TABLE ticket ADD COLUMN priority smallint NOT NULL DEFAULT 3;
SELECT setval('ticket_number_seq', 5000);
COMMENT ON TABLE ticket IS 'Support tickets';
COMMENT ON COLUMN ticket.status IS 'Where the ticket stands';
COMMENT ON INDEX ticket_active_email IS 'One active ticket per email';
COMMENT ON CONSTRAINT ticket_quantity_positive ON ticket IS 'No empty tickets';
COMMENT ON VIEW open_ticket IS 'Tickets not closed';
COMMENT ON FUNCTION touch_ticket() IS 'Keeps updated_at current';
COMMENT ON TYPE status IS 'Ticket status';
COMMENT ON SEQUENCE ticket_number_seq IS 'Ticket numbers';
COMMENT ON TRIGGER ticket_touch ON ticket IS 'Touches the ticket';
"#,
];

#[tokio::test]
async fn clone_with_more_object_kinds_dumps_like_the_migrated_schema() {
    let db = test_database("clone_kinds").await;
    let client = raw_client(&db.url()).await;
    client
        .batch_execute(
            "CREATE SCHEMA shared; CREATE TABLE shared.region (id integer PRIMARY KEY, name text NOT NULL); \
             CREATE TABLE shared.note (id integer PRIMARY KEY)",
        )
        .await
        .expect("creates the shared schema");
    let migrations = numbered(&EXTRA, "extra");
    let script = clone_like_migrated(&db, &client, TEMPLATE, &migrations, &["tenantry_migrations"], &["shared"]).await;
    let sql = script.to_sql();
    assert!(sql.contains("REFERENCES shared.region(id)"), "the foreign key keeps pointing at `shared`:\n{script}");
    assert_eq!(bookkeeping(&client, "cloned").await, bookkeeping(&client, TEMPLATE).await);
    for schema in ["migrated", "cloned"] {
        let sequence = format!("{}.ticket_number_seq", quote_ident(schema));
        let row = client.query_one(&format!("SELECT last_value, is_called FROM {sequence}"), &[]).await.expect("reads");
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, bool>(1)),
            (5000, true),
            "{schema}: the sequence stands where the template's does"
        );
    }
    // The clone works: its trigger, defaults, generated column and view.
    client
        .batch_execute(
            "INSERT INTO shared.region VALUES (1, 'north'); \
             INSERT INTO cloned.ticket (region_id, unit_price, email) VALUES (1, 2.50, 'a@example.com')",
        )
        .await
        .expect("inserts into the clone");
    let row = client
        .query_one(
            "SELECT t.id, t.number, t.total, t.updated_at IS NOT NULL, (SELECT count(*) FROM cloned.open_ticket_number) \
             FROM cloned.ticket t",
            &[],
        )
        .await
        .expect("reads the clone");
    assert_eq!(row.get::<_, i64>(0), 7);
    assert_eq!(row.get::<_, i64>(1), 5010);
    assert_eq!(row.get::<_, i64>(4), 1);
    assert!(row.get::<_, bool>(3), "the trigger ran");
}

/// Quoted names everywhere (the template's too), routines of every shape, an exclusion
/// constraint, a foreign key on a plain unique index, `NOT VALID` constraints, a trigger on a
/// view, a descending cycling sequence, and rows copied into an `ALWAYS` identity column.
const QUOTED: &str = r#"
CREATE TYPE "Mood" AS ENUM ('happy', 'it''s complicated');
CREATE TABLE "Order Item" (
    "ID" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "Moods" "Mood"[] NOT NULL DEFAULT '{}',
    during tsrange,
    code text,
    CONSTRAINT "no overlap" EXCLUDE USING gist (during WITH &&) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE UNIQUE INDEX "Order Item code" ON "Order Item" (code) WITH (fillfactor = 80);
CREATE TABLE "Line" (id integer PRIMARY KEY, code text);
ALTER TABLE "Line" ADD CONSTRAINT "Line code" FOREIGN KEY (code) REFERENCES "Order Item" (code) NOT VALID;
ALTER TABLE "Line" ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;
CREATE FUNCTION "Count Items"(m "Mood") RETURNS bigint LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT count(*) FROM "Order Item" WHERE m = ANY ("Moods");
END;
CREATE FUNCTION upper_code(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) $$;
CREATE INDEX "Line upper" ON "Line" (upper_code(code));
CREATE VIEW "Item View" AS SELECT "ID", "Count Items"('happy') AS happy FROM "Order Item";
CREATE FUNCTION count_view() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM "Item View" $$;
CREATE PROCEDURE reset_items(keep integer DEFAULT 0) LANGUAGE sql AS $$ DELETE FROM "Order Item" WHERE "ID" > keep $$;
CREATE FUNCTION item_view_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET work_mem = '8MB' AS $$
BEGIN
    RETURN NEW;
END
$$;
CREATE TRIGGER "Item View insert" INSTEAD OF INSERT ON "Item View" FOR EACH ROW EXECUTE FUNCTION item_view_insert();
CREATE SEQUENCE down_seq INCREMENT -1 MINVALUE -9223372036854775808 MAXVALUE -1 START -1 CACHE 10 CYCLE;
INSERT INTO "Order Item" (code) VALUES ('a'), ('b');
COMMENT ON FUNCTION "Count Items"("Mood") IS 'Items in a mood';
COMMENT ON PROCEDURE reset_items(integer) IS 'Start again';
COMMENT ON COLUMN "Item View".happy IS 'A view column';
COMMENT ON CONSTRAINT "no overlap" ON "Order Item" IS 'One booking at a time';
"#;

#[tokio::test]
async fn clone_with_quoted_names_and_routines_dumps_like_the_migrated_schema() {
    let db = test_database("clone_quoted").await;
    let client = raw_client(&db.url()).await;
    let template = "Tenant Template";
    let migrations = vec![(1, "quoted".to_owned(), QUOTED.to_owned())];
    clone_like_migrated(&db, &client, template, &migrations, &["tenantry_migrations", "Order Item"], &[]).await;
    let items = |schema: &str| format!(r#"SELECT "ID", code FROM {}."Order Item" ORDER BY 1"#, quote_ident(schema));
    let rows =
        |rows: Vec<tokio_postgres::Row>| -> Vec<(i32, String)> { rows.iter().map(|r| (r.get(0), r.get(1))).collect() };
    let copied = rows(client.query(&items("cloned"), &[]).await.expect("reads the clone"));
    assert_eq!(copied, rows(client.query(&items(template), &[]).await.expect("reads the template")));
    assert_eq!(copied, [(1, "a".to_owned()), (2, "b".to_owned())]);
    // The identity sequence continues where the template's stands.
    client.batch_execute(r#"INSERT INTO cloned."Order Item" (code) VALUES ('c')"#).await.expect("inserts");
    let next: i32 = client.query_one(r#"SELECT max("ID") FROM cloned."Order Item""#, &[]).await.expect("reads").get(0);
    assert_eq!(next, 3);
    // Routine bodies resolve names at run time, through the tenant's search path.
    client.batch_execute("SET search_path TO cloned").await.expect("sets the search path");
    let counted: i64 = client.query_one("SELECT count_view()", &[]).await.expect("calls").get(0);
    assert_eq!(counted, 3, "the function reads the clone's view, not the template's");
}

#[tokio::test]
async fn templates_with_unsupported_objects_are_refused() {
    let db = test_database("clone_unsupported").await;
    let client = raw_client(&db.url()).await;
    let cases = [
        (
            "with_partitions",
            "CREATE TABLE measurement (at date NOT NULL) PARTITION BY RANGE (at)",
            "partitioned table",
            "with_partitions.measurement",
        ),
        (
            "with_policy",
            "CREATE TABLE doc (owner text); ALTER TABLE doc ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY mine ON doc USING (owner = current_user)",
            "row-level security policy",
            "mine on with_policy.doc",
        ),
        (
            "with_matview_options",
            "CREATE TABLE t (x int); CREATE MATERIALIZED VIEW totals WITH (fillfactor = 70) AS SELECT sum(x) FROM t",
            "storage parameters or view options (WITH ...)",
            "with_matview_options.totals",
        ),
        (
            "with_index_statistics",
            "CREATE TABLE t (x int); CREATE INDEX t_lower ON t ((x + 1)); \
             ALTER INDEX t_lower ALTER COLUMN 1 SET STATISTICS 50",
            "column statistics target",
            "with_index_statistics.t_lower.expr",
        ),
        (
            "with_rls",
            "CREATE TABLE doc (owner text); ALTER TABLE doc ENABLE ROW LEVEL SECURITY",
            "row-level security",
            "with_rls.doc",
        ),
        ("with_domain", "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)", "domain", "with_domain.positive"),
        (
            "with_unlogged",
            "CREATE UNLOGGED TABLE cache (k text)",
            "unlogged or temporary relation",
            "with_unlogged.cache",
        ),
        (
            "with_options",
            "CREATE TABLE t (x int) WITH (fillfactor = 70)",
            "storage parameters or view options (WITH ...)",
            "with_options.t",
        ),
        (
            "with_pk_options",
            "CREATE TABLE t (x int, CONSTRAINT t_pkey PRIMARY KEY (x) WITH (fillfactor = 70))",
            "storage parameters or view options (WITH ...)",
            "with_pk_options.t_pkey",
        ),
        (
            "with_cluster",
            "CREATE TABLE t (x int PRIMARY KEY); CLUSTER t USING t_pkey",
            "CLUSTER index mark",
            "with_cluster.t_pkey",
        ),
        (
            "with_replica_identity",
            "CREATE TABLE t (x int); ALTER TABLE t REPLICA IDENTITY FULL",
            "replica identity",
            "with_replica_identity.t",
        ),
        (
            "with_stats_object",
            "CREATE TABLE t (x int, y int); CREATE STATISTICS t_xy ON x, y FROM t",
            "extended statistics",
            "with_stats_object.t_xy",
        ),
        (
            "with_disabled_trigger",
            "CREATE TABLE t (x int); \
             CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; \
             CREATE TRIGGER t_f BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); \
             ALTER TABLE t DISABLE TRIGGER t_f",
            "disabled or replica-only trigger",
            "t_f on with_disabled_trigger.t",
        ),
        (
            "with_grant",
            "CREATE TABLE t (x int); GRANT SELECT ON t TO PUBLIC",
            "privileges (GRANT/REVOKE)",
            "with_grant.t",
        ),
        (
            "with_rows",
            "CREATE TABLE t (x int); INSERT INTO t VALUES (1)",
            "rows in a table that is cloned empty",
            "with_rows.t",
        ),
        (
            "with_rule",
            "CREATE TABLE t (x int); CREATE RULE no_delete AS ON DELETE TO t DO INSTEAD NOTHING",
            "rule",
            "no_delete on with_rule.t",
        ),
        (
            "with_body_naming_template",
            "CREATE TABLE t (x int); \
             CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM with_body_naming_template.t'",
            "reference to the template schema",
            "with_body_naming_template.f()",
        ),
        (
            // pg_catalog is searched first, so the template's `lower` is printed qualified.
            "with_shadowed_name",
            "CREATE FUNCTION lower(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1'; \
             CREATE TABLE t (x text); CREATE INDEX t_x ON t (with_shadowed_name.lower(x))",
            "reference to the template schema",
            "with_shadowed_name.t_x",
        ),
    ];
    for (schema, sql, kind, object) in cases {
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}; SET search_path TO {schema}; {sql}; RESET search_path"))
            .await
            .unwrap_or_else(|err| panic!("sets up {schema}: {err:?}"));
        let unsupported = read(&client, schema, &[]).await.expect_err("refused");
        assert_eq!(unsupported, Unsupported { kind: kind.to_owned(), object: object.to_owned() }, "{schema}");
        let message = unsupported.to_string();
        assert!(message.contains(kind) && message.contains(object) && message.contains("migrations"), "{message}");
    }

    client
        .batch_execute("CREATE SCHEMA with_extension; CREATE EXTENSION citext SCHEMA with_extension")
        .await
        .expect("citext");
    assert_eq!(
        read(&client, "with_extension", &[]).await,
        Err(Unsupported { kind: "extension".into(), object: "citext".into() })
    );

    // Event triggers are database-wide: they may react to the clone's DDL, which is not the
    // migrations' DDL, so any enabled one refuses every template.
    client
        .batch_execute(
            "CREATE SCHEMA plain; CREATE TABLE plain.t (x int); \
             CREATE FUNCTION public.audit_ddl() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'; \
             CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.audit_ddl()",
        )
        .await
        .expect("creates an event trigger");
    let unsupported = read(&client, "plain", &[]).await.expect_err("refused");
    assert!(unsupported.kind.starts_with("event trigger") && unsupported.object == "audit_ddl", "{unsupported:?}");

    let err = CloneScript::read(&client, "no_such_schema", &[]).await.expect_err("a database error");
    assert_eq!(err.sqlstate(), Some("3F000"), "{err}");
    // The read leaves no transaction open behind it.
    client.batch_execute("CREATE SCHEMA after_failed_read").await.expect("the connection is usable");
}

/// What real histories hold beyond the workload (issue 9): columns of extension types from a
/// shared schema, generated columns, column options pg_dump emits (statistics, storage,
/// `n_distinct`), functions and triggers, a materialized view refreshed by a later migration
/// and one left `WITH NO DATA`, each with indexes, and an expression index built concurrently
/// in a no-transaction migration. The shared schema is on the search path, as tenantry puts it.
const REAL_HISTORY: [&str; 4] = [
    r#"
CREATE TABLE account (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    email shared.citext NOT NULL UNIQUE,
    path shared.ltree NOT NULL,
    secret bytea NOT NULL DEFAULT shared.gen_random_bytes(16),
    first_name text NOT NULL,
    last_name text NOT NULL,
    full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    balance numeric(12, 2) NOT NULL DEFAULT 0,
    updated_at timestamptz
);
CREATE INDEX account_path ON account USING gist (path);
ALTER TABLE account ALTER COLUMN last_name SET STATISTICS 400;
ALTER TABLE account ALTER COLUMN first_name SET STORAGE MAIN;
ALTER TABLE account ALTER COLUMN balance SET (n_distinct = -0.5);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER account_touch BEFORE UPDATE ON account FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION balance_class(b numeric) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN b < 0 THEN 'debt' WHEN b = 0 THEN 'zero' ELSE 'credit' END
$$;
"#,
    r#"
CREATE MATERIALIZED VIEW balance_summary AS
    SELECT balance_class(balance) AS class, count(*) AS accounts, sum(balance) AS total
    FROM account GROUP BY 1;
CREATE UNIQUE INDEX balance_summary_class ON balance_summary (class);
CREATE MATERIALIZED VIEW migration_log AS
    SELECT version, description FROM tenantry_migrations WITH NO DATA;
CREATE INDEX migration_log_version ON migration_log (version);
COMMENT ON MATERIALIZED VIEW balance_summary IS 'Accounts by balance class';
"#,
    "-- no-transaction\nCREATE INDEX CONCURRENTLY account_lower_name ON account (lower(full_name))",
    r#"
REFRESH MATERIALIZED VIEW balance_summary;
ALTER MATERIALIZED VIEW balance_summary ALTER COLUMN total SET STATISTICS 50;
"#,
];

#[tokio::test]
async fn clone_of_a_real_history_dumps_like_the_migrated_schema() {
    let db = test_database("clone_real_history").await;
    let client = raw_client(&db.url()).await;
    client
        .batch_execute(
            "CREATE SCHEMA shared; CREATE EXTENSION citext SCHEMA shared; CREATE EXTENSION ltree SCHEMA shared; \
             CREATE EXTENSION pgcrypto SCHEMA shared",
        )
        .await
        .expect("creates the shared extensions");
    let migrations = numbered(&REAL_HISTORY, "history");
    let script = clone_like_migrated(&db, &client, TEMPLATE, &migrations, &["tenantry_migrations"], &["shared"]).await;
    let sql = script.to_sql();
    assert!(sql.contains("REFRESH MATERIALIZED VIEW \"balance_summary\""), "populated as migrated:\n{script}");
    assert!(!sql.contains("REFRESH MATERIALIZED VIEW \"migration_log\""), "left WITH NO DATA:\n{script}");
    assert_eq!(bookkeeping(&client, "cloned").await, bookkeeping(&client, TEMPLATE).await);
    let populated = "SELECT c.relname::text, c.relispopulated FROM pg_catalog.pg_class c \
         WHERE c.relnamespace = $1::text::regnamespace AND c.relkind = 'm' ORDER BY 1";
    for schema in ["cloned", "migrated"] {
        let rows = client.query(populated, &[&schema]).await.expect("reads the materialized views");
        let states: Vec<(String, bool)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        assert_eq!(states, [("balance_summary".to_owned(), true), ("migration_log".to_owned(), false)], "{schema}");
    }
    // The clone works: extension types, the generated column, the trigger, the refresh.
    client
        .batch_execute(
            "SET search_path TO cloned, shared; \
             INSERT INTO account (email, path, first_name, last_name, balance) VALUES ('A@x.org', 'top.a', 'Ada', 'L', 5); \
             UPDATE account SET balance = 6; REFRESH MATERIALIZED VIEW CONCURRENTLY balance_summary; RESET search_path",
        )
        .await
        .expect("uses the clone");
    let row = client
        .query_one(
            "SELECT a.full_name, a.updated_at IS NOT NULL, a.email OPERATOR(shared.=) 'a@X.ORG'::shared.citext, s.total::text \
             FROM cloned.account a, cloned.balance_summary s",
            &[],
        )
        .await
        .expect("reads the clone");
    assert_eq!(row.get::<_, String>(0), "Ada L");
    assert!(row.get::<_, bool>(1), "the trigger ran");
    assert!(row.get::<_, bool>(2), "citext compares without case");
    assert_eq!(row.get::<_, String>(3), "6.00");
}
