//! Masking the key/value form: `host=… user=… password='it\'s a secret' dbname=…`.

use super::MASK;

/// `conninfo` with the value of every `password` key masked, read with tokio-postgres' own
/// grammar (tokio-postgres' `config::Parser`): a value is single-quoted, or runs to the next
/// whitespace, and `\` escapes the next character in both. From a spot where that grammar
/// fails, the rest is masked whole if a password came before or may follow, since the parser's
/// idea of where the password ends is then unknowable. `strict` (the string does not parse as a
/// whole, so its author's idea of the password may run further than the grammar's) masks
/// everything after a password.
pub(super) fn mask_conninfo(conninfo: &str, strict: bool) -> String {
    let mut out = String::with_capacity(conninfo.len());
    let mut pos = 0;
    let mut seen_password = false;
    loop {
        let start = skip_whitespace(conninfo, pos);
        out.push_str(&conninfo[pos..start]);
        pos = start;
        if pos == conninfo.len() {
            return out;
        }
        let keyword_end =
            pos + conninfo[pos..].find(|c: char| c.is_whitespace() || c == '=').unwrap_or(conninfo.len() - pos);
        let keyword = &conninfo[pos..keyword_end];
        let equals = skip_whitespace(conninfo, keyword_end);
        if keyword.is_empty() || !conninfo[equals..].starts_with('=') {
            return give_up(out, &conninfo[pos..], seen_password);
        }
        let value_start = skip_whitespace(conninfo, equals + 1);
        let Some(value_end) = value_end(conninfo, value_start) else {
            return give_up(out, &conninfo[pos..], seen_password || keyword == "password");
        };
        out.push_str(&conninfo[pos..value_start]);
        if keyword == "password" {
            out.push_str(MASK);
            if strict {
                return out;
            }
            seen_password = true;
        } else {
            out.push_str(&conninfo[value_start..value_end]);
        }
        pos = value_end;
    }
}

fn give_up(mut out: String, rest: &str, seen_password: bool) -> String {
    if seen_password || rest.contains("password") {
        out.push_str(MASK);
    } else {
        out.push_str(rest);
    }
    out
}

fn skip_whitespace(text: &str, pos: usize) -> usize {
    pos + text[pos..].find(|c: char| !c.is_whitespace()).unwrap_or(text.len() - pos)
}

/// Where the value starting at `start` ends (exclusive), or `None` if it is empty or an
/// unterminated quote.
fn value_end(text: &str, start: usize) -> Option<usize> {
    let mut chars = text[start..].char_indices();
    let quoted = text[start..].starts_with('\'');
    if quoted {
        chars.next();
    }
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\'' if quoted => return Some(start + offset + 1),
            c if c.is_whitespace() && !quoted => return (offset > 0).then_some(start + offset),
            _ => {}
        }
    }
    (!quoted && start < text.len()).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_conninfo_lax(conninfo: &str) -> String {
        mask_conninfo(conninfo, false)
    }

    #[test]
    fn strict_masking_hides_everything_after_the_password() {
        assert_eq!(mask_conninfo("user=u password=ab cd=ef dbname=x", true), "user=u password=********");
    }

    #[test]
    fn masks_plain_and_quoted_passwords() {
        assert_eq!(
            mask_conninfo_lax("host=/tmp user=app password=s3cret dbname=app"),
            "host=/tmp user=app password=******** dbname=app"
        );
        assert_eq!(mask_conninfo_lax(r"password='it\'s a \\ secret' dbname=app"), "password=******** dbname=app");
        assert_eq!(mask_conninfo_lax(r"password = a\ b  dbname=x"), "password = ********  dbname=x");
    }

    #[test]
    fn a_malformed_rest_after_a_password_is_masked_whole() {
        // tokio-postgres stops the value at the space and fails on `cd`: part of the password.
        assert_eq!(mask_conninfo_lax("user=u password=ab cd dbname=x"), "user=u password=******** ********");
        assert_eq!(mask_conninfo_lax("user=u password='unterminated"), "user=u ********");
        assert_eq!(mask_conninfo_lax("junk password=x"), "********");
        assert_eq!(mask_conninfo_lax("host=h junk"), "host=h junk");
    }
}
