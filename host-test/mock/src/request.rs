//! Parses and validates a log request body (§3.0–3.3): pagination, `from`/`to`, `oldestFirst` and the
//! endpoint's filters. Lenient where the API is lenient (missing `meta`, defaults), strict on bad values.
//! Pure: the caller supplies the clock.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::log_type::LogType;
use crate::signing::parse_api_time;

/// Largest page the API serves; larger requests are clamped silently (§6.6 #12).
pub(crate) const MAX_PAGE_SIZE: usize = 100;
/// Page size when the request names none.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 100;

/// The envelope of a request body, before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    /// `meta.pagination.pageSize` as sent, if any.
    pub page_size: Option<Value>,
    /// `meta.pagination.pageToken`, if any (an empty string counts as absent).
    pub page_token: Option<String>,
    /// `data[0]` (or `data` when it is an object); `None` when `data` is absent or empty.
    pub item: Option<Map<String, Value>>,
}

/// Why a body is unusable at HTTP level (answered with 400).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Not JSON at all.
    #[error("request body is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// JSON, but not an object, or `data`/`meta` of the wrong shape.
    #[error("request body must be an object like {{\"meta\":{{…}},\"data\":[{{…}}]}}: {0}")]
    Shape(&'static str),
}

/// A request rejected by validation; the API answers these with HTTP 200 and `fail[]` (§4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Error code, e.g. `err_validation_invalid_value`.
    pub code: &'static str,
    /// Human-readable explanation naming the field.
    pub message: String,
}

fn invalid(code: &'static str, message: String) -> Invalid {
    Invalid { code, message }
}

/// Splits a body into its envelope. An empty body counts as `{}`.
pub(crate) fn parse_envelope(body: &[u8]) -> Result<Envelope, BodyError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)?
    };
    let Value::Object(root) = value else {
        return Err(BodyError::Shape("the top level is not an object"));
    };
    let pagination = match root.get("meta") {
        None | Some(Value::Null) => None,
        Some(Value::Object(meta)) => match meta.get("pagination") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => return Err(BodyError::Shape("meta.pagination is not an object")),
        },
        Some(_) => return Err(BodyError::Shape("meta is not an object")),
    };
    let page_size = pagination
        .and_then(|p| p.get("pageSize"))
        .filter(|v| !v.is_null())
        .cloned();
    let page_token = match pagination.and_then(|p| p.get("pageToken")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(BodyError::Shape(
                "meta.pagination.pageToken is not a string",
            ))
        }
    };
    let item = match root.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => match items.first() {
            None => None,
            Some(Value::Object(o)) => Some(o.clone()),
            Some(_) => return Err(BodyError::Shape("data[0] is not an object")),
        },
        // API 2.0 renderings show `data` as an object (§5); accept it.
        Some(Value::Object(o)) => Some(o.clone()),
        Some(_) => return Err(BodyError::Shape("data is not an array")),
    };
    Ok(Envelope {
        page_size,
        page_token,
        item,
    })
}

/// The effective page size: default when absent, `< 1` rejected, `> 100` clamped.
pub(crate) fn page_size(raw: Option<&Value>) -> Result<usize, Invalid> {
    let Some(v) = raw else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    };
    match n {
        None => Err(invalid(
            "err_validation_invalid_value",
            format!("meta.pagination.pageSize must be an integer, got {v}"),
        )),
        Some(n) if n < 1 => Err(invalid(
            "err_validation_out_of_range",
            format!("meta.pagination.pageSize must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
        )),
        Some(n) => Ok(usize::try_from(n)
            .unwrap_or(MAX_PAGE_SIZE)
            .min(MAX_PAGE_SIZE)),
    }
}

/// Field of an impersonation record that `query` is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchField {
    /// `senderAddress`.
    Sender,
    /// `recipientAddress`.
    Recipient,
    /// `subject`.
    Subject,
    /// `definition` (the API calls it `policy`).
    Policy,
    /// Any of the above.
    All,
}

/// Endpoint filters; `None`/empty means "no filtering" (the API's `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Filter {
    /// URL Protect: `route`, `scanResult`.
    Url {
        route: Option<String>,
        scan_result: Option<String>,
    },
    /// Impersonation Protect: `taggedMalicious`, `searchField`+`query`, `identifiers`, `actions`.
    Impersonation {
        tagged_malicious: Option<bool>,
        search: Option<(SearchField, String)>,
        identifiers: Vec<String>,
        actions: Vec<String>,
    },
    /// Attachment Protection: `route`, `result`.
    Attachment {
        route: Option<String>,
        result: Option<String>,
    },
}

/// A validated query over one log type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// Window start (inclusive).
    pub from: DateTime<Utc>,
    /// Window end (exclusive unless the mock is configured `to_inclusive`).
    pub to: DateTime<Utc>,
    /// `true`: oldest record first; default newest first.
    pub oldest_first: bool,
    /// Endpoint filters.
    pub filter: Filter,
}

