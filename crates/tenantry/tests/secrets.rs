//! Property test: a password never shows in a `Debug` print, an error or a masked connection
//! string, whatever characters it holds and whichever form the connection string takes
//! (issue 10, "Secrets never printed").
//!
//! Each generated password is written in every form tokio-postgres reads (percent-encoded URL
//! user info, raw URL user info, URL `password` parameter, key/value quoted and unquoted with
//! `\` escapes). Each form must parse back to the same password, so the forms are real; then
//! the password must be absent from: `mask_password`, the `Debug` of the `Config` holding it
//! and of the `Tenantry` it connects (SCRAM login of a real role), and the `Display`, source
//! chain and `Debug` of the errors of a wrong password (real server), a closed port and an
//! invalid setting.

use std::net::{Ipv4Addr, TcpListener};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tenantry::error::mask_password;
use tenantry::{Config, Tenantry};
use tenantry_test_support::Cluster;

/// Characters that break naive URL and conninfo handling, and plain ones; no `*` (the mask).
const ALPHABET: &[char] = &[
    '/', '?', '#', '@', '%', ':', '\'', '"', ' ', '\\', '&', '=', '+', ';', ',', '[', ']', '{', '}', '$', '!', '\t',
    'é', '€', 'ß', '漢', '🙂', 'a', 'b', 'z', 'Q', '0', '7', '-', '_', '.', '~',
];

fn passwords() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(ALPHABET), 8..24).prop_map(|chars| chars.into_iter().collect())
}

fn percent_encode_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Only what a URL needs encoded, in lower-case hex.
fn percent_encode_reserved(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// `\` before `\`, `'` and whitespace: the unquoted key/value form.
fn backslash_escape(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\\' || c == '\'' || c.is_whitespace() { format!("\\{c}") } else { c.to_string() })
        .collect()
}

/// Every form of a connection string for `user`:`password` at 127.0.0.1:`port`/`dbname`.
fn forms(user: &str, password: &str, port: u16, dbname: &str) -> Vec<String> {
    let mut forms = vec![
        format!("postgresql://{user}:{}@127.0.0.1:{port}/{dbname}", percent_encode_all(password)),
        format!("postgres://{user}:{}@127.0.0.1:{port}/{dbname}", percent_encode_reserved(password)),
        format!("postgresql://{user}@127.0.0.1:{port}/{dbname}?password={}", percent_encode_reserved(password)),
        format!(
            "host=127.0.0.1 port={port} user={user} password='{}' dbname={dbname}",
            password.replace('\\', "\\\\").replace('\'', "\\'")
        ),
        format!("host=127.0.0.1 port={port} user={user} password={} dbname={dbname}", backslash_escape(password)),
    ];
    // tokio-postgres reads the user info up to the first `@` and percent-decodes it: a raw
    // password is readable when it holds neither.
    if !password.contains(['@', '%']) {
        forms.push(format!("postgresql://{user}:{password}@127.0.0.1:{port}/{dbname}"));
    }
    forms
}

/// How the password could be written in output: as is, and percent-encoded both ways.
fn written(password: &str) -> Vec<String> {
    vec![
        password.to_owned(),
        percent_encode_all(password),
        percent_encode_all(password).to_lowercase(),
        percent_encode_reserved(password),
        percent_encode_reserved(password).to_uppercase(),
    ]
}

/// Fails the case if `text` (what `what` printed) holds the password in any form.
fn assert_absent(text: &str, password: &str, what: &str) -> Result<(), TestCaseError> {
    for form in written(password) {
        prop_assert!(!text.contains(&form), "{what} shows the password ({form:?}):\n{text}");
    }
    Ok(())
}

/// The `Display`, the whole source chain and the `Debug` of `error`.
fn everything_printed(error: &tenantry::Error) -> String {
    let mut text = format!("{error}\n{error:?}");
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(&format!("\n{inner}\n{inner:?}"));
        cause = inner.source();
    }
    text
}

