//! Reading one Mimecast response (reference §3.0, §4): HTTP status, `fail[]` (which can come
//! with HTTP 200), the record array and `meta.pagination.next`. Pure: bytes in, page or error out.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::lenient;
use crate::api::scrub;
use crate::error::SourceError;
use crate::io::HttpResponse;
use crate::log_type::LogType;
use crate::settings::ApiVersion;

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
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    fail: Vec<FailItem>,
}

/// `meta`. Its members are read leniently: they only steer paging and classification, and a
/// member of an unexpected type must not make a whole page unreadable.
#[derive(Deserialize)]
struct Meta {
    /// The function-level status (§3.0); anything but 200 is a failure even on HTTP 200.
    #[serde(default, deserialize_with = "lenient::count")]
    status: Option<u64>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

impl Meta {
    /// A function-level status other than 200, if `meta.status` says so.
    fn failed_status(&self) -> Option<u16> {
        self.status
            .filter(|s| *s != 200)
            .map(|s| u16::try_from(s).unwrap_or(u16::MAX))
    }
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(default, deserialize_with = "lenient::token")]
    next: Option<String>,
    #[serde(default, rename = "totalCount", deserialize_with = "lenient::count")]
    total_count: Option<u64>,
}

/// One `fail[]` entry: `errors[]` (API 1.0) or a top-level `code` (API 2.0 token errors, §4.2).
#[derive(Deserialize, Default)]
struct FailItem {
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    errors: Vec<FailError>,
    #[serde(default, deserialize_with = "lenient::text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    retryable: bool,
}

#[derive(Deserialize)]
struct FailError {
    #[serde(default, deserialize_with = "lenient::text")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
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
                retryable: item.retryable,
            });
        }
        for e in item.errors {
            out.push(ApiError {
                code: e.code.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
                retryable: e.retryable,
            });
        }
    }
    out
}

