//! An axum app whose every request runs in the tenant named by its subdomain:
//! `acme.localhost:3000` is tenant `acme`, served from the schema `acme`.
//!
//! ```text
//! cargo run -p tenantry-example-elevators          # DATABASE_URL, or a throwaway cluster
//! curl http://acme.localhost:3000/whoami           # {"tenant":"acme"}
//! curl http://globex.localhost:3000/whoami         # {"tenant":"globex"}
//! curl http://umbrella.localhost:3000/whoami       # 404 {"error":"tenant_not_found",…}
//! ```
//!
//! Routes (each reads or writes tables in the request's tenant schema):
//!
//! | route | answer |
//! |---|---|
//! | `GET /whoami` | `{"tenant": "<name>"}`, the name read from the tenant's own `tenant_info` row |
//! | `GET /profile` | `{"tenant": "<name>", "columns": n}`: the whole `tenant_info` row (`SELECT *`), as an ORM loads it |
//! | `GET /notes` | `{"tenant": …, "notes": [{"id": …, "body": …}, …]}` |
//! | `POST /notes` with `{"body": "…"}` | `201 {"id": …}` |
//! | `GET /slow?ms=N` | `/whoami` after `pg_sleep` of N ms (at most 5 s), to test cancellation |
//!
//! [`router`] builds the app; [`serve`] runs it on a listener (the `tenantry` CLI's
//! `demo --serve` calls it); [`create_tenant`] makes a tenant with the app's tables.

use std::io;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tenantry::{TenantName, Tenantry};
use tenantry_tower::resolve::Subdomain;
use tenantry_tower::{ResolveTenantLayer, Tenant, TenantTx};

/// The tenants `main` creates when they are missing.
pub const DEMO_TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// The app's tables, created in each tenant's schema (and in the default schema, for the
/// benchmark's single-schema baseline).
const SCHEMA_SQL: &str = "CREATE TABLE IF NOT EXISTS tenant_info (name text NOT NULL);
     CREATE TABLE IF NOT EXISTS notes (
         id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         body text NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now()
     )";

/// Creates `name` if it does not exist, with the app's tables and its `tenant_info` row.
///
/// # Errors
/// tenantry's error: an invalid name, or the database.
pub async fn create_tenant(tenantry: &Tenantry, name: &str) -> Result<TenantName, tenantry::Error> {
    let tenant = tenantry.tenant(name)?;
    if !tenantry.exists(&tenant).await? {
        tenantry.create(&tenant).await?;
    }
    let mut tx = tenantry.transaction_in(Some(&tenant)).await?;
    tx.batch_execute(SCHEMA_SQL).await?;
    tx.execute(
        "INSERT INTO tenant_info (name) SELECT $1 WHERE NOT EXISTS (SELECT FROM tenant_info)",
        &[&tenant.as_str()],
    )
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

/// The app's tables in the default schema, with `tenant_info` naming `name`: the
/// single-schema app of the benchmark.
///
/// # Errors
/// tenantry's error from the database.
pub async fn prepare_default_schema(tenantry: &Tenantry, name: &str) -> Result<(), tenantry::Error> {
    let mut tx = tenantry.transaction_in(None).await?;
    tx.batch_execute(SCHEMA_SQL).await?;
    tx.execute("INSERT INTO tenant_info (name) SELECT $1 WHERE NOT EXISTS (SELECT FROM tenant_info)", &[&name]).await?;
    tx.commit().await
}

/// The app's routes, without the tenant layer.
pub fn routes() -> Router<Tenantry> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/profile", get(profile))
        .route("/notes", get(list_notes).post(add_note))
        .route("/slow", get(slow))
}

/// The tenant layer of the app: tenants by subdomain (`acme.localhost`, `acme.example.com`),
/// refusals as JSON.
pub fn tenant_layer(
    tenantry: Tenantry,
) -> ResolveTenantLayer<Subdomain, impl Fn(&tenantry_tower::Error) -> Response + Clone + Send + Sync + 'static> {
    ResolveTenantLayer::new(tenantry, Subdomain::new()).on_rejection(|error: &tenantry_tower::Error| {
        let body = json!({ "error": error.code(), "message": error.public_message() });
        (error.status(), Json(body)).into_response()
    })
}

