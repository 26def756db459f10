//! API 2.0 OAuth tokens (reference §5): the token request (form-encoded client credentials),
//! the token response, expiry math and the in-memory token cache. Pure apart from the
//! `Transport` the cache is handed; the clock is passed in. A token never goes into a
//! checkpoint, an error message or a log line.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::api::lenient::Scalar;
use crate::api::scrub;
use crate::error::SourceError;
use crate::io::{HttpRequest, HttpResponse, Transport};
use crate::settings::Api2Credentials;

/// Path of the token endpoint on the API 2.0 gateway.
pub const TOKEN_PATH: &str = "/oauth/token";

/// A token is replaced this long before Mimecast says it expires (reference §5: ~60 s early).
pub const REFRESH_MARGIN_SECS: i64 = 60;

/// A bearer token and when to stop using it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    access_token: String,
    /// When the token is replaced: `expires_in` minus the refresh margin after it was issued.
    refresh_at: DateTime<Utc>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// The `Authorization` header value. Never log it.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }

    /// Whether the token may still be used at `now`.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.refresh_at
    }
}

/// How long before expiry a token of `expires_in_secs` is replaced: 60 s, but at most a quarter
/// of its lifetime, so a short-lived token is still used at all.
pub fn refresh_margin_secs(expires_in_secs: i64) -> i64 {
    REFRESH_MARGIN_SECS.min(expires_in_secs / 4).max(0)
}

/// The token request: `POST {gateway}/oauth/token` with the client credentials as a form body.
pub fn token_request(gateway: &str, credentials: &Api2Credentials) -> HttpRequest {
    let body = format!(
        "client_id={}&client_secret={}&grant_type=client_credentials",
        scrub::form_encode(&credentials.client_id, false),
        scrub::form_encode(&credentials.client_secret, false)
    );
    HttpRequest {
        url: format!("{gateway}{TOKEN_PATH}"),
        headers: vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("accept", "application/json".to_string()),
        ],
        body: body.into_bytes(),
    }
}

/// Lifetime assumed when a token answer has no `expires_in` (RFC 6749 makes it optional):
/// Mimecast's API 2.0 tokens live 30 minutes (reference §5). A token that dies sooner is
/// answered with `401`/`token_expired` and replaced then.
pub const DEFAULT_EXPIRES_IN_SECS: i64 = 1799;

/// Longest token lifetime taken from an answer (one day); it also keeps the expiry arithmetic
/// far from overflow whatever the gateway writes.
pub const MAX_EXPIRES_IN_SECS: i64 = 24 * 3600;

/// Longest bearer token accepted: it goes into a header of every request (hosts bound the
/// size of a request's headers) and into the host's session cache.
pub const MAX_ACCESS_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    /// A JSON number (whole or not) or a numeric string, as gateways write it.
    #[serde(default)]
    expires_in: Option<Scalar>,
}

