//! Exit codes: what a deploy pipeline can rely on.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything succeeded |
//! | 1 | at least one tenant failed (or a single-tenant operation failed in the database); `status --check` found a schema behind, drifted or missing |
//! | 2 | usage, configuration or validation error: bad flag, bad tenant name, unknown tenant, a schema that is not a tenant, missing or invalid configuration, malformed migration file, the migrator pointed at a transaction pooler |
//! | 3 | cannot connect to the database (or start the embedded one), or the run lock is held and `--no-wait` was given |

use std::process::ExitCode;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0.
    Success,
    /// 1.
    TenantFailed,
    /// 2.
    Usage,
    /// 3.
    Unavailable,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::TenantFailed => 1,
            Self::Usage => 2,
            Self::Unavailable => 3,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// A mistake in how the command was called, caught by the CLI itself (exit 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The embedded cluster could not be started (exit 3).
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// The exit status for an error that ended the command.
pub(crate) fn classify(error: &anyhow::Error) -> Exit {
    for cause in error.chain() {
        if cause.is::<UsageError>() {
            return Exit::Usage;
        }
        if cause.is::<Unavailable>() {
            return Exit::Unavailable;
        }
        if let Some(error) = cause.downcast_ref::<tenantry::Error>() {
            return classify_tenantry(error);
        }
    }
    Exit::TenantFailed
}

fn classify_tenantry(error: &tenantry::Error) -> Exit {
    use tenantry::Error as E;
    match error {
        E::Connect { .. } | E::Pool { .. } | E::MigrationRunLocked | E::TenantBusy { .. } => Exit::Unavailable,
        E::InvalidTenantName { .. }
        | E::TenantNotFound { .. }
        | E::NotATenant { .. }
        | E::TenantExists { .. }
        | E::ConfigRead { .. }
        | E::ConfigParse { .. }
        | E::InvalidConfig { .. }
        | E::UnknownEnvironmentVariable { .. }
        | E::MissingDatabaseUrl
        | E::InvalidDatabaseUrl { .. }
        | E::ConnectionSettings { .. }
        | E::MigrationSource { .. }
        | E::SessionModeBehindPgBouncer
        | E::TransactionPooler { .. } => Exit::Usage,
        // The tenant exists; one of its migrations failed, as any tenant's may (issue 11).
        E::TenantCreatedIncomplete { .. } => Exit::TenantFailed,
        // A statement that never reached the server: the connection is gone.
        E::Database { source, .. } if source.as_db_error().is_none() => Exit::Unavailable,
        _ => Exit::TenantFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!([Exit::Success, Exit::TenantFailed, Exit::Usage, Exit::Unavailable].map(Exit::code), [0, 1, 2, 3]);
    }

    #[test]
    fn errors_map_to_codes() {
        let rules = tenantry::NamingRules::default();
        let invalid = rules.parse("Bad;Name").expect_err("invalid");
        assert_eq!(classify(&anyhow::Error::new(invalid).context("creating tenant")), Exit::Usage);
        assert_eq!(classify(&anyhow::Error::new(tenantry::Error::MigrationRunLocked)), Exit::Unavailable);
        assert_eq!(classify(&anyhow::Error::new(tenantry::Error::MissingDatabaseUrl)), Exit::Usage);
        let pooler = tenantry::Error::TransactionPooler {
            url: "postgres://bouncer/app".into(),
            evidence: tenantry::migrate::PoolerEvidence::BehindPgBouncer,
        };
        assert_eq!(classify(&anyhow::Error::new(pooler).context("migrating")), Exit::Usage);
        let not_found = tenantry::Error::TenantNotFound { tenant: "a".into(), schema: "a".into() };
        assert_eq!(classify(&anyhow::Error::new(not_found)), Exit::Usage);
        let foreign =
            tenantry::Error::NotATenant { schema: "auth".into(), kind: tenantry::schema::ForeignSchema::NoBookkeeping };
        assert_eq!(classify(&anyhow::Error::new(foreign)), Exit::Usage);
        assert_eq!(classify(&anyhow::Error::new(UsageError("drop needs --force".into()))), Exit::Usage);
        assert_eq!(classify(&anyhow::Error::new(Unavailable("cannot start".into()))), Exit::Unavailable);
        let incomplete = tenantry::Error::TenantCreatedIncomplete {
            tenant: "acme".into(),
            version: Some(4),
            path: None,
            sqlstate: Some("42P01".into()),
            problem: "a no-transaction migration failed".into(),
        };
        assert_eq!(classify(&anyhow::Error::new(incomplete).context("creating tenant")), Exit::TenantFailed);
        assert_eq!(classify(&anyhow::anyhow!("anything else")), Exit::TenantFailed);
    }
}
