//! A database that is not only tenants (issue 10): schemas laid out like a Supabase project's,
//! and a snapshot of everything in a set of schemas, to prove an operation left them alone.

use tokio_postgres::NoTls;

use crate::database::TestDatabase;

/// The schemas [`create_supabase_like`] makes besides `public`, which no tenant operation may
/// touch.
pub const SUPABASE_SCHEMAS: &[&str] = &["auth", "storage", "extensions", "graphql_public", "realtime"];

/// Like a Supabase project's database: `auth` and `storage` with tables, rows, functions and
/// types; `extensions` holding `pgcrypto` and `uuid-ossp`; `graphql_public` with a function;
/// `realtime` with a table, a sequence, an index and a view; the app's shared tables in
/// `public`.
const SUPABASE_LIKE: &str = r#"
CREATE SCHEMA extensions;
CREATE EXTENSION pgcrypto SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" SCHEMA extensions;
CREATE SCHEMA auth;
CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
CREATE TABLE auth.users (
    id uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
    email text NOT NULL UNIQUE,
    encrypted_password text NOT NULL,
    aal auth.aal_level NOT NULL DEFAULT 'aal1',
    created_at timestamptz NOT NULL DEFAULT '2026-01-01');
CREATE TABLE auth.sessions (id bigserial PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id));
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
INSERT INTO auth.users (email, encrypted_password)
    SELECT 'user' || g || '@example.com', extensions.crypt('secret' || g, extensions.gen_salt('bf', 4))
    FROM generate_series(1, 20) g;
INSERT INTO auth.sessions (user_id) SELECT id FROM auth.users;
CREATE SCHEMA storage;
CREATE TABLE storage.buckets (id text PRIMARY KEY, name text NOT NULL, public boolean NOT NULL DEFAULT false);
CREATE TABLE storage.objects (
    id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
    bucket_id text NOT NULL REFERENCES storage.buckets (id),
    name text NOT NULL,
    metadata jsonb);
CREATE INDEX objects_bucket_name ON storage.objects (bucket_id, name);
CREATE FUNCTION storage.extension(name text) RETURNS text LANGUAGE sql IMMUTABLE
    AS $$ SELECT substring(name FROM '\.([^.]*)$') $$;
INSERT INTO storage.buckets VALUES ('avatars', 'avatars', true), ('invoices', 'invoices', false);
INSERT INTO storage.objects (bucket_id, name, metadata)
    SELECT 'avatars', 'user' || g || '.png', jsonb_build_object('size', g * 100) FROM generate_series(1, 30) g;
CREATE SCHEMA graphql_public;
CREATE FUNCTION graphql_public.graphql(query text DEFAULT NULL, variables jsonb DEFAULT NULL) RETURNS jsonb
    LANGUAGE sql AS $$ SELECT jsonb_build_object('query', query, 'variables', variables) $$;
CREATE SCHEMA realtime;
CREATE TABLE realtime.messages (id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb);
CREATE INDEX messages_topic ON realtime.messages (topic);
CREATE VIEW realtime.topics AS SELECT DISTINCT topic FROM realtime.messages;
INSERT INTO realtime.messages (topic, payload) SELECT 'room' || (g % 3), jsonb_build_object('n', g) FROM generate_series(1, 12) g;
CREATE TABLE public.plans (id int PRIMARY KEY, name text NOT NULL, monthly_cents int NOT NULL);
CREATE TABLE public.app_settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO public.plans VALUES (1, 'free', 0), (2, 'pro', 2500), (3, 'team', 9900);
INSERT INTO public.app_settings VALUES ('maintenance', 'off');
"#;