/// Reads the token endpoint's answer received at `now`.
///
/// # Errors
/// `Unauthorized` when Mimecast rejects the client credentials (400/401/403, or an HTTP 200
/// carrying an error instead of a token), `Transient` for 5xx, network-like and `retryable`
/// answers, `RateLimited` for 429 (also as `meta.status`), `Protocol` for anything unusable.
pub fn parse_token_response(
    response: &HttpResponse,
    now: DateTime<Utc>,
) -> Result<Token, SourceError> {
    let body = &response.body;
    // A failed answer is read once more, as any JSON, for its error code.
    let failure = || serde_json::from_slice::<serde_json::Value>(body).ok();
    let parsed = match response.status {
        200 => match serde_json::from_slice::<TokenResponse>(body) {
            Ok(parsed) => parsed,
            // A 200 carrying an OAuth error or a Mimecast `fail[]` instead of a token is a
            // refusal too (§4.2: failures can come with a 200).
            Err(e) => {
                let value = failure();
                return Err(match value.as_ref().and_then(oauth_error) {
                    Some(error) => {
                        let status = value.as_ref().map_or(401, status_in_body);
                        token_refusal(status, response, Some(error))
                    }
                    None => SourceError::Protocol(format!(
                        "the token response is not {{\"access_token\", \"expires_in\"}} JSON ({e})"
                    )),
                });
            }
        },
        status => {
            let error = failure().as_ref().and_then(oauth_error);
            return Err(token_refusal(status, response, error));
        }
    };
    if parsed.access_token.len() > MAX_ACCESS_TOKEN_BYTES {
        return Err(SourceError::Protocol(format!(
            "the token response has an access_token of {} bytes; at most \
             {MAX_ACCESS_TOKEN_BYTES} bytes (8 KiB) are accepted (Mimecast's are about 1 KiB), \
             as it is sent in a header of every request; is base_url the API 2.0 gateway?",
            parsed.access_token.len()
        )));
    }
    if parsed.access_token.is_empty() {
        return Err(SourceError::Protocol(
            "the token response has an empty access_token".into(),
        ));
    }
    let expires_in = match &parsed.expires_in {
        None => DEFAULT_EXPIRES_IN_SECS,
        Some(seconds) => match seconds.floor() {
            // A lifetime beyond a day is not believed: the token is renewed daily at least.
            Some(n) if n > 0 => n.min(MAX_EXPIRES_IN_SECS),
            _ => {
                return Err(SourceError::Protocol(
                    "the token response's expires_in is not a positive number of seconds".into(),
                ))
            }
        },
    };
    if let Some(kind) = parsed.token_type.as_deref() {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(SourceError::Protocol(format!(
                "the token response has token_type {kind:?}; expected Bearer"
            )));
        }
    }
    let usable = expires_in - refresh_margin_secs(expires_in);
    Ok(Token {
        access_token: parsed.access_token,
        refresh_at: now + TimeDelta::seconds(usable),
    })
}

/// The status an HTTP 200 without a token stands for: 503 when Mimecast marks its failure
/// `retryable` (so it is retried), else `meta.status` when that names a failure, else 401.
fn status_in_body(v: &serde_json::Value) -> u16 {
    let retryable = |p: &str| v.pointer(p).and_then(|r| r.as_bool()) == Some(true);
    if retryable("/fail/0/retryable") || retryable("/fail/0/errors/0/retryable") {
        return 503;
    }
    v.pointer("/meta/status")
        .and_then(|s| s.as_u64())
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..600).contains(s))
        .unwrap_or(401)
}

/// The error for a token answer with `status` that carries no token; `error` is its OAuth or
/// Mimecast error, if it names one.
fn token_refusal(status: u16, response: &HttpResponse, error: Option<String>) -> SourceError {
    let detail = error
        .map(|e| format!("HTTP {status}: {e}"))
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        400 | 401 | 403 => SourceError::Unauthorized(format!(
            "Mimecast rejected the API 2.0 client credentials ({detail}); check client_id and \
             client_secret (the secret is shown only once: if it is lost, generate a new one for \
             the API 2.0 application) and that base_url is the API 2.0 gateway"
        )),
        404 => SourceError::InvalidConfig(format!(
            "{TOKEN_PATH} was not found ({detail}); base_url must be an API 2.0 gateway such as \
             https://api.services.mimecast.com, not an API 1.0 regional host"
        )),
        429 => SourceError::RateLimited {
            after_ms: response
                .rate_limit_reset_ms
                .unwrap_or(crate::api::page::DEFAULT_RATE_LIMIT_WAIT_MS),
            message: format!("Mimecast throttled the token request ({detail})"),
        },
        s if s >= 500 => SourceError::Transient(format!("the token request failed ({detail})")),
        _ => SourceError::Protocol(format!("unexpected answer to the token request ({detail})")),
    }
}