/// Validates `data[0]` for log type `t`; absent fields take the API defaults (§3.0).
pub(crate) fn parse_query(
    t: LogType,
    item: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Query, Invalid> {
    let start_of_day = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let from = date_field(item, "from")?.unwrap_or(start_of_day);
    let to = date_field(item, "to")?.unwrap_or(now);
    let oldest_first = match item.get("oldestFirst") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(bad_value("oldestFirst", v, "true or false")),
    };
    let filter = match t {
        LogType::Url => Filter::Url {
            route: choice(item, "route", &["inbound", "outbound", "internal", "all"])?,
            scan_result: choice(item, "scanResult", &["clean", "malicious", "all"])?,
        },
        LogType::Attachment => Filter::Attachment {
            route: choice(
                item,
                "route",
                &["inbound", "outbound", "internal", "external", "all"],
            )?,
            result: choice(
                item,
                "result",
                &[
                    "safe",
                    "malicious",
                    "timeout",
                    "error",
                    "unsafe",
                    "clean",
                    "unknown",
                    "all",
                ],
            )?,
        },
        LogType::Impersonation => impersonation_filter(item)?,
    };
    Ok(Query {
        from,
        to,
        oldest_first,
        filter,
    })
}

fn impersonation_filter(item: &Map<String, Value>) -> Result<Filter, Invalid> {
    let tagged_malicious = match item.get("taggedMalicious") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => return Err(bad_value("taggedMalicious", v, "true or false")),
    };
    let field = match choice(
        item,
        "searchField",
        &[
            "senderAddress",
            "recipientAddress",
            "subject",
            "policy",
            "all",
        ],
    )? {
        None if item.get("searchField").is_some_and(|v| !v.is_null()) => Some(SearchField::All),
        None => None,
        Some(s) => Some(match s.as_str() {
            "senderaddress" => SearchField::Sender,
            "recipientaddress" => SearchField::Recipient,
            "subject" => SearchField::Subject,
            _ => SearchField::Policy,
        }),
    };
    let query = match item.get("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(bad_value("query", v, "a string")),
    };
    let search = match (field, query) {
        (Some(_), None) => {
            return Err(invalid(
                "err_validation_null",
                "query is mandatory when searchField is set".into(),
            ))
        }
        (Some(_), Some(q)) if q.is_empty() => {
            return Err(invalid(
                "err_validation_blank",
                "query must not be blank when searchField is set".into(),
            ))
        }
        (Some(f), Some(q)) => Some((f, q)),
        (None, Some(q)) if !q.is_empty() => Some((SearchField::All, q)),
        (None, _) => None,
    };
    Ok(Filter::Impersonation {
        tagged_malicious,
        search,
        identifiers: string_list(item, "identifiers")?,
        actions: string_list(item, "actions")?,
    })
}

fn bad_value(field: &str, v: &Value, want: &str) -> Invalid {
    invalid(
        "err_validation_invalid_value",
        format!("{field} must be {want}, got {v}"),
    )
}

fn date_field(item: &Map<String, Value>, field: &str) -> Result<Option<DateTime<Utc>>, Invalid> {
    match item.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_api_time(s).map(Some).ok_or_else(|| {
            invalid(
                "err_validation_invalid_date",
                format!("{field} {s:?} is not a date like 2026-11-24T09:00:00+0000"),
            )
        }),
        Some(v) => Err(invalid(
            "err_validation_invalid_date",
            format!("{field} must be a date string like 2026-11-24T09:00:00+0000, got {v}"),
        )),
    }
}

/// A lower-cased enum value; `all` and absence both mean "no filter".
fn choice(
    item: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
) -> Result<Option<String>, Invalid> {
    match item.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let lower = s.to_ascii_lowercase();
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&lower)) {
                return Err(invalid(
                    "err_validation_invalid_value",
                    format!("{field} {s:?} is not one of {}", allowed.join(", ")),
                ));
            }
            Ok((lower != "all").then_some(lower))
        }
        Some(v) => Err(bad_value(field, v, "a string")),
    }
}

