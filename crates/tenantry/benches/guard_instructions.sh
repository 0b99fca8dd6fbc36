#!/usr/bin/env bash
# Server instructions per tenant transaction for each way of opening one, counted by valgrind
# in a single-user backend: exact and repeatable on a busy machine, where timings are not.
#
#   bash crates/tenantry/benches/guard_instructions.sh
#
# Needs PostgreSQL 15 (/usr/lib/postgresql/15/bin) and valgrind; as root it runs PostgreSQL
# as `postgres`. Each variant is the BEGIN message of crates/tenantry/src/schema/statements.rs
# (pinned there by `statements_quote_every_identifier`), then a primary-key lookup and COMMIT.
# A file of 500 and one of 1,500 transactions are counted; the difference over 1,000 is the cost
# of one transaction, the backend's start and end cancelled out. Results: docs/benchmarks.md.
set -euo pipefail

bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/tenantry-guard-XXXXXX)
trap 'rm -rf "$work"' EXIT
as_postgres=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$work"
    as_postgres=(runuser -u postgres --)
fi
"${as_postgres[@]}" "$bin/initdb" -D "$work/data" -A trust -U postgres >/dev/null

single() {
    "${as_postgres[@]}" "$bin/postgres" --single -D "$work/data" -c fsync=off postgres
}

single >/dev/null 2>&1 <<'SQL'
CREATE SCHEMA shared; CREATE SCHEMA acme; CREATE TABLE acme.items (id int PRIMARY KEY, name text); INSERT INTO acme.items VALUES (1, 'one'); CREATE TABLE acme.tenantry_migrations (version bigint PRIMARY KEY)
SQL

path='"acme", "shared", pg_temp'
declare -A begin=(
    [1-unguarded]="RESET ROLE; BEGIN; SET LOCAL search_path TO $path"
    [2-anchor]="RESET ROLE; LOCK TABLE ONLY \"acme\".tenantry_migrations IN ACCESS SHARE MODE; BEGIN; SET LOCAL search_path TO $path"
    [3-advisory]="RESET ROLE; SELECT pg_catalog.pg_advisory_xact_lock_shared(1953395716, pg_catalog.hashtext('acme')); BEGIN; SELECT pg_catalog.set_config('search_path', '$path', true) FROM pg_catalog.pg_namespace WHERE nspname = 'acme'"
    [4-before-8]="BEGIN; SET LOCAL search_path TO $path; SELECT '\"acme\"'::regnamespace"
    [5-bare]="BEGIN; SET LOCAL search_path TO $path"
)

instructions() {
    local file=$1
    "${as_postgres[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$bin/postgres" --single -D "$work/data" -c fsync=off postgres <"$file" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-12s %s\n' variant 'instructions per transaction'
for name in $(printf '%s\n' "${!begin[@]}" | sort); do
    for count in 500 1500; do
        for _ in $(seq "$count"); do
            printf '%s; SELECT name FROM items WHERE id = 1; COMMIT\n' "${begin[$name]}"
        done >"$work/$name.$count"
    done
    chmod 644 "$work/$name".*
    small=$(instructions "$work/$name.500")
    large=$(instructions "$work/$name.1500")
    printf '%-12s %d\n' "$name" $(((large - small) / 1000))
done