/// The errors for a message, each of the server's texts capped (see [`scrub::quote`]).
fn describe(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(|e| {
            if e.message.is_empty() {
                scrub::quote(&e.code)
            } else {
                format!("{} ({})", scrub::quote(&e.code), scrub::quote(&e.message))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether an IP range restriction refused the request. Mimecast's code for this is not in the
/// reference (§4.2), so any code naming an IP restriction counts.
fn is_ip_restriction(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    [
        "ip_range",
        "ip_restrict",
        "ip_not_allowed",
        "ip_address_not",
        "ip_not_permitted",
    ]
    .iter()
    .any(|needle| c.contains(needle))
}

/// Whether Mimecast refused the request's time: `err_xdk_date_skew` and similar codes.
fn is_clock_skew(code: &str) -> bool {
    let c = code.to_ascii_lowercase();
    c.contains("skew") || c.contains("date_invalid") || c.contains("request_expired")
}

/// Whether an API 2.0 answer says the bearer token is no longer accepted: HTTP 401, a
/// `token_expired` code (§4.2), or an HTTP 200 whose `meta.status` is 401 (§4.1: on 200 the
/// function status is in the body); the caller then gets a new token and retries once.
pub fn is_token_rejection(response: &HttpResponse) -> bool {
    if response.status == 401 {
        return true;
    }
    // Every API 2.0 page passes through here before it is read: look for the signs before
    // parsing the whole body for them. An answer refusing the token is short; in a long one,
    // `meta` comes first or last (members may come in any order), so a function status of 401
    // shows in the first or last bytes.
    let body = body_of(response);
    let expired = memchr::memmem::find(body, b"token_expired").is_some();
    let (head, tail) = if body.len() <= 4096 {
        (body, &body[..0])
    } else {
        (&body[..256], &body[body.len() - 256..])
    };
    let status_401 = response.status == 200
        && [head, tail]
            .iter()
            .any(|part| memchr::memmem::find(part, b"401").is_some());
    if !expired && !status_401 {
        return false;
    }
    serde_json::from_slice::<Envelope<'_>>(body).is_ok_and(|e| {
        (status_401 && e.meta.as_ref().and_then(Meta::failed_status) == Some(401))
            || flatten(e.fail)
                .iter()
                .any(|err| err.code == "token_expired")
    })
}

/// Maps an HTTP status and its `fail[]` errors to the error the host acts on, with the fix.
fn classify_failure(
    api: ApiVersion,
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
             API host (see `mcsource discover`, or base_url = \"discover\")"
        ));
    }
    if errors.iter().any(|e| is_ip_restriction(&e.code)) {
        return SourceError::Forbidden(format!(
            "Mimecast refused this machine's IP address ({detail}); add this host's public IP \
             address to the IP range restriction of the {}",
            match api {
                ApiVersion::V1 => "service user's Authentication Profile",
                ApiVersion::V2 => "API 2.0 application",
            }
        ));
    }
    if errors.iter().any(|e| is_clock_skew(&e.code)) {
        return SourceError::Unauthorized(format!(
            "Mimecast says this host's clock is wrong ({detail}); synchronise the clock (NTP): \
             x-mc-date must be the current UTC time"
        ));
    }
    if (status == 401 || has("token_expired")) && api == ApiVersion::V2 {
        return SourceError::Unauthorized(format!(
            "Mimecast rejected the API 2.0 bearer token even after a fresh one ({detail}); check \
             that client_id and client_secret belong to an enabled API 2.0 application and that \
             base_url is its gateway"
        ));
    }
    if status == 401 {
        return SourceError::Unauthorized(format!(
            "Mimecast rejected the request signature ({detail}); check that access_key and secret_key \
             come from one binding, that secret_key is copied exactly, and that this host's clock is right"
        ));
    }
    if status == 403 {
        let permission = log_type.permission();
        return SourceError::Forbidden(match api {
            ApiVersion::V1 => format!(
                "the service user may not read {log_type} logs ({detail}); give its role the \
                 permission \"{permission}\""
            ),
            // API 2.0 applications take their permissions from a role and the products
            // selected for them (§5).
            ApiVersion::V2 => format!(
                "the API 2.0 application may not read {log_type} logs ({detail}); give its role \
                 the permission \"{permission}\" and check that the application's products \
                 include the one with these logs"
            ),
        });
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

/// The response body without a leading UTF-8 byte order mark, which some servers put before
/// JSON and no JSON reader accepts.
fn body_of(response: &HttpResponse) -> &[u8] {
    let body = response.body.as_slice();
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// Reads one response for `log_type`.
///
/// # Errors
/// A non-200 status, a non-empty `fail[]` (also on 200), or a body that is not a Mimecast page.
/// A body that is not JSON counts as transient: it is usually a cut-off or proxy response.
pub fn parse(
    api: ApiVersion,
    log_type: LogType,
    response: &HttpResponse,
) -> Result<Page<'_>, SourceError> {
    match parse_well_formed(log_type, response) {
        Some(page) => Ok(page),
        None => parse_step_by_step(api, log_type, response),
    }
}

/// The common case in one pass over the body: HTTP 200, an empty `fail[]` and `data` holding
/// the log type's array. `None` for anything else, which [`parse_step_by_step`] then reads and
/// classifies; for a body both accept, both return the same page.
fn parse_well_formed<'a>(log_type: LogType, response: &'a HttpResponse) -> Option<Page<'a>> {
    if response.status != 200 {
        return None;
    }
    let body = std::str::from_utf8(body_of(response)).ok()?;
    let mut de = serde_json::Deserializer::from_str(body);
    let page = EnvelopeSeed(log_type.array_name())
        .deserialize(&mut de)
        .ok()?;
    de.end().ok()?;
    page
}

/// Reads `response` field by field, so that whatever is wrong with it can be named.
fn parse_step_by_step(
    api: ApiVersion,
    log_type: LogType,
    response: &HttpResponse,
) -> Result<Page<'_>, SourceError> {
    let envelope: Result<Envelope<'_>, _> = serde_json::from_slice(body_of(response));
    let status = response.status;
    let envelope = match envelope {
        Ok(e) => e,
        Err(err) if status == 200 => {
            return Err(SourceError::Transient(format!(
                "the {log_type} response is not a readable Mimecast page ({err}); will retry"
            )))
        }
        Err(_) => {
            return Err(classify_failure(
                api,
                log_type,
                status,
                response.rate_limit_reset_ms,
                &[],
            ));
        }
    };
    let errors = flatten(envelope.fail);
    let function_status = envelope.meta.as_ref().and_then(Meta::failed_status);
    if status != 200 || !errors.is_empty() || function_status.is_some() {
        // On HTTP 200, `meta.status` is the status that counts (§3.0).
        let status = match (status, function_status) {
            (200, Some(function_status)) => function_status,
            _ => status,
        };
        return Err(classify_failure(
            api,
            log_type,
            status,
            response.rate_limit_reset_ms,
            &errors,
        ));
    }
    if envelope.meta.is_none() && envelope.data.is_none() {
        // `{}` or `[]`: nothing says this is a page, so it must not end a window as an empty one.
        return Err(SourceError::Protocol(format!(
            "the {log_type} response has neither meta nor data; it is not a Mimecast page (is \
             base_url a Mimecast API host, or is a proxy answering?)"
        )));
    }
    let pagination = envelope.meta.and_then(|m| m.pagination);
    let total = pagination.as_ref().and_then(|p| p.total_count);
    let next = pagination.and_then(|p| p.next).filter(|t| !t.is_empty());
    let records = match envelope.data {
        // `meta` and no data item, no failure: nothing in this page.
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        // One pass over `data` for a well-formed page; the slower path below only runs to name
        // what is wrong with a malformed one.
        Some(raw) => match find_records(log_type, raw) {
            Some(records) => records,
            None => records_in_data(log_type, raw)?,
        },
    };
    Ok(Page {
        records,
        next,
        total,
    })
}

