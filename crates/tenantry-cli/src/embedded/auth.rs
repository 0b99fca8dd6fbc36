//! How the embedded cluster lets clients in: a generated password and `scram-sha-256`, never
//! `trust` (issue 10: no passwordless superuser over TCP).
//!
//! The password is made once, from `/dev/urandom`, and kept in `.tenantry/password` (mode
//! 0600, in a directory of mode 0700): anyone who can read it can already read the cluster's
//! files. `initdb --pwfile` gives it to the `postgres` role of a new cluster, and tenantry's own
//! `pg_hba.conf` asks for it on every connection, over TCP on 127.0.0.1 and over the Unix socket
//! alike. A cluster made by an older tenantry (`initdb --auth=trust`) is upgraded in place at its
//! next use: the role gets a password, `pg_hba.conf` is replaced (the old one is kept beside
//! it) and the server reloads it; the data stays.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::EmbeddedError;
use super::layout::Layout;
use super::process::running_as_root;

/// Random bytes in a password: 192 bits, written as 48 hex digits (nothing to escape in a URL,
/// a conninfo string or a pgpass file).
const PASSWORD_BYTES: usize = 24;

/// tenantry's `pg_hba.conf`: a password for every connection (PostgreSQL manual, "The
/// pg_hba.conf File"). The server listens on 127.0.0.1 only (`server.rs`).
pub(crate) const HBA: &str = "# Written by tenantry: every connection needs the password in .tenantry/password\n\
     # (scram-sha-256). TYPE  DATABASE  USER  ADDRESS       METHOD\n\
     local all all scram-sha-256\n\
     host  all all 127.0.0.1/32 scram-sha-256\n";

/// Whether a `pg_hba.conf` lets anyone in without a password: an active line with `trust`.
pub(crate) fn trusts(hba: &str) -> bool {
    hba.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .any(|line| line.split_whitespace().any(|word| word == "trust"))
}

/// The stored password, made (mode 0600) if there is none yet. Two `tenantry` processes doing
/// this at once end up with the same one: each writes a file of its own and links it into place,
/// and only the first link succeeds.
pub(crate) fn ensure_password(layout: &Layout) -> Result<String, EmbeddedError> {
    if let Some(password) = read_password(layout)? {
        return Ok(password);
    }
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let attempt = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    let staging = layout.root.join(format!("password.new-{}-{attempt}", std::process::id()));
    let password = generate()?;
    let written = write_private(&staging, &password);
    let linked = written.and_then(|()| match fs::hard_link(&staging, &layout.password_file) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(EmbeddedError::io("create", &layout.password_file)(err)),
    });
    let _ = fs::remove_file(&staging);
    linked?;
    hand_to_cluster_owner(layout, &layout.password_file)?;
    read_password(layout)?.ok_or_else(|| {
        EmbeddedError::io("read", &layout.password_file)(std::io::Error::other("the password file is empty"))
    })
}

/// The stored password, if the file exists; its mode is set back to 0600 if it was widened.
pub(crate) fn read_password(layout: &Layout) -> Result<Option<String>, EmbeddedError> {
    let path = &layout.password_file;
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(EmbeddedError::io("read", path)(err)),
    };
    let meta = fs::metadata(path).map_err(EmbeddedError::io("read", path))?;
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(EmbeddedError::io("restrict", path))?;
    }
    Ok(Some(text.trim().to_owned()).filter(|password| !password.is_empty()))
}

