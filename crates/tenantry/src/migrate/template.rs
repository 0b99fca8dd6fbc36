//! The template schema and cloning new tenants from it.
//!
//! `migrate` keeps the template schema at the latest version. Creating a tenant then copies
//! the template in-database ([`CloneScript`]) instead of replaying every migration. The script
//! is read from the catalog once per template version (`judgment.rs`) and replayed for each new
//! tenant in one message. Inside the new tenant's transaction, before the script, the
//! template's migration digest and catalog fingerprint are checked against the ones the script
//! was read at (`TN001` on a mismatch): the template is then judged again, and if it keeps
//! changing, creation falls back to migrations. So a template migrated or altered by hand is
//! never cloned from a stale script.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::bookkeeping::{self, Applied};
use super::create::{run_in_new_tenant, SEED};
use super::lock;
use crate::context::TenantTransaction;
use crate::error::{BoxError, Error};
use crate::name::TenantName;
use crate::schema::clone::{check_fingerprint_sql, CloneScript};
use crate::CreateHook;

/// A usable template: its script, the fingerprint it was read at, and what it has applied.
#[derive(Clone)]
pub(super) struct Template {
    pub(super) script: Arc<CloneScript>,
    pub(super) fingerprint: String,
    pub(super) applied: Applied,
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
