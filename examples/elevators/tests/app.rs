//! The example app over real HTTP: tenants by subdomain, JSON 404s, notes kept apart.

mod common;

use common::{connect, spawn, Connection};
use serde_json::Value;
use tenantry_example_elevators::{create_tenant, prepare_default_schema, router, router_without_tenancy};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("{body:?} is not JSON: {err}"))
}

#[tokio::test]
async fn whoami_notes_and_unknown_tenants() {
    let db = tenantry_test_support::test_database("elevators_app").await;
    let tenantry = connect(&db, 4).await;
    for name in ["acme", "globex"] {
        create_tenant(&tenantry, name).await.expect("creates");
    }
    create_tenant(&tenantry, "acme").await.expect("idempotent");
    let address = spawn(router(tenantry.clone())).await;
    let mut conn = Connection::open(address).await.expect("connects");

    for name in ["acme", "globex"] {
        let answer = conn.send("GET", &format!("{name}.localhost:3000"), "/whoami", None).await.expect("answer");
        assert_eq!((answer.status, json(&answer.body)), (200, serde_json::json!({ "tenant": name })));
    }
    let answer =
        conn.send("POST", "acme.localhost", "/notes", Some(r#"{"body":"acme's note"}"#)).await.expect("answer");
    assert_eq!(answer.status, 201, "{}", answer.body);
    let acme = json(&conn.send("GET", "acme.localhost", "/notes", None).await.expect("answer").body);
    assert_eq!(acme["notes"][0]["body"], "acme's note");
    let globex = json(&conn.send("GET", "globex.localhost", "/notes", None).await.expect("answer").body);
    assert_eq!(globex["notes"], serde_json::json!([]), "globex sees none of acme's notes");

    let answer = conn.send("GET", "umbrella.localhost", "/whoami", None).await.expect("answer");
    assert_eq!(answer.status, 404);
    assert_eq!(json(&answer.body)["error"], "tenant_not_found");
    let answer = conn.send("GET", "localhost:3000", "/whoami", None).await.expect("answer");
    assert_eq!((answer.status, json(&answer.body)["error"].clone()), (404, "no_tenant".into()));
    let answer = conn.send("GET", "pg_catalog.localhost", "/whoami", None).await.expect("answer");
    assert_eq!((answer.status, json(&answer.body)["error"].clone()), (404, "invalid_tenant_name".into()));
    let answer = conn.send("GET", "acme.localhost", "/slow?ms=10", None).await.expect("answer");
    assert_eq!((answer.status, json(&answer.body)), (200, serde_json::json!({ "tenant": "acme" })));
}

#[tokio::test]
async fn without_the_layer_everything_is_the_default_schema() {
    let db = tenantry_test_support::test_database("elevators_baseline").await;
    let tenantry = connect(&db, 2).await;
    create_tenant(&tenantry, "acme").await.expect("creates");
    prepare_default_schema(&tenantry, "single-schema").await.expect("prepares");
    let address = spawn(router_without_tenancy(tenantry)).await;
    let mut conn = Connection::open(address).await.expect("connects");
    let answer = conn.send("GET", "acme.localhost", "/whoami", None).await.expect("answer");
    assert_eq!(json(&answer.body), serde_json::json!({ "tenant": "single-schema" }));
    let answer = conn.send("GET", "acme.localhost", "/notes", None).await.expect("answer");
    assert_eq!(answer.status, 500, "the Tenant extractor names the missing layer: {}", answer.body);
    assert!(answer.body.contains("ResolveTenantLayer"));
}