/// Moves a cluster made by an older tenantry from `trust` to the stored password, in place,
/// when its `pg_hba.conf` still trusts; returns whether it did. The server must be running on
/// `port`. Order matters: the role gets its password before the server asks for one, so an
/// interruption anywhere leaves a cluster the next run can still reach and finish.
pub(crate) fn upgrade_from_trust(layout: &Layout, port: u16, password: &str) -> Result<bool, EmbeddedError> {
    let hba_path = layout.data.join("pg_hba.conf");
    let hba = fs::read_to_string(&hba_path).map_err(EmbeddedError::io("read", &hba_path))?;
    if !trusts(&hba) {
        return Ok(false);
    }
    let failed = |source| EmbeddedError::Upgrade { port, log: layout.log.clone(), source };
    let set_password = format!(
        "SET password_encryption = 'scram-sha-256'; ALTER ROLE postgres PASSWORD {}",
        tenantry::sql::quote_literal(password)
    );
    super::connect::on_own_runtime(
        port,
        password,
        move |client| async move { client.batch_execute(&set_password).await },
    )?
    .map_err(failed)?;
    let backup = layout.data.join("pg_hba.conf.trust-before-tenantry");
    layout.write_file(&backup, &hba)?;
    layout.write_file(&hba_path, HBA)?;
    super::connect::on_own_runtime(port, password, |client| async move {
        client.batch_execute("SELECT pg_reload_conf()").await
    })?
    .map_err(failed)?;
    tracing::warn!(
        "the embedded cluster in {} trusted every local connection (made by an older tenantry); it now \
         asks for the password in {} (the old pg_hba.conf is kept as {})",
        layout.data.display(),
        layout.password_file.display(),
        backup.display()
    );
    Ok(true)
}

/// 48 hex digits from the kernel's random source.
fn generate() -> Result<String, EmbeddedError> {
    let source = Path::new("/dev/urandom");
    let mut bytes = [0u8; PASSWORD_BYTES];
    fs::File::open(source)
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(EmbeddedError::io("read", source))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Creates `path` with mode 0600 from the start (never readable by others, even for a moment).
fn write_private(path: &Path, password: &str) -> Result<(), EmbeddedError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(EmbeddedError::io("create", path))?;
    writeln!(file, "{password}").and_then(|()| file.sync_all()).map_err(EmbeddedError::io("write", path))
}

/// As root, the file goes to the owner of `.tenantry` (the server user), whose `initdb` reads it.
fn hand_to_cluster_owner(layout: &Layout, path: &Path) -> Result<(), EmbeddedError> {
    if !running_as_root() {
        return Ok(());
    }
    let owner = fs::metadata(&layout.root).map_err(EmbeddedError::io("read", &layout.root))?;
    std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
        .map_err(EmbeddedError::io("change the owner of", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_trust_lines_trust() {
        assert!(trusts("local all all trust\nhost all all 127.0.0.1/32 trust\n"));
        assert!(trusts("# comment\nhost all all 127.0.0.1/32   trust # old\n"));
        assert!(!trusts(HBA));
        assert!(!trusts("# METHOD can be \"trust\", \"reject\", \"md5\"\nlocal all all scram-sha-256\n"));
    }

    #[test]
    fn passwords_are_long_random_and_need_no_escaping() {
        let (a, b) = (generate().expect("random"), generate().expect("random"));
        assert_eq!(a.len(), 2 * PASSWORD_BYTES);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_password_file_is_made_once_private_and_kept_private() {
        let project = tempfile::tempdir().expect("a temporary directory for the test");
        let layout = Layout::new(project.path());
        fs::create_dir(&layout.root).expect("create .tenantry");
        let password = ensure_password(&layout).expect("made");
        assert_eq!(ensure_password(&layout).expect("read"), password);
        let mode = |path: &Path| fs::metadata(path).expect("metadata").mode() & 0o777;
        assert_eq!(mode(&layout.password_file), 0o600);
        fs::set_permissions(&layout.password_file, fs::Permissions::from_mode(0o644)).expect("widen");
        assert_eq!(read_password(&layout).expect("read"), Some(password));
        assert_eq!(mode(&layout.password_file), 0o600);
        let leftovers = fs::read_dir(&layout.root).expect("read").filter_map(Result::ok).count();
        assert_eq!(leftovers, 1, "only the password file");
    }
}
