//! Reading what every schema has applied, in a bounded number of queries.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio_postgres::Client;

use super::bookkeeping::{self, Applied, PrefixIndex, Summary};
use super::migration::Checksum;
use super::source::MigrationSet;
use crate::error::Error;
use crate::schema::statements::PRESENT_SCHEMAS;

/// A schema's migration state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// The schema does not exist.
    Missing,
    /// What it has applied (empty when it has no bookkeeping table yet).
    Applied(Applied),
}

/// How the states were read: for benchmarks and status output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Schemas resolved from their summary comment alone.
    pub from_summary: usize,
    /// Schemas whose table had to be read.
    pub from_table: usize,
    /// Queries sent.
    pub queries: usize,
    /// Schemas whose summary was readable, but whose table was read because PostgreSQL's
    /// statistics of it disagreed ([`bookkeeping::statistics_agree`]).
    pub doubted: usize,
}

/// The states of `schemas`: one query for the schemas that exist, one for their bookkeeping
/// summaries (by name for up to [`bookkeeping::READ_ROWS_CHUNK`] schemas, over the whole
/// catalog for more), then table reads ([`bookkeeping::READ_ROWS_CHUNK`] tables per query) only for
/// schemas whose summary is missing, names another schema (copied with a dump or a clone), is
/// of the first format, or does not match a prefix of `local`; or for every schema with
/// `verify` (to catch bookkeeping rows edited by hand, which bypass the summary).
///
/// # Errors
/// [`Error::Database`].
pub async fn read_states(
    client: &Client,
    schemas: &[&str],
    local: &MigrationSet,
    verify: bool,
) -> Result<(HashMap<String, SchemaState>, ReadStats), Error> {
    let mut stats = ReadStats { queries: 2, ..ReadStats::default() };
    // A few schemas (a creation's run for its no-transaction migrations, `--tenant a,b`) are
    // looked up by name; more are read with one query over the whole catalog each.
    let few = schemas.len() <= bookkeeping::READ_ROWS_CHUNK;
    let (existing_rows, summary_rows) = if few {
        let names: Vec<&str> = schemas.to_vec();
        (client.query(PRESENT_SCHEMAS, &[&names]).await, client.query(bookkeeping::SUMMARIES_OF_SQL, &[&names]).await)
    } else {
        (
            client.query("SELECT nspname::text FROM pg_catalog.pg_namespace", &[]).await,
            client.query(bookkeeping::FLEET_SUMMARIES_SQL, &[]).await,
        )
    };
    let existing: HashSet<String> = existing_rows
        .map_err(|err| Error::database("listing schemas", None, err))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let summaries: HashMap<String, Bookkept> = summary_rows
        .map_err(|err| Error::database("reading migration summaries", None, err))?
        .iter()
        .map(|row| (row.get(0), Bookkept { comment: row.get(1), live_rows: row.get(2), rows_changed: row.get(3) }))
        .collect();
    let index = PrefixIndex::new(local.as_slice());
    let mut states = HashMap::with_capacity(schemas.len());
    let mut to_read = Vec::new();
    // Read only because their statistics disagreed with a summary: `ANALYZE`d if it was right.
    let mut doubted: HashMap<&str, Applied> = HashMap::new();
    for schema in schemas {
        let state = if !existing.contains(*schema) {
            Some(SchemaState::Missing)
        } else {
            match summaries.get(*schema) {
                None => Some(SchemaState::Applied(Applied::default())),
                Some(_) if verify => None,
                Some(bookkept) => {
                    let resolved = bookkept
                        .comment
                        .as_deref()
                        .and_then(Summary::parse)
                        .filter(|summary| summary.schema == *schema)
                        .and_then(|summary| index.resolve(&summary, local.as_slice()));
                    match resolved {
                        Some(applied) if bookkept.statistics_agree(&applied) => Some(SchemaState::Applied(applied)),
                        Some(applied) => {
                            stats.doubted += 1;
                            doubted.insert(schema, applied);
                            None
                        }
                        None => None,
                    }
                }
            }
        };
        match state {
            Some(state) => {
                stats.from_summary += 1;
                states.insert((*schema).to_owned(), state);
            }
            None => to_read.push(*schema),
        }
    }
    for chunk in to_read.chunks(bookkeeping::READ_ROWS_CHUNK) {
        stats.queries += 1;
        stats.from_table += chunk.len();
        let mut applied: HashMap<&str, Applied> = chunk.iter().map(|s| (*s, Applied::default())).collect();
        let rows = client
            .query(&bookkeeping::read_rows_sql(chunk), &[])
            .await
            .map_err(|err| Error::database("reading migration tables", None, err))?;
        for row in rows {
            let schema: &str = row.get(0);
            if let Some(set) = applied.get_mut(schema) {
                set.0.insert(row.get(1), Checksum(row.get(2)));
            }
        }
        let confirmed: Vec<&str> = applied
            .iter()
            .filter(|(schema, set)| doubted.get(**schema) == Some(*set))
            .map(|(schema, _)| *schema)
            .collect();
        if !confirmed.is_empty() {
            // Statistics lost (a crash, a reset), then new rows counted: make them exact again so
            // the summaries are trusted next time. Best effort: it needs to own the tables.
            if let Err(err) = client.batch_execute(&bookkeeping::analyze_sql(&confirmed)).await {
                tracing::debug!("could not refresh the statistics of {} bookkeeping tables: {err}", confirmed.len());
                client.batch_execute("ROLLBACK").await.map_err(|err| Error::database("rolling back", None, err))?;
            }
        }
        states.extend(applied.into_iter().map(|(schema, set)| (schema.to_owned(), SchemaState::Applied(set))));
    }
    Ok((states, stats))
}

/// A bookkeeping table's summary comment and statistics, from one summary query.
struct Bookkept {
    comment: Option<String>,
    live_rows: i64,
    rows_changed: i64,
}

impl Bookkept {
    /// The cheap consistency check ([`bookkeeping::statistics_agree`]).
    fn statistics_agree(&self, applied: &Applied) -> bool {
        bookkeeping::statistics_agree(applied.0.len(), self.live_rows, self.rows_changed)
    }
}

/// The exact state of one schema, read from its table (used when retrying).
///
/// # Errors
/// The driver's error.
pub async fn read_one(client: &Client, schema: &str) -> Result<SchemaState, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", &[&schema])
        .await?
        .get(0);
    if !exists {
        return Ok(SchemaState::Missing);
    }
    let has_table: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'tenantry_migrations')",
            &[&schema],
        )
        .await?
        .get(0);
    if !has_table {
        return Ok(SchemaState::Applied(Applied::default()));
    }
    let rows = client.query(&bookkeeping::read_rows_sql(&[schema]), &[]).await?;
    let applied: BTreeMap<i64, Checksum> = rows.iter().map(|row| (row.get(1), Checksum(row.get(2)))).collect();
    Ok(SchemaState::Applied(Applied(applied)))
}
