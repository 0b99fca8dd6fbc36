//! Reading a connection string into `(key, value)` pairs, as libpq does: a URL
//! (`postgres://user:password@host:port/dbname?key=value`) or a `key=value` string whose values
//! may be single-quoted (libpq manual, section 34.1.1 "Connection Strings").
//!
//! Nothing here looks at what the keys mean; `settings.rs` does. Error messages never repeat
//! the input: it may hold a password.

use super::error::SettingsError;

/// The pairs of `input`, in the order written (a later duplicate wins where they are used).
pub(crate) fn parse(input: &str) -> Result<Vec<(String, String)>, SettingsError> {
    let trimmed = input.trim();
    match ["postgresql://", "postgres://"].iter().find_map(|scheme| trimmed.strip_prefix(scheme)) {
        Some(rest) => parse_url(rest),
        None => parse_key_values(trimmed),
    }
}

/// The part of a URL after `postgres://`.
fn parse_url(rest: &str) -> Result<Vec<(String, String)>, SettingsError> {
    let mut pairs = Vec::new();
    // The user info runs to the first `@`, as tokio-postgres reads it (and `mask_password` masks
    // it): a raw password may hold `/`, `?`, `#` or `:`, but not `@` or `%` (percent-encode them).
    let (userinfo, rest) = match rest.split_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let (hosts, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            pairs.push(("user".to_owned(), decode(user, "the user name in the URL")?));
        }
        if let Some(password) = password {
            pairs.push(("password".to_owned(), decode(password, "the password in the URL")?));
        }
    }
    if !hosts.is_empty() {
        let (names, ports) = split_hosts(hosts)?;
        if names.iter().any(|name| !name.is_empty()) {
            pairs.push(("host".to_owned(), names.join(",")));
        }
        if ports.iter().any(|port| !port.is_empty()) {
            pairs.push(("port".to_owned(), ports.join(",")));
        }
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    let dbname = path.strip_prefix('/').unwrap_or(path);
    if !dbname.is_empty() {
        pairs.push(("dbname".to_owned(), decode(dbname, "the database name in the URL")?));
    }
    for param in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
        let Some((key, value)) = param.split_once('=') else {
            return Err(SettingsError::Syntax {
                problem: "a query parameter of the URL has no `=`; write `?key=value&key=value`".to_owned(),
            });
        };
        let key = decode(key, "a query parameter's name")?;
        let value = decode(value, &format!("the value of the query parameter `{key}`"))?;
        // libpq takes the JDBC-style `ssl=true` as `sslmode=require`.
        if key == "ssl" && value == "true" {
            pairs.push(("sslmode".to_owned(), "require".to_owned()));
        } else {
            pairs.push((key, value));
        }
    }
    Ok(pairs)
}

/// `host1:port1,[::1]:port2,host3`: the hosts and the ports, each list as long as the other
/// (an empty entry where a host has no port).
fn split_hosts(hosts: &str) -> Result<(Vec<String>, Vec<String>), SettingsError> {
    let mut names = Vec::new();
    let mut ports = Vec::new();
    for spec in hosts.split(',') {
        let (name, port) = if let Some(bracketed) = spec.strip_prefix('[') {
            let (name, after) = bracketed.split_once(']').ok_or_else(|| SettingsError::Syntax {
                problem: "an IPv6 address in the URL lacks its closing `]`".to_owned(),
            })?;
            (name, after.strip_prefix(':').unwrap_or(after))
        } else {
            spec.split_once(':').unwrap_or((spec, ""))
        };
        names.push(decode(name, "a host name in the URL")?);
        ports.push(decode(port, "a port in the URL")?);
    }
    Ok((names, ports))
}

/// Percent-decoding (`%2F` → `/`); `+` stays `+`, as in libpq. `what` names the part for the
/// error, which never repeats the text (it may be a password).
pub(crate) fn decode(text: &str, what: &str) -> Result<String, SettingsError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| SettingsError::Syntax {
                    problem: format!("{what} has a `%` not followed by two hex digits; write `%25` for a `%`"),
                })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| SettingsError::Syntax { problem: format!("{what} does not decode to UTF-8 text") })
}

