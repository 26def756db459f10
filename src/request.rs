//! Building Mimecast requests (reference §1.1, §3.0–3.3): the `data[0]` item of a window, the
//! page body, and the signed headers. Pure: time and randomness come from the caller.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::log_type::LogType;
use crate::settings::Settings;
use crate::signing;
use crate::timefmt;

/// An HTTP request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Full URL.
    pub url: String,
    /// Header names and values (includes `Authorization`; never log them).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Vec<u8>,
}

/// The `data[0]` item for a window: times, `oldestFirst: true`, and the configured filters.
/// It is stored with the window so every page of that window sends the very same item (§6.6 #7).
pub fn window_item(
    log_type: LogType,
    settings: &Settings,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    let mut item = Map::new();
    item.insert("from".into(), timefmt::format_mimecast(from).into());
    item.insert("to".into(), timefmt::format_mimecast(to).into());
    item.insert("oldestFirst".into(), true.into());
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            item.insert(key.into(), v.clone().into());
        }
    };
    match log_type {
        LogType::UrlProtect => {
            put("route", &settings.url_filter.route);
            put("scanResult", &settings.url_filter.scan_result);
        }
        LogType::AttachmentProtect => {
            put("route", &settings.attachment_filter.route);
            put("result", &settings.attachment_filter.result);
        }
        LogType::ImpersonationProtect => {
            let f = &settings.impersonation_filter;
            put("searchField", &f.search_field);
            put("query", &f.query);
            // Omitted unless configured: the docs' example `true` silently drops records (§3.2).
            if let Some(tagged) = f.tagged_malicious {
                item.insert("taggedMalicious".into(), tagged.into());
            }
            if !f.identifiers.is_empty() {
                item.insert("identifiers".into(), json!(f.identifiers));
            }
            if !f.actions.is_empty() {
                item.insert("actions".into(), json!(f.actions));
            }
        }
    }
    Value::Object(item)
}

/// The JSON body of one page request.
pub fn page_body(item: &Value, page_size: u32, page_token: Option<&str>) -> Vec<u8> {
    let mut pagination = Map::new();
    pagination.insert("pageSize".into(), page_size.into());
    if let Some(token) = page_token {
        pagination.insert("pageToken".into(), token.into());
    }
    json!({"meta": {"pagination": pagination}, "data": [item]})
        .to_string()
        .into_bytes()
}

/// A signed API 1.0 POST of `body` to `log_type`'s endpoint.
pub fn signed_post(
    settings: &Settings,
    log_type: LogType,
    body: Vec<u8>,
    now: DateTime<Utc>,
    random: [u8; 16],
) -> HttpRequest {
    let date = signing::mc_date(now);
    let request_id = signing::request_id(random);
    let path = log_type.path();
    let authorization = signing::authorization(
        &settings.access_key,
        &settings.secret,
        &settings.app_key,
        &date,
        &request_id,
        path,
    );
    HttpRequest {
        url: format!("{}{path}", settings.base_url),
        headers: vec![
            ("authorization", authorization),
            ("x-mc-app-id", settings.app_id.clone()),
            ("x-mc-date", date),
            ("x-mc-req-id", request_id),
            ("content-type", "application/json".into()),
            ("accept", "application/json".into()),
        ],
        body,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::settings::tests::sample;
    use chrono::TimeZone;

    fn settings() -> Settings {
        let mut c = sample();
        c.url_filter.scan_result = Some("malicious".into());
        c.impersonation_filter.identifiers = vec!["internal_user_name".into()];
        Settings::validate(c).unwrap().0
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap()
    }

    #[test]
    fn url_item_has_times_order_and_filters() {
        let item = window_item(LogType::UrlProtect, &settings(), t(9), t(10));
        assert_eq!(
            item,
            json!({"from": "2026-11-24T09:00:00+0000", "to": "2026-11-24T10:00:00+0000",
                   "oldestFirst": true, "scanResult": "malicious"})
        );
    }

    #[test]
    fn impersonation_item_omits_tagged_malicious_unless_set() {
        let item = window_item(LogType::ImpersonationProtect, &settings(), t(9), t(10));
        assert!(item.get("taggedMalicious").is_none());
        assert_eq!(item["identifiers"], json!(["internal_user_name"]));
        assert!(item.get("scanResult").is_none());
    }

    #[test]
    fn attachment_item_uses_result_not_scan_result() {
        let mut c = sample();
        c.attachment_filter.result = Some("malicious".into());
        let s = Settings::validate(c).unwrap().0;
        let item = window_item(LogType::AttachmentProtect, &s, t(9), t(10));
        assert_eq!(item["result"], "malicious");
        assert!(item.get("scanResult").is_none());
    }

    #[test]
    fn body_carries_token_only_when_given() {
        let item = json!({"from": "x"});
        let first: Value = serde_json::from_slice(&page_body(&item, 100, None)).unwrap();
        assert_eq!(
            first,
            json!({"meta": {"pagination": {"pageSize": 100}}, "data": [{"from": "x"}]})
        );
        let next: Value = serde_json::from_slice(&page_body(&item, 50, Some("tok"))).unwrap();
        assert_eq!(next["meta"]["pagination"]["pageToken"], "tok");
        assert_eq!(next["data"][0], item);
    }

    #[test]
    fn signed_post_has_all_headers() {
        let s = settings();
        let req = signed_post(&s, LogType::UrlProtect, b"{}".to_vec(), t(10), [1; 16]);
        assert_eq!(req.url, "https://eu-api.mimecast.com/api/ttp/url/get-logs");
        let names: Vec<_> = req.headers.iter().map(|(n, _)| *n).collect();
        for h in [
            "authorization",
            "x-mc-app-id",
            "x-mc-date",
            "x-mc-req-id",
            "content-type",
        ] {
            assert!(names.contains(&h), "{h}");
        }
        let date = &req
            .headers
            .iter()
            .find(|(n, _)| *n == "x-mc-date")
            .unwrap()
            .1;
        assert_eq!(date, "Tue, 24 Nov 2026 10:00:00 UTC");
        let auth = &req.headers[0].1;
        assert!(auth.starts_with("MC access:") && auth.len() == "MC access:".len() + 28);
    }
}
