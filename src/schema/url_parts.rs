//! Splits a clicked URL into scheme, host, port, path, query and fragment for ECS `url.*` and
//! OCSF `url`. Pure and lenient: it never fails, it only leaves out what it cannot find. Not a
//! validator and no normalisation (no percent-decoding, no IDNA): the parts are slices of the
//! text as Mimecast sent it, so `url.original` / `url_string` stay the one exact copy. A full
//! URL crate would add tens of KiB to the component for this.

/// The parts of `scheme://[userinfo@]host[:port][/path][?query][#fragment]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UrlParts<'a> {
    /// Lower case as sent, e.g. `https`.
    pub scheme: Option<&'a str>,
    /// The host; an IPv6 literal keeps its brackets (as ECS `url.domain` asks).
    pub host: Option<&'a str>,
    /// The port when one is written and fits in 16 bits.
    pub port: Option<u16>,
    /// The path, `/` included; `None` when empty.
    pub path: Option<&'a str>,
    /// After `?`, without it; `Some("")` for a bare `?` (ECS `url.query`).
    pub query: Option<&'a str>,
    /// After `#`, without it.
    pub fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    /// Splits `text`. Without a `scheme://` prefix only path, query and fragment are read.
    pub(crate) fn parse(text: &'a str) -> UrlParts<'a> {
        let mut parts = UrlParts::default();
        let (rest, fragment) = match text.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (text, None),
        };
        parts.fragment = fragment;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        parts.query = query;
        let path = match split_scheme(rest) {
            Some((scheme, after)) => {
                parts.scheme = Some(scheme);
                match after.strip_prefix("//") {
                    Some(authority_and_path) => {
                        // Browsers read `\` as `/` in http(s) URLs: `https://evil\@bank/`
                        // goes to `evil`, so the authority ends there too.
                        let special =
                            matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https");
                        let end = authority_and_path
                            .find(|c| c == '/' || (special && c == '\\'))
                            .unwrap_or(authority_and_path.len());
                        let (authority, path) = authority_and_path.split_at(end);
                        let (host, port) = split_authority(authority);
                        parts.host = host;
                        parts.port = port;
                        path
                    }
                    // `mailto:x@y`, `urn:…`: no authority.
                    None => after,
                }
            }
            None => rest,
        };
        parts.path = (!path.is_empty()).then_some(path);
        parts
    }

    /// The extension of the path's last segment (`pdf` of `/a/b.pdf`), as ECS `url.extension`.
    pub(crate) fn extension(&self) -> Option<&'a str> {
        let last = self.path?.rsplit('/').next()?;
        match last.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
            _ => None,
        }
    }
}

/// `(scheme, rest)` when `text` starts with `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") ":"`.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    let ok = first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then_some((scheme, rest))
}

/// Host and port of `[userinfo@]host[:port]`.
fn split_authority(authority: &str) -> (Option<&str>, Option<u16>) {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if host_port.starts_with('[') {
        // IPv6 literal: `[::1]:8080`.
        match host_port.find(']') {
            Some(end) => {
                let (host, after) = host_port.split_at(end + 1);
                (host, after.strip_prefix(':'))
            }
            None => (host_port, None),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let port = port
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u16>().ok());
    ((!host.is_empty()).then_some(host), port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_a_typical_click() {
        let u =
            UrlParts::parse("https://docs.supplier-example.net:8443/share/a%20b.PDF?id=1&x=2#top");
        assert_eq!(u.scheme, Some("https"));
        assert_eq!(u.host, Some("docs.supplier-example.net"));
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path, Some("/share/a%20b.PDF"));
        assert_eq!(u.query, Some("id=1&x=2"));
        assert_eq!(u.fragment, Some("top"));
        assert_eq!(u.extension(), Some("PDF"));
    }

    #[test]
    fn a_backslash_ends_the_host_as_in_browsers() {
        // A browser goes to evil.example, not to the decoy after the `@`.
        let u = UrlParts::parse("https://evil.example\\@bank.example/login");
        assert_eq!(u.host, Some("evil.example"));
        assert_eq!(u.path, Some("\\@bank.example/login"));
        // A port with a sign is no port.
        assert_eq!(UrlParts::parse("http://a.example:+80/").port, None);
    }

    #[test]
    fn handles_odd_shapes() {
        let u = UrlParts::parse("http://user:pw@[2001:db8::1]:80");
        assert_eq!(
            (u.host, u.port, u.path),
            (Some("[2001:db8::1]"), Some(80), None)
        );
        let u = UrlParts::parse("http://host:notaport/x?");
        assert_eq!((u.host, u.port, u.query), (Some("host"), None, Some("")));
        let u = UrlParts::parse("www.example.org/news/");
        assert_eq!(
            (u.scheme, u.host, u.path),
            (None, None, Some("www.example.org/news/"))
        );
        let u = UrlParts::parse("mailto:a@b.example");
        assert_eq!(
            (u.scheme, u.host, u.path),
            (Some("mailto"), None, Some("a@b.example"))
        );
        let u = UrlParts::parse("https://a.example/dir.d/file");
        assert_eq!(u.extension(), None);
        assert_eq!(UrlParts::parse(""), UrlParts::default());
        // A Google redirect with a URL in the query: the query is not searched for a host.
        let u =
            UrlParts::parse("https://www.google.co.za/alerts/share?hl=en&ru=https://www.wsj.com/a");
        assert_eq!(u.host, Some("www.google.co.za"));
        assert_eq!(u.query, Some("hl=en&ru=https://www.wsj.com/a"));
    }

    proptest! {
        #[test]
        fn never_panics_and_parts_are_slices_of_the_text(text in ".{0,80}") {
            let u = UrlParts::parse(&text);
            for part in [u.scheme, u.host, u.path, u.query, u.fragment, u.extension()].into_iter().flatten() {
                prop_assert!(text.contains(part));
            }
        }
    }
}
