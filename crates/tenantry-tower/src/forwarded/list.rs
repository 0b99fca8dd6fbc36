//! The entries of a comma-separated header list, right-most first.
//!
//! Proxies append on the right (RFC 7239 §4; `X-Forwarded-For` by custom), so whatever a
//! client sent sits on the left, in earlier lines or at the start of the line a proxy
//! rebuilt (nginx's `"$http_forwarded, for=…"`). Reading from the right, one entry at a time,
//! means the client's part is never looked at unless the walk over trusted hops reaches it:
//! no byte a client puts there (an unclosed quote, raw UTF-8) can change what is read.

use http::header::GetAll;
use http::HeaderValue;

use super::element::ForwardedProblem;

/// Whether commas inside quoted strings separate entries (`X-Forwarded-*` values have no
/// quoted strings; `Forwarded` values do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quotes {
    Honoured,
    Ignored,
}

/// Entries of every line of one header, the last line's right-most entry first. Each entry
/// is trimmed of optional whitespace; empty entries are returned as empty slices (the walk
/// decides what they mean).
pub(super) struct RightToLeft<'a> {
    lines: std::iter::Rev<http::header::ValueIter<'a, HeaderValue>>,
    rest: Option<&'a [u8]>,
    quotes: Quotes,
}

impl<'a> RightToLeft<'a> {
    pub(super) fn new(lines: GetAll<'a, HeaderValue>, quotes: Quotes) -> Self {
        Self { lines: lines.iter().rev(), rest: None, quotes }
    }
}

impl<'a> Iterator for RightToLeft<'a> {
    type Item = Result<&'a [u8], ForwardedProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.rest.take() {
            Some(rest) => rest,
            None => self.lines.next()?.as_bytes(),
        };
        Some(match last_entry(line, self.quotes) {
            Ok((entry, rest)) => {
                self.rest = rest;
                Ok(trim(entry))
            }
            Err(problem) => Err(problem),
        })
    }
}

/// Splits `line` into its last entry and what is left of it (`None` when the entry started
/// the line).
///
/// Scanning leftwards, a `"` outside a quoted string closes one; inside, a `"` preceded by an
/// odd number of backslashes is an escaped quote, an even number (zero included) opens the
/// string. That is exact for well-formed quoted strings (RFC 9110 §5.6.4: backslashes inside
/// come in quoted pairs), and whatever is not well-formed is refused by the element parser.
fn last_entry(line: &[u8], quotes: Quotes) -> Result<(&[u8], Option<&[u8]>), ForwardedProblem> {
    let mut quoted = false;
    let mut index = line.len();
    while index > 0 {
        index -= 1;
        match line[index] {
            b',' if !quoted => return Ok((&line[index + 1..], Some(&line[..index]))),
            b'"' if quotes == Quotes::Honoured => {
                let backslashes = line[..index].iter().rev().take_while(|&&b| b == b'\\').count();
                if !quoted || backslashes % 2 == 0 {
                    quoted = !quoted;
                }
            }
            _ => {}
        }
    }
    if quoted {
        return Err(ForwardedProblem::UnbalancedQuote);
    }
    Ok((line, None))
}

/// Strips optional whitespace (SP, HTAB) from both ends.
pub(super) fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |end| end + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(lines: &[&[u8]], quotes: Quotes) -> Vec<Result<String, ForwardedProblem>> {
        let mut headers = http::HeaderMap::new();
        for line in lines {
            headers.append("x-list", HeaderValue::from_bytes(line).expect("header value"));
        }
        RightToLeft::new(headers.get_all("x-list"), quotes)
            .map(|entry| entry.map(|bytes| String::from_utf8_lossy(bytes).into_owned()))
            .collect()
    }

    fn ok(values: &[&str]) -> Vec<Result<String, ForwardedProblem>> {
        values.iter().map(|value| Ok((*value).to_owned())).collect()
    }

    #[test]
    fn lines_and_lists_come_right_most_first() {
        assert_eq!(entries(&[b"a, b", b"c ,d"], Quotes::Ignored), ok(&["d", "c", "b", "a"]));
        assert_eq!(entries(&[b", a,, "], Quotes::Ignored), ok(&["", "", "a", ""]));
    }

    #[test]
    fn quoted_commas_do_not_split() {
        let line: &[u8] = br#"for="a,b";host=x, for="c\",d", for="e\\",f"#;
        let expected = ok(&["f", r#"for="e\\""#, r#"for="c\",d""#, r#"for="a,b";host=x"#]);
        assert_eq!(entries(&[line], Quotes::Honoured), expected);
        assert_eq!(entries(&[br#"a"b,c"#], Quotes::Ignored), ok(&["c", r#"a"b"#]));
    }

    #[test]
    fn an_unbalanced_quote_is_an_error_only_when_reached() {
        let line: &[u8] = br#"for="open, for=1.2.3.4"#;
        let mut entries = entries(&[line], Quotes::Honoured).into_iter();
        assert_eq!(entries.next(), Some(Ok("for=1.2.3.4".to_owned())));
        assert_eq!(entries.next(), Some(Err(ForwardedProblem::UnbalancedQuote)));
    }

    #[test]
    fn bytes_left_of_the_entry_are_never_decoded() {
        let line: &[u8] = b"\xff\xfe\"\\, for=1.2.3.4";
        assert_eq!(entries(&[line], Quotes::Honoured).first(), Some(&Ok("for=1.2.3.4".to_owned())));
    }
}
