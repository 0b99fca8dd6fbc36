//! Reading a template schema's catalog into [`facts`](super::facts), with a fixed number of
//! queries (see [`queries`] and [`definitions`]) whatever the number of objects, each finding
//! its rows through indexes whatever the number of tenants.

use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

use super::facts::{
    Catalog, CatalogKind, Column, Comment, Constraint, Dependency, EnumType, Function, Index, Member, Relation, Schema,
    Sequence, Trigger, View,
};
use super::{definitions, queries};
use crate::error::Error;
use crate::sql::{quote_ident, quote_literal};

const ACTION: &str = "reading the template schema's catalog";

/// Reads a row's columns left to right.
struct Cells<'a> {
    row: &'a Row,
    index: usize,
}

impl<'a> Cells<'a> {
    fn new(row: &'a Row) -> Self {
        Self { row, index: 0 }
    }

    fn next<T: FromSql<'a>>(&mut self) -> Result<T, Error> {
        let value = self.row.try_get(self.index).map_err(database);
        self.index += 1;
        value
    }
}

fn database(err: tokio_postgres::Error) -> Error {
    Error::database(ACTION, None, err)
}

async fn query(client: &Client, sql: &str, schema: u32) -> Result<Vec<Row>, Error> {
    client.query(sql, &[&schema]).await.map_err(database)
}

