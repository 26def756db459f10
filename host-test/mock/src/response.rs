//! JSON response bodies in the API's envelope: pages (§3.0) and `fail[]` errors (§4.2). Pure.
//!
//! `meta.status` always equals the HTTP status the mock sends (200 for validation failures).

use serde_json::{json, Map, Value};

use crate::log_type::LogType;

/// An error body: `{"meta":{"status":s},"data":[],"fail":[{"key":key,"errors":[{code,message,retryable}]}]}`.
pub(crate) fn error_body(
    status: u16,
    key: &Map<String, Value>,
    code: &str,
    message: &str,
    retryable: bool,
) -> Vec<u8> {
    let body = json!({
        "meta": {"status": status},
        "data": [],
        "fail": [{
            "key": key,
            "errors": [{"code": code, "message": message, "retryable": retryable}]
        }]
    });
    body.to_string().into_bytes()
}

/// Pagination fields of a page response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pagination {
    /// Effective page size.
    pub page_size: usize,
    /// Size of the whole result set, when reported.
    pub total_count: Option<usize>,
    /// Token of the next page, if any.
    pub next: Option<String>,
    /// Token of the previous page, if any.
    pub previous: Option<String>,
}

/// A successful page: records at `data[0].<arrayName>` (+ `resultCount` for impersonation);
/// compact, or indented over CRLF-ended lines when `pretty`.
pub(crate) fn page_body(t: LogType, records: &[Value], p: &Pagination, pretty: bool) -> Vec<u8> {
    let mut pagination = Map::new();
    pagination.insert("pageSize".into(), json!(p.page_size));
    if let Some(total) = p.total_count {
        pagination.insert("totalCount".into(), json!(total));
    }
    if let Some(next) = &p.next {
        pagination.insert("next".into(), json!(next));
    }
    if let Some(previous) = &p.previous {
        pagination.insert("previous".into(), json!(previous));
    }
    let mut item = Map::new();
    item.insert(t.array_name().into(), Value::Array(records.to_vec()));
    if t == LogType::Impersonation {
        item.insert("resultCount".into(), json!(records.len()));
    }
    let body = json!({
        "meta": {"status": 200, "pagination": pagination},
        "data": [item],
        "fail": []
    });
    if pretty {
        // Serialising a `Value` cannot fail.
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        text.replace('\n', "\r\n").into_bytes()
    } else {
        body.to_string().into_bytes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_reference_shape() {
        let v: Value =
            serde_json::from_slice(&error_body(401, &Map::new(), "err_x", "bad", false)).unwrap();
        assert_eq!(v["meta"]["status"], 401);
        assert_eq!(v["data"], json!([]));
        assert_eq!(v["fail"][0]["key"], json!({}));
        assert_eq!(
            v["fail"][0]["errors"][0],
            json!({"code":"err_x","message":"bad","retryable":false})
        );
    }

    #[test]
    fn page_body_places_records_and_pagination() {
        let p = Pagination {
            page_size: 2,
            total_count: Some(3),
            next: Some("n".into()),
            previous: None,
        };
        let v: Value = serde_json::from_slice(&page_body(
            LogType::Impersonation,
            &[json!({"a":1})],
            &p,
            false,
        ))
        .unwrap();
        assert_eq!(v["data"][0]["impersonationLogs"], json!([{"a":1}]));
        assert_eq!(v["data"][0]["resultCount"], 1);
        assert_eq!(
            v["meta"]["pagination"],
            json!({"pageSize":2,"totalCount":3,"next":"n"})
        );
        assert_eq!(v["fail"], json!([]));
        let v: Value = serde_json::from_slice(&page_body(LogType::Url, &[], &p, false)).unwrap();
        assert_eq!(v["data"][0], json!({"clickLogs": []}));
    }

    #[test]
    fn a_pretty_page_has_crlf_lines_and_the_same_content() {
        let p = Pagination {
            page_size: 2,
            total_count: None,
            next: None,
            previous: None,
        };
        let records = [json!({"details": "a\r\nb"})];
        let pretty = page_body(LogType::Attachment, &records, &p, true);
        let compact = page_body(LogType::Attachment, &records, &p, false);
        let text = String::from_utf8(pretty.clone()).unwrap();
        assert!(text.contains("\r\n  "), "{text}");
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "a bare LF: {text}"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&pretty).unwrap(),
            serde_json::from_slice::<Value>(&compact).unwrap()
        );
    }
}