/// The app: [`routes`] inside [`tenant_layer`].
pub fn router(tenantry: Tenantry) -> Router {
    routes().layer(tenant_layer(tenantry.clone())).with_state(tenantry)
}

/// The same routes without the tenant layer: every request runs in the default schema. The
/// benchmark's baseline; `/notes` answers `404` (it needs a tenant).
pub fn router_without_tenancy(tenantry: Tenantry) -> Router {
    routes().with_state(tenantry)
}

/// Serves [`router`] on `listener` until the process ends.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(tenantry: Tenantry, listener: tokio::net::TcpListener) -> io::Result<()> {
    axum::serve(listener, router(tenantry)).await
}

/// A handler's error: tenantry's, as a JSON response.
#[derive(Debug)]
pub struct AppError(pub tenantry::Error);

impl From<tenantry::Error> for AppError {
    fn from(error: tenantry::Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            tenantry::Error::TenantNotFound { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        tracing::error!(error = %self.0, "request failed");
        (status, Json(json!({ "error": "database", "message": self.0.to_string() }))).into_response()
    }
}

/// The name in `tenant_info`: from the tenant's schema inside the layer, from the default
/// schema without it. Uses the scope (`tenantry.transaction()`), not an extractor, so the
/// same handler serves the baseline.
async fn whoami(State(tenantry): State<Tenantry>) -> Result<Json<serde_json::Value>, AppError> {
    let mut tx = tenantry.transaction().await?;
    let name: String = tx.query_one("SELECT name FROM tenant_info", &[]).await?.get(0);
    tx.commit().await?;
    Ok(Json(json!({ "tenant": name })))
}

/// The whole `tenant_info` row, read with `SELECT *` as ORMs do: its width changes when a
/// migration adds a column, which a statement cached before the migration cannot return
/// (docs/context.md, "Prepared statements").
async fn profile(State(tenantry): State<Tenantry>) -> Result<Json<serde_json::Value>, AppError> {
    let mut tx = tenantry.transaction().await?;
    let row = tx.query_one("SELECT * FROM tenant_info", &[]).await?;
    tx.commit().await?;
    let name: String = row.try_get("name").map_err(|source| tenantry::Error::Database {
        action: "reading the profile",
        tenant: None,
        source,
    })?;
    Ok(Json(json!({ "tenant": name, "columns": row.len() })))
}

#[derive(Deserialize)]
struct SlowQuery {
    ms: Option<u64>,
}

async fn slow(
    State(tenantry): State<Tenantry>,
    Query(query): Query<SlowQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    #[allow(clippy::cast_precision_loss)] // at most 5,000 ms
    let seconds = query.ms.unwrap_or(100).min(5_000) as f64 / 1000.0;
    let mut tx = tenantry.transaction().await?;
    let name: String = tx.query_one("SELECT name FROM tenant_info, pg_sleep($1)", &[&seconds]).await?.get(0);
    tx.commit().await?;
    Ok(Json(json!({ "tenant": name })))
}

async fn list_notes(Tenant(tenant): Tenant, mut tx: TenantTx) -> Result<Json<serde_json::Value>, AppError> {
    let rows = tx.query("SELECT id, body FROM notes ORDER BY id", &[]).await?;
    tx.into_inner().commit().await?;
    let notes: Vec<_> =
        rows.iter().map(|row| json!({ "id": row.get::<_, i64>(0), "body": row.get::<_, String>(1) })).collect();
    Ok(Json(json!({ "tenant": tenant.as_str(), "notes": notes })))
}

#[derive(Deserialize)]
struct NewNote {
    body: String,
}

async fn add_note(mut tx: TenantTx, Json(note): Json<NewNote>) -> Result<impl IntoResponse, AppError> {
    let id: i64 = tx.query_one("INSERT INTO notes (body) VALUES ($1) RETURNING id", &[&note.body]).await?.get(0);
    tx.into_inner().commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}