/// Reads the discover-authentication answer for `email` (§2.2) and returns the regional API
/// base URL from `data[0].region.api`.
///
/// # Errors
/// A non-200 status, a `fail[]`, no `region` (Mimecast does not know the address), or a body
/// that is not JSON.
pub fn parse_discover(response: &HttpResponse, email: &str) -> Result<String, SourceError> {
    let status = response.status;
    let value: serde_json::Value = match serde_json::from_slice(&response.body) {
        Ok(v) => v,
        Err(_) if status >= 500 => {
            return Err(SourceError::Transient(format!(
                "discover-authentication failed (HTTP {status})"
            )))
        }
        Err(e) => {
            return Err(SourceError::Protocol(format!(
                "the discover-authentication answer (HTTP {status}) is not JSON ({e}); is the \
                 discover URL https://api.mimecast.com?"
            )))
        }
    };
    let errors = value
        .get("fail")
        .cloned()
        .and_then(|f| serde_json::from_value::<Vec<FailItem>>(f).ok())
        .map(flatten)
        .unwrap_or_default();
    if status != 200 || !errors.is_empty() {
        let detail = if errors.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", describe(&errors))
        };
        if errors.iter().any(|e| e.code == "err_developer_key") {
            return Err(SourceError::Unauthorized(format!(
                "Mimecast does not recognise the application id ({detail}); pass the API 1.0 \
                 Application ID"
            )));
        }
        if status >= 500 || status == 429 {
            return Err(SourceError::Transient(format!(
                "discover-authentication failed ({detail})"
            )));
        }
        return Err(SourceError::Protocol(format!(
            "discover-authentication refused the request ({detail})"
        )));
    }
    let region = value
        .pointer("/data/0/region/api")
        .or_else(|| value.pointer("/data/region/api"))
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match region {
        Some(api) if api.contains("://") => Ok(api.trim_end_matches('/').to_string()),
        Some(host) => Ok(format!("https://{}", host.trim_end_matches('/'))),
        None => Err(SourceError::InvalidConfig(format!(
            "Mimecast returned no region for {email:?}: the address is unknown; use the service \
             user's primary e-mail address"
        ))),
    }
}

/// The records of `data`, or `None` when `data` is not as expected (then
/// [`records_in_data`] says why). Walks `data` once: an array's first item (or an object
/// itself), and in it the log type's array, skipping everything else.
fn find_records(log_type: LogType, data: &RawValue) -> Option<Vec<&RawValue>> {
    let mut de = serde_json::Deserializer::from_str(data.get());
    let found = DataSeed(log_type.array_name()).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// Reads a whole response envelope, finding the records of the array named `.0` inside `data`
/// on the way. `None` when the page is not plainly good: `fail[]` not empty, `data` without the
/// array, or a member repeated (which the step-by-step reader refuses).
struct EnvelopeSeed<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Option<Page<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Option<Page<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a Mimecast response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut meta: Option<Option<Meta>> = None;
        let mut data: Option<Option<Vec<&'de RawValue>>> = None;
        let mut fail: Option<Vec<FailItem>> = None;
        let mut plain = true;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "meta" => plain &= meta.replace(map.next_value()?).is_none(),
                "data" => {
                    plain &= data
                        .replace(map.next_value_seed(DataSeed(self.0))?)
                        .is_none()
                }
                "fail" => {
                    let items: Option<Vec<FailItem>> = map.next_value()?;
                    plain &= fail.replace(items.unwrap_or_default()).is_none()
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let meta = meta.flatten();
        let failed = fail.is_some_and(|f| !f.is_empty())
            || meta.as_ref().and_then(Meta::failed_status).is_some();
        // A page without `meta` is rare enough to leave to the careful reader too.
        if !plain || failed || meta.is_none() {
            return Ok(None);
        }
        // A page without `data`, or whose `data` lacks the array, is for the careful reader.
        let Some(Some(records)) = data else {
            return Ok(None);
        };
        let pagination = meta.and_then(|m| m.pagination);
        Ok(Some(Page {
            records,
            total: pagination.as_ref().and_then(|p| p.total_count),
            next: pagination.and_then(|p| p.next).filter(|t| !t.is_empty()),
        }))
    }
}

