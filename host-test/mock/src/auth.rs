//! API 1.0 authentication checks, in the order the mock applies them (§1.1–1.5, §4.1). Pure: the
//! caller supplies the clock; the replay cache lives in the server state.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Credential;
use crate::signing::{parse_mc_date, verify};

/// A rejected request: HTTP status, `fail[]` code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// HTTP status (400, 401, 403 or 418).
    pub status: u16,
    /// Error code, e.g. `err_xdk_signature_invalid`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

pub(crate) fn reject(status: u16, code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        code,
        message: message.into(),
    }
}

/// The signing headers of one request, as received (`None` when absent or not UTF-8).
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthHeaders<'a> {
    /// `Authorization`.
    pub authorization: Option<&'a str>,
    /// `x-mc-app-id`.
    pub app_id: Option<&'a str>,
    /// `x-mc-date`.
    pub date: Option<&'a str>,
    /// `x-mc-req-id`.
    pub req_id: Option<&'a str>,
}

/// A request whose signature, date and app id checked out.
#[derive(Debug, Clone)]
pub(crate) struct Verified<'a> {
    /// The matching binding.
    pub credential: &'a Credential,
    /// The `x-mc-req-id`, for the replay check.
    pub req_id: &'a str,
}

fn missing(header: &str) -> Rejection {
    reject(
        400,
        "err_xdk_missing_header",
        format!("required header {header} is missing; every API 1.0 call must be signed"),
    )
}