/// Every catalog row of `schemas` (their `pg_namespace`, `pg_class`, `pg_attribute`,
/// `pg_proc`, `pg_type`, `pg_constraint`, `pg_index`, `pg_extension` rows, each with its
/// `xmin`, so any change to a row shows) and a checksum of the data of every table, sequence
/// and materialized view in them: one sorted line each.
const SNAPSHOT: &str = r#"
WITH ns AS (SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])),
rel AS (SELECT c.oid, c.relkind, ns.nspname, c.relname FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace)
SELECT line FROM (
  SELECT concat_ws(' ', 'namespace', n.oid, n.nspname, n.nspowner, n.nspacl, n.xmin) AS line
    FROM pg_catalog.pg_namespace n JOIN ns USING (oid)
  UNION ALL SELECT concat_ws(' ', 'class', c.oid, rel.nspname, c.relname, c.relkind, c.relfilenode, c.relnatts,
      c.relacl, c.reloptions, c.xmin)
    FROM pg_catalog.pg_class c JOIN rel USING (oid)
  UNION ALL SELECT concat_ws(' ', 'attribute', rel.nspname, rel.relname, a.attnum, a.attname, a.atttypid,
      a.attnotnull, a.atthasdef, a.attisdropped, a.xmin)
    FROM pg_catalog.pg_attribute a JOIN rel ON rel.oid = a.attrelid
  UNION ALL SELECT concat_ws(' ', 'proc', p.oid, ns.nspname, p.proname, p.proargtypes, p.prorettype,
      md5(p.prosrc), p.proacl, p.xmin)
    FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace
  UNION ALL SELECT concat_ws(' ', 'type', t.oid, ns.nspname, t.typname, t.typtype, t.xmin)
    FROM pg_catalog.pg_type t JOIN ns ON ns.oid = t.typnamespace
  UNION ALL SELECT concat_ws(' ', 'constraint', k.oid, ns.nspname, k.conname, k.contype,
      pg_catalog.pg_get_constraintdef(k.oid), k.xmin)
    FROM pg_catalog.pg_constraint k JOIN ns ON ns.oid = k.connamespace
  UNION ALL SELECT concat_ws(' ', 'index', rel.nspname, rel.relname, i.indexrelid, i.indisvalid, i.xmin)
    FROM pg_catalog.pg_index i JOIN rel ON rel.oid = i.indrelid
  UNION ALL SELECT concat_ws(' ', 'extension', e.oid, ns.nspname, e.extname, e.extversion, e.xmin)
    FROM pg_catalog.pg_extension e JOIN ns ON ns.oid = e.extnamespace
  UNION ALL SELECT concat_ws(' ', 'data', rel.nspname, rel.relname, md5(pg_catalog.query_to_xml(
      CASE rel.relkind WHEN 'S' THEN pg_catalog.format('SELECT last_value, is_called FROM %I.%I', rel.nspname, rel.relname)
      ELSE pg_catalog.format('SELECT t::text AS r FROM %I.%I t ORDER BY 1', rel.nspname, rel.relname) END,
      false, false, '')::text))
    FROM rel WHERE rel.relkind IN ('r', 'S', 'm')
) lines ORDER BY line
"#;

async fn connect(db: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url(), NoTls)
        .await
        .unwrap_or_else(|err| panic!("could not connect to the test database {}: {err}", db.name()));
    tokio::spawn(connection);
    client
}

/// Fills `db` with the schemas of [`SUPABASE_SCHEMAS`] and the app's shared tables in `public`.
///
/// # Panics
/// If the SQL fails (`pgcrypto` and `uuid-ossp` come with PostgreSQL's contrib package).
pub async fn create_supabase_like(db: &TestDatabase) {
    connect(db).await.batch_execute(SUPABASE_LIKE).await.unwrap_or_else(|err| {
        panic!("could not build the Supabase-like schemas (is postgresql-contrib installed?): {err:?}")
    });
}

/// The snapshot of `schemas` (see `SNAPSHOT`): equal before and after an operation when the
/// operation changed nothing in them, not a row of data nor of the catalog.
///
/// # Panics
/// If the query fails.
pub async fn snapshot_schemas(db: &TestDatabase, schemas: &[&str]) -> Vec<String> {
    let rows = connect(db)
        .await
        .query(SNAPSHOT, &[&schemas])
        .await
        .unwrap_or_else(|err| panic!("could not snapshot the schemas {schemas:?}: {err:?}"));
    rows.iter().map(|row| row.get(0)).collect()
}
