//! Where the registrable domain starts: the Public Suffix List's ICANN section (private
//! suffixes ignored, as apartment does), unless the host is under one of the registrable
//! domains the application names (`localhost`, which the list cannot know as one).

use psl::Psl;

/// A host split around its registrable label: `foo.xyz.bar.co.uk` → subdomains `foo.xyz`,
/// label `bar` (suffix `co.uk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// The labels before the registrable label, if any.
    pub(crate) subdomains: Option<&'a str>,
    /// The label just before the public suffix.
    pub(crate) label: &'a str,
}

/// Splits a normalised host; `None` when the host is a public suffix itself (`co.uk`,
/// `localhost` unless named in `domains`) and so has no registrable domain.
///
/// `domains` are registrable domains to split on before asking the list: a host equal to one
/// or under one is split there (`acme.localhost` → subdomains `acme`, label `localhost`).
pub(crate) fn split<'a>(host: &'a str, domains: &[String]) -> Option<Split<'a>> {
    if let Some(split) = split_on_domains(host, domains) {
        return Some(split);
    }
    let suffix_len = icann_suffix_len(host);
    // The host must hold at least one label and a dot before its suffix.
    let before = host.len().checked_sub(suffix_len + 1).filter(|&len| len > 0)?;
    let rest = host.get(..before)?;
    Some(match rest.rsplit_once('.') {
        Some((subdomains, label)) => Split { subdomains: Some(subdomains), label },
        None => Split { subdomains: None, label: rest },
    })
}

/// The split on the longest of `domains` that is `host` or a parent of it.
fn split_on_domains<'a>(host: &'a str, domains: &[String]) -> Option<Split<'a>> {
    let domain = domains
        .iter()
        .filter(|domain| host == domain.as_str() || parent_of(domain, host).is_some())
        .max_by_key(|domain| domain.len())?;
    let label = host.get(host.len() - domain.len()..)?.split('.').next()?;
    Some(Split { subdomains: parent_of(domain, host), label })
}

/// The labels of `host` before `parent` when `host` is under `parent`
/// (`parent_of("example.com", "a.b.example.com")` = `a.b`).
pub(crate) fn parent_of<'a>(parent: &str, host: &'a str) -> Option<&'a str> {
    let before = host.strip_suffix(parent)?.strip_suffix('.')?;
    (!before.is_empty()).then_some(before)
}

/// The ICANN public suffix's length. A private suffix (`github.io`) is dropped label by label
/// until the list answers with an ICANN one (`io`). Hosts under no known suffix get the
/// list's default rule `*`: their last label.
fn icann_suffix_len(host: &str) -> usize {
    let mut candidate = host;
    loop {
        let info = psl::List.find(candidate.rsplit('.').map(str::as_bytes));
        if info.typ != Some(psl::Type::Private) {
            return info.len;
        }
        let suffix = &candidate[candidate.len().saturating_sub(info.len)..];
        match suffix.split_once('.') {
            Some((_, shorter)) => candidate = shorter,
            None => return 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(host: &str) -> Option<(Option<&str>, &str)> {
        split(host, &["localhost".to_owned()]).map(|s| (s.subdomains, s.label))
    }

    #[test]
    fn splits_on_the_icann_suffix() {
        assert_eq!(parts("foo.bar.com"), Some((Some("foo"), "bar")));
        assert_eq!(parts("bar.com"), Some((None, "bar")));
        assert_eq!(parts("foo.bar.co.uk"), Some((Some("foo"), "bar")));
        assert_eq!(parts("bar.co.uk"), Some((None, "bar")));
        assert_eq!(parts("co.uk"), None);
        assert_eq!(parts("com"), None);
        assert_eq!(parts("foo.xyz.bar.com"), Some((Some("foo.xyz"), "bar")));
    }

    #[test]
    fn private_suffixes_are_ignored() {
        // github.io is in the private section: foo.github.io is a subdomain of github.io.
        assert_eq!(parts("foo.github.io"), Some((Some("foo"), "github")));
        assert_eq!(parts("github.io"), Some((None, "github")));
        assert_eq!(parts("a.b.blogspot.co.uk"), Some((Some("a.b"), "blogspot")));
    }

    #[test]
    fn named_domains_and_unknown_tlds() {
        assert_eq!(parts("localhost"), Some((None, "localhost")));
        assert_eq!(parts("acme.localhost"), Some((Some("acme"), "localhost")));
        assert_eq!(parts("x.acme.localhost"), Some((Some("x.acme"), "localhost")));
        assert_eq!(split("localhost", &[]), None);
        assert_eq!(split("acme.localhost", &[]).map(|s| (s.subdomains, s.label)), Some((None, "acme")));
        assert_eq!(parent_of("example.com", "a.b.example.com"), Some("a.b"));
        assert_eq!(parent_of("example.com", "xexample.com"), None);
        assert_eq!(parent_of("example.com", "example.com"), None);
        assert_eq!(parts("notlocalhost"), None);
        assert_eq!(parts("foo.bar.internal"), Some((Some("foo"), "bar")));
    }
}
