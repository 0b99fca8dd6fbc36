//! Fast tenant creation: recreate a template schema's objects inside a new schema, in the
//! database, instead of replaying every migration.

mod ddl;
mod facts;
mod order;
mod rewrite;