/// `key=value key2='quoted value' key3 = value3`: libpq's keyword/value form. In a quoted value
/// `\'` is a quote and `\\` a backslash; an unquoted value ends at white space and takes `\`
/// as an escape too.
fn parse_key_values(input: &str) -> Result<Vec<(String, String)>, SettingsError> {
    let mut pairs = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // Never the word itself: it may be the rest of an unquoted password.
            let after =
                pairs.last().map_or_else(String::new, |(key, _): &(String, String)| format!(" after `{key}=…`"));
            return Err(SettingsError::Syntax {
                problem: format!(
                    "a word{after} in the connection string is not a `key=value` pair; quote values \
                     holding spaces: key='a value'"
                ),
            });
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(SettingsError::Syntax {
                            problem: format!("the quoted value of `{key}` has no closing `'`"),
                        })
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// `pairs` as a key=value string with every value quoted, for tokio-postgres's parser (which
/// reads the same form).
pub(crate) fn to_key_values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(key, value)| format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pairs(input: &str) -> Vec<(String, String)> {
        parse(input).expect("parses")
    }

    fn owned(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn urls_give_their_parts_and_query() {
        assert_eq!(
            pairs("postgres://app:s%40cret@db.example:6432/shop?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"),
            owned(&[
                ("user", "app"),
                ("password", "s@cret"),
                ("host", "db.example"),
                ("port", "6432"),
                ("dbname", "shop"),
                ("sslmode", "verify-full"),
                ("sslrootcert", "/etc/ca.pem"),
            ])
        );
        assert_eq!(pairs("postgresql://"), owned(&[]));
        assert_eq!(pairs("postgresql:///db?host=%2Ftmp"), owned(&[("dbname", "db"), ("host", "/tmp")]));
        assert_eq!(pairs("postgres://u:p/a?s#s:@h/db")[1], ("password".to_owned(), "p/a?s#s:".to_owned()));
        assert_eq!(pairs("postgres://u:p%40ss@h/db")[1], ("password".to_owned(), "p@ss".to_owned()));
        assert_eq!(pairs("postgres://h/db?ssl=true")[2], ("sslmode".to_owned(), "require".to_owned()));
    }

    #[test]
    fn urls_take_several_hosts_and_ipv6() {
        assert_eq!(
            pairs("postgres://a:1,[::1]:2,c/db"),
            owned(&[("host", "a,::1,c"), ("port", "1,2,"), ("dbname", "db")])
        );
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_the_password() {
        for url in ["postgres://u:se%zzcret@h/db", "postgres://h/db?sslmode", "postgres://[::1/db"] {
            let err = parse(url).expect_err(url).to_string();
            assert!(!err.contains("cret"), "{err}");
        }
    }

    #[test]
    fn key_values_take_quotes_and_escapes() {
        assert_eq!(
            pairs(r"host=/tmp  port = 5432 password='it\'s a \\ secret' user=a\ b dbname=''"),
            owned(&[
                ("host", "/tmp"),
                ("port", "5432"),
                ("password", r"it's a \ secret"),
                ("user", "a b"),
                ("dbname", ""),
            ])
        );
        assert!(parse("host").is_err());
        let err = parse("user=app password=two words").expect_err("unquoted space").to_string();
        assert!(err.contains("after `password=…`") && !err.contains("words"), "{err}");
        assert!(parse("password='open").expect_err("unterminated").to_string().contains("closing"));
    }

    proptest! {
        #[test]
        fn key_values_round_trip(values in proptest::collection::vec("\\PC*", 1..4)) {
            let keys = ["password", "user", "application_name", "options"];
            let written: Vec<(&str, &str)> = keys.iter().copied().zip(values.iter().map(String::as_str)).collect();
            let parsed = parse(&to_key_values(written.iter().copied())).expect("parses");
            let expected: Vec<(String, String)> =
                written.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn urls_round_trip_percent_encoded_parts(user in "[a-z]{1,8}", password in "\\PC{0,20}", db in "\\PC{1,12}") {
            let url = format!("postgres://{}:{}@localhost:5432/{}", encode(&user), encode(&password), encode(&db));
            let parsed = parse(&url).expect("parses");
            prop_assert_eq!(&parsed[0], &("user".to_owned(), user));
            prop_assert_eq!(&parsed[1], &("password".to_owned(), password));
            prop_assert_eq!(&parsed[4], &("dbname".to_owned(), db));
        }

        #[test]
        fn parsing_never_panics(input in "\\PC*") {
            let _ = parse(&input);
            let _ = parse(&format!("postgres://{input}"));
        }
    }

    /// Percent-encodes everything but ASCII letters and digits.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect()
    }
}
