//! `init` and `new`: project files.

use std::path::Path;

use anyhow::Context as _;

use super::{usage, Context};
use crate::exit::Exit;
use crate::output::Output;

const CONFIG_TEMPLATE: &str = r#"# tenantry configuration. Environment variables (DATABASE_URL, TENANTRY_*) override it;
# command-line flags override both. Every key: docs/configuration.md.

# "embedded" starts a project-local PostgreSQL under .tenantry/ from the machine's binaries.
# Put your server's URL here (or in DATABASE_URL) for anything real.
database_url = "embedded"

default_schema = "public"
# Schemas put on every tenant's search path, after the tenant's own (for extensions' types
# and functions, and tables every tenant shares).
shared_schemas = []

# Which schemas are tenants. With no prefix, a tenant is a schema holding tenantry's
# bookkeeping table (tenantry_migrations), which `tenantry create` writes: the database's other
# schemas (extensions', `auth`, an app's own) are never tenants, and `migrate`, `exec` and
# `drop` leave them alone. With a prefix (e.g. "tenant_"), every schema whose name starts with
# it is a tenant too. docs/tenants.md.
schema_prefix = ""

[tenants]
source = "schemas"   # or "registry": a table with one row per tenant

[migrations]
directory = "migrations"
jobs = 4
lock_timeout_ms = 5000
dump_path = "db/schema.sql"
"#;

/// `tenantry init`.
pub(crate) fn init(force: bool, output: &Output) -> anyhow::Result<Exit> {
    let config = Path::new(tenantry::config::CONFIG_FILE_NAME);
    if config.exists() && !force {
        return Err(usage("tenantry.toml already exists; use --force to overwrite it"));
    }
    std::fs::write(config, CONFIG_TEMPLATE).context("writing tenantry.toml")?;
    for dir in ["migrations/shared", "migrations/tenant"] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    let ignore = Path::new(".gitignore");
    let existing = std::fs::read_to_string(ignore).unwrap_or_default();
    if !existing.lines().any(|line| line.trim() == ".tenantry/") {
        let separator = if existing.is_empty() || existing.ends_with('\n') { "" } else { "\n" };
        std::fs::write(ignore, format!("{existing}{separator}.tenantry/\n")).context("writing .gitignore")?;
    }
    output.line("wrote tenantry.toml, migrations/shared/ and migrations/tenant/");
    output.line("next: `tenantry new create_orders`, then `tenantry migrate`");
    Ok(Exit::Success)
}

/// `tenantry new <description>`.
pub(crate) fn new(context: &Context, description: &str, shared: bool, irreversible: bool) -> anyhow::Result<Exit> {
    let slug = slug(description);
    if slug.is_empty() {
        return Err(usage("the description needs at least one letter or digit"));
    }
    let dir = context.settings.config.migrations.directory.join(if shared { "shared" } else { "tenant" });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let version = timestamp(std::time::SystemTime::now());
    let files: Vec<(String, &str)> = if irreversible {
        vec![(format!("{version}_{slug}.sql"), "-- irreversible migration\n")]
    } else {
        vec![
            (format!("{version}_{slug}.up.sql"), "-- apply\n"),
            (format!("{version}_{slug}.down.sql"), "-- revert what the .up.sql does\n"),
        ]
    };
    for (name, text) in files {
        let path = dir.join(&name);
        if path.exists() {
            return Err(usage(format!("{} already exists; wait a second and try again", path.display())));
        }
        std::fs::write(&path, format!("-- {description}\n{text}"))
            .with_context(|| format!("writing {}", path.display()))?;
        context.output.line(format!("created {}", path.display()));
    }
    Ok(Exit::Success)
}

/// `Add orders table!` → `add_orders_table`.
fn slug(description: &str) -> String {
    let mut slug = String::new();
    for ch in description.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    slug.trim_end_matches('_').to_owned()
}

/// `YYYYMMDDhhmmss` in UTC, as sqlx-cli names migrations.
fn timestamp(now: std::time::SystemTime) -> String {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Howard Hinnant's days-to-civil algorithm: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_name_safe() {
        assert_eq!(slug("Add orders table!"), "add_orders_table");
        assert_eq!(slug("  --x--y  "), "x_y");
        assert_eq!(slug("!!!"), "");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs| timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "19700101000000");
        assert_eq!(at(951_782_400), "20000229000000", "a leap day");
        assert_eq!(at(1_795_264_215), "20261121123015");
    }
}