/// Checks headers, app id, access key, signature and date skew.
pub(crate) fn verify_request<'a>(
    credentials: &'a [Credential],
    h: &AuthHeaders<'a>,
    path: &str,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<Verified<'a>, Rejection> {
    let authorization = h.authorization.ok_or_else(|| missing("Authorization"))?;
    let app_id = h.app_id.ok_or_else(|| missing("x-mc-app-id"))?;
    let date = h.date.ok_or_else(|| missing("x-mc-date"))?;
    let req_id = h.req_id.ok_or_else(|| missing("x-mc-req-id"))?;
    let (access_key, signature) = authorization
        .strip_prefix("MC ")
        .and_then(|rest| rest.rsplit_once(':'))
        .filter(|(k, s)| !k.is_empty() && !s.is_empty())
        .ok_or_else(|| {
            reject(
                400,
                "err_xdk_missing_header",
                "header Authorization must have the form \"MC {accessKey}:{signature}\"",
            )
        })?;
    if !credentials.iter().any(|c| c.app_id == app_id) {
        return Err(reject(
            401,
            "err_developer_key",
            format!("the application id {app_id} in x-mc-app-id is not registered"),
        ));
    }
    let credential = credentials
        .iter()
        .find(|c| c.app_id == app_id && c.access_key == access_key)
        .filter(|c| verify(&c.secret_key, date, req_id, path, &c.app_key, signature))
        .ok_or_else(|| {
            reject(
                401,
                "err_xdk_signature_invalid",
                "the signature is invalid: it does not match the access key, secret key, application key, x-mc-date, x-mc-req-id and path",
            )
        })?;
    let sent = parse_mc_date(date).ok_or_else(|| {
        reject(
            401,
            "err_xdk_date_skew",
            format!("x-mc-date {date:?} is not a date like \"Tue, 24 Nov 2026 10:00:00 UTC\"; check the client clock and format"),
        )
    })?;
    let skew = (now - sent).abs().to_std().unwrap_or(Duration::MAX);
    if skew > max_skew {
        return Err(reject(
            401,
            "err_xdk_date_skew",
            format!(
                "x-mc-date is {} s away from the server clock (allowed {} s); clock skew, sync the client clock",
                skew.as_secs(),
                max_skew.as_secs()
            ),
        ));
    }
    Ok(Verified { credential, req_id })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::signing::{format_mc_date, sign};

    const PATH: &str = "/api/ttp/url/get-logs";

    fn now() -> DateTime<Utc> {
        parse_mc_date("Tue, 24 Nov 2026 10:00:00 UTC").unwrap()
    }

    struct Signed {
        auth: String,
        app_id: String,
        date: String,
        req_id: String,
    }

    fn signed(c: &Credential, at: DateTime<Utc>) -> Signed {
        let date = format_mc_date(at);
        let req_id = "2f1c5d8e-7b3a-4c6d-9e0f-1a2b3c4d5e6f".to_string();
        let sig = sign(&c.secret_key, &date, &req_id, PATH, &c.app_key).unwrap();
        Signed {
            auth: format!("MC {}:{sig}", c.access_key),
            app_id: c.app_id.clone(),
            date,
            req_id,
        }
    }

    fn headers(s: &Signed) -> AuthHeaders<'_> {
        AuthHeaders {
            authorization: Some(&s.auth),
            app_id: Some(&s.app_id),
            date: Some(&s.date),
            req_id: Some(&s.req_id),
        }
    }

    fn check(creds: &[Credential], h: &AuthHeaders<'_>) -> Result<(), (u16, &'static str)> {
        verify_request(creds, h, PATH, now(), Duration::from_secs(900))
            .map(|_| ())
            .map_err(|r| (r.status, r.code))
    }

    #[test]
    fn accepts_reference_vector_request() {
        let c = Credential::reference_vector();
        let s = signed(&c, now());
        assert_eq!(
            s.auth,
            "MC mc-test-access-key-0001:lyE3q9P9PaohkyxXzvsp/K6/oo8="
        );
        assert_eq!(check(&[c], &headers(&s)), Ok(()));
    }

    #[test]
    fn missing_or_malformed_headers_are_400() {
        let c = Credential::reference_vector();
        let s = signed(&c, now());
        for h in [
            AuthHeaders {
                authorization: None,
                ..headers(&s)
            },
            AuthHeaders {
                app_id: None,
                ..headers(&s)
            },
            AuthHeaders {
                date: None,
                ..headers(&s)
            },
            AuthHeaders {
                req_id: None,
                ..headers(&s)
            },
            AuthHeaders {
                authorization: Some("Bearer abc"),
                ..headers(&s)
            },
            AuthHeaders {
                authorization: Some("MC nocolon"),
                ..headers(&s)
            },
        ] {
            assert_eq!(
                check(std::slice::from_ref(&c), &h),
                Err((400, "err_xdk_missing_header"))
            );
        }
        let creds = [c];
        let r = verify_request(
            &creds,
            &AuthHeaders {
                date: None,
                ..headers(&s)
            },
            PATH,
            now(),
            Duration::ZERO,
        );
        assert!(r.unwrap_err().message.contains("x-mc-date"));
    }

    #[test]
    fn wrong_app_key_signature_and_skew_are_401() {
        let c = Credential::reference_vector();
        let s = signed(&c, now());
        assert_eq!(
            check(
                std::slice::from_ref(&c),
                &AuthHeaders {
                    app_id: Some("other"),
                    ..headers(&s)
                }
            ),
            Err((401, "err_developer_key"))
        );
        let bad_sig = s.auth.replace("oo8=", "oo9=");
        assert_eq!(
            check(
                std::slice::from_ref(&c),
                &AuthHeaders {
                    authorization: Some(&bad_sig),
                    ..headers(&s)
                }
            ),
            Err((401, "err_xdk_signature_invalid"))
        );
        let other_key = s.auth.replace("0001", "0002");
        assert_eq!(
            check(
                std::slice::from_ref(&c),
                &AuthHeaders {
                    authorization: Some(&other_key),
                    ..headers(&s)
                }
            ),
            Err((401, "err_xdk_signature_invalid"))
        );
        let old = signed(&c, now() - chrono::TimeDelta::minutes(16));
        assert_eq!(
            check(std::slice::from_ref(&c), &headers(&old)),
            Err((401, "err_xdk_date_skew"))
        );
        let ok = signed(&c, now() + chrono::TimeDelta::minutes(14));
        assert_eq!(check(std::slice::from_ref(&c), &headers(&ok)), Ok(()));
        // A correctly signed but unparseable date is a skew error too.
        let date = "24/11/2026 10:00";
        let sig = sign(&c.secret_key, date, &s.req_id, PATH, &c.app_key).unwrap();
        let auth = format!("MC {}:{sig}", c.access_key);
        let h = AuthHeaders {
            authorization: Some(&auth),
            date: Some(date),
            ..headers(&s)
        };
        assert_eq!(check(&[c], &h), Err((401, "err_xdk_date_skew")));
    }
}
