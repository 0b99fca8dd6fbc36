//! The template schema and cloning new tenants from it.
//!
//! `migrate` keeps the template schema at the latest version. Creating a tenant then copies
//! the template in-database ([`CloneScript`]) instead of replaying every migration. The script
//! is read from the catalog once and replayed for each new tenant in one message. Inside the
//! new tenant's transaction, before the script, the template's migration digest and catalog
//! fingerprint are checked against the ones the script was read at (`TN001` on a mismatch):
//! the script is then read again, and if the template keeps changing, creation falls back to
//! migrations. So a template migrated or altered by hand is never cloned from a stale script.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::bookkeeping::{self, Applied};
use super::create::{run_in_new_tenant, SEED};
use super::lock;
use super::migrator::Migrator;
use super::state::{self, SchemaState};
use crate::context::TenantTransaction;
use crate::error::{BoxError, Error};
use crate::name::TenantName;
use crate::schema::clone::{check_fingerprint_sql, fingerprint_sql, CloneScript};
use crate::CreateHook;

/// The template's clone script, with the fingerprint and state it was read at.
#[derive(Default)]
pub(super) struct TemplateCache {
    cached: tokio::sync::Mutex<Option<Template>>,
}

/// A usable template: its script, the fingerprint it was read at, and what it has applied.
#[derive(Clone)]
pub(super) struct Template {
    pub(super) script: Arc<CloneScript>,
    pub(super) fingerprint: String,
    pub(super) applied: Applied,
}

impl Migrator {
    /// The template's clone script, or why the template cannot be cloned (disabled, missing,
    /// not at the latest version, an object kind tenantry cannot copy).
    ///
    /// A cached script is returned without any query: the creating transaction checks the
    /// template's digest and fingerprint before replaying it, and a mismatch (`TN001`) sends the
    /// caller back here with `refresh`, which reads the template again.
    pub(super) async fn template(&self, refresh: bool) -> Result<Result<Template, String>, Error> {
        let config = self.tenantry.config();
        if !config.migrations.template {
            return Ok(Err("the template is disabled (migrations.template = false)".to_owned()));
        }
        let mut cached = self.template_cache.cached.lock().await;
        if !refresh {
            if let Some(template) = cached.as_ref() {
                return Ok(Ok(template.clone()));
            }
        }
        *cached = None;
        let schema = config.migrations.template_schema.as_str();
        let conn = self.tenantry.connection().await?;
        let client = &conn.client;
        let applied = match state::read_one(client, schema)
            .await
            .map_err(|err| Error::database("reading the template's migrations", None, err))?
        {
            SchemaState::Applied(applied) => applied,
            SchemaState::Missing => {
                return Ok(Err(format!("the template schema `{schema}` does not exist yet; run migrate first")))
            }
        };
        let latest = Applied(self.source.tenant.iter().map(|m| (m.version, m.checksum.clone())).collect());
        if applied != latest {
            return Ok(Err(format!(
                "the template schema `{schema}` is not at the latest version ({} of {} migrations applied); run migrate",
                applied.0.len(),
                latest.0.len()
            )));
        }
        let fingerprint = read_fingerprint(client, schema).await?;
        let script = match CloneScript::read(client, schema, &[bookkeeping::TABLE]).await? {
            Ok(script) => Arc::new(script),
            Err(unsupported) => return Ok(Err(unsupported.to_string())),
        };
        // pg_get_*def see the latest catalog, not the read's snapshot: the template must not
        // have changed while it was read.
        if read_fingerprint(client, schema).await? != fingerprint {
            return Ok(Err(format!("the template schema `{schema}` changed while it was being read")));
        }
        let template = Template { script, fingerprint, applied };
        *cached = Some(template.clone());
        Ok(Ok(template))
    }
}

async fn read_fingerprint(client: &tokio_postgres::Client, schema: &str) -> Result<String, Error> {
    let row = client
        .query_one(&fingerprint_sql(schema), &[])
        .await
        .map_err(|err| Error::database("fingerprinting the template schema", None, err))?;
    Ok(row.get::<_, Option<String>>(0).unwrap_or_default())
}

/// Copies the template into the new tenant inside the creating transaction, then runs the seed.
pub(super) struct CloneNewTenant<'a> {
    pub(super) template: &'a Template,
    pub(super) template_schema: &'a str,
    pub(super) seed: Option<&'a str>,
}

impl CloneNewTenant<'_> {
    async fn run(&self, tenant: &TenantName, tx: &mut TenantTransaction) -> Result<(), Error> {
        let schema = tenant.schema();
        let cloning = "cloning the template into the new tenant";
        let mut messages = vec![
            (
                "checking the template before cloning it",
                format!(
                    "{}; {}; {}; {}",
                    lock::NO_TX_SHARED_SQL,
                    lock::tenant_xact_lock_sql(schema),
                    bookkeeping::check_state_sql(self.template_schema, &self.template.applied.digest()),
                    check_fingerprint_sql(self.template_schema, &self.template.fingerprint)
                ),
            ),
            (cloning, self.template.script.to_sql()),
            (cloning, bookkeeping::comment_sql(schema, &self.template.applied)),
        ];
        if let Some(seed) = self.seed {
            messages.push((SEED, seed.to_owned()));
        }
        run_in_new_tenant(tenant, tx, messages).await
    }
}

impl CreateHook for CloneNewTenant<'_> {
    fn after_create<'a>(
        &'a self,
        tenant: &'a TenantName,
        tx: &'a mut TenantTransaction,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { self.run(tenant, tx).await.map_err(|e| Box::new(e) as BoxError) })
    }
}
