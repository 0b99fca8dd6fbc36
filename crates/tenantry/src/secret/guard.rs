//! The one public masking function, with a check that the password really is gone.

use tokio_postgres::config::Host;

use super::conninfo::mask_conninfo;
use super::url::mask_url;
use super::MASK;

/// A connection string with its password replaced by `********`, for messages and logs.
///
/// Both of tokio-postgres' forms: the URL (the password in the user info or a `password`
/// parameter, percent-encoded or not) and key/value (`password=…`, quoted or not). When the
/// string parses, the result is checked against the password it holds; should the password
/// still show (a form the masking does not foresee), the settings are described anew from the
/// parsed configuration instead, without the password.
///
/// ```
/// use tenantry::error::mask_password;
///
/// assert_eq!(mask_password("postgres://app:s3cret@db:5432/app"), "postgres://app:********@db:5432/app");
/// assert_eq!(mask_password("postgres://app:pa%2Fss@db/app"), "postgres://app:********@db/app");
/// assert_eq!(
///     mask_password(r"host=/tmp user=app password='it\'s secret' dbname=app"),
///     "host=/tmp user=app password=******** dbname=app"
/// );
/// ```
pub fn mask_password(connection: &str) -> String {
    let parsed = connection.parse::<tokio_postgres::Config>();
    let masked = match connection.split_once("://") {
        Some((scheme, rest)) if !scheme.contains(char::is_whitespace) && !scheme.contains('=') => {
            mask_url(scheme, rest)
        }
        _ => mask_conninfo(connection, parsed.is_err()),
    };
    let Ok(config) = parsed else { return masked };
    let Some(password) = config.get_password().filter(|password| !password.is_empty()) else { return masked };
    let forms = password_forms(password);
    if reveals(&masked, &forms) {
        describe(&config)
    } else {
        masked
    }
}

/// The ways `password` can be written in a connection string: as is, percent-encoded (all
/// bytes or only the reserved ones, in either case of hex digits) and conninfo-escaped.
pub(crate) fn password_forms(password: &[u8]) -> Vec<String> {
    let raw = String::from_utf8_lossy(password).into_owned();
    let encode = |all: bool, upper: bool| -> String {
        password
            .iter()
            .map(|&byte| {
                let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
                match (unreserved && !all, upper) {
                    (true, _) => char::from(byte).to_string(),
                    (false, true) => format!("%{byte:02X}"),
                    (false, false) => format!("%{byte:02x}"),
                }
            })
            .collect()
    };
    let escaped = raw.replace('\\', "\\\\").replace('\'', "\\'");
    let mut forms =
        vec![raw, encode(false, true), encode(false, false), encode(true, true), encode(true, false), escaped];
    forms.sort();
    forms.dedup();
    forms
}

fn reveals(text: &str, forms: &[String]) -> bool {
    forms.iter().any(|form| text.contains(form.as_str()))
}

/// The parsed settings in key/value form, the password masked.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    let mut parts = Vec::new();
    for (key, value) in [
        ("host", (!hosts.is_empty()).then(|| hosts.join(","))),
        ("port", (!ports.is_empty()).then(|| ports.join(","))),
        ("user", config.get_user().map(str::to_owned)),
        ("dbname", config.get_dbname().map(str::to_owned)),
    ] {
        if let Some(value) = value {
            parts.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
        }
    }
    parts.push(format!("password={MASK}"));
    parts.join(" ")
}

/// tokio-postgres' message for a connection string it cannot parse, without the pieces of the
/// input some of its messages quote: "unknown option `…`" and "unexpected character … `c`"
/// quote what may be part of a password whose spaces or quotes were not escaped.
pub(crate) fn describe_parse_error(error: &tokio_postgres::Error) -> String {
    let text = crate::error::describe_pg(error);
    let advice = "single-quote a key/value value holding spaces or quotes and put \\ before ' and \\ \
                  in it (password='it\\'s'), or percent-encode such characters in a URL";
    if text.contains("unknown option") {
        format!("invalid configuration: an unknown key; check the key names, and {advice}")
    } else if text.contains("unexpected character") {
        format!("invalid configuration: a key without `=` or a value that breaks off; {advice}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_both_forms() {
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_password("embedded"), "embedded");
        assert_eq!(
            mask_password("host=/tmp user=app password=s3cret dbname=app"),
            "host=/tmp user=app password=******** dbname=app"
        );
    }

    #[test]
    fn falls_back_to_a_description_when_the_password_would_show() {
        // The password is also the database name: masking leaves it in; the description does too
        // (nothing else could), but a password appearing where masking misses it is described.
        let described = describe(&"host=h user=u password=pw dbname=d".parse().expect("parses"));
        assert_eq!(described, "host='h' user='u' dbname='d' password=********");
    }

    #[test]
    fn parse_errors_do_not_quote_the_input() {
        let error = "user=u password=ab cd=x".parse::<tokio_postgres::Config>().expect_err("unknown key `cd`");
        let source = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("`cd`"), "tokio-postgres quotes it: {source}");
        assert!(!describe_parse_error(&error).contains("cd"));
    }
}