fn string_list(item: &Map<String, Value>, field: &str) -> Result<Vec<String>, Invalid> {
    match item.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad_value(field, v, "an array of strings"))
            })
            .collect(),
        Some(v) => Err(bad_value(field, v, "an array of strings")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_api_time("2026-11-24T10:30:00+0000").unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn envelope_is_lenient_about_missing_parts() {
        let e = parse_envelope(b"").unwrap();
        assert_eq!(
            e,
            Envelope {
                page_size: None,
                page_token: None,
                item: None
            }
        );
        let e = parse_envelope(br#"{"data":[]}"#).unwrap();
        assert!(e.item.is_none());
        let e = parse_envelope(
            br#"{"meta":{"pagination":{"pageSize":5,"pageToken":"abc"}},"data":[{"from":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(e.page_size, Some(json!(5)));
        assert_eq!(e.page_token.as_deref(), Some("abc"));
        assert_eq!(e.item.unwrap()["from"], "x");
        assert!(parse_envelope(br#"{"data":{"from":"x"}}"#)
            .unwrap()
            .item
            .is_some());
    }

    #[test]
    fn envelope_rejects_non_json_and_wrong_shapes() {
        assert!(matches!(
            parse_envelope(b"{'data': True}"),
            Err(BodyError::NotJson(_))
        ));
        assert!(matches!(parse_envelope(b"[1]"), Err(BodyError::Shape(_))));
        assert!(matches!(
            parse_envelope(br#"{"data":[1]}"#),
            Err(BodyError::Shape(_))
        ));
        assert!(matches!(
            parse_envelope(br#"{"meta":3}"#),
            Err(BodyError::Shape(_))
        ));
    }

    #[test]
    fn page_size_defaults_clamps_and_rejects() {
        assert_eq!(page_size(None), Ok(100));
        assert_eq!(page_size(Some(&json!(1))), Ok(1));
        assert_eq!(page_size(Some(&json!(500))), Ok(100));
        assert_eq!(
            page_size(Some(&json!(0))).unwrap_err().code,
            "err_validation_out_of_range"
        );
        assert_eq!(
            page_size(Some(&json!(-3))).unwrap_err().code,
            "err_validation_out_of_range"
        );
        assert_eq!(
            page_size(Some(&json!("10"))).unwrap_err().code,
            "err_validation_invalid_value"
        );
        assert_eq!(
            page_size(Some(&json!(2.5))).unwrap_err().code,
            "err_validation_invalid_value"
        );
    }

    #[test]
    fn defaults_are_start_of_day_now_and_newest_first() {
        let q = parse_query(LogType::Url, &Map::new(), now()).unwrap();
        assert_eq!(q.from, parse_api_time("2026-11-24T00:00:00+0000").unwrap());
        assert_eq!(q.to, now());
        assert!(!q.oldest_first);
        assert_eq!(
            q.filter,
            Filter::Url {
                route: None,
                scan_result: None
            }
        );
    }

    #[test]
    fn dates_accept_both_layouts_and_reject_garbage() {
        let q = parse_query(
            LogType::Attachment,
            &obj(json!({"from":"2026-11-24T09:00:00Z","to":"2026-11-24T10:00:00+00:00","oldestFirst":true})),
            now(),
        )
        .unwrap();
        assert_eq!(q.from, parse_api_time("2026-11-24T09:00:00+0000").unwrap());
        assert!(q.oldest_first);
        let e = parse_query(LogType::Url, &obj(json!({"from":"yesterday"})), now()).unwrap_err();
        assert_eq!(e.code, "err_validation_invalid_date");
        let e = parse_query(LogType::Url, &obj(json!({"to":12})), now()).unwrap_err();
        assert_eq!(e.code, "err_validation_invalid_date");
    }

    #[test]
    fn filter_values_are_checked() {
        let e = parse_query(LogType::Url, &obj(json!({"route":"sideways"})), now()).unwrap_err();
        assert_eq!(e.code, "err_validation_invalid_value");
        assert!(e.message.contains("route"));
        assert!(parse_query(
            LogType::Attachment,
            &obj(json!({"result":"cleanish"})),
            now()
        )
        .is_err());
        assert!(parse_query(
            LogType::Impersonation,
            &obj(json!({"taggedMalicious":"yes"})),
            now()
        )
        .is_err());
        let q = parse_query(
            LogType::Url,
            &obj(json!({"route":"ALL","scanResult":"Malicious"})),
            now(),
        )
        .unwrap();
        assert_eq!(
            q.filter,
            Filter::Url {
                route: None,
                scan_result: Some("malicious".into())
            }
        );
    }

    #[test]
    fn impersonation_search_needs_query() {
        let e = parse_query(
            LogType::Impersonation,
            &obj(json!({"searchField":"subject"})),
            now(),
        )
        .unwrap_err();
        assert_eq!(e.code, "err_validation_null");
        let q = parse_query(
            LogType::Impersonation,
            &obj(json!({"searchField":"policy","query":"hit","identifiers":["a"],"actions":["hold"]})),
            now(),
        )
        .unwrap();
        assert_eq!(
            q.filter,
            Filter::Impersonation {
                tagged_malicious: None,
                search: Some((SearchField::Policy, "hit".into())),
                identifiers: vec!["a".into()],
                actions: vec!["hold".into()],
            }
        );
        assert!(parse_query(
            LogType::Impersonation,
            &obj(json!({"identifiers":"a"})),
            now()
        )
        .is_err());
    }
}