/// The OAuth error of a failed token answer: `error`/`error_description` (RFC 6749) or a
/// Mimecast `fail[]`. Never echoes anything but the code and message.
fn oauth_error(v: &serde_json::Value) -> Option<String> {
    let code = v
        .get("error")
        .and_then(|e| e.as_str())
        .or_else(|| v.pointer("/fail/0/code").and_then(|c| c.as_str()))
        .or_else(|| v.pointer("/fail/0/errors/0/code").and_then(|c| c.as_str()))?;
    let message = v
        .get("error_description")
        .and_then(|e| e.as_str())
        .or_else(|| v.pointer("/fail/0/message").and_then(|c| c.as_str()))
        .or_else(|| {
            v.pointer("/fail/0/errors/0/message")
                .and_then(|c| c.as_str())
        });
    // The server's texts, capped: an error may echo a whole request.
    let code = scrub::quote(code);
    Some(match message {
        Some(m) if !m.is_empty() => format!("{code} ({})", scrub::quote(m)),
        _ => code,
    })
}

/// Somewhere a token can outlive the component instance: the host's `session-cache` (WIT).
/// Whatever it holds may vanish at any time.
pub trait TokenShelf {
    /// The value last stored, unless it expired or was dropped.
    fn load(&self) -> Option<String>;
    /// Stores `value` for at most `ttl_ms` milliseconds.
    fn store(&self, value: &str, ttl_ms: u64);
    /// Drops the stored value.
    fn clear(&self);
}

impl Token {
    /// The shelf form: `"{refresh_at unix seconds} {owner} {access token}"`.
    fn shelve(&self, owner: &str) -> String {
        format!(
            "{} {owner} {}",
            self.refresh_at.timestamp(),
            self.access_token
        )
    }

    /// Reads the shelf form if it belongs to `owner`; `None` otherwise or if it is not one.
    fn unshelve(text: &str, owner: &str) -> Option<Token> {
        let mut parts = text.splitn(3, ' ');
        let refresh_at = crate::api::timefmt::from_unix(parts.next()?.parse().ok()?)?;
        if parts.next()? != owner {
            return None;
        }
        let access_token = parts.next().filter(|t| !t.is_empty())?;
        Some(Token {
            access_token: access_token.to_string(),
            refresh_at,
        })
    }
}

/// Who a shelved token belongs to: a hash of the gateway and the client credentials, so a
/// token is never reused after any of them changed.
fn owner(gateway: &str, credentials: &Api2Credentials) -> String {
    let mut h = blake3::Hasher::new();
    for part in [gateway, &credentials.client_id, &credentials.client_secret] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The component instance's current token, in memory and, when there is one, on a shelf that
/// outlives the instance, so the next instance of the tenant reuses it until it is due for
/// refresh instead of asking the gateway again.
#[derive(Default)]
pub struct TokenCache {
    token: Option<Token>,
    shelf: Option<Box<dyn TokenShelf>>,
    issued: u64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("token", &self.token)
            .field("shelf", &self.shelf.is_some())
            .field("issued", &self.issued)
            .finish()
    }
}

impl TokenCache {
    /// An empty cache that lives only as long as the instance.
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    /// An empty cache that also keeps its token on `shelf`.
    pub fn with_shelf(shelf: Box<dyn TokenShelf>) -> TokenCache {
        TokenCache {
            shelf: Some(shelf),
            ..TokenCache::default()
        }
    }

    /// A fresh token: the cached one, the shelved one, or a new one from the gateway.
    ///
    /// # Errors
    /// The token request failed (see [`parse_token_response`]) or could not be sent.
    pub fn get(
        &mut self,
        gateway: &str,
        credentials: &Api2Credentials,
        transport: &mut dyn Transport,
        timeout_ms: u64,
        now: DateTime<Utc>,
    ) -> Result<&Token, SourceError> {
        if !self.token.as_ref().is_some_and(|t| t.is_fresh(now)) {
            let owner = owner(gateway, credentials);
            self.token = self
                .shelf
                .as_ref()
                .and_then(|s| s.load())
                .and_then(|text| Token::unshelve(&text, &owner))
                .filter(|t| t.is_fresh(now));
        }
        if self.token.is_none() {
            let response = transport.send(&token_request(gateway, credentials), timeout_ms)?;
            let token = parse_token_response(&response, now)?;
            if let Some(shelf) = &self.shelf {
                let ttl_ms = (token.refresh_at - now).num_milliseconds().max(0) as u64;
                shelf.store(&token.shelve(&owner(gateway, credentials)), ttl_ms);
            }
            self.token = Some(token);
            self.issued += 1;
        }
        self.token
            .as_ref()
            .ok_or_else(|| SourceError::Protocol("no token after a token request".into()))
    }

