//! Fast tenant creation: recreate a template schema's objects inside a new schema, in the
//! database, instead of replaying every migration.
//!
//! tenantry keeps a *template schema* migrated to the latest version. [`CloneScript::read`]
//! reads its catalog once (a fixed number of queries) and builds DDL that recreates it; the
//! script is cached per template version and replayed for each new tenant in one round trip.
//!
//! The script is built from catalog facts and from PostgreSQL's own deparsing functions
//! (`format_type`, `pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`,
//! `pg_get_viewdef`, `pg_get_triggerdef`, `pg_get_functiondef`), read with the template alone
//! on the search path, so that the template's names come out unqualified and every other
//! schema's names qualified. Where a function always qualifies (an index's table, a trigger's
//! table, a routine's own name), the qualified name is replaced at that one position only.
//!
//! Anything the script would not reproduce exactly is refused with [`Unsupported`] instead:
//! the census of every object belonging to the template (through `pg_depend`) only lets
//! through tables, sequences, views, indexes, enum types, functions and procedures,
//! constraints (primary key, unique, check, exclusion, foreign key), triggers, column defaults
//! and comments; and each of those is checked for properties the script does not carry
//! (owner, privileges, storage parameters, row-level security, inheritance, …). The clone's
//! `pg_dump --schema-only` equals a migrated schema's (see `tests/clone.rs`).

mod catalog;
mod ddl;
mod definitions;
mod facts;
mod fingerprint;
mod order;
mod plan;
mod queries;
mod rewrite;
mod script;
mod unsupported;

pub use fingerprint::{check_fingerprint_sql, fingerprint_sql};
pub use script::CloneScript;
pub use unsupported::Unsupported;