fn config(url: &str) -> Config {
    let mut config = Config::default();
    config.database_url = Some(url.to_owned());
    config.pool.listen_for_schema_changes = false;
    config.pool.acquire_timeout_secs = 5;
    config
}

/// A port nothing listens on (bound a moment ago, then released).
fn closed_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[test]
fn a_password_never_shows_in_any_form() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let cluster = Cluster::shared();
    let db = runtime.block_on(cluster.database("secrets"));
    // A role whose password is never the generated one: every generated login to it fails.
    let wrong_target = runtime.block_on(cluster.password_superuser("secret_other", "known-other-password"));
    let mut runner = TestRunner::new(ProptestConfig { cases: 24, ..ProptestConfig::default() });
    runner
        .run(&passwords(), |password| {
            let role = runtime.block_on(cluster.password_superuser("secret_user", &password));
            for form in forms(role.name(), &password, cluster.port(), db.name()) {
                let parsed: tokio_postgres::Config = form.parse().expect("every form parses");
                prop_assert_eq!(parsed.get_password(), Some(password.as_bytes()), "the form {} is real", form);

                assert_absent(&mask_password(&form), &password, "mask_password")?;
                let config = config(&form);
                assert_absent(&format!("{config:?}"), &password, "Debug of Config")?;
                assert_absent(&format!("{parsed:?}"), &password, "Debug of tokio_postgres::Config")?;

                let tenantry = runtime.block_on(Tenantry::connect(config)).expect("logs in with the password");
                assert_absent(&format!("{tenantry:?}"), &password, "Debug of Tenantry")?;
                drop(tenantry);

                let wrong = form.replacen(role.name(), wrong_target.name(), 1);
                let error = runtime.block_on(Tenantry::connect(self::config(&wrong))).expect_err("a wrong password");
                prop_assert!(error.sqlstate() == Some("28P01"), "a failed password login: {}", error);
                assert_absent(&everything_printed(&error), &password, "the wrong-password error")?;

                let closed = form.replace(&cluster.port().to_string(), &closed_port().to_string());
                let error = runtime.block_on(Tenantry::connect(self::config(&closed))).expect_err("nothing listens");
                assert_absent(&everything_printed(&error), &password, "the closed-port error")?;

                let invalid = if form.contains("://") {
                    format!("{form}{}connect_timeout=soon", if form.contains("?password=") { '&' } else { '?' })
                } else {
                    format!("{form} connect_timeout=soon")
                };
                let error =
                    runtime.block_on(Tenantry::connect(self::config(&invalid))).expect_err("an invalid setting");
                prop_assert!(matches!(error, tenantry::Error::InvalidDatabaseUrl { .. }), "{}", error);
                assert_absent(&everything_printed(&error), &password, "the invalid-URL error")?;
            }
            Ok(())
        })
        .expect("no password shows");
}

#[test]
fn a_password_the_parser_cannot_read_whole_is_not_quoted_in_its_error() {
    // Unquoted spaces end the value at `ab`; tokio-postgres then rejects the key `qxz9`.
    let error = Config::from_toml("database_url = 'host=h user=u password=ab qxz9=jkw7 dbname=x'", "t.toml".as_ref())
        .map(|config| tokio_postgres_error(&config));
    let text = error.expect("parses the file").expect("the URL is invalid");
    assert!(!text.contains("qxz9") && !text.contains("jkw7"), "{text}");
}

fn tokio_postgres_error(config: &Config) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(Tenantry::connect(config.clone())).err().map(|error| everything_printed(&error))
}

#[test]
fn a_config_file_that_does_not_parse_never_quotes_its_password_line() {
    let text = "database_url = \"postgres://app:s3cr\\qt@db/app\"\n";
    let error = Config::from_toml(text, "tenantry.toml".as_ref()).expect_err("\\q is not a TOML escape");
    let printed = everything_printed(&error);
    assert!(printed.contains("line 1") && printed.contains("database_url"), "{printed}");
    assert!(!printed.contains("s3cr"), "{printed}");
}
