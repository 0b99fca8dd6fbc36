//! Roles that must log in with a password (SCRAM), for tests that a password never leaks.
//!
//! The cluster trusts every other login (`initdb --auth=trust`, server.rs); a password role
//! gets `pg_hba.conf` lines of its own, put before the trust lines so that they match first.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::address::{conninfo_value, percent_encode};
use crate::cluster::Cluster;
use crate::sql::{execute, quote_ident};

/// How long to wait for the server to load the new `pg_hba.conf` after `pg_reload_conf()`.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A login role of the test cluster that must give its password (`scram-sha-256`), made by
/// [`Cluster::password_superuser`].
#[derive(Clone)]
pub struct PasswordRole {
    name: String,
    password: String,
    port: u16,
}

/// Never prints the password: the tests that use this type look for it in output.
impl std::fmt::Debug for PasswordRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRole").field("name", &self.name).field("port", &self.port).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Creates (or re-creates with a new password) the superuser `role`, which must log in
    /// with `password` (`scram-sha-256`) over TCP and over the Unix socket; every other role
    /// keeps logging in without one. Returns once the server enforces it.
    ///
    /// # Panics
    ///
    /// If `role` is not a plain lowercase identifier (`[a-z0-9_]`), the password holds a NUL
    /// byte, or the role or `pg_hba.conf` cannot be written, with what to look at.
    pub async fn password_superuser(&'static self, role: &str, password: &str) -> PasswordRole {
        assert!(
            !role.is_empty() && role.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "password_superuser: use a plain lowercase role name ([a-z0-9_]), got {role:?}"
        );
        assert!(!password.contains('\0'), "password_superuser: PostgreSQL passwords cannot hold NUL");
        let literal = format!("'{}'", password.replace('\'', "''"));
        let sql = format!(
            "DO $$ BEGIN CREATE ROLE {role} LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             SET password_encryption = 'scram-sha-256'; ALTER ROLE {role} PASSWORD {literal}",
            role = quote_ident(role)
        );
        execute(&self.socket_conninfo("postgres"), &sql)
            .await
            .unwrap_or_else(|err| panic!("could not create the password role {role}: {err}"));
        self.require_password(role).await;
        PasswordRole { name: role.to_owned(), password: password.to_owned(), port: self.port() }
    }

    /// Puts `role`'s `scram-sha-256` lines first in `pg_hba.conf`, reloads, and waits until a
    /// login without the password is refused.
    async fn require_password(&self, role: &str) {
        static HBA: Mutex<()> = Mutex::new(());
        let path = self.data_dir().join("pg_hba.conf");
        {
            let _guard = HBA.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("could not read {}: {err}", path.display()));
            let lines = format!("host all \"{role}\" 127.0.0.1/32 scram-sha-256\nlocal all \"{role}\" scram-sha-256\n");
            if !text.starts_with(&lines) && !text.contains(&format!("\n{lines}")) {
                std::fs::write(&path, format!("{lines}{text}"))
                    .unwrap_or_else(|err| panic!("could not write {}: {err}", path.display()));
            }
        }
        execute(&self.socket_conninfo("postgres"), "SELECT pg_reload_conf()")
            .await
            .unwrap_or_else(|err| panic!("could not reload the server's configuration: {err}"));
        let without_password = format!("host=127.0.0.1 port={} user={role} dbname=postgres", self.port());
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        while execute(&without_password, "SELECT 1").await.is_ok() {
            assert!(Instant::now() < deadline, "the server still lets {role} in without a password after a reload");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl PasswordRole {
    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgresql://{role}:{password}@127.0.0.1:{port}/{dbname}`, the password and the
    /// database name percent-encoded.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{}",
            self.name,
            percent_encode(&self.password),
            self.port,
            percent_encode(dbname)
        )
    }

    /// `host=127.0.0.1 port={port} user={role} password='…' dbname={dbname}`: the key/value
    /// form, values quoted and escaped when they need it.
    pub fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} password={} dbname={}",
            self.port,
            self.name,
            conninfo_value(&self.password),
            conninfo_value(dbname)
        )
    }
}