/// Finds the records in `data`: `[item, ...]` (API 1.0) or `item` (API 2.0 renderings).
/// The value is `None` when the item lacks the array; an empty `data` array has no records.
struct DataSeed<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Option<Vec<&'de RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array or an object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element_seed(ItemSeed(self.0))?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first.unwrap_or(Some(Vec::new())))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        ItemSeed(self.0).visit_map(map)
    }

    /// `"data": null`: no records.
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Vec::new()))
    }
}

/// Finds the array named `.0` in one `data` item; `None` when it is absent, empty for `null`.
struct ItemSeed<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Option<Vec<&'de RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        // For an item without the array: whether it is an empty result, as in `records_of`.
        let mut zero_count = true;
        let mut other_members = false;
        // Borrowed keys, as in `records_of`: a key with escapes fails both the same way.
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == self.0 {
                // A repeated key counts last, as in `records_of`.
                let records: Option<Vec<&'de RawValue>> = map.next_value()?;
                found = Some(records.unwrap_or_default());
            } else if key == "resultCount" {
                zero_count = map.next_value::<lenient::Count>()?.0 == Some(0);
            } else {
                other_members = true;
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found.or_else(|| (zero_count && !other_members).then(Vec::new)))
    }
}

/// The records of `data`, or an error naming what is wrong with it.
fn records_in_data(log_type: LogType, data: &RawValue) -> Result<Vec<&RawValue>, SourceError> {
    let item = if data.get().starts_with('[') {
        serde_json::from_str::<Vec<&RawValue>>(data.get())
            .map_err(|e| {
                SourceError::Protocol(format!("{log_type} response data is not an array ({e})"))
            })?
            .into_iter()
            .next()
    } else {
        Some(data)
    };
    match item {
        None => Ok(Vec::new()),
        Some(item) => records_of(log_type, item),
    }
}

