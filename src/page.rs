//! Reading one Mimecast response (reference §3.0, §4): HTTP status, `fail[]` (which can come
//! with HTTP 200), the record array and `meta.pagination.next`. Pure: bytes in, page or error out.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::SourceError;
use crate::log_type::LogType;

/// A response as the transport received it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// `X-RateLimit-Reset` in milliseconds, when present and numeric.
    pub rate_limit_reset_ms: Option<u64>,
    /// Response body.
    pub body: Vec<u8>,
}

/// One page of records, each exactly as Mimecast sent it.
#[derive(Debug)]
pub struct Page<'a> {
    /// The records, in the order served.
    pub records: Vec<&'a RawValue>,
    /// Token for the next page, when Mimecast says there is one.
    pub next: Option<String>,
    /// `meta.pagination.totalCount`: records matching the query when this page was served.
    pub total: Option<u64>,
}

/// Wait used when a 429 carries no usable `X-RateLimit-Reset`.
pub const DEFAULT_RATE_LIMIT_WAIT_MS: u64 = 60_000;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    meta: Option<Meta>,
    /// A one-element array in API 1.0; API 2.0 schema renderings show an object (§5).
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    fail: Vec<FailItem>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(default)]
    next: Option<String>,
    #[serde(default, rename = "totalCount")]
    total_count: Option<u64>,
}

/// One `fail[]` entry: `errors[]` (API 1.0) or a top-level `code` (API 2.0 token errors, §4.2).
#[derive(Deserialize, Default)]
struct FailItem {
    #[serde(default)]
    errors: Vec<FailError>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct FailError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    retryable: bool,
}

/// A `fail[]` error flattened for classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Error code, e.g. `err_xdk_binding_expired`.
    pub code: String,
    /// Mimecast's message.
    pub message: String,
    /// Whether Mimecast says a retry may succeed.
    pub retryable: bool,
}

fn flatten(fail: Vec<FailItem>) -> Vec<ApiError> {
    let mut out = Vec::new();
    for item in fail {
        if item.errors.is_empty() {
            out.push(ApiError {
                code: item.code.unwrap_or_default(),
                message: item.message.unwrap_or_default(),
                retryable: false,
            });
        }
        for e in item.errors {
            out.push(ApiError {
                code: e.code,
                message: e.message,
                retryable: e.retryable,
            });
        }
    }
    out
}

