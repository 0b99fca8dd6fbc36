//! The password file (`~/.pgpass`, or `PGPASSFILE` / `passfile=`), read by libpq's rules (libpq
//! manual, section 34.16 "The Password File"): lines `hostname:port:database:username:password`,
//! `*` matching anything in the first four fields, `\` escaping `:` and `\`, `#` starting a
//! comment line, the first matching line winning, and the file ignored unless its mode is 0600
//! or stricter.

use std::path::Path;

/// What a line must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup<'a> {
    /// The host, `localhost` for the default Unix socket directory.
    pub(crate) host: &'a str,
    /// The port, as written (`5432` by default).
    pub(crate) port: &'a str,
    /// The database name.
    pub(crate) database: &'a str,
    /// The user name.
    pub(crate) user: &'a str,
}

/// The password of the first line of `path` that matches, if the file exists, is a regular
/// file and is not readable by group or others (as libpq, which warns and ignores it then).
pub(crate) fn password_from_file(path: &Path, lookup: &Lookup<'_>) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() {
        tracing::warn!("password file {} is not a plain file; ignoring it", path.display());
        return None;
    }
    if !private(&metadata) {
        tracing::warn!(
            "password file {} has group or world access; ignoring it (chmod 0600 {0} to use it)",
            path.display()
        );
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => find_password(&text, lookup),
        Err(err) => {
            tracing::warn!("cannot read the password file {}: {err}; ignoring it", path.display());
            None
        }
    }
}

#[cfg(unix)]
fn private(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o077 == 0
}

#[cfg(not(unix))]
fn private(_: &std::fs::Metadata) -> bool {
    // libpq does not check the mode on Windows either.
    true
}

/// The password of the first line of `text` that matches `lookup`.
pub(crate) fn find_password(text: &str, lookup: &Lookup<'_>) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            return None;
        }
        let wanted = [lookup.host, lookup.port, lookup.database, lookup.user];
        let mut rest = line;
        for want in wanted {
            rest = matches_field(rest, want)?;
        }
        Some(unescape_until_colon(rest))
    })
}

/// If the field at the start of `line` (up to an unescaped `:`) is `*` or equals `want`, the
/// text after its `:`.
fn matches_field<'a>(line: &'a str, want: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut chars = line.char_indices();
    let mut field = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => field.extend(chars.next().map(|(_, c)| c)),
            ':' => return (field == want).then(|| &line[i + 1..]),
            c => field.push(c),
        }
    }
    None
}

/// The password field: up to an unescaped `:` or the end, `\x` read as `x`.
fn unescape_until_colon(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => out.push('\\'),
            },
            ':' => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LOOKUP: Lookup<'static> = Lookup { host: "db.example", port: "5432", database: "app", user: "alice" };

    #[test]
    fn the_first_matching_line_wins_and_stars_match_anything() {
        let text = "# comment\nother:5432:app:alice:nope\ndb.example:*:app:alice:first\n*:*:*:*:second\n";
        assert_eq!(find_password(text, &LOOKUP).as_deref(), Some("first"));
        let text = "db.example:5433:app:alice:wrong port\n*:*:*:*:fallback\r\n";
        assert_eq!(find_password(text, &LOOKUP).as_deref(), Some("fallback"));
        assert_eq!(find_password("db.example:5432:app:bob:x\n", &LOOKUP), None);
        assert_eq!(find_password("too:few:fields\n", &LOOKUP), None);
    }

    #[test]
    fn backslashes_escape_colons_and_backslashes() {
        let lookup = Lookup { host: "a:b", ..LOOKUP };
        assert_eq!(find_password(r"a\:b:*:*:*:p\:w\\d:ignored", &lookup).as_deref(), Some(r"p:w\d"));
        assert_eq!(find_password(r"a\:b:*:*:*:ends\", &lookup).as_deref(), Some(r"ends\"));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(password_from_file(&path, &LOOKUP), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(password_from_file(&path, &LOOKUP).as_deref(), Some("secret"));
        assert_eq!(password_from_file(&dir.path().join("missing"), &LOOKUP), None);
    }

    /// A pgpass field with `:` and `\` escaped.
    fn escape(field: &str) -> String {
        field.replace('\\', "\\\\").replace(':', "\\:")
    }

    proptest! {
        #[test]
        fn escaped_lines_round_trip(host in "[^\r\n]{1,12}", user in "[^\r\n]{1,12}", password in "[^\r\n]*") {
            prop_assume!(host != "*" && user != "*" && !host.starts_with('#'));
            let line = format!("{}:5432:*:{}:{}\n", escape(&host), escape(&user), escape(&password));
            let lookup = Lookup { host: &host, port: "5432", database: "any", user: &user };
            prop_assert_eq!(find_password(&line, &lookup), Some(password));
            let other = Lookup { user: "someone else entirely", ..lookup };
            prop_assert_eq!(find_password(&line, &other), None);
        }
    }
}
