//! Helpers shared by the CLI's test binaries.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

/// A project with the first `count` workload migrations of crates/tenantry/tests/fixtures and
/// `config` as its tenantry.toml.
pub fn project_with(count: usize, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenantry/tests/fixtures/workload");
    let tenant = dir.path().join("migrations/tenant");
    std::fs::create_dir_all(&tenant).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("migrations/shared")).expect("mkdir");
    for entry in std::fs::read_dir(&fixtures).expect("fixtures").filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sql") && name[..4].parse::<usize>().is_ok_and(|v| v <= count) {
            std::fs::copy(entry.path(), tenant.join(&name)).expect("copy");
        }
    }
    std::fs::write(dir.path().join("tenantry.toml"), config).expect("config");
    dir
}