fn describe(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(|e| {
            if e.message.is_empty() {
                e.code.clone()
            } else {
                format!("{} ({})", e.code, e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Maps an HTTP status and its `fail[]` errors to the error the host acts on, with the fix.
fn classify_failure(
    log_type: LogType,
    status: u16,
    reset_ms: Option<u64>,
    errors: &[ApiError],
) -> SourceError {
    let has = |code: &str| errors.iter().any(|e| e.code == code);
    let detail = if errors.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", describe(errors))
    };
    if status == 429 {
        return SourceError::RateLimited {
            after_ms: reset_ms.unwrap_or(DEFAULT_RATE_LIMIT_WAIT_MS),
            message: format!("Mimecast quota exceeded for {log_type} logs ({detail})"),
        };
    }
    if status == 418 || has("err_xdk_binding_expired") {
        return SourceError::Unauthorized(format!(
            "the access key binding has expired ({detail}); create new Access and Secret keys for the \
             service user and set its Authentication Profile's Authentication Cache TTL to \"Never Expire\""
        ));
    }
    if has("err_developer_key") {
        return SourceError::Unauthorized(format!(
            "Mimecast does not recognise the application ({detail}); check app_id and app_key"
        ));
    }
    if has("err_audit_log_incorrect_region") {
        return SourceError::InvalidConfig(format!(
            "the account lives in another Mimecast region ({detail}); set base_url to your region's \
             API host (see `mcsource discover`)"
        ));
    }
    if status == 401 {
        return SourceError::Unauthorized(format!(
            "Mimecast rejected the request signature ({detail}); check that access_key and secret_key \
             come from one binding, that secret_key is copied exactly, and that this host's clock is right"
        ));
    }
    if status == 403 {
        return SourceError::Forbidden(format!(
            "the service user may not read {log_type} logs ({detail}); give its role the permission \
             \"{}\"",
            log_type.permission()
        ));
    }
    if status >= 500 {
        return SourceError::Transient(format!("Mimecast server error ({detail})"));
    }
    if status == 404 {
        return SourceError::InvalidConfig(format!(
            "{} was not found ({detail}); check base_url",
            log_type.path()
        ));
    }
    if !errors.is_empty() && errors.iter().all(|e| e.retryable) {
        return SourceError::Transient(format!("Mimecast asked for a retry ({detail})"));
    }
    SourceError::Protocol(format!(
        "Mimecast refused the {log_type} request ({detail})"
    ))
}

/// Reads one response for `log_type`.
///
/// # Errors
/// A non-200 status, a non-empty `fail[]` (also on 200), or a body that is not a Mimecast page.
/// A body that is not JSON counts as transient: it is usually a cut-off or proxy response.
pub fn parse(log_type: LogType, response: &HttpResponse) -> Result<Page<'_>, SourceError> {
    let envelope: Result<Envelope<'_>, _> = serde_json::from_slice(&response.body);
    let status = response.status;
    let envelope = match envelope {
        Ok(e) => e,
        Err(err) if status == 200 => {
            return Err(SourceError::Transient(format!(
                "the {log_type} response is not valid JSON ({err}); will retry"
            )))
        }
        Err(_) => {
            return Err(classify_failure(
                log_type,
                status,
                response.rate_limit_reset_ms,
                &[],
            ));
        }
    };
    let errors = flatten(envelope.fail);
    if status != 200 || !errors.is_empty() {
        return Err(classify_failure(
            log_type,
            status,
            response.rate_limit_reset_ms,
            &errors,
        ));
    }
    let item = match envelope.data {
        None => None,
        Some(raw) if raw.get().starts_with('[') => {
            serde_json::from_str::<Vec<&RawValue>>(raw.get())
                .map_err(|e| {
                    SourceError::Protocol(format!("{log_type} response data is not an array ({e})"))
                })?
                .into_iter()
                .next()
        }
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => Some(raw),
    };
    let pagination = envelope.meta.and_then(|m| m.pagination);
    let total = pagination.as_ref().and_then(|p| p.total_count);
    let next = pagination.and_then(|p| p.next).filter(|t| !t.is_empty());
    let records = match item {
        // No data item and no failure: nothing in this page.
        None => Vec::new(),
        Some(raw) => records_of(log_type, raw)?,
    };
    Ok(Page {
        records,
        next,
        total,
    })
}

fn records_of(log_type: LogType, item: &RawValue) -> Result<Vec<&RawValue>, SourceError> {
    let fields: std::collections::HashMap<&str, &RawValue> = serde_json::from_str(item.get())
        .map_err(|e| {
            SourceError::Protocol(format!(
                "{log_type} response data[0] is not an object ({e})"
            ))
        })?;
    match fields.get(log_type.array_name()) {
        Some(raw) if raw.get() == "null" => Ok(Vec::new()),
        Some(raw) => serde_json::from_str::<Vec<&RawValue>>(raw.get()).map_err(|e| {
            SourceError::Protocol(format!(
                "{log_type} response data[0].{} is not an array ({e})",
                log_type.array_name()
            ))
        }),
        None => Err(SourceError::Protocol(format!(
            "{log_type} response has no data[0].{}; is base_url a Mimecast API host?",
            log_type.array_name()
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            rate_limit_reset_ms: None,
            body: body.as_bytes().to_vec(),
        }
    }

    const URL_PAGE: &str = r#"{"meta":{"status":200,"pagination":{"pageSize":2,"totalCount":3,"next":"tok2"}},
        "data":[{"clickLogs":[{"date":"2026-11-24T09:00:00+0000","url":"https://a.example"},
                              {"date":"2026-11-24T09:00:01+0000","url":"https://b.example","sendingIp":"Internal IP"}]}],
        "fail":[]}"#;

    #[test]
    fn url_page_with_next() {
        let r = resp(200, URL_PAGE);
        let page = parse(LogType::UrlProtect, &r).unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.next.as_deref(), Some("tok2"));
        assert_eq!(page.total, Some(3));
        assert!(page.records[1].get().contains("Internal IP"));
    }

    #[test]
    fn impersonation_page_with_result_count_and_no_next() {
        let r = resp(
            200,
            r#"{"meta":{"status":200,"pagination":{"pageSize":100}},
            "data":[{"resultCount":1,"impersonationLogs":[{"eventTime":"2026-11-24T09:00:00+0000","id":"MTOKEN:x"}]}],"fail":[]}"#,
        );
        let page = parse(LogType::ImpersonationProtect, &r).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.next, None);
    }

    #[test]
    fn attachment_page_keeps_crlf_details_verbatim() {
        let r = resp(
            200,
            r#"{"meta":{"pagination":{}},"data":[{"attachmentLogs":[{"date":"2026-11-24T09:00:00+0000","details":"Safe\r\n  Time taken: 0 hrs"}]}],"fail":[]}"#,
        );
        let page = parse(LogType::AttachmentProtect, &r).unwrap();
        assert!(page.records[0].get().contains(r"Safe\r\n  Time"));
    }

    #[test]
    fn empty_last_page_with_next() {
        let r = resp(
            200,
            r#"{"meta":{"status":200,"pagination":{"next":"String"}},"data":[{"clickLogs":[]}],"fail":[]}"#,
        );
        let page = parse(LogType::UrlProtect, &r).unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.next.as_deref(), Some("String"));
    }

    #[test]
    fn data_as_object_is_accepted() {
        let r = resp(
            200,
            r#"{"meta":{},"data":{"impersonationLogs":[{"eventTime":"2026-11-24T09:00:00+0000"}]},"fail":[]}"#,
        );
        assert_eq!(
            parse(LogType::ImpersonationProtect, &r)
                .unwrap()
                .records
                .len(),
            1
        );
    }

    #[test]
    fn fail_on_200_is_an_error() {
        let r = resp(
            200,
            r#"{"meta":{"status":400},"data":[],"fail":[{"key":{},"errors":[{"code":"err_validation_blank","message":"from is blank","retryable":false}]}]}"#,
        );
        let err = parse(LogType::UrlProtect, &r).unwrap_err();
        assert!(
            matches!(&err, SourceError::Protocol(m) if m.contains("err_validation_blank")),
            "{err}"
        );
    }

    #[test]
    fn retryable_fail_is_transient() {
        let r = resp(
            200,
            r#"{"data":[],"fail":[{"errors":[{"code":"err_busy","message":"try later","retryable":true}]}]}"#,
        );
        assert!(matches!(
            parse(LogType::UrlProtect, &r),
            Err(SourceError::Transient(_))
        ));
    }

    #[test]
    fn status_mapping() {
        let body = r#"{"meta":{"status":401},"data":[],"fail":[{"errors":[{"code":"err_developer_key","message":"bad","retryable":false}]}]}"#;
        let err = parse(LogType::UrlProtect, &resp(401, body)).unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("app_id")),
            "{err}"
        );

        let err = parse(LogType::UrlProtect, &resp(418, "{}")).unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("Never Expire")),
            "{err}"
        );

        let err = parse(LogType::AttachmentProtect, &resp(403, "")).unwrap_err();
        assert!(
            matches!(&err, SourceError::Forbidden(m) if m.contains("Monitoring | Attachment Protection | Read")),
            "{err}"
        );

        for s in [500, 502, 503, 504] {
            assert!(matches!(
                parse(LogType::UrlProtect, &resp(s, "<html>")),
                Err(SourceError::Transient(_))
            ));
        }
        let mut r = resp(429, "");
        r.rate_limit_reset_ms = Some(1234);
        assert!(matches!(
            parse(LogType::UrlProtect, &r),
            Err(SourceError::RateLimited { after_ms: 1234, .. })
        ));
        assert!(matches!(
            parse(LogType::UrlProtect, &resp(400, "{}")),
            Err(SourceError::Protocol(_))
        ));
    }

    #[test]
    fn token_expired_code_at_top_level() {
        let r = resp(
            401,
            r#"{"fail":[{"code":"token_expired","message":"expired"}]}"#,
        );
        let err = parse(LogType::UrlProtect, &r).unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("token_expired")),
            "{err}"
        );
    }

    #[test]
    fn truncated_body_is_transient() {
        let r = resp(200, &URL_PAGE[..URL_PAGE.len() / 2]);
        assert!(matches!(
            parse(LogType::UrlProtect, &r),
            Err(SourceError::Transient(_))
        ));
    }

    #[test]
    fn missing_array_is_a_protocol_error() {
        let r = resp(200, r#"{"data":[{"other":[]}],"fail":[]}"#);
        assert!(matches!(
            parse(LogType::UrlProtect, &r),
            Err(SourceError::Protocol(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let r = HttpResponse { status, rate_limit_reset_ms: None, body };
            for t in LogType::ALL {
                let _ = parse(t, &r);
            }
        }
    }
}
