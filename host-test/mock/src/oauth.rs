//! API 2.0 pieces of the mock (reference §5) and API 1.0 region discovery (§2.2): the token
//! endpoint's form body, issued tokens and their expiry, and the discover-authentication answer.
//! Pure: the caller supplies the clock and keeps the token table.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::OAuthClient;

/// Path of the token endpoint.
pub(crate) const TOKEN_PATH: &str = "/oauth/token";
/// Path of the region discovery endpoint.
pub(crate) const DISCOVER_PATH: &str = "/api/login/discover-authentication";

/// A token the mock issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    /// The client it belongs to.
    pub client_id: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Log requests made with it so far.
    pub uses: u32,
}

/// Why a bearer token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// Not a token the mock issued.
    Unknown,
    /// Past its lifetime or its allowed uses.
    Expired,
}

impl Issued {
    /// Checks the token for one more use at `now` and counts the use.
    pub(crate) fn use_once(
        &mut self,
        now: DateTime<Utc>,
        ttl: Duration,
        max_uses: Option<u32>,
    ) -> Result<(), TokenProblem> {
        let age = (now - self.issued_at).to_std().unwrap_or(Duration::ZERO);
        if age >= ttl || max_uses.is_some_and(|m| self.uses >= m) {
            return Err(TokenProblem::Expired);
        }
        self.uses += 1;
        Ok(())
    }
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The token request's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TokenForm {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `grant_type`.
    pub grant_type: Option<String>,
}

/// Parses the token request body; `None` if it is not a form.
pub(crate) fn parse_form(body: &[u8]) -> Option<TokenForm> {
    let text = std::str::from_utf8(body).ok()?;
    let mut form = TokenForm::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        let v = Some(form_decode(v)?);
        match form_decode(k)?.as_str() {
            "client_id" => form.client_id = v,
            "client_secret" => form.client_secret = v,
            "grant_type" => form.grant_type = v,
            _ => {}
        }
    }
    Some(form)
}

/// An OAuth error answer (RFC 6749 §5.2 shape; Mimecast's exact body is not in the reference).
pub(crate) fn oauth_error(code: &str, description: &str) -> Vec<u8> {
    json!({"error": code, "error_description": description})
        .to_string()
        .into_bytes()
}

/// Checks a token request against the registered clients.
///
/// # Errors
/// `(status, code, description)` for the OAuth error answer.
pub(crate) fn check_token_request<'a>(
    clients: &'a [OAuthClient],
    form: &TokenForm,
) -> Result<&'a OAuthClient, (u16, &'static str, String)> {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err((
            400,
            "unsupported_grant_type",
            "grant_type must be client_credentials".into(),
        ));
    }
    let (Some(id), Some(secret)) = (&form.client_id, &form.client_secret) else {
        return Err((
            400,
            "invalid_request",
            "client_id and client_secret are required".into(),
        ));
    };
    clients
        .iter()
        .find(|c| &c.client_id == id && &c.client_secret == secret)
        .ok_or((
            401,
            "invalid_client",
            "client authentication failed: unknown client_id or wrong client_secret".into(),
        ))
}

/// The token answer.
pub(crate) fn token_body(token: &str, ttl: Duration) -> Vec<u8> {
    json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs().max(1),
        "scope": ""
    })
    .to_string()
    .into_bytes()
}

/// An API 2.0 token failure: `fail[0].code` at the top level, no `errors` array (§4.2).
pub(crate) fn token_failure_body(status: u16, code: &str, message: &str) -> Vec<u8> {
    json!({"meta": {"status": status}, "data": [], "fail": [{"code": code, "message": message}]})
        .to_string()
        .into_bytes()
}

/// The discover-authentication answer for the request `body`: `region.api` for a known address,
/// no `region` otherwise (§2.2).
///
/// # Errors
/// The body has no `data[0].emailAddress`.
pub(crate) fn discover_body(
    body: &[u8],
    known: &[String],
    region_api: &str,
) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let email = v
        .pointer("/data/0/emailAddress")
        .and_then(Value::as_str)
        .ok_or("data[0].emailAddress is required")?;
    let mut item = json!({"emailAddress": email});
    if known.iter().any(|k| k.eq_ignore_ascii_case(email.trim())) {
        item["region"] = json!({"code": "mock", "api": region_api});
    }
    Ok(json!({"meta": {"status": 200}, "data": [item], "fail": []})
        .to_string()
        .into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn parses_escaped_form() {
        let f =
            parse_form(b"client_id=my+client&client_secret=s%26%3D&grant_type=client_credentials")
                .unwrap();
        assert_eq!(f.client_id.as_deref(), Some("my client"));
        assert_eq!(f.client_secret.as_deref(), Some("s&="));
        assert!(parse_form(b"client_id=%zz").is_none());
    }

    #[test]
    fn checks_client_and_grant() {
        let clients = [OAuthClient::demo()];
        let mut f = TokenForm {
            client_id: Some(clients[0].client_id.clone()),
            client_secret: Some(clients[0].client_secret.clone()),
            grant_type: Some("client_credentials".into()),
        };
        assert!(check_token_request(&clients, &f).is_ok());
        f.client_secret = Some("wrong".into());
        assert_eq!(
            check_token_request(&clients, &f).unwrap_err().1,
            "invalid_client"
        );
        f.grant_type = None;
        assert_eq!(check_token_request(&clients, &f).unwrap_err().0, 400);
    }

    #[test]
    fn tokens_expire_by_time_and_by_uses() {
        let t0 = Utc::now();
        let mut t = Issued {
            client_id: "c".into(),
            issued_at: t0,
            uses: 0,
        };
        let ttl = Duration::from_secs(10);
        assert_eq!(t.use_once(t0, ttl, Some(2)), Ok(()));
        assert_eq!(t.use_once(t0, ttl, Some(2)), Ok(()));
        assert_eq!(t.use_once(t0, ttl, Some(2)), Err(TokenProblem::Expired));
        let mut t = Issued {
            client_id: "c".into(),
            issued_at: t0,
            uses: 0,
        };
        assert_eq!(
            t.use_once(t0 + TimeDelta::seconds(10), ttl, None),
            Err(TokenProblem::Expired)
        );
    }

    #[test]
    fn discover_knows_only_listed_addresses() {
        let known = vec!["svc@example.com".to_string()];
        let v: Value = serde_json::from_slice(
            &discover_body(
                br#"{"data":[{"emailAddress":"SVC@example.com"}]}"#,
                &known,
                "http://x",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(v["data"][0]["region"]["api"], "http://x");
        let v: Value = serde_json::from_slice(
            &discover_body(
                br#"{"data":[{"emailAddress":"who@example.com"}]}"#,
                &known,
                "http://x",
            )
            .unwrap(),
        )
        .unwrap();
        assert!(v["data"][0].get("region").is_none());
        assert!(discover_body(b"{}", &known, "x").is_err());
    }
}