    /// Drops the token, here and on the shelf, e.g. after Mimecast answered 401 or
    /// `token_expired`.
    pub fn invalidate(&mut self) {
        self.token = None;
        if let Some(shelf) = &self.shelf {
            shelf.clear();
        }
    }

    /// Forgets the token in memory but leaves the shelf alone, e.g. when the instance is given
    /// a configuration: a shelved token is reused only for the same gateway and credentials.
    pub fn forget(&mut self) {
        self.token = None;
    }

    /// The bearer token in use, if any: only to scrub it from texts (see [`crate::api::scrub`]).
    /// Never log it.
    pub fn current_token(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.access_token.as_str())
    }

    /// How many tokens this cache has obtained from the gateway (for logs and tests).
    pub fn issued(&self) -> u64 {
        self.issued
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn creds() -> Api2Credentials {
        Api2Credentials {
            client_id: "my client".into(),
            client_secret: "s3cr3t&=+/".into(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
    }

    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            rate_limit_reset_ms: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn token_request_is_a_form_post_with_escaped_values() {
        let r = token_request("https://api.services.mimecast.com", &creds());
        assert_eq!(r.url, "https://api.services.mimecast.com/oauth/token");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "client_id=my+client&client_secret=s3cr3t%26%3D%2B%2F&grant_type=client_credentials"
        );
        assert!(r
            .headers
            .contains(&("content-type", "application/x-www-form-urlencoded".into())));
    }

    #[test]
    fn expires_in_may_be_text_a_fraction_or_missing() {
        for (body, lifetime) in [
            (r#"{"access_token":"a","expires_in":"1799"}"#, 1799),
            (r#"{"access_token":"a","expires_in":" 600 "}"#, 600),
            (r#"{"access_token":"a","expires_in":1799.9}"#, 1799),
            (r#"{"access_token":"a","expires_in":"120.5"}"#, 120),
            (r#"{"access_token":"a"}"#, DEFAULT_EXPIRES_IN_SECS),
            (
                r#"{"access_token":"a","expires_in":null}"#,
                DEFAULT_EXPIRES_IN_SECS,
            ),
            (
                r#"{"access_token":"a","expires_in":1e300}"#,
                MAX_EXPIRES_IN_SECS,
            ),
            (
                r#"{"access_token":"a","expires_in":9223372036854775807}"#,
                MAX_EXPIRES_IN_SECS,
            ),
            (
                r#"{"access_token":"a","expires_in":"99999999999999999999"}"#,
                MAX_EXPIRES_IN_SECS,
            ),
        ] {
            let t = parse_token_response(&ok(body), now()).unwrap();
            let usable = lifetime - refresh_margin_secs(lifetime);
            assert!(t.is_fresh(now() + TimeDelta::seconds(usable - 1)), "{body}");
            assert!(!t.is_fresh(now() + TimeDelta::seconds(usable)), "{body}");
        }
    }

    #[test]
    fn a_huge_token_is_refused_naming_the_bound() {
        let huge = "t".repeat(300 * 1024);
        let body =
            format!(r#"{{"access_token":"{huge}","token_type":"Bearer","expires_in":1799}}"#);
        let err = parse_token_response(&ok(&body), now()).unwrap_err();
        assert!(
            matches!(&err, SourceError::Protocol(m) if m.contains("access_token of 307200 bytes")
                && m.contains("at most 8192 bytes (8 KiB)")),
            "{err}"
        );
        let fits = "t".repeat(MAX_ACCESS_TOKEN_BYTES);
        let body = format!(r#"{{"access_token":"{fits}","expires_in":1799}}"#);
        assert!(parse_token_response(&ok(&body), now()).is_ok());
    }

    #[test]
    fn token_is_refreshed_sixty_seconds_early() {
        let t = parse_token_response(
            &ok(r#"{"access_token":"abc","token_type":"Bearer","expires_in":1799,"scope":""}"#),
            now(),
        )
        .unwrap();
        assert_eq!(t.bearer(), "Bearer abc");
        assert!(t.is_fresh(now() + TimeDelta::seconds(1738)));
        assert!(!t.is_fresh(now() + TimeDelta::seconds(1739)));
        assert!(!format!("{t:?}").contains("abc"));
    }

    #[test]
    fn short_tokens_keep_three_quarters_of_their_life() {
        assert_eq!(refresh_margin_secs(1799), 60);
        assert_eq!(refresh_margin_secs(8), 2);
        assert_eq!(refresh_margin_secs(1), 0);
    }

    #[test]
    fn rejected_credentials_name_the_fields_but_not_the_secret() {
        let r = HttpResponse {
            status: 401,
            rate_limit_reset_ms: None,
            body: br#"{"error":"invalid_client","error_description":"bad secret"}"#.to_vec(),
        };
        let e = parse_token_response(&r, now()).unwrap_err();
        match e {
            SourceError::Unauthorized(m) => {
                assert!(
                    m.contains("client_secret") && m.contains("invalid_client"),
                    "{m}"
                );
                assert!(!m.contains("s3cr3t"));
            }
            other => panic!("{other:?}"),
        }
        let r = HttpResponse {
            status: 503,
            rate_limit_reset_ms: None,
            body: Vec::new(),
        };
        assert!(matches!(
            parse_token_response(&r, now()),
            Err(SourceError::Transient(_))
        ));
        // A refusal that comes with HTTP 200 names its code instead of "not JSON".
        match parse_token_response(
            &ok(
                r#"{"meta":{"status":200},"data":[],"fail":[{"code":"client_credentials_invalid","message":"no such client"}]}"#,
            ),
            now(),
        ) {
            Err(SourceError::Unauthorized(m)) => {
                assert!(
                    m.contains("client_credentials_invalid") && m.contains("client_id"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        // ... unless it says it is worth retrying, or names a status of its own.
        assert!(matches!(
            parse_token_response(
                &ok(
                    r#"{"fail":[{"errors":[{"code":"err_busy","message":"m","retryable":true}]}]}"#
                ),
                now()
            ),
            Err(SourceError::Transient(_))
        ));
        assert!(matches!(
            parse_token_response(
                &ok(r#"{"meta":{"status":429},"fail":[{"code":"quota","message":"m"}]}"#),
                now()
            ),
            Err(SourceError::RateLimited { .. })
        ));
        for body in [
            "{}",
            r#"{"access_token":"","expires_in":10}"#,
            r#"{"access_token":"a","expires_in":0}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a","expires_in":-5.5}"#,
            r#"{"access_token":"a","token_type":"mac","expires_in":10}"#,
        ] {
            assert!(
                matches!(
                    parse_token_response(&ok(body), now()),
                    Err(SourceError::Protocol(_))
                ),
                "{body}"
            );
        }
    }

    struct Fake {
        sent: usize,
    }

    impl Transport for Fake {
        fn send(&mut self, _: &HttpRequest, _: u64) -> Result<HttpResponse, SourceError> {
            self.sent += 1;
            Ok(ok(&format!(
                r#"{{"access_token":"t{}","token_type":"Bearer","expires_in":100}}"#,
                self.sent
            )))
        }
    }

    const GATEWAY: &str = "https://gw";

    /// The bearer header `cache` gives `secs` after [`now`].
    fn t(cache: &mut TokenCache, fake: &mut Fake, secs: i64) -> String {
        cache
            .get(
                GATEWAY,
                &creds(),
                fake,
                1000,
                now() + TimeDelta::seconds(secs),
            )
            .unwrap()
            .bearer()
    }

    #[test]
    fn cache_reuses_until_refresh_time_or_invalidation() {
        let mut cache = TokenCache::new();
        let mut fake = Fake { sent: 0 };
        assert_eq!(t(&mut cache, &mut fake, 0), "Bearer t1");
        assert_eq!(t(&mut cache, &mut fake, 74), "Bearer t1");
        assert_eq!(t(&mut cache, &mut fake, 75), "Bearer t2");
        cache.invalidate();
        assert_eq!(t(&mut cache, &mut fake, 76), "Bearer t3");
        assert_eq!(cache.issued(), 3);
    }

    /// A host `session-cache` stand-in: one value, with the ttl it was given.
    #[derive(Clone, Default)]
    struct Shelf(std::rc::Rc<std::cell::RefCell<Option<(String, u64)>>>);

    impl TokenShelf for Shelf {
        fn load(&self) -> Option<String> {
            self.0.borrow().as_ref().map(|(v, _)| v.clone())
        }
        fn store(&self, value: &str, ttl_ms: u64) {
            *self.0.borrow_mut() = Some((value.to_string(), ttl_ms));
        }
        fn clear(&self) {
            *self.0.borrow_mut() = None;
        }
    }

    #[test]
    fn a_shelved_token_serves_the_next_instance_until_refresh_time() {
        let shelf = Shelf::default();
        let mut fake = Fake { sent: 0 };
        let mut first = TokenCache::with_shelf(Box::new(shelf.clone()));
        assert_eq!(t(&mut first, &mut fake, 0), "Bearer t1");
        // expires_in 100 s, refreshed 25 s early: kept 75 s.
        assert_eq!(shelf.0.borrow().as_ref().map(|(_, ttl)| *ttl), Some(75_000));
        drop(first);
        let mut second = TokenCache::with_shelf(Box::new(shelf.clone()));
        assert_eq!(t(&mut second, &mut fake, 10), "Bearer t1");
        assert_eq!((second.issued(), fake.sent), (0, 1));
        // Past refresh time the shelved token is not used, even if the shelf still has it.
        let mut third = TokenCache::with_shelf(Box::new(shelf.clone()));
        assert_eq!(t(&mut third, &mut fake, 75), "Bearer t2");
        // A rejected token leaves the shelf too.
        third.invalidate();
        assert!(shelf.load().is_none());
        let mut fourth = TokenCache::with_shelf(Box::new(shelf.clone()));
        assert_eq!(t(&mut fourth, &mut fake, 76), "Bearer t3");
        // Other credentials never see it.
        let mut other = TokenCache::with_shelf(Box::new(shelf.clone()));
        let mut changed = creds();
        changed.client_secret.push('x');
        let bearer = other
            .get(
                GATEWAY,
                &changed,
                &mut fake,
                1000,
                now() + TimeDelta::seconds(77),
            )
            .unwrap()
            .bearer();
        assert_eq!(bearer, "Bearer t4");
        // Forgetting keeps the shelf.
        other.forget();
        assert!(shelf.load().is_some());
    }

    #[test]
    fn a_damaged_shelf_value_is_ignored() {
        let owner = owner("https://gw", &creds());
        let far = "4102444800";
        for junk in [
            String::new(),
            "abc".into(),
            "123".into(),
            format!("{far} {owner}"),
            format!("{far} {owner} "),
            format!("x {owner} tok"),
            format!("99999999999999999999 {owner} tok"),
            format!("{far} someone-else tok"),
        ] {
            let shelf = Shelf::default();
            shelf.store(&junk, 1000);
            let mut cache = TokenCache::with_shelf(Box::new(shelf.clone()));
            let mut fake = Fake { sent: 0 };
            let bearer = cache
                .get("https://gw", &creds(), &mut fake, 1000, now())
                .unwrap()
                .bearer();
            assert_eq!(bearer, "Bearer t1", "{junk:?}");
        }
    }
}