fn records_of(log_type: LogType, item: &RawValue) -> Result<Vec<&RawValue>, SourceError> {
    // A BTreeMap, not a HashMap: `RandomState` would import `wasi:random/insecure-seed`.
    let fields: std::collections::BTreeMap<&str, &RawValue> = serde_json::from_str(item.get())
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
        // An empty result written without its array: `{}`, or only `"resultCount": 0`.
        None if fields
            .iter()
            .all(|(k, v)| *k == "resultCount" && lenient::is_zero_count(v)) =>
        {
            Ok(Vec::new())
        }
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

    /// The one-pass reader of `data` finds exactly what the step-by-step one finds.
    #[test]
    fn one_pass_records_agree_with_step_by_step() {
        let shapes = [
            r#"[{"clickLogs":[{"a":1},{"b":[2,{"c":"]"}]}]}]"#,
            r#"[{"other":{"clickLogs":[1]},"clickLogs":[{"a":"x\"y"}]},{"clickLogs":[9]}]"#,
            r#"{"clickLogs":[{"a":1}],"x":null}"#,
            r#"[{"clickLogs":null}]"#,
            r#"[{"clickLogs":[1],"clickLogs":[2,3]}]"#,
            r#"[]"#,
            r#"[{}]"#,
            r#"[{"resultCount":0}]"#,
            r#"[{"resultCount":2}]"#,
            r#"[{"resultCount":2,"resultCount":0}]"#,
            r#"[{"resultCount":0,"x":1}]"#,
            r#"[{"resultCount":"0"}]"#,
            r#"[{"resultCount":0.0}]"#,
            r#"[{"resultCount":null}]"#,
            r#"[{"clickLogs":{}}]"#,
            r#"[{"click\u004cogs":[1]}]"#,
            r#"[1]"#,
            r#""text""#,
            r#"{"clickLogs":[1]"#,
        ];
        for data in shapes {
            let raw: Box<RawValue> = match serde_json::from_str(data) {
                Ok(raw) => raw,
                Err(_) => continue,
            };
            let slow = records_in_data(LogType::UrlProtect, &raw);
            match find_records(LogType::UrlProtect, &raw) {
                Some(fast) => {
                    let slow = slow.unwrap();
                    let texts =
                        |v: &[&RawValue]| v.iter().map(|r| r.get().to_string()).collect::<Vec<_>>();
                    assert_eq!(texts(&fast), texts(&slow), "{data}");
                }
                None => assert!(slow.is_err(), "{data}: only the slow path found records"),
            }
        }
    }

    /// Bodies built from typical and odd parts, members in any order.
    fn envelope() -> impl Strategy<Value = String> {
        let meta = prop::sample::select(vec![
            None,
            Some(r#""meta":{"status":200,"pagination":{"pageSize":2,"totalCount":3,"next":"t"}}"#),
            Some(r#""meta":{"pagination":{"next":""}}"#),
            Some(r#""meta":{"status":200}"#),
            Some(r#""meta":null"#),
            Some(r#""meta":{"pagination":{"totalCount":"x"}}"#),
            Some(r#""meta":{"status":500}"#),
            Some(r#""meta":{"status":"200","pagination":{"totalCount":"7","next":12}}"#),
            Some(r#""meta":{"pagination":{"totalCount":-1,"next":null}}"#),
            Some(r#""meta":{"pagination":{"next":{"a":1}}}"#),
        ]);
        let data = prop::sample::select(vec![
            None,
            Some(r#""data":[{"clickLogs":[{"date":"2026-11-24T09:00:00+0000"},{"a":[1,"]"]}]}]"#),
            Some(r#""data":{"clickLogs":[{"a":1}]}"#),
            Some(r#""data":[]"#),
            Some(r#""data":null"#),
            Some(r#""data":[{"clickLogs":null}]"#),
            Some(r#""data":[{"other":[1]}]"#),
            Some(r#""data":"x""#),
        ]);
        let fail = prop::sample::select(vec![
            None,
            Some(r#""fail":[]"#),
            Some(r#""fail":[{"errors":[{"code":"err_x","message":"m","retryable":true}]}]"#),
            Some(r#""fail":null"#),
            Some(r#""fail":[{"errors":[{"code":null,"message":null,"retryable":"true"}]}]"#),
            Some(r#""fail":[{"code":7,"message":null}]"#),
        ]);
        let extra = prop::sample::select(vec![
            None,
            Some(r#""x":{"y":[null]}"#),
            Some(r#""meta":{}"#),
        ]);
        (meta, data, fail, extra, any::<u64>()).prop_map(|(m, d, f, x, seed)| {
            let mut parts: Vec<&str> = [m, d, f, x].into_iter().flatten().collect();
            let len = parts.len().max(1);
            parts.rotate_left((seed as usize) % len);
            if seed % 7 == 0 && !parts.is_empty() {
                let last = parts.len() - 1;
                parts.swap(0, last);
            }
            format!("{{{}}}", parts.join(","))
        })
    }

    proptest! {
        /// Wherever the one-pass reader accepts a body, the step-by-step reader returns the same
        /// page.
        #[test]
        fn one_pass_page_agrees_with_step_by_step(body in envelope()) {
            let r = resp(200, &body);
            if let Some(fast) = parse_well_formed(LogType::UrlProtect, &r) {
                let slow = parse_step_by_step(ApiVersion::V1, LogType::UrlProtect, &r);
                prop_assert!(slow.is_ok(), "{}: {:?}", body, slow.err());
                let slow = slow.unwrap();
                let texts = |v: &[&RawValue]| v.iter().map(|r| r.get().to_string()).collect::<Vec<_>>();
                prop_assert_eq!(texts(&fast.records), texts(&slow.records));
                prop_assert_eq!(fast.next, slow.next);
                prop_assert_eq!(fast.total, slow.total);
            }
        }
    }

    #[test]
    fn one_pass_page_reads_the_usual_page() {
        let r = resp(200, URL_PAGE);
        let page = parse_well_formed(LogType::UrlProtect, &r).unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.next.as_deref(), Some("tok2"));
        assert!(parse_well_formed(LogType::UrlProtect, &resp(500, URL_PAGE)).is_none());
    }

    const URL_PAGE: &str = r#"{"meta":{"status":200,"pagination":{"pageSize":2,"totalCount":3,"next":"tok2"}},
        "data":[{"clickLogs":[{"date":"2026-11-24T09:00:00+0000","url":"https://a.example"},
                              {"date":"2026-11-24T09:00:01+0000","url":"https://b.example","sendingIp":"Internal IP"}]}],
        "fail":[]}"#;

    #[test]
    fn url_page_with_next() {
        let r = resp(200, URL_PAGE);
        let page = parse(ApiVersion::V1, LogType::UrlProtect, &r).unwrap();
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
        let page = parse(ApiVersion::V1, LogType::ImpersonationProtect, &r).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.next, None);
    }

    #[test]
    fn attachment_page_keeps_crlf_details_verbatim() {
        let r = resp(
            200,
            r#"{"meta":{"pagination":{}},"data":[{"attachmentLogs":[{"date":"2026-11-24T09:00:00+0000","details":"Safe\r\n  Time taken: 0 hrs"}]}],"fail":[]}"#,
        );
        let page = parse(ApiVersion::V1, LogType::AttachmentProtect, &r).unwrap();
        assert!(page.records[0].get().contains(r"Safe\r\n  Time"));
    }

    #[test]
    fn empty_last_page_with_next() {
        let r = resp(
            200,
            r#"{"meta":{"status":200,"pagination":{"next":"String"}},"data":[{"clickLogs":[]}],"fail":[]}"#,
        );
        let page = parse(ApiVersion::V1, LogType::UrlProtect, &r).unwrap();
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
            parse(ApiVersion::V1, LogType::ImpersonationProtect, &r)
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
        let err = parse(ApiVersion::V1, LogType::UrlProtect, &r).unwrap_err();
        assert!(
            matches!(&err, SourceError::Protocol(m) if m.contains("err_validation_blank")),
            "{err}"
        );
    }

    #[test]
    fn retryable_fail_is_transient() {
        for body in [
            r#"{"data":[],"fail":[{"errors":[{"code":"err_busy","message":"try later","retryable":true}]}]}"#,
            // A fail item without `errors[]` carries its own `retryable` (API 2.0 shape, §4.2).
            r#"{"data":[],"fail":[{"code":"err_busy","message":"try later","retryable":true}]}"#,
        ] {
            assert!(
                matches!(
                    parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, body)),
                    Err(SourceError::Transient(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn plausible_envelope_variants_are_read() {
        for (body, records) in [
            (
                r#"{"meta":{"status":200},"data":[{"clickLogs":[{"a":1}]}],"fail":null}"#,
                1,
            ),
            (
                r#"{"meta":{"status":200,"pagination":null},"data":[{"clickLogs":[]}],"fail":[]}"#,
                0,
            ),
            (
                r#"{"meta":{"status":200,"pagination":{}},"data":[{"clickLogs":null}],"fail":[]}"#,
                0,
            ),
            (
                r#"{"meta":{"status":"200","pagination":{"next":null}},"data":[{"clickLogs":[{"a":1}]}]}"#,
                1,
            ),
            (r#"{"data":[{"clickLogs":[{"a":1},{"b":2}]}]}"#, 2),
            (
                r#"{"meta":{"status":200,"pagination":{"pageSize":100,"next":"","previous":"p"}},"data":[{"clickLogs":[{"a":1}]}],"fail":[]}"#,
                1,
            ),
        ] {
            let r = resp(200, body);
            let page = parse(ApiVersion::V2, LogType::UrlProtect, &r)
                .unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(page.records.len(), records, "{body}");
            assert_eq!(page.next, None, "{body}");
        }
    }

    #[test]
    fn an_indented_page_or_one_after_a_byte_order_mark_is_read() {
        let value: serde_json::Value = serde_json::from_str(URL_PAGE).unwrap();
        let pretty = serde_json::to_string_pretty(&value)
            .unwrap()
            .replace('\n', "\r\n");
        let with_bom = format!("\u{feff}{URL_PAGE}");
        let records = |page: &Page<'_>| -> Vec<serde_json::Value> {
            page.records
                .iter()
                .map(|r| serde_json::from_str(r.get()).unwrap())
                .collect()
        };
        let plain =
            records(&parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, URL_PAGE)).unwrap());
        for body in [pretty.as_str(), with_bom.as_str()] {
            let r = resp(200, body);
            let page = parse(ApiVersion::V1, LogType::UrlProtect, &r).unwrap();
            assert_eq!(records(&page), plain, "{body}");
            assert_eq!(page.next.as_deref(), Some("tok2"));
            let via_steps = parse_step_by_step(ApiVersion::V1, LogType::UrlProtect, &r).unwrap();
            assert_eq!(records(&via_steps), plain, "{body}");
        }
    }

    #[test]
    fn status_mapping() {
        let body = r#"{"meta":{"status":401},"data":[],"fail":[{"errors":[{"code":"err_developer_key","message":"bad","retryable":false}]}]}"#;
        let err = parse(ApiVersion::V1, LogType::UrlProtect, &resp(401, body)).unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("app_id")),
            "{err}"
        );

        let err = parse(ApiVersion::V1, LogType::UrlProtect, &resp(418, "{}")).unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("Never Expire")),
            "{err}"
        );

        let err = parse(ApiVersion::V1, LogType::AttachmentProtect, &resp(403, "")).unwrap_err();
        assert!(
            matches!(&err, SourceError::Forbidden(m) if m.contains("Monitoring | Attachment Protection | Read")),
            "{err}"
        );

        for s in [500, 502, 503, 504] {
            assert!(matches!(
                parse(ApiVersion::V1, LogType::UrlProtect, &resp(s, "<html>")),
                Err(SourceError::Transient(_))
            ));
        }
        let mut r = resp(429, "");
        r.rate_limit_reset_ms = Some(1234);
        assert!(matches!(
            parse(ApiVersion::V1, LogType::UrlProtect, &r),
            Err(SourceError::RateLimited { after_ms: 1234, .. })
        ));
        assert!(matches!(
            parse(ApiVersion::V1, LogType::UrlProtect, &resp(400, "{}")),
            Err(SourceError::Protocol(_))
        ));
    }

    #[test]
    fn token_expired_code_at_top_level() {
        let r = resp(
            401,
            r#"{"fail":[{"code":"token_expired","message":"expired"}]}"#,
        );
        let err = parse(ApiVersion::V1, LogType::UrlProtect, &r).unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("token_expired")),
            "{err}"
        );
    }

    #[test]
    fn setup_errors_name_their_fix() {
        let fail = |status: u16, code: &str| {
            resp(
                status,
                &format!(
                    r#"{{"fail":[{{"errors":[{{"code":"{code}","message":"m","retryable":false}}]}}]}}"#
                ),
            )
        };
        let err = parse(
            ApiVersion::V1,
            LogType::UrlProtect,
            &fail(401, "err_xdk_date_skew"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("clock")),
            "{err}"
        );
        let err = parse(
            ApiVersion::V1,
            LogType::UrlProtect,
            &fail(403, "err_ip_range_restricted"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::Forbidden(m) if m.contains("IP range")),
            "{err}"
        );
        let err = parse(
            ApiVersion::V1,
            LogType::UrlProtect,
            &fail(401, "err_audit_log_incorrect_region"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::InvalidConfig(m) if m.contains("region")),
            "{err}"
        );
        let err = parse(
            ApiVersion::V2,
            LogType::UrlProtect,
            &fail(401, "token_invalid"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::Unauthorized(m) if m.contains("client_secret")),
            "{err}"
        );
        let err = parse(
            ApiVersion::V2,
            LogType::ImpersonationProtect,
            &resp(403, ""),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::Forbidden(m) if m.contains("API 2.0 application") && m.contains("Impersonation")),
            "{err}"
        );
    }

    #[test]
    fn discover_answer_gives_region_or_names_the_problem() {
        let ok = resp(
            200,
            r#"{"meta":{"status":200},"data":[{"emailAddress":"a@b","region":{"api":"https://eu-api.mimecast.com/"}}],"fail":[]}"#,
        );
        assert_eq!(
            parse_discover(&ok, "a@b").unwrap(),
            "https://eu-api.mimecast.com"
        );
        let unknown = resp(
            200,
            r#"{"meta":{"status":200},"data":[{"emailAddress":"x@y"}],"fail":[]}"#,
        );
        assert!(
            matches!(parse_discover(&unknown, "x@y"), Err(SourceError::InvalidConfig(m)) if m.contains("x@y"))
        );
        let app = resp(
            401,
            r#"{"fail":[{"errors":[{"code":"err_developer_key","message":"m","retryable":false}]}]}"#,
        );
        assert!(matches!(
            parse_discover(&app, "a@b"),
            Err(SourceError::Unauthorized(_))
        ));
    }

    #[test]
    fn token_rejection_is_401_or_token_expired() {
        assert!(is_token_rejection(&resp(401, "")));
        assert!(is_token_rejection(&resp(
            200,
            r#"{"fail":[{"code":"token_expired","message":"x"}]}"#
        )));
        assert!(!is_token_rejection(&resp(
            403,
            r#"{"fail":[{"code":"other"}]}"#
        )));
        assert!(!is_token_rejection(&resp(200, URL_PAGE)));
        // The function status of an HTTP 200 counts (§4.1).
        assert!(is_token_rejection(&resp(
            200,
            r#"{"meta":{"status":401},"data":[],"fail":[]}"#
        )));
        assert!(!is_token_rejection(&resp(
            200,
            r#"{"meta":{"status":200,"pagination":{"next":"401"}},"data":[],"fail":[]}"#
        )));
        // `meta` may come last, after a long echo of the request.
        let echo = "x".repeat(5000);
        assert!(is_token_rejection(&resp(
            200,
            &format!(
                r#"{{"data":[],"fail":[{{"key":{{"q":"{echo}"}},"errors":[]}}],"meta":{{"status":401}}}}"#
            )
        )));
        assert!(!is_token_rejection(&resp(
            200,
            &format!(
                r#"{{"data":[{{"clickLogs":[{{"q":"{echo}"}}]}}],"fail":[],"meta":{{"status":200}}}}"#
            )
        )));
    }

    #[test]
    fn truncated_body_is_transient() {
        let r = resp(200, &URL_PAGE[..URL_PAGE.len() / 2]);
        assert!(matches!(
            parse(ApiVersion::V1, LogType::UrlProtect, &r),
            Err(SourceError::Transient(_))
        ));
    }

    #[test]
    fn missing_array_is_a_protocol_error() {
        for body in [
            r#"{"data":[{"other":[]}],"fail":[]}"#,
            r#"{"data":[{"resultCount":3}],"fail":[]}"#,
        ] {
            assert!(
                matches!(
                    parse(
                        ApiVersion::V1,
                        LogType::ImpersonationProtect,
                        &resp(200, body)
                    ),
                    Err(SourceError::Protocol(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn function_status_counts_on_http_200() {
        let body = r#"{"meta":{"status":500},"data":[],"fail":[]}"#;
        assert!(matches!(
            parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, body)),
            Err(SourceError::Transient(_))
        ));
        let body = r#"{"meta":{"status":403},"data":[{"clickLogs":[]}],"fail":[]}"#;
        assert!(matches!(
            parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, body)),
            Err(SourceError::Forbidden(_))
        ));
    }

    #[test]
    fn a_body_that_is_not_a_page_never_ends_a_window() {
        for body in [
            "{}",
            "[]",
            r#"{"data":null}"#,
            r#"{"fail":[]}"#,
            r#"{"meta":null}"#,
        ] {
            assert!(
                matches!(
                    parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, body)),
                    Err(SourceError::Protocol(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn odd_member_types_are_read_leniently() {
        let body = r#"{"meta":{"status":"200","pagination":{"totalCount":"7","next":12}},
            "data":[{"clickLogs":[{"date":"2026-11-24T09:00:00+0000"}]}],"fail":null}"#;
        let response = resp(200, body);
        let page = parse(ApiVersion::V1, LogType::UrlProtect, &response).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.total, Some(7));
        assert_eq!(page.next.as_deref(), Some("12"));
        let body =
            r#"{"meta":{"pagination":{"totalCount":-3.5,"next":null}},"data":[{"clickLogs":[]}]}"#;
        let response = resp(200, body);
        let page = parse(ApiVersion::V1, LogType::UrlProtect, &response).unwrap();
        assert_eq!((page.total, page.next), (None, None));
        // null members of fail[] still classify.
        let body = r#"{"meta":{"status":200},"data":[],"fail":[{"errors":[{"code":null,"message":null,"retryable":"true"}]}]}"#;
        assert!(matches!(
            parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, body)),
            Err(SourceError::Transient(_))
        ));
        // A token that cannot be followed is not taken for "no more pages".
        let body = r#"{"meta":{"pagination":{"next":{"a":1}}},"data":[{"clickLogs":[{"a":1}]}],"fail":[]}"#;
        assert!(parse(ApiVersion::V1, LogType::UrlProtect, &resp(200, body)).is_err());
    }

    #[test]
    fn empty_result_without_its_array_is_an_empty_page() {
        for body in [
            r#"{"meta":{"status":200},"data":[{}],"fail":[]}"#,
            r#"{"meta":{"status":200},"data":[{"resultCount":0}],"fail":[]}"#,
            r#"{"meta":{"status":200},"data":[{"resultCount":"0"}],"fail":[]}"#,
            r#"{"meta":{"status":200},"data":{"resultCount":0},"fail":[]}"#,
        ] {
            let response = resp(200, body);
            let page = parse(ApiVersion::V2, LogType::ImpersonationProtect, &response).unwrap();
            assert!(page.records.is_empty(), "{body}");
            assert_eq!(page.next, None);
        }
    }

    proptest! {
        #[test]
        fn never_panics(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let r = HttpResponse { status, rate_limit_reset_ms: None, body };
            for t in LogType::ALL {
                let _ = parse(ApiVersion::V1, t, &r);
            }
        }
    }
}
