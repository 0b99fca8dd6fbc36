//! Tracing inside a tenant scope. A test binary of its own: `tracing::subscriber::with_default`
//! is per thread, and other tests' threads registering the same callsites without a subscriber
//! can leave the `tenant` span disabled for this one.

mod common;

use common::{connect, create_with_marker};
use tenantry_test_support::test_database;

#[test]
fn log_lines_inside_a_scope_carry_the_tenant() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let db = test_database("context_tracing").await;
            let tenantry = connect(&db, |_| {}).await;
            let acme = create_with_marker(&tenantry, "acme").await;
            tenantry.scope(&acme, async { tracing::info!("inside the scope") }).await.expect("known");
        });
    });
    let text = String::from_utf8(capture.0.lock().expect("not poisoned").clone()).expect("utf-8");
    let line = text.lines().find(|line| line.contains("inside the scope")).expect("logged");
    assert!(line.contains("tenant{tenant=acme}"), "{line}\n(everything logged: {text})");
}
