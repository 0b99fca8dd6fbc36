//! Property test: arbitrary strings into `TenantName` against the real server.
//!
//! Every accepted name round-trips through CREATE SCHEMA / DROP SCHEMA and maps to exactly
//! one schema whose name is the one PostgreSQL stored (no truncation, no case folding). Every
//! rejected name fails with `InvalidTenantName` naming the input; since lifecycle calls take a
//! `TenantName`, nothing else can carry it to SQL, and the catalog is checked unchanged after
//! every case.

mod common;

use common::{connect, raw_client};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tenantry::Error;

/// Inputs that mix the valid alphabet, hostile characters and overlong names.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_-]{0,70}",
        "\\PC{0,70}",
        "[a-zA-Z0-9_\"';. -]{0,20}",
        Just("pg_toast".to_owned()),
        Just("public".to_owned()),
        Just("x\"; DROP SCHEMA public CASCADE; --".to_owned()),
    ]
}

#[test]
fn accepted_names_round_trip_and_rejected_names_never_reach_sql() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let db = runtime.block_on(tenantry_test_support::test_database("names_roundtrip"));
    let tenantry = runtime.block_on(connect(&db, |config| config.schema_prefix = "t_".into()));
    let raw = runtime.block_on(raw_client(&db.url()));
    let schema_count = || async {
        let row = raw.query_one("SELECT count(*) FROM pg_namespace", &[]).await.expect("counts");
        row.get::<_, i64>(0)
    };
    let baseline = runtime.block_on(schema_count());

    let accepted = std::cell::Cell::new(0_usize);
    let rejected = std::cell::Cell::new(0_usize);
    let mut runner = TestRunner::new(ProptestConfig { cases: 400, ..ProptestConfig::default() });
    runner
        .run(&names(), |name| {
            runtime.block_on(async {
                match tenantry.tenant(&name) {
                    Ok(tenant) => {
                        accepted.set(accepted.get() + 1);
                        tenantry
                            .create(&tenant)
                            .await
                            .map_err(|err| TestCaseError::fail(format!("{name:?}: {err}")))?;
                        let stored: Vec<String> = raw
                            .query("SELECT nspname::text FROM pg_namespace WHERE nspname = $1", &[&tenant.schema()])
                            .await
                            .map_err(|err| TestCaseError::fail(err.to_string()))?
                            .iter()
                            .map(|row| row.get(0))
                            .collect();
                        prop_assert_eq!(stored, vec![tenant.schema().to_owned()]);
                        prop_assert!(tenantry
                            .exists(&tenant)
                            .await
                            .map_err(|err| TestCaseError::fail(err.to_string()))?);
                        tenantry.drop(&tenant).await.map_err(|err| TestCaseError::fail(format!("{name:?}: {err}")))?;
                        prop_assert!(!tenantry
                            .exists(&tenant)
                            .await
                            .map_err(|err| TestCaseError::fail(err.to_string()))?);
                    }
                    Err(Error::InvalidTenantName { name: rejected_name, reason }) => {
                        rejected.set(rejected.get() + 1);
                        prop_assert_eq!(&rejected_name, &name);
                        prop_assert!(!reason.to_string().is_empty());
                    }
                    Err(other) => return Err(TestCaseError::fail(format!("{name:?}: unexpected {other}"))),
                }
                prop_assert_eq!(schema_count().await, baseline, "no schema left behind or created by {:?}", name);
                Ok(())
            })
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    let (accepted, rejected) = (accepted.get(), rejected.get());
    println!("{accepted} accepted, {rejected} rejected");
    assert!(
        accepted > 50 && rejected > 50,
        "the strategy must exercise both sides: {accepted} accepted, {rejected} rejected"
    );
}
