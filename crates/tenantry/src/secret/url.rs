//! Masking the URL form: `scheme://user:password@host:port/db?key=value&password=…`.

use super::MASK;

/// `url` with the password of its user info and any `password` query parameter masked.
/// `rest` is what follows `scheme://`.
pub(super) fn mask_url(scheme: &str, rest: &str) -> String {
    let mut out = format!("{scheme}://");
    let after = match userinfo_end(rest) {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(MASK);
                }
                None => out.push_str(userinfo),
            }
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    out.push_str(&mask_query(after));
    out
}

/// Where the user info ends: tokio-postgres takes everything up to the first `@` as user and
/// password, even a `/` or `?` (tokio-postgres' `UrlParser::parse_credentials`). A further `@`
/// before the next `/` or `?` means an unencoded `@` in the password: mask up to the last one.
fn userinfo_end(rest: &str) -> Option<usize> {
    let mut end = rest.find('@')?;
    loop {
        let tail = &rest[end + 1..];
        let stop = tail.find(['/', '?']).unwrap_or(tail.len());
        match tail[..stop].find('@') {
            Some(next) => end += 1 + next,
            None => return Some(end),
        }
    }
}

/// Masks the value of a `password` key (percent-encoded or not) in the query string, and the
/// segments after it that hold no `=`: an unencoded `&` in the password split it there.
fn mask_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_owned() };
    let mut segments = Vec::new();
    let mut after_password = false;
    for segment in query.split('&') {
        match segment.split_once('=') {
            Some((key, _)) if decode(key) == b"password" => {
                segments.push(format!("{key}={MASK}"));
                after_password = true;
            }
            Some(_) => {
                segments.push(segment.to_owned());
                after_password = false;
            }
            None if after_password => {}
            None => segments.push(segment.to_owned()),
        }
    }
    format!("{path}?{}", segments.join("&"))
}

/// Percent-decoding as the URL parser does it (a `%` not followed by two hex digits stays).
pub(super) fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (bytes[index], hex.and_then(|pair| u8::from_str_radix(pair, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        mask_url(scheme, rest)
    }

    #[test]
    fn masks_the_user_info_password() {
        assert_eq!(mask("postgres://u:s3cret@h:5432/db"), "postgres://u:********@h:5432/db");
        assert_eq!(mask("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn a_slash_or_question_mark_in_the_password_is_still_masked() {
        // tokio-postgres reads `pa/ss` and `pa?ss` as the password (up to the first `@`).
        assert_eq!(mask("postgres://u:pa/ss@h/db"), "postgres://u:********@h/db");
        assert_eq!(mask("postgres://u:pa?ss@h/db"), "postgres://u:********@h/db");
    }

    #[test]
    fn an_unencoded_at_sign_in_the_password_is_masked_whole() {
        assert_eq!(mask("postgres://u:p@ss@h/db"), "postgres://u:********@h/db");
        assert_eq!(mask("postgres://u:p@h/db?host=/x@y"), "postgres://u:********@h/db?host=/x@y");
    }

    #[test]
    fn masks_the_password_parameter_even_percent_encoded() {
        assert_eq!(
            mask("postgresql:///db?host=/tmp&password=x&user=u"),
            "postgresql:///db?host=/tmp&password=********&user=u"
        );
        assert_eq!(mask("postgresql:///db?pass%77ord=x%26y"), "postgresql:///db?pass%77ord=********");
        assert_eq!(mask("postgresql:///db?password=a&b&user=u"), "postgresql:///db?password=********&user=u");
    }

    #[test]
    fn decodes_like_the_url_parser() {
        assert_eq!(decode("a%2Fb%zz%4"), b"a/b%zz%4");
    }
}
