//! [`CloneScript`]: read once from the template, replayed for every new tenant.

use std::fmt;

use tokio_postgres::Client;

use super::catalog;
use super::facts::Catalog;
use super::plan;
use super::unsupported::{self, Unsupported};
use crate::error::Error;
use crate::schema::statements::{set_local_search_path, Prelude};

/// DDL that recreates a template schema's objects inside another (already created, empty)
/// schema: tables with their columns, defaults, identity and generated columns, constraints,
/// indexes, sequences, enum types, functions, views, triggers and comments, plus the rows of
/// the tables named in `copy_data_of`.
///
/// Built once per template version by [`CloneScript::read`] and replayed for each new tenant:
/// one simple-query message ([`CloneScript::to_sql`]) instead of every migration.
///
/// ```rust,no_run
/// use tenantry::schema::clone::CloneScript;
///
/// # async fn example(client: &tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// match CloneScript::read(client, "tenantry_template", &["tenantry_migrations"]).await? {
///     Ok(script) => {
///         // One message: the new schema, its search path, and the script.
///         let sql = format!(
///             "BEGIN; CREATE SCHEMA \"acme\"; SET LOCAL search_path TO \"acme\", \"shared\";\n{};\nCOMMIT",
///             script.to_sql()
///         );
///         client.batch_execute(&sql).await?;
///     }
///     Err(unsupported) => eprintln!("{unsupported}"), // run the migrations instead
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneScript {
    template: String,
    owner: String,
    statements: Vec<String>,
}

impl CloneScript {
    /// Reads the catalog of `template_schema` on `client` and builds the script.
    ///
    /// `copy_data_of` names the tables whose rows are copied too (tenantry passes its
    /// bookkeeping table `tenantry_migrations`); every other table is cloned empty, and a
    /// template where one of them holds rows is [`Unsupported`].
    ///
    /// Runs its own read-only transaction (a fixed number of catalog queries, whatever the
    /// number of objects), so `client` must not be inside a transaction. Read the template
    /// while nothing migrates it (under the migration lock), since PostgreSQL's `pg_get_*def`
    /// functions see the latest catalog rather than the transaction's snapshot.
    ///
    /// # Errors
    /// The outer `Err` is [`Error::Database`] (the schema does not exist: SQLSTATE `3F000`;
    /// the connection failed; …). The inner `Err` is an object or property the script cannot
    /// reproduce: the caller must then run the migrations, as the script would build a
    /// different schema.
    pub async fn read(
        client: &Client,
        template_schema: &str,
        copy_data_of: &[&str],
    ) -> Result<Result<CloneScript, Unsupported>, Error> {
        let begin = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; {}",
            set_local_search_path(
                &format!("{}, pg_temp", crate::sql::quote_ident(template_schema)),
                Prelude::default()
            )
        );
        client.batch_execute(&begin).await.map_err(|err| Error::database(ACTION, None, err))?;
        let result = read_in_transaction(client, template_schema, copy_data_of).await;
        let end = client.batch_execute("ROLLBACK").await.map_err(|err| Error::database(ACTION, None, err));
        let script = result?;
        end?;
        Ok(script)
    }

    /// The statements, in order, to run inside a transaction whose search path is
    /// `"<new schema>", <shared schemas…>`, the new schema existing and empty.
    ///
    /// They name objects without a schema, so that each lands in (and refers to) the new
    /// schema, while objects of other schemas keep their qualified names. They name the
    /// template only to copy the rows of the `copy_data_of` tables. When the template has
    /// functions, the first statement turns `check_function_bodies` off for the rest of the
    /// transaction and the last one sets it back to the session's default.
    pub fn statements(&self) -> &[String] {
        &self.statements
    }

    /// Every statement as one `;`-separated text, to send as one simple-query message (one
    /// round trip), e.g. with `Client::batch_execute`.
    pub fn to_sql(&self) -> String {
        self.statements.join(";\n")
    }

    /// The template schema the script was read from (its rows are copied from there).
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The role owning the template and all its objects. Objects the script creates belong to
    /// whoever runs it, so run it as this role to get the same owners.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl fmt::Display for CloneScript {
    /// The script, one statement per line-terminated block, for logs and review.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for statement in &self.statements {
            writeln!(f, "{statement};")?;
        }
        Ok(())
    }
}

const ACTION: &str = "reading the template schema's catalog";

async fn read_in_transaction(
    client: &Client,
    template: &str,
    copy_data_of: &[&str],
) -> Result<Result<CloneScript, Unsupported>, Error> {
    let schema = catalog::read_schema(client, template).await?;
    if let Err(unsupported) = unsupported::check_server(&schema) {
        return Ok(Err(unsupported));
    }
    // The census first: no definition is read (nor any pg_get_*def called) for a template
    // that holds an object of a kind the script cannot recreate.
    if let Err(unsupported) = unsupported::check_members(&catalog::read_members(client, schema.oid).await?) {
        return Ok(Err(unsupported));
    }
    let mut catalog = Catalog::read(client, schema.oid).await?;
    catalog.read_state(client, &schema.name).await?;
    if let Err(unsupported) = unsupported::check_catalog(&schema, &catalog, copy_data_of) {
        return Ok(Err(unsupported));
    }
    Ok(plan::statements(&schema, &catalog, copy_data_of).map(|statements| CloneScript {
        template: schema.name,
        owner: schema.owner,
        statements,
    }))
}