/// Reads each row of `rows` with `read`.
fn each<T>(rows: &[Row], read: impl Fn(&mut Cells<'_>) -> Result<T, Error>) -> Result<Vec<T>, Error> {
    rows.iter().map(|row| read(&mut Cells::new(row))).collect()
}

/// The template schema (SQLSTATE `3F000` if it does not exist) and the server version.
pub(crate) async fn read_schema(client: &Client, template: &str) -> Result<Schema, Error> {
    let row = client.query_one(queries::SCHEMA, &[&quote_ident(template)]).await.map_err(database)?;
    let mut cells = Cells::new(&row);
    Ok(Schema { oid: cells.next()?, name: cells.next()?, owner: cells.next()?, server_version: cells.next()? })
}

/// Every object that belongs to the template.
pub(crate) async fn read_members(client: &Client, schema: u32) -> Result<Vec<Member>, Error> {
    each(&query(client, &queries::census(), schema).await?, |c| {
        Ok(Member {
            catalog: c.next()?,
            detail: c.next::<Option<String>>()?.unwrap_or_default(),
            kind: c.next()?,
            identity: c.next()?,
            in_extension: c.next()?,
            labelled: c.next()?,
        })
    })
}

impl Catalog {
    /// Reads the definitions of everything in the template.
    pub(crate) async fn read(client: &Client, schema: u32) -> Result<Self, Error> {
        let relations = each(&query(client, definitions::RELATIONS, schema).await?, |c| {
            Ok(Relation {
                oid: c.next()?,
                name: c.next()?,
                relkind: c.next()?,
                identity: c.next()?,
                persistence: c.next()?,
                tablespace: c.next()?,
                options: c.next()?,
                row_security: c.next()?,
                replica_identity: c.next()?,
                typed_or_partition: c.next()?,
                access_method: c.next()?,
                toast_options: c.next()?,
                inherits: c.next()?,
                owner: c.next()?,
                default_acl: c.next()?,
                has_rows: false,
            })
        })?;
        let columns = each(&query(client, definitions::COLUMNS, schema).await?, |c| {
            Ok(Column {
                relation: c.next()?,
                number: c.next()?,
                name: c.next()?,
                identity: c.next()?,
                type_sql: c.next()?,
                collation: c.next()?,
                not_null: c.next()?,
                default: c.next()?,
                identity_kind: c.next()?,
                generated: c.next()?,
                statistics: c.next()?,
                storage: c.next()?,
                compression: c.next()?,
                options: c.next()?,
                acl: c.next()?,
                template_type: c.next()?,
            })
        })?;
        let sequences = each(&query(client, definitions::SEQUENCES, schema).await?, |c| {
            Ok(Sequence {
                oid: c.next()?,
                name: c.next()?,
                type_sql: c.next()?,
                start: c.next()?,
                increment: c.next()?,
                min: c.next()?,
                max: c.next()?,
                cache: c.next()?,
                cycle: c.next()?,
                owner_table: c.next()?,
                owner_kind: c.next()?,
                owner_column: c.next()?,
                state: None,
            })
        })?;
        let constraints = each(&query(client, definitions::CONSTRAINTS, schema).await?, |c| {
            Ok(Constraint {
                oid: c.next()?,
                table: c.next()?,
                name: c.next()?,
                kind: c.next()?,
                definition: c.next()?,
                index_name: c.next()?,
            })
        })?;
        let indexes = each(&query(client, definitions::INDEXES, schema).await?, |c| {
            Ok(Index {
                oid: c.next()?,
                table: c.next()?,
                name: c.next()?,
                definition: c.next()?,
                quoted_name: c.next()?,
                qualified_table: c.next()?,
                unique: c.next()?,
                clustered: c.next()?,
                valid: c.next()?,
                of_constraint: c.next()?,
            })
        })?;
        let enums = each(&query(client, definitions::ENUMS, schema).await?, |c| {
            Ok(EnumType {
                oid: c.next()?,
                name: c.next()?,
                identity: c.next()?,
                owner: c.next()?,
                default_acl: c.next()?,
                labels: c.next()?,
            })
        })?;
        let functions = each(&query(client, definitions::FUNCTIONS, schema).await?, |c| {
            Ok(Function {
                oid: c.next()?,
                name: c.next()?,
                kind: c.next()?,
                identity: c.next()?,
                arguments: c.next()?,
                definition: c.next()?,
                qualified: c.next()?,
                owner: c.next()?,
                default_acl: c.next()?,
            })
        })?;
        let views = each(&query(client, definitions::VIEWS, schema).await?, |c| {
            Ok(View {
                oid: c.next()?,
                name: c.next()?,
                definition: c.next()?,
                materialized: c.next()?,
                populated: c.next()?,
            })
        })?;
        let triggers = each(&query(client, definitions::TRIGGERS, schema).await?, |c| {
            Ok(Trigger {
                oid: c.next()?,
                table: c.next()?,
                name: c.next()?,
                identity: c.next()?,
                definition: c.next()?,
                tgtype: c.next()?,
                enabled: c.next()?,
                constraint: c.next()?,
                quoted_name: c.next()?,
                qualified_table: c.next()?,
                columns: c.next()?,
            })
        })?;
        let comments = each(&query(client, definitions::COMMENTS, schema).await?, |c| {
            Ok(Comment {
                catalog: CatalogKind::parse(&c.next::<String>()?),
                oid: c.next()?,
                sub_id: c.next()?,
                text: c.next()?,
                identity: c.next()?,
            })
        })?;
        let dependencies = each(&query(client, &queries::dependencies(), schema).await?, |c| {
            Ok(Dependency {
                from: (CatalogKind::parse(&c.next::<String>()?), c.next()?),
                to: (CatalogKind::parse(&c.next::<String>()?), c.next()?),
            })
        })?;
        let event_triggers = each(&client.query(queries::EVENT_TRIGGERS, &[]).await.map_err(database)?, |c| c.next())?;
        Ok(Self {
            relations,
            columns,
            sequences,
            constraints,
            indexes,
            enums,
            functions,
            views,
            triggers,
            comments,
            dependencies,
            event_triggers,
        })
    }

    /// Reads, in one query, which tables hold rows and where each sequence stands
    /// (`last_value`, `is_called`: what pg_dump reads to restore a sequence with `setval`).
    pub(crate) async fn read_state(&mut self, client: &Client, schema: &str) -> Result<(), Error> {
        let schema = quote_ident(schema);
        let tables = self.relations.iter().filter(|relation| relation.relkind == "r").map(|table| {
            format!(
                "SELECT 'r', {}, EXISTS (SELECT 1 FROM {schema}.{}), 0::int8, false",
                quote_literal(&table.name),
                quote_ident(&table.name)
            )
        });
        let sequences = self.sequences.iter().map(|sequence| {
            format!(
                "SELECT 'S', {}, false, last_value, is_called FROM {schema}.{}",
                quote_literal(&sequence.name),
                quote_ident(&sequence.name)
            )
        });
        let parts: Vec<String> = tables.chain(sequences).collect();
        if parts.is_empty() {
            return Ok(());
        }
        let rows = client.query(&parts.join(" UNION ALL "), &[]).await.map_err(database)?;
        for row in &rows {
            let mut cells = Cells::new(row);
            let (kind, name): (String, String) = (cells.next()?, cells.next()?);
            let (has_rows, last_value, is_called): (bool, i64, bool) = (cells.next()?, cells.next()?, cells.next()?);
            if kind == "r" {
                if let Some(table) = self.relations.iter_mut().find(|r| r.relkind == "r" && r.name == name) {
                    table.has_rows = has_rows;
                }
            } else if let Some(sequence) = self.sequences.iter_mut().find(|s| s.name == name) {
                sequence.state = Some((last_value, is_called));
            }
        }
        Ok(())
    }
}
